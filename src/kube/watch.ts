// A watch declared as data: which objects to cache (path, selectors, what is kept of each), which
// keys a change wakes, and which changes matter at all. startWatch turns a declaration into a
// self-restarting informer (informer.ts) whose events become wake-ups.

import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { startInformer, type CachedKind, type Fingerprints } from './informer.ts';
import type { ListQuery } from './list-pages.ts';
import type { PartialRead } from './partial-event.ts';
import type { KubeClient } from './rest.ts';

export interface WatchDeclaration<T extends KubernetesObject> extends ListQuery {
  /** The informer's name, and the `resource` its requests are counted under. */
  kind: string;
  /** What the cache keeps of each object (default: all but managedFields). */
  slim?: (obj: T) => T;
  /** The keys (e.g. Shim names) a change to `obj` wakes, or `'all'`. */
  wakes: (obj: T) => readonly string[] | 'all';
  /**
   * Whether an add or update matters, from the version cached until now (undefined on first
   * sight) to this one, both slimmed; absent, every change does.
   */
  filter?: (before: T | undefined, after: T) => boolean;
  /** Whether the deletion of this object (as last cached) matters; absent, every deletion does. */
  deletionMatters?: (obj: T) => boolean;
  /** What `slim` reads, when less than the whole object: events are read for just that (informer.ts). */
  reads?: PartialRead;
  /** Lets events that change nothing the cache keeps go unparsed (informer.ts). */
  fingerprints?: Fingerprints<T>;
  /** Reads events in bursts at most this often (ms; coalesced-reads.ts), for kinds that change often. */
  coalesceMs?: number;
}

export interface WatchHooks {
  wake: (keys: readonly string[] | 'all') => void;
  /** Counts LIST calls and watch (re)starts by resource, for metrics. */
  countRequest: (verb: 'list' | 'watch', resource: string) => void;
  log: Logger;
}

export function startWatch<T extends KubernetesObject>(client: KubeClient, watch: WatchDeclaration<T>, hooks: WatchHooks): CachedKind<T> {
  const changed = (obj: T, before?: T) => {
    if (watch.filter && !watch.filter(before, obj)) return;
    hooks.wake(watch.wakes(obj));
  };
  return startInformer<T>(
    client,
    {
      name: watch.kind,
      path: watch.path,
      ...(watch.labelSelector ? { labelSelector: watch.labelSelector } : {}),
      ...(watch.fieldSelector ? { fieldSelector: watch.fieldSelector } : {}),
      ...(watch.slim ? { slim: watch.slim } : {}),
      ...(watch.fingerprints ? { fingerprints: watch.fingerprints } : {}),
      ...(watch.reads ? { reads: watch.reads } : {}),
      ...(watch.coalesceMs ? { coalesceMs: watch.coalesceMs } : {}),
      handlers: {
        onAdd: (obj) => changed(obj),
        onUpdate: changed,
        onDelete: (obj) => {
          if (!watch.deletionMatters || watch.deletionMatters(obj)) hooks.wake(watch.wakes(obj));
        },
      },
      onRequest: (verb) => hooks.countRequest(verb, watch.kind),
    },
    hooks.log,
  );
}
