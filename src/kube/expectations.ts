// Read-your-writes for a reconciler that reads only from caches, as the expectations of the
// Kubernetes controllers (ReplicaSet, Deployment, Job) do: after a reconcile of a key wrote
// objects, the next reconcile of that key waits until the caches show those writes, or it would
// act on a stale picture (record a Job's result twice, recreate a Job it just deleted).

import type { KubernetesObject } from '@kubernetes/client-node';

/** One write a reconcile made. */
export interface Written<Kind extends string = string> {
  kind: Kind;
  name: string;
  namespace?: string;
  /** resourceVersion the write returned, or null after a delete. */
  resourceVersion: string | null;
  /** After a delete, the deleted object's uid if known: an object of the same name with another uid is a new one. */
  uid?: string;
}

/** The cached object of that kind and name, if any. */
export type CacheLookup<Kind extends string> = (kind: Kind, name: string, namespace?: string) => KubernetesObject | undefined;

export interface ExpectationsOptions {
  /** Give up waiting after this long (a write the cache never shows must not stall the key). */
  timeoutMs?: number;
  clock?: () => number;
}

export class Expectations<Kind extends string = string> {
  private readonly pending = new Map<string, { writes: Written<Kind>[]; since: number }>();
  private readonly lookup: CacheLookup<Kind>;
  private readonly timeoutMs: number;
  private readonly clock: () => number;

  constructor(lookup: CacheLookup<Kind>, options: ExpectationsOptions = {}) {
    this.lookup = lookup;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.clock = options.clock ?? Date.now;
  }

  /** Records what a reconcile of `key` wrote; the next one waits for it. */
  expect(key: string, writes: readonly Written<Kind>[]): void {
    if (writes.length > 0) this.pending.set(key, { writes: [...writes], since: this.clock() });
  }

  /**
   * Whether the caches show every write recorded for `key`: the cached object carries at least the
   * resourceVersion the write returned, or, after a delete, is gone, being deleted or replaced. Once
   * satisfied (or timed out) the expectation is dropped.
   */
  satisfied(key: string): boolean {
    const pending = this.pending.get(key);
    if (!pending) return true;
    const visible = pending.writes.every((write) => this.visible(write));
    if (visible || this.clock() - pending.since > this.timeoutMs) {
      this.pending.delete(key);
      return true;
    }
    return false;
  }

  /** Drops what is recorded for `key` (its object is gone). */
  forget(key: string): void {
    this.pending.delete(key);
  }

  private visible(write: Written<Kind>): boolean {
    const cached = this.lookup(write.kind, write.name, write.namespace);
    if (write.resourceVersion === null) {
      return !cached || Boolean(cached.metadata?.deletionTimestamp) || (write.uid !== undefined && cached.metadata?.uid !== write.uid);
    }
    return cached !== undefined && resourceVersionAtLeast(cached.metadata?.resourceVersion, write.resourceVersion);
  }
}

export function resourceVersionAtLeast(actual: string | undefined, wanted: string): boolean {
  if (actual === undefined) return false;
  if (actual === wanted) return true;
  // etcd revisions are integers in practice; where they are not, only equality counts.
  return /^\d+$/.test(actual) && /^\d+$/.test(wanted) ? BigInt(actual) >= BigInt(wanted) : false;
}
