import { HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { fetch } from 'undici';

// One watch request, streamed line by line. client-node's Watch aborts a watch that stays silent
// for 30 s, which on a quiet cluster means a new watch every 30 s per kind; here the server's own
// timeoutSeconds ends a watch, and silence is only suspicious well after that.

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

export class WatchHttpError extends Error {
  readonly statusCode: number;
  constructor(path: string, statusCode: number, body: string) {
    super(`WATCH ${path}: ${statusCode} ${body.slice(0, 300)}`);
    this.statusCode = statusCode;
  }
}

/** Resolves when the server ends the watch; rejects on an HTTP or network error, or idleness. */
export async function streamWatch(kc: KubeConfig, request: WatchRequest, signal: AbortSignal): Promise<void> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error('no current cluster in the kubeconfig');
  const url = new URL(server + request.path);
  url.searchParams.set('watch', 'true');
  for (const [key, value] of Object.entries(request.query)) url.searchParams.set(key, value);
  const ctx = new RequestContext(url.toString(), HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  const idle = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const stillAlive = () => {
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(new Error(`watch ${request.path} silent for ${request.idleTimeoutMs} ms`)), request.idleTimeoutMs).unref();
  };
  stillAlive();
  try {
    const response = await fetch(url, { headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher(), signal: AbortSignal.any([signal, idle.signal]) });
    if (response.status !== 200 || !response.body) throw new WatchHttpError(request.path, response.status, await response.text());
    const lines = createInterface({ input: Readable.fromWeb(response.body), crlfDelay: Infinity });
    for await (const line of lines) {
      stillAlive();
      if (line) request.onEvent(JSON.parse(line) as WatchEventLine);
    }
  } finally {
    clearTimeout(timer);
  }
}
