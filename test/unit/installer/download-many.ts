import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { fetchArtifact, type FetchedArtifact, type FetchOptions } from '../../../src/installer/fetch.ts';
import { startHttp10Server } from './loopback-servers.ts';

// Downloads one URL many times in a row with fetchArtifact, in a plain Node process of its own as
// the installer runs, and prints one JSON line with what each download got. A crash inside the
// HTTP client (Node 24.21's bundled undici threw an uncatchable AssertionError on HTTP/1.0 servers)
// ends that process without the line, whatever a test runner's own handlers would have caught.
// With `serve`, the process also runs the HTTP/1.0 server itself: sharing one event loop with it,
// the client meets the connection's end while it is still behind on the body, the timing that
// crashed Node 24.21's client on nearly every run (inside the test runner's worker it did not).
// Run as a script: `node download-many.ts '<json job>'`; tests call downloadMany().

export interface DownloadJob {
  /** What to download; or `serve` to download from an HTTP/1.0 server (loopback-servers.ts) in this process. */
  url?: string;
  serve?: { bodyBytes: number; contentLength: boolean };
  count: number;
  maxBytes: number;
  /** Download into a FIFO this process drains slowly, so backpressure pauses the HTTP parser. */
  slowReader?: boolean;
}

export interface DownloadRun {
  code: number | null;
  stderr: string;
  /** Per download: bytes and sha256 of the artifact (and of what the slow reader read). */
  downloads: Array<{ bytes: number; sha256: string; consumed?: string }> | null;
}

/** The body `serve` sends: `bytes` bytes of a fixed pattern. */
export function servedBody(bytes: number): Buffer {
  const body = Buffer.alloc(bytes);
  for (let i = 0; i < body.length; i += 1) body[i] = (i * 7919 + (i >> 13)) & 0xff;
  return body;
}

const SELF = fileURLToPath(import.meta.url);

/** Runs the job in its own process; one that has not finished within `timeoutMs` is killed. */
export function downloadMany(job: DownloadJob, timeoutMs = 60_000): Promise<DownloadRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SELF, JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      stderr += `\n(killed: not finished within ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').pop() ?? '';
      resolve({ code, stderr, downloads: last.startsWith('[') ? (JSON.parse(last) as DownloadRun['downloads']) : null });
    });
  });
}

async function main(job: DownloadJob): Promise<void> {
  const dir = await mkdtemp(path.join(process.env['TMPDIR'] ?? '/tmp', 'shimkeeper-download-many-'));
  const server = job.serve ? await startHttp10Server(servedBody(job.serve.bodyBytes), { contentLength: job.serve.contentLength }) : null;
  const url = server?.url() ?? job.url!;
  try {
    const downloads: NonNullable<DownloadRun['downloads']> = [];
    for (let i = 0; i < job.count; i += 1) {
      const options: FetchOptions = {
        url,
        destination: path.join(dir, `artifact-${i}`),
        maxBytes: job.maxBytes,
        connectTimeoutMs: 5_000,
        readTimeoutMs: 5_000,
        attempts: 1,
        initialBackoffMs: 10,
        deadlineMs: 30_000,
      };
      if (job.slowReader) {
        const { artifact, consumed } = await fetchIntoSlowReader(options);
        downloads.push({ bytes: artifact.bytes, sha256: artifact.sha256, consumed });
      } else {
        const artifact = await fetchArtifact(options);
        downloads.push({ bytes: artifact.bytes, sha256: artifact.sha256 });
      }
      await rm(options.destination, { force: true });
    }
    process.stdout.write(`${JSON.stringify(downloads)}\n`);
  } finally {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Downloads into a FIFO drained 16 KiB at a time with a pause after each: the consumer, not the
 * network, sets the pace. Returns the artifact and the sha256 of what the reader got.
 */
async function fetchIntoSlowReader(options: FetchOptions): Promise<{ artifact: FetchedArtifact; consumed: string }> {
  execFileSync('mkfifo', [options.destination]);
  const opening = open(options.destination, 'r');
  // A writer that never writes: the reader sees the end only once this closes too, whether the
  // download completed or failed before it ever opened the FIFO.
  const keeper = await open(options.destination, constants.O_RDWR);
  const consuming = drainSlowly(await opening);
  consuming.catch(() => {});
  let artifact: FetchedArtifact;
  try {
    artifact = await fetchArtifact(options);
  } finally {
    await keeper.close();
  }
  return { artifact, consumed: await consuming };
}

async function drainSlowly(reader: FileHandle): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.alloc(16 * 1024);
  try {
    for (;;) {
      const { bytesRead } = await reader.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) return hash.digest('hex');
      hash.update(buffer.subarray(0, bytesRead));
      await sleep(2);
    }
  } finally {
    await reader.close();
  }
}

if (process.argv[1] === SELF) {
  // A crash ends this process at once: an exit would wait for a thread blocked reading the FIFO.
  process.on('uncaughtException', (error) => {
    process.stderr.write(`uncaught exception: ${error.stack ?? error.message}\n`);
    process.kill(process.pid, 'SIGKILL');
  });
  await main(JSON.parse(process.argv[2]!) as DownloadJob);
}
