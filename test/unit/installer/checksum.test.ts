import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startArtifactServer, type ArtifactServer } from '../../../local-cluster/artifact-server.ts';
import { sha256 } from '../../../local-cluster/artifacts.ts';
import { validateShim } from '../../../src/api/validate.ts';
import { computeChecksums, fetchStrategySnippet, parseChecksumArgs, type ChecksumOptions } from '../../../src/installer/checksum.ts';

// `shimkeeper-installer checksum` against a loopback HTTP server: the digest is the artifact's, the
// printed fetchStrategy is what a Shim needs, and the installer's limits and the controller's
// allow-list apply as they would on a node.

const run = promisify(execFile);
const node = process.execPath;
const cli = path.join(import.meta.dirname, '..', '..', '..', 'src', 'installer', 'cli.ts');
let server: ArtifactServer;
const amd64 = Buffer.from('containerd-shim-spin-v2 for amd64\n'.repeat(500));
const arm64 = Buffer.from('containerd-shim-spin-v2 for arm64\n'.repeat(400));

beforeAll(async () => {
  server = await startArtifactServer();
  server.put('spin-amd64.tar.gz', amd64);
  server.put('spin-arm64.tar.gz', arm64);
  server.put('broken', amd64, 'error500');
});
afterAll(async () => {
  await server.close();
});

function options(args: string[], env: NodeJS.ProcessEnv = {}): ChecksumOptions {
  const parsed = parseChecksumArgs(args, env);
  if (parsed === 'help') throw new Error('help');
  return parsed;
}

/** The YAML the command prints, read as the Shim spec it belongs in (it is a small, fixed shape). */
function specFrom(snippet: string): Record<string, unknown> {
  const body = snippet.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'));
  const fetchStrategy: Record<string, any> = {};
  let entry: Record<string, string> | undefined;
  for (const line of body.slice(1)) {
    const [, indent, dash, key, raw] = /^( *)(- )?([A-Za-z0-9]+):\s*(.*)$/.exec(line)!;
    const value = raw!.startsWith('"') ? JSON.parse(raw!) : raw!;
    if (indent!.length === 2) fetchStrategy[key!] = key === 'platforms' ? [] : {};
    else if (key === 'location' || key === 'sha256' || key === 'os' || key === 'arch') {
      if ('anonHttp' in fetchStrategy) fetchStrategy.anonHttp[key!] = value;
      else {
        if (dash) fetchStrategy.platforms.push((entry = {}));
        entry![key!] = value;
      }
    }
  }
  return { fetchStrategy, runtimeClass: { name: 'wasmtime-spin-v2', handler: 'spin-v2' }, nodeSelector: { spin: 'true' } };
}

describe('shimkeeper-installer checksum', () => {
  it('prints the anonHttp fetchStrategy with the artifact\'s sha256, which makes a valid Shim', async () => {
    const snippet = fetchStrategySnippet(await computeChecksums(options(['--url', server.url('spin-amd64.tar.gz')])));
    expect(snippet).toContain(`sha256: "${sha256(amd64)}"`);
    expect(snippet).toContain(`# ${server.url('spin-amd64.tar.gz')}: ${amd64.length} bytes`);
    const spec = specFrom(snippet);
    expect(spec.fetchStrategy).toEqual({ anonHttp: { location: server.url('spin-amd64.tar.gz'), sha256: sha256(amd64) } });
    expect(validateShim({ metadata: { name: 'spin-v2' }, spec })).toEqual([]);
  });

  it('prints platforms entries, one per --url and --platform pair, in order', async () => {
    const args = ['--url', server.url('spin-amd64.tar.gz'), '--platform', 'linux/amd64', '--url', server.url('spin-arm64.tar.gz'), '--platform', 'linux/aarch64'];
    const spec = specFrom(fetchStrategySnippet(await computeChecksums(options(args))));
    expect(spec.fetchStrategy).toEqual({
      platforms: [
        { os: 'linux', arch: 'amd64', location: server.url('spin-amd64.tar.gz'), sha256: sha256(amd64) },
        { os: 'linux', arch: 'aarch64', location: server.url('spin-arm64.tar.gz'), sha256: sha256(arm64) },
      ],
    });
    expect(validateShim({ metadata: { name: 'spin-v2' }, spec })).toEqual([]);
  });

  it('applies the controller\'s allow-list before downloading anything', async () => {
    const before = server.requests('spin-amd64.tar.gz');
    const refused = computeChecksums(options(['--url', server.url('spin-amd64.tar.gz')], { SHIMKEEPER_ALLOWED_ARTIFACT_URLS: 'https://github.com/spinframework/' }));
    await expect(refused).rejects.toThrow(/outside the allowed artifact locations \(https:\/\/github\.com\/spinframework\/\): the controller would refuse a Shim naming it \(ArtifactNotAllowed\)/);
    expect(server.requests('spin-amd64.tar.gz')).toBe(before);
    const allowed = options(['--url', server.url('spin-amd64.tar.gz'), '--allowed-artifact-urls', new URL(server.url('x')).origin]);
    expect((await computeChecksums(allowed))[0]!.sha256).toBe(sha256(amd64));
  });

  it('keeps the installer\'s size cap and retries, and leaves no temporary file behind', async () => {
    const tmpBefore = (await readdir(os.tmpdir())).filter((f) => f.startsWith('shimkeeper-checksum-'));
    await expect(computeChecksums(options(['--url', server.url('spin-amd64.tar.gz')], { MAX_ARTIFACT_BYTES: '100' }))).rejects.toThrow(/100/);
    await expect(computeChecksums(options(['--url', server.url('broken'), '--download-attempts', '2']))).rejects.toThrow(/failed after 2 attempts/);
    expect((await readdir(os.tmpdir())).filter((f) => f.startsWith('shimkeeper-checksum-'))).toEqual(tmpBefore);
  });

  it('prints a location with a signed query redacted, and says so', () => {
    const snippet = fetchStrategySnippet([{ url: 'https://bucket.example.com/shim.tgz?X-Amz-Signature=secret', sha256: 'a'.repeat(64), bytes: 1 }]);
    expect(snippet).not.toContain('secret');
    expect(snippet).toContain('location redacted here: write it with its credentials');
  });

  it.each<[string[], RegExp]>([
    [[], /checksum needs --url/],
    [['--url', 'https://e.com/a', '--url', 'https://e.com/b'], /several --url need a --platform each/],
    [['--url', 'https://e.com/a', '--platform', 'linux/amd64', '--url', 'https://e.com/b'], /give one --platform per --url \(got 2 --url and 1 --platform\)/],
    [['--url', 'https://e.com/a', '--platform', 'linux'], /--platform must be OS\/ARCH/],
    [['--url', 'https://e.com/a', '--platform', 'linux/amd64', '--url', 'https://e.com/b', '--platform', 'linux/amd64'], /--platform linux\/amd64 is given twice/],
    [['--url', 'ftp://e.com/a'], /only https, http and file/],
    [['--url', 'https://e.com/a', '--download-attempts', '0'], /--download-attempts must be a positive number/],
    [['--url', 'https://e.com/a', '--allowed-artifact-urls', 'not a url'], /is not a URL/],
  ])('refuses %j with a clear message', (args, message) => {
    expect(() => parseChecksumArgs(args, {})).toThrow(message);
  });

  it('runs as `shimkeeper-installer checksum`: the snippet on stdout, exit 0; a failure on stderr with its code, exit 1', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'shimkeeper-checksum-test-'));
    try {
      const ok = await run(node, [cli, 'checksum', '--url', server.url('spin-amd64.tar.gz')], { env: { ...process.env, TERMINATION_LOG: path.join(dir, 'log') } });
      expect(ok.stdout).toContain(`sha256: "${sha256(amd64)}"`);
      // Not an installer run: no JSON result, no termination log.
      expect(await readdir(dir)).toEqual([]);
      const failed = await run(node, [cli, 'checksum', '--url', server.url('missing')]).catch((error: { code: number; stderr: string }) => error);
      expect(failed).toMatchObject({ code: 1, stderr: expect.stringMatching(/^shimkeeper-installer checksum: \w+: .*missing/) });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
