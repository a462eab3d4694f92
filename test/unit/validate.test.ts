import { describe, expect, it } from 'vitest';
import { MESSAGES, validateShim } from '../../src/api/validate.ts';
import { SHA_A, SHA_B, makeShim } from './planner-fixtures.ts';

/** The upstream runtime-class-manager sample Shim, apiVersion changed, plus the sha256 shimkeeper requires. */
const upstreamSample = {
  apiVersion: 'runtime.shimkeeper.dev/v1alpha1',
  kind: 'Shim',
  metadata: { name: 'spin-v2', labels: { 'app.kubernetes.io/name': 'spin-v2' } },
  spec: {
    nodeSelector: { spin: 'true' },
    fetchStrategy: {
      type: 'anonymousHttp',
      anonHttp: {
        location: 'https://github.com/spinframework/containerd-shim-spin/releases/download/v0.19.0/containerd-shim-spin-v2-linux-aarch64.tar.gz',
        sha256: SHA_A,
      },
    },
    containerdRuntimeOptions: { SystemdCgroup: 'true' },
    runtimeClass: { name: 'wasmtime-spin-v2', handler: 'spin-v2' },
    rolloutStrategy: { type: 'recreate' },
  },
};

type Mutation = (shim: any) => void;

describe('validateShim accepts', () => {
  const cases: Array<[string, Mutation]> = [
    ['the fixture Shim', () => {}],
    ['no rolloutStrategy (defaults apply)', (s) => delete s.spec.rolloutStrategy],
    ['no fetchStrategy.type', (s) => delete s.spec.fetchStrategy.type],
    ['no version', (s) => delete s.spec.version],
    ['a v-prefixed prerelease version', (s) => (s.spec.version = 'v1.2.3-rc.1+build.5')],
    ['maxUpdate as a percentage', (s) => (s.spec.rolloutStrategy = { type: 'rolling', rolling: { maxUpdate: '25%' } })],
    ['maxFailedNodes as a percentage', (s) => (s.spec.rolloutStrategy = { type: 'rolling', maxFailedNodes: '100%' })],
    ['a file:// location', (s) => (s.spec.fetchStrategy.anonHttp.location = 'file:///opt/shims/spin.tar.gz')],
    ['an http:// location', (s) => (s.spec.fetchStrategy.anonHttp.location = 'http://mirror.local/spin.tar.gz')],
    ['no sha256 with the explicit opt-out', (s) => {
      delete s.spec.fetchStrategy.anonHttp.sha256;
      s.spec.fetchStrategy.insecureSkipChecksum = true;
    }],
    ['platforms with sha256 and no anonHttp', (s) => {
      s.spec.fetchStrategy = {
        platforms: [
          { os: 'linux', arch: 'amd64', location: 'https://e.com/a.tgz', sha256: SHA_A },
          { os: 'linux', arch: 'aarch64', location: 'https://e.com/b.tgz', sha256: SHA_B },
        ],
      };
    }],
    ['platforms plus an anonHttp without sha256 (ignored then)', (s) => {
      s.spec.fetchStrategy = {
        anonHttp: { location: 'https://e.com/legacy.tgz' },
        platforms: [{ os: 'linux', arch: 'amd64', location: 'https://e.com/a.tgz', sha256: SHA_A }],
      };
    }],
    ['an empty nodeSelector value', (s) => (s.spec.nodeSelector = { 'node-role.kubernetes.io/wasm': '' })],
    ['a shimBinary name', (s) => (s.spec.shimBinary = 'containerd-shim-spin-v2')],
    ['a runwasi shimBinary name (-v1)', (s) => (s.spec.shimBinary = 'containerd-shim-wasmtime-v1')],
    ['a 63-character name', (s) => (s.metadata.name = 'a'.repeat(63))],
    ['the runc handler taken over deliberately', (s) => (s.spec.runtimeClass = { name: 'runc', handler: 'runc', takeOverExistingHandler: true })],
    // runtime-class-manager's spellings, so its manifests apply (see the migration guide).
    ["kwasm-operator's misspelt fetch type annonymousHttp", (s) => (s.spec.fetchStrategy.type = 'annonymousHttp')],
    ["rcm's runtimeOptions (the deprecated name of containerdRuntimeOptions)", (s) => (s.spec.runtimeOptions = { SystemdCgroup: 'true' })],
    ['runtimeOptions and containerdRuntimeOptions both, equal', (s) => (s.spec.runtimeOptions = s.spec.containerdRuntimeOptions = { SystemdCgroup: 'true' })],
    ['an empty runtimeOptions (required by some rcm releases)', (s) => (s.spec.runtimeOptions = {})],
    ['adoptExisting', (s) => (s.spec.runtimeClass.adoptExisting = true)],
  ];
  it.each(cases)('%s', (_name, mutate) => {
    const shim = structuredClone(makeShim()) as any;
    mutate(shim);
    expect(validateShim(shim)).toEqual([]);
  });

  it('the upstream sample once given a sha256', () => {
    expect(validateShim(upstreamSample)).toEqual([]);
  });

  it('says how to get the sha256 the upstream sample lacks', () => {
    expect(MESSAGES.anonHttpSha256).toContain("compute it with 'shimkeeper-installer checksum --url LOCATION'");
    expect(MESSAGES.platformSha256).toContain("'shimkeeper-installer checksum --url LOCATION --platform OS/ARCH'");
  });

  it('not the upstream sample as is: it has no sha256', () => {
    const withoutSha = structuredClone(upstreamSample) as any;
    delete withoutSha.spec.fetchStrategy.anonHttp.sha256;
    expect(validateShim(withoutSha)).toEqual([MESSAGES.anonHttpSha256]);
  });
});

describe('validateShim rejects', () => {
  const cases: Array<[string, Mutation, string]> = [
    ['a non-object', () => {}, ''],
    ['no spec', (s) => delete s.spec, 'spec is required'],
    ['no fetchStrategy', (s) => delete s.spec.fetchStrategy, 'spec.fetchStrategy is required'],
    ['neither anonHttp nor platforms', (s) => (s.spec.fetchStrategy = { type: 'anonymousHttp' }), MESSAGES.fetchSource],
    ['empty platforms and no anonHttp', (s) => (s.spec.fetchStrategy = { platforms: [] }), MESSAGES.fetchSource],
    ['an unknown fetch type', (s) => (s.spec.fetchStrategy.type = 'oci'), 'spec.fetchStrategy.type must be "anonymousHttp"'],
    ['a missing sha256', (s) => delete s.spec.fetchStrategy.anonHttp.sha256, MESSAGES.anonHttpSha256],
    ['an uppercase sha256', (s) => (s.spec.fetchStrategy.anonHttp.sha256 = 'A'.repeat(64)), 'sha256 must be 64 lowercase hex digits'],
    ['a short sha256', (s) => (s.spec.fetchStrategy.anonHttp.sha256 = 'abc'), 'sha256 must be 64 lowercase hex digits'],
    ['an ftp location', (s) => (s.spec.fetchStrategy.anonHttp.location = 'ftp://e.com/x.tgz'), 'must be an http://, https:// or file:// URL'],
    ['a location with spaces', (s) => (s.spec.fetchStrategy.anonHttp.location = 'https://e.com/a b.tgz'), 'location must be'],
    ['a platform without sha256', (s) => (s.spec.fetchStrategy = { platforms: [{ os: 'linux', arch: 'amd64', location: 'https://e.com/a' }] }), MESSAGES.platformSha256],
    ['duplicate platforms', (s) => (s.spec.fetchStrategy = {
      platforms: [
        { os: 'linux', arch: 'amd64', location: 'https://e.com/a', sha256: SHA_A },
        { os: 'linux', arch: 'amd64', location: 'https://e.com/b', sha256: SHA_B },
      ],
    }), MESSAGES.uniquePlatforms],
    ['platforms equal up to arch aliases', (s) => (s.spec.fetchStrategy = {
      platforms: [
        { os: 'linux', arch: 'x86_64', location: 'https://e.com/a', sha256: SHA_A },
        { os: 'linux', arch: 'amd64', location: 'https://e.com/b', sha256: SHA_B },
      ],
    }), MESSAGES.uniquePlatforms],
    ['an uppercase platform os', (s) => (s.spec.fetchStrategy = { platforms: [{ os: 'Linux', arch: 'amd64', location: 'https://e.com/a', sha256: SHA_A }] }), 'os must be lowercase'],
    ['a platform without arch', (s) => (s.spec.fetchStrategy = { platforms: [{ os: 'linux', location: 'https://e.com/a', sha256: SHA_A }] }), 'arch must be a string'],
    ['too many platforms', (s) => (s.spec.fetchStrategy = {
      platforms: Array.from({ length: 17 }, (_, i) => ({ os: 'linux', arch: `a${i}`, location: 'https://e.com/a', sha256: SHA_A })),
    }), 'at most 16 entries'],
    ['a non-boolean opt-out', (s) => (s.spec.fetchStrategy.insecureSkipChecksum = 'yes'), 'insecureSkipChecksum must be a boolean'],
    ['no runtimeClass', (s) => delete s.spec.runtimeClass, 'spec.runtimeClass is required'],
    ['an uppercase RuntimeClass name', (s) => (s.spec.runtimeClass.name = 'Spin'), 'spec.runtimeClass.name must be a lowercase RFC 1123 subdomain'],
    ['a handler with a dot', (s) => (s.spec.runtimeClass.handler = 'spin.v2'), 'spec.runtimeClass.handler must be a lowercase RFC 1123 label'],
    ['a handler too long', (s) => (s.spec.runtimeClass.handler = 'a'.repeat(64)), 'at most 63 characters'],
    ['an empty handler', (s) => (s.spec.runtimeClass.handler = ''), 'must not be empty'],
    ['an unknown rollout type', (s) => (s.spec.rolloutStrategy = { type: 'canary' }), 'spec.rolloutStrategy.type must be "rolling" or "recreate"'],
    ['maxUpdate 0', (s) => (s.spec.rolloutStrategy = { type: 'rolling', rolling: { maxUpdate: 0 } }), MESSAGES.intOrPercent],
    ['maxUpdate 1.5', (s) => (s.spec.rolloutStrategy = { type: 'rolling', rolling: { maxUpdate: 1.5 } }), MESSAGES.intOrPercent],
    ['maxUpdate 0%', (s) => (s.spec.rolloutStrategy = { type: 'rolling', rolling: { maxUpdate: '0%' } }), MESSAGES.intOrPercent],
    ['maxUpdate 101%', (s) => (s.spec.rolloutStrategy = { type: 'rolling', rolling: { maxUpdate: '101%' } }), MESSAGES.intOrPercent],
    ['maxUpdate "3"', (s) => (s.spec.rolloutStrategy = { type: 'rolling', rolling: { maxUpdate: '3' } }), MESSAGES.intOrPercent],
    ['maxFailedNodes -1', (s) => (s.spec.rolloutStrategy = { type: 'rolling', maxFailedNodes: -1 }), MESSAGES.intOrPercent],
    ['a non-semver version', (s) => (s.spec.version = 'latest'), 'spec.version must be a semantic version'],
    ['a version with leading zeros', (s) => (s.spec.version = '01.2.3'), 'spec.version must be a semantic version'],
    ['a bad nodeSelector key', (s) => (s.spec.nodeSelector = { 'bad key': 'x' }), 'spec.nodeSelector key must be a valid label key'],
    ['a bad nodeSelector value', (s) => (s.spec.nodeSelector = { spin: 'not ok' }), 'must be a valid label value'],
    ['a bad runtime option key', (s) => (s.spec.containerdRuntimeOptions = { 'a.b': 'x' }), 'spec.containerdRuntimeOptions key must be letters'],
    ['a non-string runtime option', (s) => (s.spec.containerdRuntimeOptions = { SystemdCgroup: true }), 'must be a string'],
    ['a shimBinary path', (s) => (s.spec.shimBinary = 'bin/containerd-shim-spin-v2'), 'spec.shimBinary must be a file name'],
    ['a shimBinary of no shim API version', (s) => (s.spec.shimBinary = 'containerd-shim-spin-v3'), 'spec.shimBinary must be a file name like containerd-shim-spin-v2 or containerd-shim-wasmtime-v1'],
    ['an uppercase name', (s) => (s.metadata.name = 'Spin'), MESSAGES.shimName],
    ['a 64-character name', (s) => (s.metadata.name = 'a'.repeat(64)), MESSAGES.shimName],
    ['a dotted name', (s) => (s.metadata.name = 'spin.v2'), MESSAGES.shimName],
    ['the runc handler without the opt-in', (s) => (s.spec.runtimeClass.handler = 'runc'), MESSAGES.defaultHandler],
    ['runtimeOptions and containerdRuntimeOptions that differ', (s) => {
      s.spec.runtimeOptions = { SystemdCgroup: 'true' };
      s.spec.containerdRuntimeOptions = { SystemdCgroup: 'false' };
    }, MESSAGES.runtimeOptionsAlias],
    ['a bad runtimeOptions key', (s) => (s.spec.runtimeOptions = { 'a.b': 'x' }), 'spec.runtimeOptions key must be letters'],
    ['a non-boolean adoptExisting', (s) => (s.spec.runtimeClass.adoptExisting = 'yes'), 'spec.runtimeClass.adoptExisting must be a boolean'],
  ];
  it.each(cases)('%s', (name, mutate, message) => {
    if (name === 'a non-object') {
      expect(validateShim(null)).toEqual(['a Shim must be an object']);
      return;
    }
    const shim = structuredClone(makeShim()) as any;
    mutate(shim);
    const errors = validateShim(shim);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join('\n')).toContain(message);
  });

  it('reports every problem at once', () => {
    const shim = structuredClone(makeShim()) as any;
    shim.spec.version = 'x';
    shim.spec.runtimeClass.handler = 'A';
    delete shim.spec.fetchStrategy.anonHttp.sha256;
    expect(validateShim(shim)).toHaveLength(3);
  });
});
