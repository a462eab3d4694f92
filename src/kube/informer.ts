import type { KubernetesObject } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';
import { ReadCoalescer } from './coalesced-reads.ts';
import { listPages, type ListQuery } from './list-pages.ts';
import { readPartialEvent, type PartialRead } from './partial-event.ts';
import { ApiError, type KubeClient } from './rest.ts';
import { streamWatch, type WatchEventLine } from './watch-stream.ts';

// A list+watch cache of one kind, in the manner of client-go's reflector: the first LIST comes in
// pages, each object is slimmed to what the controller reads before it is kept (client-go's
// transform: a real Node is 10-15 KB of JSON, of which the planner reads a few hundred bytes;
// watch events are read for just that part where the kind says which, partial-event.ts),
// and a watch that ends is resumed from the last resourceVersion seen (bookmarks keep it fresh)
// instead of listing again. Only "410 Gone" (the version was compacted) lists again, and the
// re-list reports what changed meanwhile as adds, updates and deletes. Reconcilers read only from
// these caches; they never LIST.

export interface InformerHandlers<T> {
  onAdd?: (obj: T) => void;
  /** `before`: the version cached until now. */
  onUpdate?: (obj: T, before: T) => void;
  onDelete?: (obj: T) => void;
}

export interface CachedKind<T> {
  readonly name: string;
  /** Reads the events a coalescing watch holds back now, for a caller that needs the latest state. */
  catchUp(): void;
  /** Resolves once the first LIST has filled the cache. */
  readonly synced: Promise<void>;
  isSynced(): boolean;
  get(name: string, namespace?: string): T | undefined;
  /** The cached objects, of one namespace when given. */
  list(namespace?: string): T[];
  stop(): Promise<void>;
}

export interface InformerSpec<T extends KubernetesObject> extends ListQuery {
  name: string;
  /** What is kept of each object; the rest is dropped before caching. Default: all but managedFields. */
  slim?: (obj: T) => T;
  handlers: InformerHandlers<T>;
  /** Counts LIST pages and watch (re)starts, for metrics. */
  onRequest?: (verb: 'list' | 'watch') => void;
  /**
   * Digests of what the cache keeps of an object, from a watch event's bytes and from a listed
   * object. An event whose digest equals the cached version's is not parsed: only the cached
   * resourceVersion moves, and no handler is called.
   */
  fingerprints?: Fingerprints<T>;
  /**
   * What `slim` reads of an object, when that is less than all of it: watch events are then read
   * from their bytes for just that (partial-event.ts) instead of parsed whole. Absent: parsed whole.
   */
  reads?: PartialRead;
  /** Watch events are read in bursts at most this often (ms; kube/coalesced-reads.ts); default: as they arrive. */
  coalesceMs?: number;
  /** The server ends each watch after 1-2× this many seconds (default WATCH_TIMEOUT_SECONDS). */
  watchTimeoutSeconds?: number;
}

/** A watch event as Fingerprints.ofEvent reads it. */
export interface EventFingerprint {
  name: string;
  /** Absent for a cluster-scoped kind. */
  namespace?: string;
  resourceVersion: string;
  digest: string;
}

export interface Fingerprints<T> {
  /** From a watch event's bytes; undefined when it cannot tell (the event is then parsed). */
  ofEvent(event: Buffer): EventFingerprint | undefined;
  /** From a listed object before it is slimmed, the digest ofEvent gives an event carrying it. */
  ofObject(obj: T): string;
}

/** The server ends a watch after this long (randomised like client-go's 5-10 min) and it is resumed. */
const WATCH_TIMEOUT_SECONDS = 300;
const RESTART_DELAY_MIN_MS = 1_000;
const RESTART_DELAY_MAX_MS = 30_000;

class Gone extends Error {}

export function withoutManagedFields<T extends KubernetesObject>(obj: T): T {
  if (!obj.metadata?.managedFields) return obj;
  const { managedFields: _dropped, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

function cacheKey(name: string, namespace: string | undefined): string {
  return `${namespace ?? ''}/${name}`;
}

function keyOf(obj: KubernetesObject): string {
  return cacheKey(obj.metadata?.name ?? '', obj.metadata?.namespace);
}

export function startInformer<T extends KubernetesObject>(client: KubeClient, spec: InformerSpec<T>, log: Logger): CachedKind<T> {
  const slim = spec.slim ?? withoutManagedFields;
  const objects = new Map<string, T>();
  /** The fingerprint digest of the cached version, for the objects last seen in a watch event. */
  const digests = new Map<string, string>();
  let resourceVersion: string | undefined;
  let stopped = false;
  let synced = false;
  let restartDelayMs = RESTART_DELAY_MIN_MS;
  let coalescer: ReadCoalescer | undefined;
  const abort = new AbortController();
  let markSynced: () => void = () => {};
  const syncedPromise = new Promise<void>((resolve) => (markSynced = resolve));

  const upsert = (raw: T) => {
    const obj = slim(raw);
    const key = keyOf(obj);
    const before = objects.get(key);
    objects.set(key, obj);
    if (before) spec.handlers.onUpdate?.(obj, before);
    else spec.handlers.onAdd?.(obj);
  };
  const remove = (raw: T) => {
    const key = keyOf(raw);
    const before = objects.get(key);
    objects.delete(key);
    digests.delete(key);
    spec.handlers.onDelete?.(before ?? slim(raw));
  };

  /** The event read for what `slim` reads (InformerSpec.reads), or undefined: it is then parsed whole. */
  const readPartially = (line: Buffer): WatchEventLine | undefined => {
    if (!spec.reads) return undefined;
    const event = readPartialEvent(line, spec.reads);
    if (!event || !spec.reads.immutableSpec) return event;
    const object = event.object as KubernetesObject;
    const cached = objects.get(keyOf(object));
    if (!cached?.metadata?.uid || cached.metadata.uid !== object.metadata?.uid) return undefined;
    return { type: event.type, object: { ...object, spec: (cached as { spec?: unknown }).spec } as WatchEventLine['object'] };
  };

  /** Lists everything again, reporting the differences with the cache as events. */
  const relist = async () => {
    digests.clear();
    const seen = new Set<string>();
    resourceVersion = await listPages<T>(client, spec, (items) => {
      for (const raw of items) {
        const key = keyOf(raw);
        seen.add(key);
        if (spec.fingerprints) digests.set(key, spec.fingerprints.ofObject(raw));
        if (objects.get(key)?.metadata?.resourceVersion !== raw.metadata?.resourceVersion) upsert(raw);
      }
    }, () => spec.onRequest?.('list'));
    for (const [key, obj] of objects) if (!seen.has(key)) remove(obj);
  };

  /** Watches from `resourceVersion` until the server ends the watch; Gone when that version is too old. */
  const watchOnce = async () => {
    let gone = false;
    const timeoutSeconds = Math.round((spec.watchTimeoutSeconds ?? WATCH_TIMEOUT_SECONDS) * (1 + Math.random()));
    const query: Record<string, string> = { resourceVersion: resourceVersion ?? '', allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds) };
    if (spec.labelSelector) query['labelSelector'] = spec.labelSelector;
    if (spec.fieldSelector) query['fieldSelector'] = spec.fieldSelector;
    const onEvent = ({ type, object }: WatchEventLine) => {
      if (type === 'ERROR') {
        if (object.code === 410) gone = true;
        else log.warn('watch error event', { informer: spec.name, code: object.code, message: object.message });
        return;
      }
      if (object.metadata?.resourceVersion) resourceVersion = object.metadata.resourceVersion;
      if (type === 'BOOKMARK') return;
      if (type === 'DELETED') remove(object as T);
      else upsert(object as T);
      restartDelayMs = RESTART_DELAY_MIN_MS;
    };
    /** Whether the event only moves the resourceVersion of the cached version (InformerSpec.fingerprints). */
    const unchanged = (key: string, { resourceVersion: version, digest }: EventFingerprint) => {
      const cached = objects.get(key);
      if (!cached || digests.get(key) !== digest) return false;
      objects.set(key, { ...cached, metadata: { ...cached.metadata, resourceVersion: version } });
      resourceVersion = version;
      restartDelayMs = RESTART_DELAY_MIN_MS;
      return true;
    };
    const parse = (line: Buffer) => onEvent(readPartially(line) ?? (JSON.parse(line.toString('utf8')) as WatchEventLine));
    const onLine = (line: Buffer) => {
      const fingerprint = spec.fingerprints?.ofEvent(line);
      if (!fingerprint) return parse(line);
      const key = cacheKey(fingerprint.name, fingerprint.namespace);
      if (unchanged(key, fingerprint)) return;
      parse(line);
      digests.set(key, fingerprint.digest);
    };
    spec.onRequest?.('watch');
    coalescer = spec.coalesceMs ? new ReadCoalescer(spec.coalesceMs) : undefined;
    try {
      // An idle watch is normal (nothing changes); the server's own timeout ends it first.
      await streamWatch(client, { path: spec.path, query, idleTimeoutMs: (timeoutSeconds + 60) * 1000, ...(coalescer ? { coalescer } : {}), onLine }, abort.signal);
    } catch (error) {
      if (error instanceof ApiError && error.code === 410) throw new Gone();
      throw error;
    }
    if (gone) throw new Gone();
  };

  /** Waits, or less if the informer is stopped meanwhile. */
  const pause = (ms: number) => sleep(ms, undefined, { signal: abort.signal, ref: false }).catch(() => undefined);

  const run = async () => {
    let needList = true;
    while (!stopped) {
      try {
        if (needList) {
          await relist();
          needList = false;
          if (!synced) {
            synced = true;
            markSynced();
          }
        }
        const watchStart = Date.now();
        await watchOnce();
        // A server that ends watches at once must not be asked again in a tight loop.
        if (Date.now() - watchStart < RESTART_DELAY_MIN_MS) await pause(RESTART_DELAY_MIN_MS);
      } catch (error) {
        if (stopped) return;
        if (error instanceof Gone) {
          needList = true;
          continue;
        }
        log.warn(needList ? 'list failed, retrying' : 'watch broke, resuming', { informer: spec.name, path: spec.path, error: String((error as Error)?.message ?? error), retryInMs: restartDelayMs });
        await pause(restartDelayMs);
        restartDelayMs = Math.min(restartDelayMs * 2, RESTART_DELAY_MAX_MS);
      }
    }
  };
  const running = run();

  return {
    name: spec.name,
    synced: syncedPromise,
    isSynced: () => synced,
    catchUp: () => coalescer?.resumeNow(),
    get: (name, namespace) => objects.get(cacheKey(name, namespace)),
    list: (namespace) => {
      const all = [...objects.values()];
      return namespace === undefined ? all : all.filter((obj) => obj.metadata?.namespace === namespace);
    },
    stop: async () => {
      stopped = true;
      abort.abort();
      await running;
    },
  };
}
