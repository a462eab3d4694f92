import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Dispatcher } from 'undici';
import Agent from 'undici/lib/dispatcher/agent.js';
import type { ClusterAccess } from './cluster-access.ts';
import type { ReadCoalescer } from './coalesced-reads.ts';
import { memberToken, memberValue } from './raw-json.ts';

// The controller's HTTP client for the Kubernetes API: JSON in and out, one keep-alive connection
// pool for the calls and one for the watches, the bearer token re-read from its file as it rotates.
// Responses are plain JSON, which is all the controller needs; it never loads client-node's model
// classes (cluster-access.ts says why).

/** A request the API server answered with an error status; `body` is its Status object when it sent one. */
export class ApiError extends Error {
  readonly code: number;
  readonly body: unknown;
  constructor(method: string, path: string, code: number, body: unknown) {
    const status = body && typeof body === 'object' ? (body as { reason?: string; message?: string }) : {};
    super(`${method} ${path}: ${code}${status.reason ? ` ${status.reason}` : ''}: ${status.message ?? String(body).slice(0, 300)}`);
    this.code = code;
    this.body = body;
  }
}

export type ContentType = 'application/json' | 'application/merge-patch+json' | 'application/apply-patch+yaml' | 'application/strategic-merge-patch+json';

export interface RequestOptions {
  query?: Record<string, string | undefined>;
  body?: unknown;
  contentType?: ContentType;
  signal?: AbortSignal;
}

export interface StreamOptions extends Pick<RequestOptions, 'query' | 'signal'> {
  /** Rejects when nothing arrives for this long (ms). */
  idleTimeoutMs: number;
  /** Reads in bursts (coalesced-reads.ts); absent: as data arrives. */
  coalescer?: ReadCoalescer;
}

const RESOURCE_VERSION = memberToken('resourceVersion', 'string');

/** How long a rotated service-account token file is trusted before it is read again (client-go: 1 min). */
const TOKEN_REREAD_MS = 60_000;

/** Told of every answered request (for client-go's rest_client_* metrics), and of every new connection. */
export interface ResponseObserver {
  (method: string, code: number, host: string, seconds: number): void;
  connected?: () => void;
}

export class KubeClient {
  private readonly access: ClusterAccess;
  private readonly observe: ResponseObserver | undefined;
  private readonly dispatcher: Dispatcher;
  private readonly watchDispatcher: Dispatcher;
  private token: { value: string; readAt: number } | undefined;

  constructor(access: ClusterAccess, observe?: ResponseObserver) {
    this.access = access;
    this.observe = observe;
    // One TLS context for every connection: built per connection from the PEM options, it was
    // the controller's largest CPU cost in a rollout (bench/controller.bench.ts, BENCH_CPU_PROF).
    const secureContext = createSecureContext({
      ...(access.ca ? { ca: access.ca } : {}),
      ...(access.cert ? { cert: access.cert } : {}),
      ...(access.key ? { key: access.key } : {}),
    });
    const connect = {
      secureContext,
      ...(access.tlsServerName ? { servername: access.tlsServerName } : {}),
      rejectUnauthorized: !access.insecureSkipTlsVerify,
      keepAlive: true,
      keepAliveInitialDelay: 30_000,
    };
    const agentOptions = {
      // HTTP/1.1, a connection per watch: undici's HTTP/2 client cost the controller several times
      // the CPU per watch event (measured with bench/controller.bench.ts's heartbeat churn).
      allowH2: false,
      // Idle connections are kept between reconciles (undici closes them after 4 s by default).
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 600_000,
    };
    this.dispatcher = new Agent({ ...agentOptions, connect });
    // Watches have connections of their own whose sockets buffer a single read: a paused watch
    // (coalesced-reads.ts) then stops reading after one wake-up, instead of after 16 KB of them.
    // (undici passes its connect options on to tls.connect, whose sockets take highWaterMark.)
    this.watchDispatcher = new Agent({ ...agentOptions, connect: { ...connect, highWaterMark: 1 } as typeof connect });
    if (observe?.connected) for (const dispatcher of [this.dispatcher, this.watchDispatcher]) dispatcher.on('connect', () => observe.connected?.());
  }

  /** The JSON body of a successful call; an ApiError otherwise. */
  async call<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, options);
    const text = response.body.toString('utf8');
    const body = text ? parseBody(text) : undefined;
    if (response.statusCode >= 300) throw new ApiError(method, path, response.statusCode, body);
    return body as T;
  }

  /**
   * A write whose caller needs only the written object's resourceVersion (to wait for its cache
   * to show it), read from the response's bytes instead of parsing them: a patched Node comes
   * back as 11 KB of JSON. The first resourceVersion member is the object's own, since the API
   * server writes metadata first; a body it cannot read that way (not compact) is parsed.
   */
  async write(method: string, path: string, options: RequestOptions = {}): Promise<string | null> {
    const { statusCode, body: bytes } = await this.send(method, path, options);
    if (statusCode >= 300) throw new ApiError(method, path, statusCode, parseBody(bytes.toString('utf8')));
    const version = memberValue(bytes, RESOURCE_VERSION);
    if (version) return version.toString('utf8');
    const body = parseBody(bytes.toString('utf8')) as { metadata?: { resourceVersion?: string } } | undefined;
    return body?.metadata?.resourceVersion ?? null;
  }

  /**
   * A GET whose body is handed to `onData` chunk by chunk as it arrives (a watch), straight from
   * the HTTP parser, on the watches' own connections: no Readable stream or line reader per event,
   * and reads that can be paused (coalesced-reads.ts) to wake the process less often. Resolves
   * when the server ends the response; rejects with an ApiError on an error status, with the
   * error `onData` threw, or when `signal` aborts or nothing arrives for `idleTimeoutMs`.
   */
  stream(path: string, options: StreamOptions, onData: (chunk: Buffer) => void): Promise<void> {
    const { url, headers } = this.prepare('GET', path, options);
    const { signal } = options;
    const started = performance.now();
    return new Promise<void>((resolve, reject) => {
      let code = 0;
      const errorBody: Buffer[] = [];
      let stopListening = () => {};
      const { coalescer } = options;
      const settle = (error?: Error) => {
        coalescer?.stop();
        stopListening();
        if (error) reject(error);
        else if (code >= 300) reject(new ApiError('GET', path, code, parseBody(Buffer.concat(errorBody).toString('utf8'))));
        else resolve();
      };
      this.watchDispatcher.dispatch(
        { origin: url.origin, path: url.pathname + url.search, method: 'GET', headers, bodyTimeout: options.idleTimeoutMs, headersTimeout: options.idleTimeoutMs },
        {
          onRequestStart: (controller) => void (stopListening = abortOn(signal, controller)),
          onResponseStart: (_controller, statusCode) => {
            code = statusCode;
            this.observe?.('GET', statusCode, url.host, (performance.now() - started) / 1000);
          },
          onResponseData: (controller, chunk) => {
            if (code >= 300) return void errorBody.push(chunk);
            try {
              onData(chunk);
            } catch (error) {
              controller.abort(error as Error);
            }
            coalescer?.handled(controller);
          },
          onResponseEnd: () => settle(),
          onResponseError: (_controller, error) => settle(error),
        },
      );
    });
  }

  async close(): Promise<void> {
    await Promise.all([this.dispatcher.close(), this.watchDispatcher.close()]);
  }

  private prepare(method: string, path: string, options: RequestOptions): { url: URL; headers: Record<string, string>; body: string | undefined } {
    const url = new URL(this.access.server.replace(/\/$/, '') + path);
    for (const [key, value] of Object.entries(options.query ?? {})) if (value !== undefined) url.searchParams.set(key, value);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'shimkeeper-controller' };
    const token = this.bearerToken();
    if (token) headers['authorization'] = `Bearer ${token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = options.contentType ?? 'application/json';
    }
    return { url, headers, body };
  }

  /**
   * One request and its whole response body, collected from undici's handler callbacks: no
   * Readable stream, promise chain and ticks per response as undici's request() makes (each write
   * of a rollout is one of these, two per node).
   */
  private send(method: string, path: string, options: RequestOptions): Promise<{ statusCode: number; body: Buffer }> {
    const { url, headers, body } = this.prepare(method, path, options);
    const { signal } = options;
    const started = performance.now();
    return new Promise((resolve, reject) => {
      let statusCode = 0;
      const chunks: Buffer[] = [];
      let stopListening = () => {};
      const settle = (error?: Error) => {
        stopListening();
        if (error) reject(error);
        else resolve({ statusCode, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
      };
      this.dispatcher.dispatch(
        { origin: url.origin, path: url.pathname + url.search, method: method as Dispatcher.HttpMethod, headers, body: body ?? null },
        {
          onRequestStart: (controller) => void (stopListening = abortOn(signal, controller)),
          onResponseStart: (_controller, code) => {
            statusCode = code;
            this.observe?.(method, code, url.host, (performance.now() - started) / 1000);
          },
          onResponseData: (_controller, chunk) => void chunks.push(chunk),
          onResponseEnd: () => settle(),
          onResponseError: (_controller, error) => settle(error),
        },
      );
    });
  }

  private bearerToken(): string | undefined {
    if (this.access.token) return this.access.token;
    if (!this.access.tokenFile) return undefined;
    if (!this.token || Date.now() - this.token.readAt > TOKEN_REREAD_MS) {
      this.token = { value: readFileSync(this.access.tokenFile, 'utf8').trim(), readAt: Date.now() };
    }
    return this.token.value;
  }
}

/** Aborts a request when `signal` does; returns what stops listening to it. */
function abortOn(signal: AbortSignal | undefined, request: { abort(reason: Error): void }): () => void {
  if (!signal) return () => {};
  const abort = () => request.abort(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  if (signal.aborted) {
    abort();
    return () => {};
  }
  signal.addEventListener('abort', abort, { once: true });
  return () => signal.removeEventListener('abort', abort);
}

/** A response body as JSON when it is JSON (the API's Status), else its text. */
export function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
