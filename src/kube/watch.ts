// A watch declared as data: which objects to cache (path, list call, label selector), which keys
// a change wakes, and which changes matter at all. startWatch turns a declaration into a
// self-restarting informer (informer.ts) whose events become wake-ups.

import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { startInformer, type CachedKind } from './informer.ts';

export interface WatchDeclaration<T extends KubernetesObject> {
  /** The informer's name, and the `resource` its requests are counted under. */
  kind: string;
  /** The watch path, namespace included for namespaced kinds. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  fieldSelector?: string;
  /** The keys (e.g. Shim names) a change to `obj` wakes, or `'all'`. */
  wakes: (obj: T) => readonly string[] | 'all';
  /**
   * Whether an add or update matters, from the last version seen (undefined on first sight) to
   * this one; absent, every change does. Deletions always do.
   */
  filter?: (before: T | undefined, after: T) => boolean;
}

export interface WatchHooks {
  wake: (keys: readonly string[] | 'all') => void;
  /** Counts LIST calls and watch (re)starts by resource, for metrics. */
  countRequest: (verb: 'list' | 'watch', resource: string) => void;
  log: Logger;
}

function objectKey(obj: KubernetesObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

export function startWatch<T extends KubernetesObject>(kc: KubeConfig, watch: WatchDeclaration<T>, hooks: WatchHooks): CachedKind<T> {
  // With a filter, the last version seen of each object, to compare the next one with.
  const lastSeen = new Map<string, T>();
  const changed = (obj: T) => {
    if (watch.filter) {
      const before = lastSeen.get(objectKey(obj));
      lastSeen.set(objectKey(obj), obj);
      if (!watch.filter(before, obj)) return;
    }
    hooks.wake(watch.wakes(obj));
  };
  const deleted = (obj: T) => {
    lastSeen.delete(objectKey(obj));
    hooks.wake(watch.wakes(obj));
  };
  return startInformer<T>(
    kc,
    {
      name: watch.kind,
      path: watch.path,
      list: watch.list,
      labelSelector: watch.labelSelector,
      fieldSelector: watch.fieldSelector,
      handlers: { onAdd: changed, onUpdate: changed, onDelete: deleted },
      onRequest: (verb) => hooks.countRequest(verb, watch.kind),
    },
    hooks.log,
  );
}
