import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { rawTar, tarGz } from '../../../local-cluster/artifacts.ts';
import { InstallerError } from '../../../src/installer/errors.ts';
import { extractShim } from '../../../src/installer/extract.ts';
import { between, random } from '../random.ts';

// Whatever the tar or zlib library stops on is the artifact's fault: a random, truncated or
// corrupted archive is ArtifactInvalid or ArtifactUnsafe (or names what the archive lacks), never
// InternalError, which would make the controller drop the ready label of a node still running
// the previous revision fine.

const ARTIFACT_CODES = new Set(['ArtifactInvalid', 'ArtifactUnsafe', 'ShimNotFound', 'ShimAmbiguous']);
const work = mkdtempSync(path.join(os.tmpdir(), 'shimkeeper-extract-fuzz-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function outcome(bytes: Buffer, n: number): Promise<string> {
  const archive = path.join(work, `a-${n}`);
  writeFileSync(archive, bytes);
  const destination = mkdtempSync(path.join(work, 'unpack-'));
  try {
    await extractShim({ archive, destination, maxBytes: 1_000_000, maxEntries: 100, source: 'https://example.test/containerd-shim-probe-v2', sourceMode: 0o755 });
    return 'ok';
  } catch (error) {
    if (error instanceof InstallerError) return error.code;
    throw error;
  } finally {
    rmSync(destination, { recursive: true, force: true });
  }
}

describe('broken archives are the artifact\'s fault (seeded fuzz)', () => {
  const good = rawTar([
    { path: 'LICENSE', data: Buffer.from('Apache-2.0\n'), mode: 0o644 },
    { path: 'bin/containerd-shim-probe-v2', data: Buffer.alloc(3000, 7), mode: 0o755 },
  ]);

  it('truncated, bit-flipped and random archives (gzip and plain tar) never give InternalError', async () => {
    const rand = random(9);
    const seen = new Map<string, number>();
    for (let n = 0; n < 400; n += 1) {
      const base = n % 2 === 0 ? gzipSync(good) : good;
      let bytes = Buffer.from(base);
      const mutation = n % 4;
      if (mutation === 0) bytes = bytes.subarray(0, between(rand, 1, bytes.length - 1));
      else if (mutation === 1) for (let k = between(rand, 1, 8); k > 0; k -= 1) bytes[between(rand, 0, bytes.length - 1)] = between(rand, 0, 255);
      else if (mutation === 2) bytes = Buffer.concat([bytes.subarray(0, 2), Buffer.from(Array.from({ length: between(rand, 0, 2000) }, () => between(rand, 0, 255)))]);
      else bytes = Buffer.concat([bytes.subarray(0, between(rand, 0, bytes.length)), Buffer.from(Array.from({ length: between(rand, 1, 600) }, () => between(rand, 0, 255)))]);
      const code = await outcome(bytes, n);
      seen.set(code, (seen.get(code) ?? 0) + 1);
      expect(code === 'ok' || ARTIFACT_CODES.has(code), `mutation ${mutation}, sample ${n}: ${code}`).toBe(true);
    }
    expect(seen.get('ArtifactInvalid') ?? 0).toBeGreaterThan(0);
  });

  it('a gzip stream whose tar ends mid-entry is ArtifactInvalid naming the (redacted) source', async () => {
    const cut = gzipSync(good.subarray(0, 1024 + 700));
    const archive = path.join(work, 'cut');
    writeFileSync(archive, cut);
    const error = await extractShim({ archive, destination: mkdtempSync(path.join(work, 'unpack-')), maxBytes: 1_000_000, maxEntries: 100, source: 'https://example.test/x.tar.gz' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ArtifactInvalid', message: expect.stringContaining('https://example.test/x.tar.gz') });
  });

  it('the extracted mode is reported so the installed mode can derive from it', async () => {
    const archive = path.join(work, 'modes');
    writeFileSync(archive, tarGz([{ path: 'containerd-shim-probe-v2', data: Buffer.from('x'), mode: 0o640 }]));
    const shim = await extractShim({ archive, destination: mkdtempSync(path.join(work, 'unpack-')), maxBytes: 1_000_000, maxEntries: 100, source: 'https://example.test/x.tar.gz' });
    expect(shim.mode & 0o777).toBe(0o640);
  });
});
