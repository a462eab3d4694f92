import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { Agent, request, type Dispatcher } from 'undici';
import type { ClusterAccess } from './cluster-access.ts';

// The controller's HTTP client for the Kubernetes API: JSON in and out, one keep-alive connection
// pool for every call (watches included), the bearer token re-read from its file as it rotates.
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
  /** Longest silence between two chunks of the response body (ms; 0: none, for watches). */
  bodyTimeoutMs?: number;
}

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
    this.dispatcher = new Agent({
      // HTTP/1.1, a connection per watch: undici's HTTP/2 client cost the controller several times
      // the CPU per watch event (measured with bench/controller.bench.ts's heartbeat churn).
      allowH2: false,
      // Idle connections are kept between reconciles (undici closes them after 4 s by default).
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 600_000,
      connect: {
        secureContext,
        ...(access.tlsServerName ? { servername: access.tlsServerName } : {}),
        rejectUnauthorized: !access.insecureSkipTlsVerify,
        keepAlive: true,
        keepAliveInitialDelay: 30_000,
      },
    });
    if (observe?.connected) this.dispatcher.on('connect', () => observe.connected?.());
  }

  /** The JSON body of a successful call; an ApiError otherwise. */
  async call<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, options);
    const text = await response.body.text();
    const body = text ? parseBody(text) : undefined;
    if (response.statusCode >= 300) throw new ApiError(method, path, response.statusCode, body);
    return body as T;
  }

  /** The raw response (for watches, streamed); the caller reads or discards its body. */
  async stream(path: string, options: RequestOptions = {}): Promise<Dispatcher.ResponseData> {
    return this.send('GET', path, options);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async send(method: string, path: string, options: RequestOptions): Promise<Dispatcher.ResponseData> {
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
    const started = performance.now();
    const response = await request(url, {
      method: method as Dispatcher.HttpMethod,
      headers,
      body,
      dispatcher: this.dispatcher,
      signal: options.signal ?? null,
      ...(options.bodyTimeoutMs !== undefined ? { bodyTimeout: options.bodyTimeoutMs } : {}),
    });
    this.observe?.(method, response.statusCode, url.host, (performance.now() - started) / 1000);
    return response;
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

/** A response body as JSON when it is JSON (the API's Status), else its text. */
export function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
