import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, tarGz } from '../../../local-cluster/artifacts.ts';
import { runInstaller } from '../../harness/run-installer.ts';

// Artifact URLs may carry credentials (userinfo, a pre-signed query). Whatever the installer
// reports — stdout, stderr, the termination log — shows scheme, host and path only, on every
// failure path (the success path, which needs a containerd, is in test/integration/installer-symlinks.test.ts).

const PASSWORD = 's3cr3tPassw0rd';
const SIGNATURE = 'X-Amz-Signature=f00dfacedeadbeef';
const archive = tarGz([{ path: 'containerd-shim-probe-v2', data: Buffer.from('#!/bin/sh\n'), mode: 0o755 }]);
const garbage = gzipSync(Buffer.from('this is not a tar archive at all, just text in gzip'));

let hostRoot: string;
let server: Server;
let base: string;

beforeAll(async () => {
  hostRoot = mkdtempSync(path.join(os.tmpdir(), 'shimkeeper-redact-'));
  mkdirSync(path.join(hostRoot, 'etc/containerd'), { recursive: true });
  writeFileSync(path.join(hostRoot, 'etc/containerd/config.toml'), 'version = 2\n');
  server = createServer((request, response) => {
    const name = new URL(request.url ?? '/', 'http://x').pathname;
    if (name === '/shim.tar.gz') response.end(archive);
    else if (name === '/garbage.tar.gz') response.end(garbage);
    else if (name === '/redirect') response.writeHead(302, { location: `file:///etc/passwd?${SIGNATURE}` }).end();
    else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(hostRoot, { recursive: true, force: true });
});

// URLs are built once the server listens (`${base}` is its address).
const cases: Array<[string, () => string, string, string[]]> = [
  ['userinfo and signature: fetch refuses credentials in the URL', () => `http://probe:${PASSWORD}@${base}/shim.tar.gz?${SIGNATURE}`, 'DownloadFailed', []],
  ['HTTP 404', () => `http://${base}/missing.tar.gz?${SIGNATURE}`, 'HttpClientError', []],
  ['checksum mismatch', () => `http://${base}/shim.tar.gz?${SIGNATURE}`, 'ChecksumMismatch', []],
  ['too large', () => `http://${base}/shim.tar.gz?${SIGNATURE}`, 'ArtifactTooLarge', ['--max-artifact-bytes', '10']],
  ['not an archive', () => `http://${base}/garbage.tar.gz?${SIGNATURE}`, 'ArtifactInvalid', ['--sha256', sha256(garbage)]],
  ['redirect to file://', () => `http://${base}/redirect?${SIGNATURE}`, 'DownloadFailed', []],
  ['server down', () => `http://probe:${PASSWORD}@127.0.0.1:1/x?${SIGNATURE}`, 'DownloadFailed', []],
  ['unsupported scheme', () => `ftp://probe:${PASSWORD}@${base}/x?${SIGNATURE}`, 'InvalidUrl', []],
  ['not a URL', () => `http://probe:${PASSWORD}@[::1/x?${SIGNATURE}`, 'InvalidUrl', []],
];

describe('no credentials in anything the installer reports', () => {
  it.each(cases)('%s', async (_name, urlOf, code, extra) => {
    const url = urlOf();
    const terminationLog = path.join(hostRoot, `termination-log-${code}`);
    const run = await runInstaller([
      'install', '--host-root', hostRoot, '--shim', 'probe', '--url', url, '--sha256', 'a'.repeat(64), '--install-dir', '/opt/shimkeeper',
      '--containerd-config', '/etc/containerd/config.toml', '--restart', 'none', '--download-attempts', '1', '--termination-log', terminationLog, ...extra,
    ]);
    expect(run.result, JSON.stringify(run.result)).toMatchObject({ ok: false, code });
    const reported = [run.stdout, run.stderr, readFileSync(terminationLog, 'utf8')].join('\n');
    expect(reported).not.toContain(PASSWORD);
    expect(reported).not.toContain('f00dfacedeadbeef');
    expect(run.result['error']).toMatch(/REDACTED/);
  });
});
