import type { ReadCoalescer } from './coalesced-reads.ts';
import type { KubeClient } from './rest.ts';

// One watch request: the response body is split into lines (one JSON event each) as its chunks
// arrive. The server's timeoutSeconds ends a watch; silence is only suspicious well after that
// (client-node's Watch gave up after 30 s of it, which on a quiet cluster meant a new watch every
// 30 s per kind).

export interface WatchEventLine {
  type: string;
  object: { metadata?: { resourceVersion?: string }; code?: number; message?: string };
}

export interface WatchRequest {
  path: string;
  query: Record<string, string>;
  /** Abort when nothing arrives for this long (the server should have ended the watch by then). */
  idleTimeoutMs: number;
  /** Reads in bursts (coalesced-reads.ts); absent: as events arrive. */
  coalescer?: ReadCoalescer;
  /** Each event's JSON, unparsed (valid only during the call). */
  onLine: (line: Buffer) => void;
}

/** Resolves when the server ends the watch; rejects on an HTTP or network error, or idleness. */
export function streamWatch(client: KubeClient, request: WatchRequest, signal: AbortSignal): Promise<void> {
  return client.stream(request.path, { query: { ...request.query, watch: 'true' }, signal, idleTimeoutMs: request.idleTimeoutMs, ...(request.coalescer ? { coalescer: request.coalescer } : {}) }, lineSplitter(request.onLine));
}

const NEWLINE = 0x0a;

/**
 * Turns a body's chunks into its non-empty lines. A line within one chunk (the usual watch event)
 * is a view of it, not a copy; a line split across chunks is joined.
 */
export function lineSplitter(onLine: (line: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer[] = [];
  return (chunk) => {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end >= 0; start = end + 1, end = chunk.indexOf(NEWLINE, start)) {
      const line = pending.length === 0 ? chunk.subarray(start, end) : Buffer.concat([...pending, chunk.subarray(start, end)]);
      pending = [];
      if (line.length > 0) onLine(line);
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  };
}
