// Coalesces a watch's reads into bursts. On a virtual machine every wake-up of the process costs
// more than the event it delivers: bench/wakeup.bench.ts measures 150-200 µs of CPU per wake-up
// of an idle Node.js process on the project's 2-core VM, so a 5,000-node fleet's heartbeats (83 a
// second, one wake-up each) cost over 1% of a core before a byte was parsed. After handling an
// event the watch stops reading for `intervalMs`, and what arrives meanwhile waits to be read in
// one burst: in the sockets' buffers and in the API server, which keeps about a second of events
// per watcher (at most 100 for a watch without an index, such as all Nodes) before it ends a watch
// that does not keep up; the informer then resumes it from its resourceVersion. The first event
// after a quiet spell is handled at once; later ones wait at most `intervalMs` and a beat.

/** undici's DispatchController, as far as pausing goes. */
export interface Pausable {
  readonly paused: boolean;
  pause(): void;
  resume(): void;
}

/**
 * After a resume, reading continues this long before the next pause: the burst that queued up
 * during the pause is read record by record, one turn of the event loop each, without waiting.
 */
const DRAIN_MS = 20;

/**
 * Paused reads resume on a beat shared by every watch of the process: watches paused at about the
 * same time (an installer Job's and its Pod's) resume together, in one wake-up instead of one each.
 */
const BEAT_MS = 50;

/** The delay to the first beat at least `ms` from now. */
function untilBeat(ms: number): number {
  const now = performance.now();
  return Math.ceil((now + ms) / BEAT_MS) * BEAT_MS - now;
}

export class ReadCoalescer {
  private readonly intervalMs: number;
  private resumedAt = Number.NEGATIVE_INFINITY;
  private pauseScheduled = false;
  private stopped = false;
  /** The read paused now, and the timer that resumes it. */
  private paused: { controller: Pausable; timer: NodeJS.Timeout } | undefined;

  constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
  }

  /** After each chunk is handled: pauses reading once the current read's chunks are handled. */
  handled(controller: Pausable): void {
    if (this.intervalMs <= 0 || this.pauseScheduled || this.stopped || controller.paused) return;
    if (performance.now() - this.resumedAt < DRAIN_MS) return;
    this.pauseScheduled = true;
    setImmediate(() => {
      this.pauseScheduled = false;
      if (this.stopped) return;
      controller.pause();
      this.paused = { controller, timer: setTimeout(() => this.resumeNow(), untilBeat(this.intervalMs)) };
    });
  }

  /** Reads what is waiting now (the caller needs the latest state), and goes on as usual. */
  resumeNow(): void {
    if (!this.paused || this.stopped) return;
    const { controller, timer } = this.paused;
    this.paused = undefined;
    clearTimeout(timer);
    this.resumedAt = performance.now();
    controller.resume();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.paused?.timer);
  }
}
