import { createInterface } from 'node:readline';
import { ApiError, parseBody, type KubeClient } from './rest.ts';

// One watch request, streamed line by line. The server's timeoutSeconds ends a watch; silence is
// only suspicious well after that (client-node's Watch gave up after 30 s of it, which on a quiet
// cluster meant a new watch every 30 s per kind).

export interface WatchEventLine {
  type: string;
  object: { metadata?: { resourceVersion?: string }; code?: number; message?: string };
}

export interface WatchRequest {
  path: string;
  query: Record<string, string>;
  /** Abort when nothing arrives for this long (the server should have ended the watch by then). */
  idleTimeoutMs: number;
  onEvent: (event: WatchEventLine) => void;
}

/** Resolves when the server ends the watch; rejects on an HTTP or network error, or idleness. */
export async function streamWatch(client: KubeClient, request: WatchRequest, signal: AbortSignal): Promise<void> {
  const idle = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const stillAlive = () => {
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(new Error(`watch ${request.path} silent for ${request.idleTimeoutMs} ms`)), request.idleTimeoutMs).unref();
  };
  stillAlive();
  try {
    const response = await client.stream(request.path, { query: { ...request.query, watch: 'true' }, signal: AbortSignal.any([signal, idle.signal]), bodyTimeoutMs: 0 });
    if (response.statusCode !== 200) {
      throw new ApiError('WATCH', request.path, response.statusCode, parseBody(await response.body.text()));
    }
    const lines = createInterface({ input: response.body, crlfDelay: Infinity });
    for await (const line of lines) {
      stillAlive();
      if (line) request.onEvent(JSON.parse(line) as WatchEventLine);
    }
  } finally {
    clearTimeout(timer);
  }
}
