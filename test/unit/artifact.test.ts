import { describe, expect, it } from 'vitest';
import { normalizeArch, platformKey, resolveArtifact, type NodePlatform } from '../../src/api/artifact.ts';
import { computeRevision } from '../../src/api/revision.ts';
import type { FetchStrategy } from '../../src/api/shim.ts';
import { SHA_A, SHA_B, makeShim } from './planner-fixtures.ts';

const AMD = 'https://example.com/shim-x86_64.tar.gz';
const ARM = 'https://example.com/shim-aarch64.tar.gz';
const SINGLE = 'https://example.com/shim.tar.gz';

const platforms: FetchStrategy = {
  platforms: [
    { os: 'linux', arch: 'x86_64', location: AMD, sha256: SHA_A },
    { os: 'linux', arch: 'arm64', location: ARM, sha256: SHA_B },
  ],
};

describe('normalizeArch', () => {
  it.each([
    ['amd64', 'amd64'],
    ['x86_64', 'amd64'],
    ['X86_64', 'amd64'],
    ['arm64', 'arm64'],
    ['aarch64', 'arm64'],
    ['riscv64', 'riscv64'],
  ])('%s → %s', (input, output) => expect(normalizeArch(input)).toBe(output));
});

describe('resolveArtifact', () => {
  const cases: Array<{ name: string; fetch: FetchStrategy; node: NodePlatform; url?: string; sha256?: string; reason?: RegExp }> = [
    { name: 'platform by uname arch for an amd64 node', fetch: platforms, node: { os: 'linux', arch: 'amd64' }, url: AMD, sha256: SHA_A },
    { name: 'platform by Go arch for an arm64 node', fetch: platforms, node: { os: 'linux', arch: 'arm64' }, url: ARM, sha256: SHA_B },
    { name: 'aarch64 node label matches arm64 entry', fetch: platforms, node: { os: 'linux', arch: 'aarch64' }, url: ARM, sha256: SHA_B },
    { name: 'no entry for the arch', fetch: platforms, node: { os: 'linux', arch: 's390x' }, reason: /no artifact for linux\/s390x/ },
    { name: 'node without arch label', fetch: platforms, node: { os: 'linux' }, reason: /no kubernetes.io\/arch/ },
    { name: 'windows node', fetch: platforms, node: { os: 'windows', arch: 'amd64' }, reason: /Windows nodes are not supported/ },
    { name: 'windows node with a single artifact', fetch: { anonHttp: { location: SINGLE, sha256: SHA_A } }, node: { os: 'windows', arch: 'amd64' }, reason: /Windows/ },
    { name: 'other OS', fetch: { anonHttp: { location: SINGLE, sha256: SHA_A } }, node: { os: 'darwin', arch: 'arm64' }, reason: /darwin/ },
    { name: 'single artifact serves any Linux arch', fetch: { anonHttp: { location: SINGLE, sha256: SHA_A } }, node: { os: 'linux', arch: 'arm64' }, url: SINGLE, sha256: SHA_A },
    { name: 'missing os label is taken as linux', fetch: { anonHttp: { location: SINGLE, sha256: SHA_A } }, node: {}, url: SINGLE, sha256: SHA_A },
    {
      name: 'platforms win over anonHttp',
      fetch: { anonHttp: { location: SINGLE, sha256: SHA_B }, ...platforms },
      node: { os: 'linux', arch: 'amd64' },
      url: AMD,
      sha256: SHA_A,
    },
    {
      name: 'no fallback to anonHttp when platforms do not match',
      fetch: { anonHttp: { location: SINGLE, sha256: SHA_B }, ...platforms },
      node: { os: 'linux', arch: 'ppc64le' },
      reason: /no artifact/,
    },
    { name: 'sha256 missing without opt-out', fetch: { anonHttp: { location: SINGLE } }, node: { os: 'linux', arch: 'amd64' }, reason: /no sha256/ },
    { name: 'sha256 missing with opt-out', fetch: { anonHttp: { location: SINGLE }, insecureSkipChecksum: true }, node: { os: 'linux', arch: 'amd64' }, url: SINGLE },
    { name: 'nothing to fetch', fetch: {}, node: { os: 'linux', arch: 'amd64' }, reason: /neither/ },
  ];

  it.each(cases)('$name', ({ fetch, node, url, sha256, reason }) => {
    const shim = makeShim({ fetchStrategy: fetch, containerdRuntimeOptions: { SystemdCgroup: 'true' } });
    const result = resolveArtifact(shim, node);
    if (reason) {
      expect(result.supported).toBe(false);
      if (!result.supported) expect(result.reason).toMatch(reason);
      return;
    }
    expect(result.supported).toBe(true);
    if (!result.supported) return;
    expect(result.artifact.url).toBe(url);
    expect(result.artifact.sha256).toBe(sha256);
    expect(result.artifact.revision).toBe(
      computeRevision({ url: url!, sha256: sha256 ?? '', handler: 'spin', runtimeOptions: { SystemdCgroup: 'true' } }),
    );
  });

  it('changes the revision with the handler and runtime options, not with the version', () => {
    const node = { os: 'linux', arch: 'amd64' };
    const revision = (spec: Parameters<typeof makeShim>[0]) => {
      const result = resolveArtifact(makeShim(spec), node);
      return result.supported ? result.artifact.revision : result.reason;
    };
    const base = revision({});
    expect(revision({ version: '9.9.9' })).toBe(base);
    expect(revision({ runtimeClass: { name: 'wasmtime-spin-v2', handler: 'spin2' } })).not.toBe(base);
    expect(revision({ containerdRuntimeOptions: { SystemdCgroup: 'true' } })).not.toBe(base);
    expect(revision({ runtimeClass: { name: 'renamed', handler: 'spin' } })).toBe(base);
  });
});

describe('platformKey', () => {
  it.each([
    [{ os: 'linux', arch: 'x86_64' }, 'linux/amd64'],
    [{ os: 'Linux', arch: 'aarch64' }, 'linux/arm64'],
    [{}, 'linux/unknown'],
  ])('%j → %s', (platform, key) => expect(platformKey(platform)).toBe(key));
});
