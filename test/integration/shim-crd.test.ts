import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeApiServer, type KubeApiServer } from '../../local-cluster/kube-apiserver.ts';
import { kubectlOutcomeFor } from '../../local-cluster/kube-helpers.ts';
import { makeShim, SHA_A, SHA_B } from '../unit/planner-fixtures.ts';

// The CRD generated from src/api on a real kube-apiserver: valid Shims (including an upstream
// runtime-class-manager manifest with only the apiVersion changed) are accepted, and each bad one
// is refused by the API server with a message that says what to fix.

let server: KubeApiServer;
const manifests = path.join(import.meta.dirname, '..', '..', 'manifests');

function kubectl(args: string[], input?: string): { ok: boolean; out: string } {
  return kubectlOutcomeFor(server)(args, input);
}

beforeAll(async () => {
  server = await startKubeApiServer();
  expect(kubectl(['apply', '--server-side', '-f', path.join(manifests, 'crd.yaml')]).ok).toBe(true);
  expect(kubectl(['wait', '--for=condition=Established', 'crd/shims.runtime.shimkeeper.dev', '--timeout=60s']).ok).toBe(true);
}, 600_000);

afterAll(async () => {
  await server?.stop();
});

// Bad examples need shapes the Shim type forbids: mutate an untyped copy.
type LooseShim = Record<string, any>;

function shim(mutate: (s: LooseShim) => void = () => {}): string {
  const s = structuredClone(makeShim()) as unknown as LooseShim;
  delete s['metadata'].generation;
  delete s['metadata'].finalizers;
  delete s['metadata'].uid;
  mutate(s);
  return JSON.stringify(s);
}

describe('Shim CRD validation on a real API server', () => {
  it('accepts an upstream runtime-class-manager Shim with only the apiVersion changed', () => {
    const upstream = `
apiVersion: runtime.shimkeeper.dev/v1alpha1
kind: Shim
metadata:
  name: spin-v2
  labels:
    app.kubernetes.io/name: spin-v2
spec:
  nodeSelector:
    spin: "true"
  fetchStrategy:
    type: anonymousHttp
    anonHttp:
      location: "https://github.com/spinkube/containerd-shim-spin/releases/download/v0.19.0/containerd-shim-spin-v2-linux-x86_64.tar.gz"
      sha256: "${SHA_A}"
  runtimeClass:
    name: wasmtime-spin-v2
    handler: spin
  rolloutStrategy:
    type: rolling
    rolling:
      maxUpdate: 5
  containerdRuntimeOptions:
    SystemdCgroup: "true"
`;
    const result = kubectl(['apply', '-f', '-'], upstream);
    expect(result.ok, result.out).toBe(true);
    const columns = kubectl(['get', 'shims']).out;
    expect(columns).toMatch(/NAME\s+RUNTIMECLASS\s+VERSION\s+READY\s+NODES\s+UP-TO-DATE\s+FAILED\s+ROLLOUT\s+AGE/);
    expect(kubectl(['get', 'shims', '-o', 'wide']).out).toMatch(/AGE\s+MESSAGE/);
    expect(kubectl(['delete', 'shim', 'spin-v2']).ok).toBe(true);
  });

  it.each<[string, (s: LooseShim) => void]>([
    ['percent maxUpdate and a failure budget', (s) => (s.spec.rolloutStrategy = { type: 'rolling', rolling: { maxUpdate: '25%' }, maxFailedNodes: 3 })],
    ['per-platform artifacts (x86_64 and aarch64 spellings)', (s) => (s.spec.fetchStrategy = { platforms: [{ os: 'linux', arch: 'x86_64', location: 'https://e.com/a', sha256: SHA_A }, { os: 'linux', arch: 'aarch64', location: 'https://e.com/b', sha256: SHA_B }] })],
    ['an explicit checksum opt-out', (s) => { delete s.spec.fetchStrategy.anonHttp.sha256; s.spec.fetchStrategy.insecureSkipChecksum = true; }],
    ['a prerelease version with a leading v', (s) => (s.spec.version = 'v1.2.3-rc.1+build.5')],
    ['a 63-character name', (s) => (s.metadata.name = 'a'.repeat(63))],
    ['the runc handler with the explicit opt-in', (s) => (s.spec.runtimeClass = { name: 'runc-override', handler: 'runc', takeOverExistingHandler: true })],
    ['a runwasi shim binary (containerd-shim-wasmtime-v1)', (s) => (s.spec.shimBinary = 'containerd-shim-wasmtime-v1')],
    ["kwasm-operator's misspelt fetch type annonymousHttp", (s) => (s.spec.fetchStrategy.type = 'annonymousHttp')],
    ["rcm's runtimeOptions, alone or equal to containerdRuntimeOptions", (s) => (s.spec.runtimeOptions = s.spec.containerdRuntimeOptions = { SystemdCgroup: 'true' })],
    ['adoptExisting', (s) => (s.spec.runtimeClass.adoptExisting = true)],
  ])('accepts %s', (_name, mutate) => {
    const result = kubectl(['create', '--dry-run=server', '-f', '-'], shim(mutate));
    expect(result.ok, result.out).toBe(true);
  });

  it.each<[string, (s: LooseShim) => void, RegExp]>([
    ['no artifact at all', (s) => (s.spec.fetchStrategy = { type: 'anonymousHttp' }), /fetchStrategy needs anonHttp\.location or at least one entry in fetchStrategy\.platforms/],
    ['a missing sha256', (s) => delete s.spec.fetchStrategy.anonHttp.sha256, /fetchStrategy\.anonHttp\.sha256 is required: .*compute it with 'shimkeeper-installer checksum --url LOCATION'/],
    ['an upper-case sha256', (s) => (s.spec.fetchStrategy.anonHttp.sha256 = 'A'.repeat(64)), /anonHttp\.sha256 in body should match '\^\[a-f0-9\]\{64\}\$'/],
    ['an ftp:// URL', (s) => (s.spec.fetchStrategy.anonHttp.location = 'ftp://e.com/x'), /anonHttp\.location in body should match '\^\(https\?\|file\):\/\//],
    ['a platform without sha256', (s) => (s.spec.fetchStrategy = { platforms: [{ os: 'linux', arch: 'amd64', location: 'https://e.com/a' }] }), /every fetchStrategy\.platforms entry needs a sha256/],
    ['the same platform twice', (s) => (s.spec.fetchStrategy = { platforms: [{ os: 'linux', arch: 'x86_64', location: 'https://e.com/a', sha256: SHA_A }, { os: 'linux', arch: 'amd64', location: 'https://e.com/b', sha256: SHA_B }] }), /must not list the same os\/arch twice/],
    ['a handler that is not a DNS label', (s) => (s.spec.runtimeClass.handler = 'spin.v2'), /runtimeClass\.handler in body should match/],
    ['an invalid RuntimeClass name', (s) => (s.spec.runtimeClass.name = 'Spin'), /runtimeClass\.name in body should match/],
    ['an unknown rollout type', (s) => (s.spec.rolloutStrategy = { type: 'canary' }), /rolloutStrategy\.type: Unsupported value: "canary": supported values: "rolling", "recreate"/],
    ['maxUpdate 0', (s) => (s.spec.rolloutStrategy = { type: 'rolling', rolling: { maxUpdate: 0 } }), /maxUpdate: .*must be an integer of at least 1 or a percentage from 1% to 100%/],
    ['maxUpdate "3" (a string without %)', (s) => (s.spec.rolloutStrategy = { type: 'rolling', rolling: { maxUpdate: '3' } }), /maxUpdate: .*must be an integer of at least 1 or a percentage/],
    ['a negative failure budget', (s) => (s.spec.rolloutStrategy = { type: 'rolling', maxFailedNodes: -1 }), /maxFailedNodes: .*must be an integer of at least 1/],
    ['a version that is not semver', (s) => (s.spec.version = 'latest'), /spec\.version in body should match/],
    ['an invalid nodeSelector key', (s) => (s.spec.nodeSelector = { 'bad key': 'x' }), /nodeSelector keys must be valid label keys/],
    ['a runtime option key that is not a plain TOML key', (s) => (s.spec.containerdRuntimeOptions = { 'a.b': 'x' }), /containerdRuntimeOptions keys must be letters, digits, _ or -/],
    ['a shimBinary with a path', (s) => (s.spec.shimBinary = 'bin/containerd-shim-spin-v2'), /spec\.shimBinary in body should match/],
    ['a shimBinary of no shim API version (-v3)', (s) => (s.spec.shimBinary = 'containerd-shim-spin-v3'), /spec\.shimBinary in body should match/],
    ['a 64-character name (a label value holds 63)', (s) => (s.metadata.name = 'a'.repeat(64)), /metadata\.name must be a DNS label \(lowercase letters, digits and '-', no dots\) of at most 63 characters/],
    ['a 194-character name (its backup file name on nodes would pass 255 bytes)', (s) => (s.metadata.name = 'a'.repeat(194)), /metadata\.name must be a DNS label/],
    ['a dotted name', (s) => (s.metadata.name = 'spin.v2'), /metadata\.name must be a DNS label/],
    ['the node default handler runc without the opt-in', (s) => (s.spec.runtimeClass.handler = 'runc'), /spec\.runtimeClass\.handler names a node's default runtime \(runc\): set spec\.runtimeClass\.takeOverExistingHandler: true/],
    ['a shimBinary longer than a node file name allows', (s) => (s.spec.shimBinary = `containerd-shim-${'x'.repeat(120)}-v2`), /spec\.shimBinary: Too long/],
    ['no runtimeClass', (s) => delete s.spec.runtimeClass, /spec\.runtimeClass: Required value/],
    ['runtimeOptions that differ from containerdRuntimeOptions', (s) => {
      s.spec.runtimeOptions = { SystemdCgroup: 'true' };
      s.spec.containerdRuntimeOptions = { SystemdCgroup: 'false' };
    }, /spec\.runtimeOptions is the deprecated name of spec\.containerdRuntimeOptions: set only one of them/],
    ['another misspelling of the fetch type', (s) => (s.spec.fetchStrategy.type = 'anonymousHTTP'), /supported values: "anonymousHttp", "annonymousHttp"/],
  ])('refuses %s with a clear message', (_name, mutate, message) => {
    const result = kubectl(['apply', '-f', '-'], shim(mutate));
    expect(result.ok).toBe(false);
    expect(result.out).toMatch(message);
  });
});
