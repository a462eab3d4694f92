import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';

// A list+watch cache of one kind that keeps itself alive: client-node's informer stops on a watch
// error, so this restarts it with backoff (the restart re-lists, which also covers "resource
// version too old"). Reconcilers read only from these caches; they never LIST.

export interface InformerHandlers<T> {
  onAdd?: (obj: T) => void;
  onUpdate?: (obj: T) => void;
  onDelete?: (obj: T) => void;
}

export interface CachedKind<T> extends ObjectCache<T> {
  readonly name: string;
  /** Resolves once the first LIST has filled the cache. */
  readonly synced: Promise<void>;
  isSynced(): boolean;
  stop(): Promise<void>;
}

export interface InformerSpec<T extends KubernetesObject> {
  name: string;
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  /** Server-side field selector, e.g. `reason=FailedCreatePodSandBox` for Events. */
  fieldSelector?: string;
  handlers: InformerHandlers<T>;
  /** Counts LIST calls and watch (re)starts, for metrics. */
  onRequest?: (verb: 'list' | 'watch') => void;
}

export function startInformer<T extends KubernetesObject>(kc: KubeConfig, spec: InformerSpec<T>, log: Logger): CachedKind<T> {
  const countedList = () => {
    spec.onRequest?.('list');
    return spec.list();
  };
  // client-node's makeInformer, with the field selector it does not pass on.
  const informer = new ListWatch<T>(spec.path, new Watch(kc), countedList, false, spec.labelSelector, spec.fieldSelector);
  let stopped = false;
  let synced = false;
  let restartDelayMs = 1_000;
  let markSynced: () => void = () => {};
  const syncedPromise = new Promise<void>((resolve) => (markSynced = resolve));

  if (spec.handlers.onAdd) informer.on('add', spec.handlers.onAdd);
  if (spec.handlers.onUpdate) informer.on('update', spec.handlers.onUpdate);
  if (spec.handlers.onDelete) informer.on('delete', spec.handlers.onDelete);
  informer.on('connect', () => {
    spec.onRequest?.('watch');
    restartDelayMs = 1_000;
  });
  informer.on('error', (error: unknown) => {
    if (stopped) return;
    log.warn('watch broke, restarting', { informer: spec.name, path: spec.path, error: String((error as Error)?.message ?? error), retryInMs: restartDelayMs });
    const delay = restartDelayMs;
    restartDelayMs = Math.min(restartDelayMs * 2, 30_000);
    setTimeout(() => {
      if (!stopped) void start();
    }, delay).unref();
  });

  const start = async () => {
    try {
      await informer.start();
      if (!synced) {
        synced = true;
        markSynced();
      }
    } catch (error) {
      // informer.start rejects when the initial LIST fails; the 'error' handler schedules a retry.
      log.warn('initial list failed', { informer: spec.name, error: String((error as Error)?.message ?? error) });
    }
  };
  void start();

  return {
    name: spec.name,
    synced: syncedPromise,
    isSynced: () => synced,
    get: (name, namespace) => informer.get(name, namespace),
    list: (namespace) => informer.list(namespace),
    stop: async () => {
      stopped = true;
      await informer.stop();
    },
  };
}
