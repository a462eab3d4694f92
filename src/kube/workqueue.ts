// A work queue in the manner of client-go's: a key waits in the queue at most once however often
// it is added, is never handed to two workers at once (added again while processed, it comes back
// once the worker is done), can be delayed, and failing keys back off exponentially per key. A
// key can also be held for a while after it was processed: added meanwhile, it waits out the hold
// (the controller paces a Shim's reconciles this way, see shell/controller.ts).

export interface WorkQueueOptions {
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  hooks?: QueueHooks;
}

/** What client-go's work queue metrics observe. */
export interface QueueHooks {
  /** A key entered the queue (an add of a key already waiting is not counted). */
  added: () => void;
  depth: (depth: number) => void;
  /** How long a key waited between being added and handed to a worker. */
  waited: (seconds: number) => void;
  /** How long a worker held a key. */
  worked: (seconds: number) => void;
  retried: () => void;
}

export class WorkQueue<K> {
  private readonly queue: K[] = [];
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly failures = new Map<K, number>();
  private readonly timers = new Map<K, { at: number; timer: NodeJS.Timeout }>();
  private readonly heldUntil = new Map<K, number>();
  private readonly addedAt = new Map<K, number>();
  private readonly startedAt = new Map<K, number>();
  private readonly hooks: QueueHooks | undefined;
  private readonly waiters: Array<(key: K | undefined) => void> = [];
  private shuttingDown = false;
  private readonly baseBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(options: WorkQueueOptions = {}) {
    this.baseBackoffMs = options.baseBackoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 300_000;
    this.hooks = options.hooks;
  }

  add(key: K): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    const held = this.heldUntil.get(key);
    if (held !== undefined) {
      const wait = held - Date.now();
      if (wait > 0 && !this.processing.has(key)) {
        this.addAfter(key, wait);
        return;
      }
      if (wait <= 0) this.heldUntil.delete(key);
    }
    this.dirty.add(key);
    this.hooks?.added();
    if (!this.addedAt.has(key)) this.addedAt.set(key, performance.now());
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.start(key);
      waiter(key);
    } else {
      this.queue.push(key);
      this.hooks?.depth(this.queue.length);
    }
  }

  private start(key: K): void {
    this.processing.add(key);
    const now = performance.now();
    const added = this.addedAt.get(key);
    this.addedAt.delete(key);
    if (added !== undefined) this.hooks?.waited((now - added) / 1000);
    this.startedAt.set(key, now);
  }

  /** Adds the key after `ms`; an earlier pending delay for the same key wins. */
  addAfter(key: K, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Re-adds a key that failed, after a delay that doubles with each consecutive failure. */
  addRateLimited(key: K): number {
    this.hooks?.retried();
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    const delay = Math.min(this.maxBackoffMs, this.baseBackoffMs * 2 ** (failures - 1));
    this.addAfter(key, delay);
    return delay;
  }

  /** The key succeeded: its next failure starts the backoff from the beginning. */
  forget(key: K): void {
    this.failures.delete(key);
  }

  /** Waits for the next key; undefined once the queue is shut down. */
  get(): Promise<K | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.start(key);
      this.hooks?.depth(this.queue.length);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The worker is done with `key`; added again within `holdMs`, it comes back only after that. */
  done(key: K, holdMs = 0): void {
    this.processing.delete(key);
    const started = this.startedAt.get(key);
    this.startedAt.delete(key);
    if (started !== undefined) this.hooks?.worked((performance.now() - started) / 1000);
    if (holdMs > 0) this.heldUntil.set(key, Date.now() + holdMs);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  get length(): number {
    return this.queue.length;
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }
}
