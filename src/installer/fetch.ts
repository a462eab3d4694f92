import { createHash } from 'node:crypto';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { EnvHttpProxyAgent, fetch, type Response } from 'undici';
import { redactUrl } from '../api/redact.ts';
import { describeError, InstallerError } from './errors.ts';
import { describeFileType, type Host } from './host.ts';
import { terminated, termination } from './termination.ts';

// Downloads the shim artifact to a private file and hashes it on the way. Nothing on the host
// changes here: the caller verifies the digest before it touches containerd's files.
//
// The HTTP client is the undici package, not Node's bundled fetch: Node 24.21 bundles undici
// 7.29.1, whose HTTP/1 parser throws an uncatchable AssertionError (`assert(!this.paused)` in
// Parser.finish, nodejs/undici#5360) when a server closes the connection right after a body the
// consumer has not drained yet, as HTTP/1.0 servers such as `python3 -m http.server` do. The fix
// (nodejs/undici#5474) shipped in undici 8.6.0 and was not backported to 7.x.

export interface FetchOptions {
  url: string;
  destination: string;
  maxBytes: number;
  /** Time allowed until the response headers arrive. */
  connectTimeoutMs: number;
  /** Longest pause allowed between two chunks of the body. */
  readTimeoutMs: number;
  attempts: number;
  initialBackoffMs: number;
  /** Time allowed for the whole download: every attempt and every backoff (--download-timeout). */
  deadlineMs: number;
  /** The node: a `file://` location names a host path, resolved within the host root. */
  host?: Host;
}

export interface FetchedArtifact {
  path: string;
  bytes: number;
  sha256: string;
  attempts: number;
  /** The permission bits of a `file://` source (the installed binary's mode derives from them). */
  sourceMode?: number;
}

export const DEFAULT_FETCH = {
  maxBytes: 256 * 1024 * 1024,
  connectTimeoutMs: 30_000,
  readTimeoutMs: 60_000,
  attempts: 4,
  initialBackoffMs: 1_000,
  deadlineMs: 300_000,
} as const;

export async function fetchArtifact(options: FetchOptions): Promise<FetchedArtifact> {
  const url = parseArtifactUrl(options.url);
  const deadline = new Deadline(redactUrl(options.url), options.deadlineMs);
  try {
    if (url.protocol === 'file:') return { ...(await copyLocalFile(fileURLToPath(url), options, deadline)), attempts: 1 };
    // HTTP_PROXY, HTTPS_PROXY and NO_PROXY (either case) are read here, as Node's fetch would with
    // http.setGlobalProxyFromEnv().
    const dispatcher = new EnvHttpProxyAgent();
    try {
      return await downloadWithRetries(url, options, dispatcher, deadline);
    } finally {
      await dispatcher.destroy().catch(() => {});
    }
  } finally {
    deadline.clear();
  }
}

async function downloadWithRetries(url: URL, options: FetchOptions, dispatcher: EnvHttpProxyAgent, deadline: Deadline): Promise<FetchedArtifact> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= options.attempts; attempt += 1) {
    try {
      return { ...(await downloadOnce(url, options, dispatcher, deadline.signal)), attempts: attempt };
    } catch (error) {
      lastError = error;
      await rm(options.destination, { force: true });
      if (deadline.signal.aborted) throw deadline.error(attempt, error);
      if (error instanceof InstallerError && !isRetryable(error)) throw error;
      if (attempt < options.attempts) {
        await sleep(options.initialBackoffMs * 2 ** (attempt - 1), undefined, { signal: deadline.signal }).catch(() => {
          throw deadline.error(attempt, error);
        });
      }
    }
  }
  throw new InstallerError('DownloadFailed', `download of ${redactUrl(options.url)} failed after ${options.attempts} attempt${options.attempts === 1 ? '' : 's'}: ${reasonOf(lastError)}`, { cause: lastError });
}

/** The deadline of a whole download: aborts whatever attempt or backoff is running when it passes. */
class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly url: string;
  private readonly ms: number;

  /** A stop asked for (termination.ts) ends the download at once, as the deadline would. */
  private readonly onTermination = () => this.controller.abort(termination.reason);

  constructor(url: string, ms: number) {
    this.url = url;
    this.ms = ms;
    this.timer = setTimeout(() => this.controller.abort(new Error(`the download deadline of ${formatSeconds(ms)} passed`)), ms);
    if (termination.aborted) this.onTermination();
    else termination.addEventListener('abort', this.onTermination, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Rejects when the deadline passes. */
  get passed(): Promise<never> {
    const { signal } = this.controller;
    return new Promise((_resolve, reject) => {
      if (signal.aborted) reject(signal.reason);
      else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }

  clear(): void {
    clearTimeout(this.timer);
    termination.removeEventListener('abort', this.onTermination);
  }

  error(attempts: number, lastError: unknown): InstallerError {
    const stopped = terminated(`during the download of ${this.url}`);
    if (stopped) return stopped;
    return new InstallerError(
      'DownloadFailed',
      `download of ${this.url} did not finish within its ${formatSeconds(this.ms)} deadline (--download-timeout) after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${reasonOf(lastError)}`,
      { cause: lastError },
    );
  }
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function parseArtifactUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InstallerError('InvalidUrl', `artifact URL ${JSON.stringify(redactUrl(raw))} is not a valid URL`);
  }
  if (!['http:', 'https:', 'file:'].includes(url.protocol)) {
    throw new InstallerError('InvalidUrl', `artifact URL ${redactUrl(raw)} uses ${url.protocol}; only https, http and file are supported`);
  }
  return url;
}

const retryableCodes = new Set(['HttpServerError', 'DownloadInterrupted']);
function isRetryable(error: InstallerError): boolean {
  return retryableCodes.has(error.code);
}

async function downloadOnce(url: URL, options: FetchOptions, dispatcher: EnvHttpProxyAgent, deadline: AbortSignal): Promise<Omit<FetchedArtifact, 'attempts'>> {
  // Messages name the location without its userinfo, query or fragment (they may hold credentials).
  const shown = redactUrl(url.href);
  const controller = new AbortController();
  const signal = AbortSignal.any([controller.signal, deadline]);
  const connectTimer = setTimeout(() => controller.abort(new Error(`no response within ${options.connectTimeoutMs} ms`)), options.connectTimeoutMs);
  let response: Response;
  try {
    // Redirects are followed as fetch does: at most 20, and only to http(s) URLs (never file://).
    response = await fetch(url, { signal, redirect: 'follow', dispatcher });
  } catch (error) {
    throw new InstallerError('DownloadInterrupted', `cannot reach ${shown}: ${describeError(error)}`, { cause: error });
  } finally {
    clearTimeout(connectTimer);
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    const code = response.status >= 500 || response.status === 429 || response.status === 408 ? 'HttpServerError' : 'HttpClientError';
    throw new InstallerError(code, `GET ${shown} answered ${response.status} ${response.statusText}`);
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > options.maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw tooLarge(shown, options.maxBytes, declared);
  }
  if (!response.body) throw new InstallerError('DownloadInterrupted', `GET ${shown} returned no body`);

  let idleTimer: NodeJS.Timeout | undefined;
  const resetIdle = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => controller.abort(new Error(`no data for ${options.readTimeoutMs} ms`)), options.readTimeoutMs);
  };
  resetIdle();
  const meter = new HashingMeter(shown, options.maxBytes, resetIdle);
  try {
    await pipeline(Readable.fromWeb(response.body), meter, createWriteStream(options.destination, { mode: 0o600 }));
  } catch (error) {
    if (error instanceof InstallerError) throw error;
    throw new InstallerError('DownloadInterrupted', `download of ${shown} broke off after ${meter.bytes} bytes: ${describeError(signal.reason ?? error)}`, { cause: error });
  } finally {
    clearTimeout(idleTimer);
  }
  if (Number.isFinite(declared) && meter.bytes !== declared) {
    throw new InstallerError('DownloadInterrupted', `download of ${shown} is truncated: got ${meter.bytes} of ${declared} bytes`);
  }
  return { path: options.destination, bytes: meter.bytes, sha256: meter.digest() };
}

/**
 * A `file://` location names a file on the node: a host path, resolved within the host root like
 * every other (a symlink on the host is followed as the host sees it). Only a regular file is read:
 * it is opened without blocking and checked before a byte is read, so a FIFO, a device or a
 * directory is refused instead of hanging or reading forever.
 */
async function copyLocalFile(hostPath: string, options: FetchOptions, deadline: Deadline): Promise<Omit<FetchedArtifact, 'attempts'>> {
  const sourceHere = options.host ? await options.host.path(hostPath) : hostPath;
  let handle;
  try {
    handle = await open(sourceHere, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (error) {
    throw new InstallerError('DownloadFailed', `cannot read artifact ${hostPath} on the node: ${describeError(error)}`, { cause: error });
  }
  const info = await handle.stat();
  if (!info.isFile()) {
    await handle.close();
    throw new InstallerError('ArtifactInvalid', `artifact ${hostPath} on the node is ${describeFileType(info)}, not a regular file; point the file:// location at the shim's archive or binary`);
  }
  const meter = new HashingMeter(hostPath, options.maxBytes, () => {});
  try {
    // A file:// artifact may sit on a network filesystem that hangs: the deadline holds here too,
    // even while a read is stuck in the kernel (the streams end only when it returns).
    const copied = pipeline(createReadStream('', { fd: handle }), meter, createWriteStream(options.destination, { mode: 0o600 }), { signal: deadline.signal });
    await Promise.race([copied, deadline.passed]);
  } catch (error) {
    await rm(options.destination, { force: true });
    if (error instanceof InstallerError) throw error;
    if (deadline.signal.aborted) throw deadline.error(1, error);
    throw new InstallerError('DownloadFailed', `cannot read artifact ${hostPath} on the node: ${describeError(error)}`, { cause: error });
  }
  return { path: options.destination, bytes: meter.bytes, sha256: meter.digest(), sourceMode: info.mode & 0o7777 };
}

/** Counts and hashes bytes as they stream past, and stops the stream at the size cap. */
class HashingMeter extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');
  private readonly source: string;
  private readonly maxBytes: number;
  private readonly onChunk: () => void;

  constructor(source: string, maxBytes: number, onChunk: () => void) {
    super();
    this.source = source;
    this.maxBytes = maxBytes;
    this.onChunk = onChunk;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.onChunk();
    if (this.bytes > this.maxBytes) {
      callback(tooLarge(this.source, this.maxBytes));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

function tooLarge(source: string, maxBytes: number, declared?: number): InstallerError {
  const size = declared === undefined ? '' : ` (${declared} bytes)`;
  return new InstallerError('ArtifactTooLarge', `artifact ${source} is larger than the ${maxBytes}-byte limit${size}; raise --max-artifact-bytes if this is expected`);
}

export function verifyDigest(artifact: FetchedArtifact, expected: string, url: string): void {
  if (artifact.sha256 !== expected.toLowerCase()) {
    throw new InstallerError(
      'ChecksumMismatch',
      `sha256 mismatch for ${redactUrl(url)}: expected ${expected.toLowerCase()}, got ${artifact.sha256} (${artifact.bytes} bytes). ` +
        'Nothing on the node was changed. Check the Shim\'s sha256 against the published artifact.',
    );
  }
}
