import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchArtifact, verifyDigest, type FetchOptions } from '../../../src/installer/fetch.ts';
import { startArtifactServer, type ArtifactServer } from '../../../local-cluster/artifact-server.ts';
import { sha256 } from '../../../local-cluster/artifacts.ts';

let server: ArtifactServer;
let dir: string;
const payload = Buffer.from('a shim, more or less\n'.repeat(1000));

beforeAll(async () => {
  server = await startArtifactServer();
  dir = await mkdtemp(path.join(os.tmpdir(), 'shimkeeper-fetch-'));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const options = (url: string, overrides: Partial<FetchOptions> = {}): FetchOptions => ({
  url, destination: path.join(dir, `dl-${Math.random()}`), maxBytes: 1_000_000, connectTimeoutMs: 2_000, readTimeoutMs: 500, attempts: 3, initialBackoffMs: 10, ...overrides,
});

describe('artifact download', () => {
  it('downloads over HTTP, hashing on the way', async () => {
    server.put('ok', payload);
    const artifact = await fetchArtifact(options(server.url('ok')));
    expect(artifact).toMatchObject({ bytes: payload.length, sha256: sha256(payload), attempts: 1 });
    expect(await readFile(artifact.path)).toEqual(payload);
    expect(() => verifyDigest(artifact, sha256(payload), 'x')).not.toThrow();
  });

  it('reads file:// URLs for air-gapped nodes', async () => {
    const local = path.join(dir, 'local.tgz');
    await writeFile(local, payload);
    expect((await fetchArtifact(options(pathToFileURL(local).href))).sha256).toBe(sha256(payload));
  });

  it('retries server errors with backoff, then gives up with the URL and the reason', async () => {
    server.put('500', payload, 'error500');
    await expect(fetchArtifact(options(server.url('500')))).rejects.toThrow(/download of http:\/\/127.0.0.1:\d+\/500 failed after 3 attempts: GET .* answered 500/);
    expect(server.requests('500')).toBe(3);
  });

  it('a stalled body hits the read timeout', async () => {
    server.put('stall', payload, 'stall');
    await expect(fetchArtifact(options(server.url('stall'), { attempts: 1 }))).rejects.toThrow(/no data for 500 ms/);
  });

  it('refuses other URL schemes', async () => {
    await expect(fetchArtifact(options('ftp://example.test/x'))).rejects.toThrow(/only https, http and file/);
  });

  it('stops at the size cap even without a content-length', async () => {
    const local = path.join(dir, 'big');
    await writeFile(local, Buffer.alloc(5000));
    await expect(fetchArtifact(options(pathToFileURL(local).href, { maxBytes: 1000 }))).rejects.toThrow(/1000-byte limit/);
  });
});
