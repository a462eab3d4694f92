import { CoreV1Api, KubeConfig, NodeV1Api, type V1Job, type V1RuntimeClass } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startArtifactServer, type ArtifactServer } from '../../local-cluster/artifact-server.ts';
import { sha256 } from '../../local-cluster/artifacts.ts';
import { startKubeApiServer, type KubeApiServer } from '../../local-cluster/kube-apiserver.ts';
import { kubectlOutcomeFor, serviceAccountKubeconfig, waitFor } from '../../local-cluster/kube-helpers.ts';
import { readyLabelKey } from '../../src/api/names.ts';
import type { Shim } from '../../src/api/shim.ts';
import { installerJobIdentity } from '../../src/controller/installer-job/identity.ts';
import { startControllerProcess, type ControllerProcess } from '../harness/controller-process.ts';
import { createNodes, startTestNodeAgent, type TestNodeAgent } from '../harness/test-node.ts';
import { KWASM_SPIN, RCM_CRD, RCM_SPIN, RCM_WASMTIME } from './rcm-samples.ts';

// The README's "Migrating from runtime-class-manager", step by step, on a real kube-apiserver with
// the controller as its own process: runtime-class-manager's own sample Shims (rcm-samples.ts, as
// its repositories have them) with only the apiVersion changed, then the guide's steps (sha256 from
// `shimkeeper-installer checksum`, a nodeSelector, the two opt-ins) until they install; and a
// RuntimeClass made the way runtime-class-manager makes it, adopted only with the opt-in.

const run = promisify(execFile);
const NAMESPACE = 'shimkeeper-system';
const SHIMKEEPER = 'apiVersion: runtime.shimkeeper.dev/v1alpha1';
const cli = path.join(import.meta.dirname, '..', '..', 'src', 'installer', 'cli.ts');

let server: KubeApiServer;
let artifacts: ArtifactServer;
let core: CoreV1Api;
let nodeApi: NodeV1Api;
let agent: TestNodeAgent;
let controller: ControllerProcess;
let workDir: string;
/** Every installer Job the simulated nodes ran, for what the controller asked of them. */
const jobs: V1Job[] = [];

function kubectl(args: string[], input?: string): { ok: boolean; out: string } {
  return kubectlOutcomeFor(server)(args, input);
}

function apply(yaml: string): void {
  const result = kubectl(['apply', '-f', '-'], yaml);
  expect(result.ok, result.out).toBe(true);
}

/** Step 1: only the apiVersion changes. */
const asShimkeeper = (yaml: string) => yaml.replace(/^apiVersion: .*$/m, SHIMKEEPER);

/** Serves each GitHub location's bytes from the loopback mirror (no internet here): the same artifact, another URL. */
function mirror(yaml: string): string {
  return yaml.replace(/"https:\/\/github\.com\/[^"]+\/([^/"]+)"/g, (_all, file: string) => {
    artifacts.put(file, Buffer.from(`${file} bytes\n`.repeat(100)));
    return JSON.stringify(artifacts.url(file));
  });
}

/** Step 2: `shimkeeper-installer checksum`, as a user runs it (asynchronously: the mirror serves from this process). */
async function checksum(args: string[]): Promise<string> {
  return (await run(process.execPath, [cli, 'checksum', ...args], { encoding: 'utf8' })).stdout;
}

async function getShim(name: string): Promise<Shim | undefined> {
  const result = kubectl(['get', 'shims.runtime.shimkeeper.dev', name, '-o', 'json']);
  return result.ok ? (JSON.parse(result.out) as Shim) : undefined;
}

const condition = (shim: Shim | undefined, type: string) => shim?.status?.conditions?.find((c) => c.type === type);

function waitForShim(name: string, what: string, check: (s: Shim) => boolean): Promise<Shim> {
  return waitFor(`${name}: ${what}`, async () => {
    const shim = await getShim(name);
    return shim && check(shim) ? shim : undefined;
  }, 60_000, () => `${JSON.stringify((kubectl(['get', 'shims.runtime.shimkeeper.dev', name, '-o', 'json']).out))}\n${controller.logs().split('\n').slice(-20).join('\n')}`);
}

const readRuntimeClass = (name: string): Promise<V1RuntimeClass> => nodeApi.readRuntimeClass({ name });

function jobEnv(shim: string): Array<Record<string, string>> {
  return jobs
    .filter((job) => installerJobIdentity(job)?.shim === shim)
    .map((job) => Object.fromEntries((job.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? ''])));
}

beforeAll(async () => {
  server = await startKubeApiServer();
  artifacts = await startArtifactServer();
  workDir = mkdtempSync(path.join(os.tmpdir(), 'shimkeeper-migrate-test-'));
  for (const args of [['apply', '--server-side', '-f', 'manifests/crd.yaml', '-f', 'manifests/namespace.yaml', '-f', 'manifests/rbac.yaml'], ['apply', '-f', '-']]) {
    const result = kubectl(args, args.includes('-') ? RCM_CRD : undefined);
    expect(result.ok, result.out).toBe(true);
  }
  expect(kubectl(['wait', '--for=condition=Established', 'crd/shims.runtime.shimkeeper.dev', 'crd/shims.runtime.spinkube.dev', '--timeout=60s']).ok).toBe(true);
  const kc = new KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  nodeApi = kc.makeApiClient(NodeV1Api);
  agent = await startTestNodeAgent(server.kubeconfigPath, NAMESPACE, (job) => {
    jobs.push(job);
    return { outcome: 'succeed', delayMs: 50 };
  });
  await createNodes(core, ['node-amd'], { labels: { spin: 'true', wasmtime: 'true' }, arch: 'amd64' });
  await createNodes(core, ['node-arm'], { labels: { spin: 'true', wasmtime: 'true' }, arch: 'arm64' });
  await createNodes(core, ['node-plain'], {});
  const kubeconfigPath = serviceAccountKubeconfig(server, NAMESPACE, 'shimkeeper-controller', path.join(workDir, 'controller.kubeconfig'));
  controller = await startControllerProcess({ kubeconfigPath, namespace: NAMESPACE, identity: 'controller', logDir: workDir });
}, 600_000);

afterAll(async () => {
  await controller?.stop();
  await agent?.stop();
  await artifacts?.close();
  await server?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('migrating runtime-class-manager Shims, as the README says', () => {
  it('step 1: with only the apiVersion changed, the old spellings pass and the one refusal says how to get the sha256', () => {
    for (const sample of [KWASM_SPIN, RCM_SPIN]) {
      const result = kubectl(['apply', '--dry-run=server', '-f', '-'], asShimkeeper(sample));
      expect(result.ok).toBe(false);
      expect(result.out).toMatch(/fetchStrategy\.anonHttp\.sha256 is required: .*compute it with 'shimkeeper-installer checksum --url LOCATION'/);
      expect(result.out).not.toMatch(/annonymousHttp|Unsupported value/);
    }
    const platforms = kubectl(['apply', '--dry-run=server', '-f', '-'], asShimkeeper(RCM_WASMTIME));
    expect(platforms.out).toMatch(/every fetchStrategy\.platforms entry needs a sha256: .*'shimkeeper-installer checksum --url LOCATION --platform OS\/ARCH'/);
    // kubectl explain tells the old spelling for what it is.
    const explain = (field: string) => kubectl(['explain', `shims.${field}`, '--api-version=runtime.shimkeeper.dev/v1alpha1']).out.replace(/\s+/g, ' ');
    expect(explain('spec.fetchStrategy.type')).toContain('annonymousHttp (the spelling of early kwasm-operator samples) is a deprecated alias');
    expect(explain('spec.runtimeOptions')).toContain('Deprecated: the name some runtime-class-manager releases gave containerdRuntimeOptions');
    expect(explain('spec.runtimeClass.adoptExisting')).toContain('Take over an existing RuntimeClass of this name that shimkeeper did not create');
  });

  it('steps 2 and 3: a sha256 from `checksum`, then a nodeSelector: an absent one targets no node and the status says how to target all', async () => {
    // A user's rcm Shim that relied on rcm's default of every node: the kwasm sample without its nodeSelector.
    const noSelector = mirror(asShimkeeper(KWASM_SPIN)).replace(/  nodeSelector:\n    spin: "true"\n/, '');
    const location = /location: "([^"]+)"/.exec(noSelector)![1]!;
    const printed = await checksum(['--url', location]);
    const digest = /sha256: "([a-f0-9]{64})"/.exec(printed)![1]!;
    expect(digest).toBe(sha256(Buffer.from(`${path.basename(location)} bytes\n`.repeat(100))));
    const withSha = noSelector.replace(/(      location: .*\n)/, `$1      sha256: "${digest}"\n`);
    apply(withSha);

    const idle = await waitForShim('wasmtime-spin-v2', 'NoTargetNodes', (s) => condition(s, 'Degraded')?.reason === 'NoTargetNodes');
    expect(condition(idle, 'Ready')).toMatchObject({ status: 'False', reason: 'NoTargetNodes' });
    expect(condition(idle, 'Degraded')?.message).toContain('to target every Linux node set spec.nodeSelector to {kubernetes.io/os: linux}');
    expect(kubectl(['get', 'shims.runtime.shimkeeper.dev', 'wasmtime-spin-v2', '-o', 'wide']).out).toContain('the Shim targets no node');
    expect(jobEnv('wasmtime-spin-v2')).toEqual([]);

    apply(withSha.replace('spec:\n', 'spec:\n  nodeSelector:\n    kubernetes.io/os: linux\n'));
    const ready = await waitForShim('wasmtime-spin-v2', 'Ready on all 3 nodes', (s) => condition(s, 'Ready')?.status === 'True' && s.status?.nodesReady === 3);
    expect(ready.spec.fetchStrategy.type).toBe('annonymousHttp');
    expect(ready.status?.versions).toEqual([{ revision: ready.status!.revisions![0]!.revision, nodes: 3 }]);
    // --wait=false: the nodes that uninstall are played by this process, which a waiting kubectl would block.
    expect(kubectl(['delete', 'shims.runtime.shimkeeper.dev', 'wasmtime-spin-v2', '--wait=false']).ok).toBe(true);
    await waitFor('wasmtime-spin-v2 gone', async () => (await getShim('wasmtime-spin-v2')) === undefined);
  });

  it('step 4: a RuntimeClass runtime-class-manager created is left alone without adoptExisting, and taken over with it', async () => {
    // What rcm leaves: its Shim (with its finalizer), and a RuntimeClass it server-side applied.
    apply(RCM_SPIN.replace('metadata:\n', 'metadata:\n  finalizers: [rcm.spinkube.dev/finalizer]\n'));
    for (const node of ['node-amd', 'node-arm']) expect(kubectl(['label', 'node', node, 'spin-v2=provisioned']).ok).toBe(true);
    const rcmUid = JSON.parse(kubectl(['get', 'shims.runtime.spinkube.dev', 'spin-v2', '-o', 'json']).out).metadata.uid as string;
    const rcmClass = `apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: wasmtime-spin-v2
  labels: {wasmtime-spin-v2: "true"}
  ownerReferences: [{apiVersion: runtime.spinkube.dev/v1alpha1, kind: Shim, name: spin-v2, uid: ${rcmUid}, controller: true, blockOwnerDeletion: true}]
handler: spin-v2
scheduling: {nodeSelector: {spin: "true"}}
`;
    expect(kubectl(['apply', '--server-side', '--field-manager=shim-operator', '-f', '-'], rcmClass).ok).toBe(true);
    const before = await readRuntimeClass('wasmtime-spin-v2');

    // Steps 1-3 done, plus takeOverExistingHandler (rcm's stanza for spin-v2 is in the nodes' containerd).
    const location = /location: "([^"]+)"/.exec(mirror(RCM_SPIN))![1]!;
    const digest = /sha256: "([a-f0-9]{64})"/.exec(await checksum(['--url', location]))![1]!;
    const migrated = mirror(asShimkeeper(RCM_SPIN))
      .replace(/(      location: .*\n)/, `$1      sha256: "${digest}"\n`)
      .replace('    handler: spin-v2\n', '    handler: spin-v2\n    takeOverExistingHandler: true\n');
    apply(migrated);
    const conflict = await waitForShim('spin-v2', 'RuntimeClassConflict', (s) => condition(s, 'Degraded')?.reason === 'RuntimeClassConflict');
    expect(condition(conflict, 'Degraded')?.message).toContain(
      'RuntimeClass wasmtime-spin-v2 (handler spin-v2), controlled by Shim spin-v2 (runtime.spinkube.dev/v1alpha1), was not created by shimkeeper for this Shim: it is neither changed nor deleted. To take it over (e.g. from runtime-class-manager) set spec.runtimeClass.adoptExisting: true',
    );
    await waitForShim('spin-v2', 'installed on the 2 spin nodes', (s) => s.status?.nodesUpdated === 2);
    expect((await readRuntimeClass('wasmtime-spin-v2')).metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    // The installer was told to replace the handler's existing stanza, and got the runtime options.
    expect(jobEnv('spin-v2').map((env) => [env['TAKE_OVER_HANDLER'], JSON.parse(env['RUNTIME_OPTION'] ?? '{}')])).toEqual([
      ['true', { SystemdCgroup: 'true' }],
      ['true', { SystemdCgroup: 'true' }],
    ]);

    apply(migrated.replace('    takeOverExistingHandler: true\n', '    takeOverExistingHandler: true\n    adoptExisting: true\n'));
    // Step 6: wait as the README says.
    const waited = kubectl(['wait', '--for=condition=Ready', 'sks/spin-v2', '--timeout=60s']);
    expect(waited.ok, waited.out).toBe(true);
    const adopted = await waitForShim('spin-v2', 'Ready with the class adopted', (s) => condition(s, 'Ready')?.status === 'True' && condition(s, 'Degraded')?.status === 'False');
    expect(adopted.status?.versions).toEqual([{ revision: adopted.status!.revisions![0]!.revision, nodes: 2 }]);
    expect(kubectl(['get', 'sks', 'spin-v2']).out).toMatch(/spin-v2\s+wasmtime-spin-v2\s+2\s+2\s+2\s+0\s+RolloutComplete/);
    const rc = await readRuntimeClass('wasmtime-spin-v2');
    expect(rc.metadata?.uid).toBe(before.metadata?.uid);
    expect(rc.handler).toBe('spin-v2');
    expect(rc.metadata?.ownerReferences).toEqual([{ apiVersion: 'runtime.shimkeeper.dev/v1alpha1', kind: 'Shim', name: 'spin-v2', uid: adopted.metadata.uid, controller: true, blockOwnerDeletion: false }]);
    expect(rc.metadata?.labels).toMatchObject({ 'wasmtime-spin-v2': 'true', 'runtime.shimkeeper.dev/shim': 'spin-v2', 'app.kubernetes.io/managed-by': 'shimkeeper' });
    expect(rc.scheduling?.nodeSelector).toEqual({ [readyLabelKey('spin-v2')]: 'true' });
    const events = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=spin-v2,reason=RuntimeClassAdopted' });
    expect(events.items.map((e) => e.message)).toEqual([expect.stringContaining('adopted RuntimeClass wasmtime-spin-v2 (handler spin-v2) from Shim spin-v2 (runtime.spinkube.dev/v1alpha1)')]);

    // Step 5: rcm's Shim goes (its controller is gone, so its finalizer by hand); nothing points from the class to it any more.
    expect(kubectl(['patch', 'shims.runtime.spinkube.dev', 'spin-v2', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']).ok).toBe(true);
    expect(kubectl(['delete', 'shims.runtime.spinkube.dev', 'spin-v2']).ok).toBe(true);
    expect((await readRuntimeClass('wasmtime-spin-v2')).metadata?.ownerReferences?.map((ref) => ref.uid)).toEqual([adopted.metadata.uid]);
    // rcm's node labels (`<shim>: provisioned`) mean nothing to shimkeeper: removing them changes nothing.
    expect(kubectl(['label', 'nodes', '--all', 'spin-v2-']).ok).toBe(true);
    await waitForShim('spin-v2', 'still Ready', (s) => condition(s, 'Ready')?.status === 'True' && s.status?.nodesReady === 2);
  });

  it('per-platform artifacts: checksum prints the platforms; a class with another handler is not adopted even when asked', async () => {
    const mirrored = mirror(asShimkeeper(RCM_WASMTIME));
    const [arm, amd] = [...mirrored.matchAll(/location: "([^"]+)"/g)].map((m) => m[1]!);
    const printed = await checksum(['--url', arm!, '--platform', 'linux/aarch64', '--url', amd!, '--platform', 'linux/x86_64']);
    const fetchStrategy = printed.slice(printed.indexOf('fetchStrategy:')).replace(/^/gm, '  ').trimEnd();
    const migrated = mirrored.replace(/  fetchStrategy:\n(    .*\n|\n)*?(?=  runtimeClass:)/, `${fetchStrategy}\n\n`).replace('    handler: wasmtime\n', '    handler: wasmtime\n    adoptExisting: true\n');
    const other = 'apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: wasmtime-v1}\nhandler: wasmtime-old\n';
    apply(other);
    apply(migrated);
    const refused = await waitForShim('wasmtime-v1', 'RuntimeClassConflict', (s) => condition(s, 'Degraded')?.reason === 'RuntimeClassConflict' && s.status?.nodesUpdated === 2);
    expect(condition(refused, 'Degraded')?.message).toContain('its handler is not spec.runtimeClass.handler wasmtime: it is neither changed nor adopted');
    expect((await readRuntimeClass('wasmtime-v1')).handler).toBe('wasmtime-old');
    expect(refused.status?.revisions?.map((r) => r.platform)).toEqual(['linux/amd64', 'linux/arm64']);

    // Deleting it, as the message says, lets shimkeeper create its own.
    expect(kubectl(['delete', 'runtimeclass', 'wasmtime-v1']).ok).toBe(true);
    await waitForShim('wasmtime-v1', 'Ready', (s) => condition(s, 'Ready')?.status === 'True' && condition(s, 'Degraded')?.status === 'False');
    expect((await readRuntimeClass('wasmtime-v1')).handler).toBe('wasmtime');
  });

  it("rcm releases that named the options runtimeOptions: the manifest applies (kubectl's strict field validation) and the options reach the nodes", async () => {
    const location = artifacts.url('containerd-wasm-shims-v1-lunatic-linux-aarch64.tar.gz');
    artifacts.put('containerd-wasm-shims-v1-lunatic-linux-aarch64.tar.gz', Buffer.from('lunatic'));
    const digest = /sha256: "([a-f0-9]{64})"/.exec(await checksum(['--url', location]))![1]!;
    apply(`${SHIMKEEPER}
kind: Shim
metadata:
  name: lunatic-v1
spec:
  nodeSelector:
    spin: "true"
  fetchStrategy:
    type: anonymousHttp
    anonHttp:
      location: "${location}"
      sha256: "${digest}"
  runtimeClass:
    name: lunatic-v1
    handler: lunatic
  rolloutStrategy:
    type: recreate
  runtimeOptions:
    SystemdCgroup: "true"
`);
    await waitForShim('lunatic-v1', 'Ready', (s) => condition(s, 'Ready')?.status === 'True' && s.status?.nodesReady === 2);
    expect(jobEnv('lunatic-v1').map((env) => JSON.parse(env['RUNTIME_OPTION'] ?? '{}'))).toEqual([{ SystemdCgroup: 'true' }, { SystemdCgroup: 'true' }]);
    expect(agent.errors).toEqual([]);
  });
});
