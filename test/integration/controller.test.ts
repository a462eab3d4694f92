import { BatchV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, NodeV1Api, PatchStrategy, setHeaderOptions, type V1Node } from '@kubernetes/client-node';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_GROUP, API_VERSION, readyLabelKey, statusAnnotationKey, versionLabelKey } from '../../src/api/names.ts';
import type { Shim, ShimSpec } from '../../src/api/shim.ts';
import { startControllerProcess, type ControllerProcess } from '../harness/controller-process.ts';
import { startKubeApiServer, type KubeApiServer } from '../../local-cluster/kube-apiserver.ts';
import { kubectlFor, serviceAccountKubeconfig, waitFor } from '../../local-cluster/kube-helpers.ts';
import { createNodes, maxConcurrent, startTestNodeAgent, type Behaviour, type NodeBehaviour, type TestNodeAgent } from '../harness/test-node.ts';

// The controller as its own process, with the manifests' service account and RBAC, against a
// real kube-apiserver. The test plays the nodes: it runs the installer Jobs the controller creates
// through the same status writes as the Job controller and a kubelet would.

const NAMESPACE = 'shimkeeper-system';
const SHA = (c: string) => c.repeat(64);
let server: KubeApiServer;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let nodeApi: NodeV1Api;
let batch: BatchV1Api;
let agent: TestNodeAgent;
let controllerKubeconfig: string;
let logDir: string;
const controllers: ControllerProcess[] = [];
/** Per-test Job behaviour; the agent asks it for every Job (`env`: the installer's environment). */
let behaviour: (node: string, revision: string, env: Record<string, string>) => NodeBehaviour = () => ({ outcome: 'succeed', delayMs: 100 });
/** Every controller runs with this allow-list: the tests' artifacts all come from example.com. */
const ALLOWED_ARTIFACT_URLS = 'https://example.com/';

function startController(identity: string, env: Record<string, string> = {}): Promise<ControllerProcess> {
  return startControllerProcess({ kubeconfigPath: controllerKubeconfig, namespace: NAMESPACE, identity, logDir, env: { SHIMKEEPER_ALLOWED_ARTIFACT_URLS: ALLOWED_ARTIFACT_URLS, ...env } }).then((c) => {
    controllers.push(c);
    return c;
  });
}

function diagnostics(): string {
  return controllers.map((c) => `--- ${c.identity} (last lines)\n${c.logs().split('\n').slice(-15).join('\n')}`).join('\n');
}

beforeAll(async () => {
  server = await startKubeApiServer();
  logDir = mkdtempSync(path.join(os.tmpdir(), 'shimkeeper-controller-test-'));
  const kubectl = kubectlFor(server);
  kubectl(['apply', '--server-side', '-f', 'manifests/crd.yaml', '-f', 'manifests/namespace.yaml', '-f', 'manifests/rbac.yaml']);
  kubectl(['wait', '--for=condition=Established', 'crd/shims.runtime.shimkeeper.dev', '--timeout=60s']);
  controllerKubeconfig = serviceAccountKubeconfig(server, NAMESPACE, 'shimkeeper-controller', path.join(logDir, 'controller.kubeconfig'));
  const kc = new KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
  nodeApi = kc.makeApiClient(NodeV1Api);
  batch = kc.makeApiClient(BatchV1Api);
  const asked: Behaviour = (job) => {
    const env = Object.fromEntries((job.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? '']));
    const annotations = job.metadata?.annotations ?? {};
    return behaviour(job.spec?.template.spec?.nodeName ?? '', annotations[`${API_GROUP}/revision`] ?? env['URL'] ?? '', env);
  };
  agent = await startTestNodeAgent(server.kubeconfigPath, NAMESPACE, asked);
  // At debug level: its reconciles are told (and the credentials test checks those lines too).
  await startController('controller-a', { LOG_LEVEL: 'debug' });
}, 600_000);

afterAll(async () => {
  for (const controller of controllers) await controller.stop();
  await agent?.stop();
  await server?.stop();
  rmSync(logDir, { recursive: true, force: true });
});

function shimSpec(overrides: Partial<ShimSpec> & { url?: string; sha256?: string } = {}): ShimSpec {
  const { url, sha256, ...rest } = overrides;
  return {
    fetchStrategy: { type: 'anonymousHttp', anonHttp: { location: url ?? 'https://example.com/containerd-shim-spin-v2.tar.gz', sha256: sha256 ?? SHA('a') } },
    runtimeClass: { name: 'wasm-spin', handler: 'spin' },
    rolloutStrategy: { type: 'rolling', rolling: { maxUpdate: 5 } },
    version: '0.19.0',
    ...rest,
  } as ShimSpec;
}

async function applyShim(name: string, spec: ShimSpec): Promise<void> {
  const body = { apiVersion: `${API_GROUP}/${API_VERSION}`, kind: 'Shim', metadata: { name }, spec };
  await custom.patchClusterCustomObject(
    { group: API_GROUP, version: API_VERSION, plural: 'shims', name, body, fieldManager: 'test', force: true },
    setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
  );
}

async function getShim(name: string): Promise<Shim | undefined> {
  try {
    return (await custom.getClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural: 'shims', name })) as Shim;
  } catch {
    return undefined;
  }
}

async function node(name: string): Promise<V1Node> {
  return core.readNode({ name });
}

function nodeState(n: V1Node, shim: string): { ready: boolean; status?: Record<string, unknown> } {
  const raw = n.metadata?.annotations?.[statusAnnotationKey(shim)];
  return { ready: n.metadata?.labels?.[readyLabelKey(shim)] === 'true', ...(raw ? { status: JSON.parse(raw) as Record<string, unknown> } : {}) };
}

async function waitForShim(name: string, what: string, check: (s: Shim) => boolean, timeoutMs = 60_000): Promise<Shim> {
  return waitFor(`${name}: ${what}`, async () => {
    const shim = await getShim(name);
    return shim && check(shim) ? shim : undefined;
  }, timeoutMs, diagnostics);
}

const condition = (shim: Shim, type: string) => shim.status?.conditions?.find((c) => c.type === type);

async function patchNodeMetadata(name: string, metadata: Record<string, unknown>): Promise<void> {
  await core.patchNode({ name, body: { metadata } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
}

describe('shimkeeper controller on a real API server', () => {
  it('installs on labelled and on annotated nodes, creates the RuntimeClass, and reports Ready', async () => {
    await createNodes(core, ['lab-1'], { labels: { spin: 'true' } });
    await createNodes(core, ['ann-1'], { annotations: { [`${API_GROUP}/shims`]: 'other, spin' } });
    await createNodes(core, ['bystander'], {});
    await applyShim('spin', shimSpec({ nodeSelector: { spin: 'true' } }));

    const shim = await waitForShim('spin', 'Ready with 2 nodes', (s) => condition(s, 'Ready')?.status === 'True' && s.status?.nodesReady === 2);
    expect(shim.status).toMatchObject({ nodes: 2, nodesReady: 2, nodesUpdated: 2, nodesFailed: 0 });
    expect(shim.metadata.finalizers).toContain(`${API_GROUP}/finalizer`);
    for (const name of ['lab-1', 'ann-1']) {
      expect(nodeState(await node(name), 'spin')).toMatchObject({ ready: true, status: { state: 'installed', version: '0.19.0', containerd: '1.7.24' } });
      expect((await node(name)).metadata?.labels?.[versionLabelKey('spin')]).toBe('0.19.0');
    }
    expect(nodeState(await node('bystander'), 'spin')).toEqual({ ready: false });
    // Each node's Job stays for Kubernetes to delete after its TTL (no deletion per node); the node's record names it.
    const jobs = (await batch.listNamespacedJob({ namespace: NAMESPACE })).items;
    for (const name of ['lab-1', 'ann-1']) {
      const ofNode = jobs.filter((j) => j.spec?.template?.spec?.nodeName === name);
      expect(ofNode.map((j) => j.status?.succeeded)).toEqual([1]);
      expect(nodeState(await node(name), 'spin').status?.job).toBe(ofNode[0]!.metadata?.uid);
    }

    const rc = await nodeApi.readRuntimeClass({ name: 'wasm-spin' });
    expect(rc.handler).toBe('spin');
    expect(rc.scheduling?.nodeSelector).toEqual({ [readyLabelKey('spin')]: 'true' });
    expect(rc.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Shim', name: 'spin', uid: shim.metadata.uid });

    // The rollout's history is on the Shim (kubectl describe shim): its milestones.
    await waitFor('the RolloutComplete Event', async () => {
      const shimEvents = (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=spin' })).items.map((e) => `${e.reason}: ${e.message}`);
      return /RolloutComplete: revision \w+ \(version 0\.19\.0\) on all 2 target nodes/.test(shimEvents.join('\n')) && /RolloutStarted: rolling out revision \w+ \(version 0\.19\.0\)/.test(shimEvents.join('\n'));
    }, 15_000);

    const printed = kubectlFor(server)(['get', 'shims']);
    expect(printed).toMatch(/spin\s+wasm-spin\s+0\.19\.0\s+2\s+2/);

    // LOG_LEVEL=debug tells each reconcile: over how many nodes, what it did, how long the Shim is held.
    const reconciles = controllers[0]!.logs().split('\n').filter((line) => line.includes('"msg":"reconciled"')).map((line) => JSON.parse(line) as Record<string, unknown>);
    const ofSpin = reconciles.filter((r) => r['shim'] === 'spin' && !r['waitedForOwnWrites']);
    const jobsCreated = ofSpin.reduce((sum, r) => sum + ((r['actions'] as Record<string, number> | undefined)?.['createJob'] ?? 0), 0);
    expect(jobsCreated).toBe(2);
    expect(ofSpin[0]).toMatchObject({ level: 'debug', nodes: 3, planningMs: expect.any(Number), holdMs: expect.any(Number) });
  });

  it('installs on a node that joins and uninstalls from one that stops being a target', async () => {
    await createNodes(core, ['lab-2'], { labels: { spin: 'true' } });
    await waitFor('lab-2 ready', async () => nodeState(await node('lab-2'), 'spin').ready);
    await patchNodeMetadata('lab-1', { labels: { spin: null } });
    await waitFor('lab-1 cleaned', async () => {
      const state = nodeState(await node('lab-1'), 'spin');
      return !state.ready && state.status === undefined;
    }, 60_000, diagnostics);
    expect(agent.timeline.filter((e) => e.node === 'lab-1').map((e) => e.action)).toEqual(['install', 'uninstall']);
    await waitForShim('spin', '2 nodes again', (s) => s.status?.nodes === 2 && s.status?.nodesReady === 2);
  });

  it('rolls an upgrade over 5 nodes with maxUpdate 1: never more than one node in flight', async () => {
    behaviour = () => ({ outcome: 'succeed', delayMs: 400 });
    await createNodes(core, ['roll-1', 'roll-2', 'roll-3', 'roll-4', 'roll-5'], { labels: { roll: 'true' } });
    await applyShim('roll', shimSpec({ nodeSelector: { roll: 'true' }, runtimeClass: { name: 'roll', handler: 'roll' }, rolloutStrategy: { type: 'rolling', rolling: { maxUpdate: 1 } } }));
    const first = await waitForShim('roll', 'first install done', (s) => s.status?.nodesReady === 5 && condition(s, 'Ready')?.status === 'True');
    const firstRevision = JSON.stringify(first.status?.revisions);

    await applyShim('roll', shimSpec({ nodeSelector: { roll: 'true' }, runtimeClass: { name: 'roll', handler: 'roll' }, rolloutStrategy: { type: 'rolling', rolling: { maxUpdate: 1 } }, sha256: SHA('b'), version: '0.19.1' }));
    const upgraded = await waitForShim('roll', 'upgrade done', (s) => s.status?.nodesUpdated === 5 && condition(s, 'Ready')?.status === 'True' && JSON.stringify(s.status?.revisions) !== firstRevision, 90_000);
    expect(upgraded.status?.nodesReady).toBe(5);
    const rollJobs = agent.timeline.filter((e) => e.node.startsWith('roll-'));
    expect(rollJobs).toHaveLength(10);
    expect(maxConcurrent(rollJobs)).toBe(1);
    for (let i = 1; i <= 5; i++) expect(nodeState(await node(`roll-${i}`), 'roll')).toMatchObject({ ready: true, status: { state: 'installed', version: '0.19.1' } });
  });

  it('a failing node pauses the rollout within the failure budget, and a fixed spec resumes it', async () => {
    await createNodes(core, ['frag-1', 'frag-2', 'frag-3', 'frag-4'], { labels: { frag: 'true' } });
    const spec = (sha: string) => shimSpec({ nodeSelector: { frag: 'true' }, runtimeClass: { name: 'frag', handler: 'frag' }, rolloutStrategy: { type: 'rolling', rolling: { maxUpdate: 1 }, maxFailedNodes: 1 }, sha256: sha });
    behaviour = (n) => (n === 'frag-2' ? { outcome: 'fail', delayMs: 100 } : { outcome: 'succeed', delayMs: 100 });
    await applyShim('frag', spec(SHA('c')));
    const paused = await waitForShim('frag', 'RolloutPaused', (s) => condition(s, 'Progressing')?.reason === 'RolloutPaused');
    expect(condition(paused, 'Progressing')).toMatchObject({ status: 'False' });
    expect(condition(paused, 'Progressing')?.message).toContain('frag-2');
    expect(condition(paused, 'Degraded')).toMatchObject({ status: 'True' });
    expect(paused.status?.failingNodes?.[0]).toMatchObject({ node: 'frag-2' });
    // kubectl get shims shows a paused rollout as such, never as success.
    const row = kubectlFor(server)(['get', 'shim', 'frag', '-o', 'wide']);
    expect(row).toMatch(/frag\s+\S+\s+\S+\s+\d+\s+\d+\s+\d+\s+1\s+RolloutPaused\s+\S+\s+.*frag-2/);
    // Paused: no further node is attempted while we watch.
    const attemptedWhenPaused = agent.timeline.filter((e) => e.node.startsWith('frag-')).length;
    await sleep(2_000);
    expect(agent.timeline.filter((e) => e.node.startsWith('frag-')).length).toBe(attemptedWhenPaused);
    expect(nodeState(await node('frag-2'), 'frag')).toMatchObject({ ready: false, status: { state: 'failed' } });
    const events = await core.listNamespacedEvent({ namespace: 'default' });
    const about = (name: string, reason: string) => events.items.filter((e) => e.involvedObject.name === name && e.reason === reason);
    expect(about('frag', 'RolloutPaused')[0]?.message).toContain('frag-2');
    expect(about('frag-2', 'InstallFailed')[0]).toMatchObject({ type: 'Warning' });

    behaviour = () => ({ outcome: 'succeed', delayMs: 100 });
    await applyShim('frag', spec(SHA('d')));
    const recovered = await waitForShim('frag', 'recovered', (s) => condition(s, 'Ready')?.status === 'True' && s.status?.nodesReady === 4, 90_000);
    expect(condition(recovered, 'Degraded')?.status).toBe('False');
  });

  it('makes zero writes in steady state', async () => {
    const controller = controllers[0]!;
    await sleep(1_000);
    const writes = async () => {
      const text = await (await fetch(controller.metricsUrl)).text();
      return text.split('\n').filter((l) => l.startsWith('shimkeeper_api_requests_total') && !/verb="(list|watch)"/.test(l)).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    };
    const atStart = await writes();
    await sleep(10_000);
    expect(await writes()).toBe(atStart);

    const base = controller.metricsUrl.replace('/metrics', '');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(controller.metricsUrl)).text();
    expect(metrics).toMatch(/shimkeeper_jobs_total\{action="install",outcome="succeeded"\} \d+/);
    expect(metrics).toMatch(/shimkeeper_jobs_total\{action="install",outcome="failed"\} [1-9]/);
    expect(metrics).toContain('shimkeeper_nodes{shim="roll",state="ready"} 5');
    expect(metrics).toMatch(/shimkeeper_reconciles_total\{result="success"\} \d+/);
    expect(metrics).toContain('shimkeeper_workqueue_depth 0');
  });

  it('survives being killed mid-rollout: the next process resumes without duplicate Jobs', async () => {
    behaviour = () => ({ outcome: 'succeed', delayMs: 700 });
    await createNodes(core, ['crash-1', 'crash-2', 'crash-3', 'crash-4', 'crash-5'], { labels: { crash: 'true' } });
    await applyShim('crash', shimSpec({ nodeSelector: { crash: 'true' }, runtimeClass: { name: 'crash', handler: 'crash' }, rolloutStrategy: { type: 'rolling', rolling: { maxUpdate: 1 } } }));
    await waitFor('two crash nodes done', () => agent.timeline.filter((e) => e.node.startsWith('crash-') && e.finishedAt).length >= 2 || undefined);
    controllers[0]!.kill();
    const replacement = await startController('controller-b');
    await waitForShim('crash', 'rollout finished by the new process', (s) => s.status?.nodesReady === 5, 90_000);
    const crashJobs = agent.timeline.filter((e) => e.node.startsWith('crash-'));
    expect(crashJobs).toHaveLength(5);
    expect(new Set(crashJobs.map((e) => e.node)).size).toBe(5);
    expect(maxConcurrent(crashJobs)).toBe(1);
    expect(replacement.logs()).toContain('became leader');
  });

  it('with two replicas only the leader acts, and the standby takes over when the leader dies', async () => {
    const leader = controllers[1]!;
    const standby = await startController('controller-c');
    await sleep(3_000);
    expect(await standby.metric('shimkeeper_leader')).toBe(0);
    expect(await leader.metric('shimkeeper_leader')).toBe(1);
    const standbyCalls = async () => standby.metric('shimkeeper_api_requests_total');
    expect(await standbyCalls()).toBe(0);

    behaviour = () => ({ outcome: 'succeed', delayMs: 100 });
    await createNodes(core, ['ha-1'], { labels: { ha: 'true' } });
    await applyShim('ha', shimSpec({ nodeSelector: { ha: 'true' }, runtimeClass: { name: 'ha', handler: 'ha' } }));
    await waitForShim('ha', 'ready by the leader', (s) => s.status?.nodesReady === 1);
    expect(await standbyCalls()).toBe(0);

    leader.kill();
    await waitFor('standby leads', async () => (await standby.metric('shimkeeper_leader')) === 1 || undefined, 30_000, diagnostics);
    await createNodes(core, ['ha-2'], { labels: { ha: 'true' } });
    await waitForShim('ha', 'ready on the new node by the new leader', (s) => s.status?.nodesReady === 2);
  });

  it('two Shims with one handler: the first keeps it, the second installs nothing and says why, then takes over when the first is gone', async () => {
    behaviour = () => ({ outcome: 'succeed', delayMs: 100 });
    await createNodes(core, ['dup-1'], { labels: { dup: 'true' } });
    await applyShim('dup-first', shimSpec({ nodeSelector: { dup: 'true' }, runtimeClass: { name: 'dup-first', handler: 'dup' } }));
    await waitForShim('dup-first', 'Ready', (s) => condition(s, 'Ready')?.status === 'True' && s.status?.nodesReady === 1);
    await applyShim('dup-second', shimSpec({ nodeSelector: { dup: 'true' }, runtimeClass: { name: 'dup-second', handler: 'dup' }, sha256: SHA('e') }));
    const blocked = await waitForShim('dup-second', 'HandlerConflict', (s) => condition(s, 'Ready')?.reason === 'HandlerConflict');
    expect(condition(blocked, 'Ready')).toMatchObject({ status: 'False' });
    expect(condition(blocked, 'Ready')?.message).toContain('Shim dup-first');
    expect(condition(blocked, 'Degraded')).toMatchObject({ status: 'True', reason: 'HandlerConflict' });
    const events = await core.listNamespacedEvent({ namespace: 'default' });
    expect(events.items.filter((e) => e.involvedObject.name === 'dup-second' && e.reason === 'HandlerConflict').length).toBeGreaterThan(0);
    await sleep(1_500);
    expect(agent.timeline.filter((e) => e.job.startsWith('dup-second-'))).toEqual([]);
    await expect(nodeApi.readRuntimeClass({ name: 'dup-second' })).rejects.toThrow();
    expect(nodeState(await node('dup-1'), 'dup-first')).toMatchObject({ ready: true });
    expect(nodeState(await node('dup-1'), 'dup-second')).toEqual({ ready: false });

    await custom.deleteClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural: 'shims', name: 'dup-first' });
    await waitForShim('dup-second', 'Ready once dup-first is gone', (s) => condition(s, 'Ready')?.status === 'True' && s.status?.nodesReady === 1, 90_000);
    expect(nodeState(await node('dup-1'), 'dup-first')).toEqual({ ready: false });
    const dupJobs = agent.timeline.filter((e) => e.node === 'dup-1').map((e) => `${e.job.startsWith('dup-first-') ? 'first' : 'second'} ${e.action}`);
    expect(dupJobs).toEqual(['first install', 'first uninstall', 'second install']);
    expect((await nodeApi.readRuntimeClass({ name: 'dup-second' })).handler).toBe('dup');
  });

  it("never adopts, changes or deletes an admin's RuntimeClass that a Shim happens to name", async () => {
    const adminClass = {
      apiVersion: 'node.k8s.io/v1',
      kind: 'RuntimeClass',
      metadata: { name: 'gvisor', labels: { team: 'platform' } },
      handler: 'runsc',
      overhead: { podFixed: { memory: '64Mi', cpu: '250m' } },
      scheduling: { nodeSelector: { sandbox: 'gvisor' } },
    };
    await nodeApi.createRuntimeClass({ body: adminClass });
    const before = await nodeApi.readRuntimeClass({ name: 'gvisor' });
    const fields = (rc: typeof before) => JSON.stringify([rc.metadata?.uid, rc.metadata?.resourceVersion, rc.metadata?.labels, rc.metadata?.ownerReferences, rc.handler, rc.overhead, rc.scheduling]);

    await createNodes(core, ['gv-1'], { labels: { gv: 'true' } });
    await applyShim('gv', shimSpec({ nodeSelector: { gv: 'true' }, runtimeClass: { name: 'gvisor', handler: 'gv' } }));
    const conflicted = await waitForShim('gv', 'RuntimeClassConflict', (s) => condition(s, 'Degraded')?.reason === 'RuntimeClassConflict' && s.status?.nodesReady === 1);
    expect(condition(conflicted, 'Degraded')?.message).toContain('RuntimeClass gvisor (handler runsc)');
    const events = await core.listNamespacedEvent({ namespace: 'default' });
    expect(events.items.filter((e) => e.involvedObject.name === 'gv' && e.reason === 'RuntimeClassConflict').length).toBeGreaterThan(0);
    expect(fields(await nodeApi.readRuntimeClass({ name: 'gvisor' }))).toBe(fields(before));

    await custom.deleteClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural: 'shims', name: 'gv' });
    await waitFor('Shim gv gone', async () => (await getShim('gv')) === undefined || undefined, 60_000, diagnostics);
    expect(fields(await nodeApi.readRuntimeClass({ name: 'gvisor' }))).toBe(fields(before));
  });

  it('installs nothing from a location outside the allow-list, and says so', async () => {
    await createNodes(core, ['evil-1'], { labels: { evil: 'true' } });
    await applyShim('evil', shimSpec({ nodeSelector: { evil: 'true' }, runtimeClass: { name: 'evil', handler: 'evil' }, url: 'https://example.com.evil.net/containerd-shim-spin-v2.tar.gz' }));
    const refused = await waitForShim('evil', 'ArtifactNotAllowed', (s) => condition(s, 'Ready')?.reason === 'ArtifactNotAllowed');
    expect(condition(refused, 'Ready')?.message).toContain('https://example.com.evil.net/containerd-shim-spin-v2.tar.gz');
    const events = await core.listNamespacedEvent({ namespace: 'default' });
    expect(events.items.filter((e) => e.involvedObject.name === 'evil' && e.reason === 'ArtifactNotAllowed').length).toBeGreaterThan(0);
    await sleep(1_500);
    expect(agent.timeline.filter((e) => e.node === 'evil-1')).toEqual([]);
    await expect(nodeApi.readRuntimeClass({ name: 'evil' })).rejects.toThrow();

    // Moved under the allow-list, it installs.
    await applyShim('evil', shimSpec({ nodeSelector: { evil: 'true' }, runtimeClass: { name: 'evil', handler: 'evil' } }));
    await waitForShim('evil', 'Ready once allowed', (s) => condition(s, 'Ready')?.status === 'True' && s.status?.nodesReady === 1);
  });

  it('never writes the credentials of an artifact URL into Events, node annotations, the Shim status or its logs', async () => {
    const secretUrl = 'https://deploy:pwLEAK1234@example.com/containerd-shim-spin-v2.tar.gz?X-Amz-Signature=SIGLEAK5678&X-Amz-Expires=600';
    behaviour = (n, _revision, env) =>
      n === 'leak-1'
        ? { outcome: 'fail', delayMs: 100, result: { ok: false, action: 'install', shim: 'leak', code: 'DownloadFailed', error: `download of ${env['URL']} failed: HTTP 403` } }
        : { outcome: 'succeed', delayMs: 100 };
    await createNodes(core, ['leak-1'], { labels: { leak: 'true' } });
    await applyShim('leak', shimSpec({ nodeSelector: { leak: 'true' }, runtimeClass: { name: 'leak', handler: 'leak' }, url: secretUrl }));
    const failed = await waitForShim('leak', 'the node failed', (s) => s.status?.nodesFailed === 1 && condition(s, 'Progressing')?.reason === 'RolloutPaused');
    await sleep(1_000); // the Events about it
    const annotation = (await node('leak-1')).metadata?.annotations?.[statusAnnotationKey('leak')] ?? '';
    const events = (await core.listNamespacedEvent({ namespace: 'default' })).items.filter((e) => e.message?.includes('leak'));
    const written = [JSON.stringify(failed.status), annotation, JSON.stringify(events.map((e) => e.message)), ...controllers.map((c) => c.logs())].join('\n');
    expect(annotation).toContain('example.com/containerd-shim-spin-v2.tar.gz');
    expect(events.some((e) => e.reason === 'InstallFailed' && e.message?.includes('example.com/containerd-shim-spin-v2.tar.gz'))).toBe(true);
    expect(written).not.toMatch(/pwLEAK1234|SIGLEAK5678/);
    behaviour = () => ({ outcome: 'succeed', delayMs: 100 });
  });

  it('drift: a kubelet sandbox failure naming the handler, then a reboot, take the ready label off and a re-install with --verify repairs it', async () => {
    const verifyRuns: string[] = [];
    behaviour = (nodeName, _revision, env) => {
      if (env['VERIFY'] === 'true') verifyRuns.push(nodeName);
      return { outcome: 'succeed', delayMs: env['VERIFY'] === 'true' ? 2_000 : 100 };
    };
    await createNodes(core, ['drift-1'], { labels: { drift: 'true' } });
    await applyShim('drift', shimSpec({ nodeSelector: { drift: 'true' }, runtimeClass: { name: 'drift', handler: 'drift' } }));
    await waitFor('drift-1 ready', async () => nodeState(await node('drift-1'), 'drift').ready, 60_000, diagnostics);
    const installedAt = Date.parse(String(nodeState(await node('drift-1'), 'drift').status?.['time']));

    // What the kubelet writes when containerd has lost the handler (someone removed the stanza).
    await core.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { name: `sandbox-failure.${Date.now()}`, namespace: 'default' },
        involvedObject: { kind: 'Pod', name: 'app', namespace: 'default' },
        reason: 'FailedCreatePodSandBox',
        type: 'Warning',
        message: 'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox runtime: no runtime for "drift" is configured',
        source: { component: 'kubelet', host: 'drift-1' },
        firstTimestamp: new Date(installedAt + 2_000),
        lastTimestamp: new Date(installedAt + 2_000),
        count: 1,
      },
    });
    await waitFor('drift-1 suspected: label off while the repair runs', async () => {
      const state = nodeState(await node('drift-1'), 'drift');
      return !state.ready && state.status?.['state'] === 'installed' && typeof state.status?.['suspect'] === 'string';
    }, 30_000, diagnostics);
    await waitFor('drift-1 repaired', async () => {
      const state = nodeState(await node('drift-1'), 'drift');
      return state.ready && state.status?.['state'] === 'installed' && state.status?.['suspect'] === undefined;
    }, 60_000, diagnostics);
    expect(verifyRuns).toEqual(['drift-1']);
    const events = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'reason=DriftSuspected,involvedObject.name=drift-1' });
    expect(events.items.map((e) => e.message).join('\n')).toMatch(/no runtime for "drift" is configured/);

    // A reboot: the kubelet reports a new boot ID.
    await core.patchNodeStatus({ name: 'drift-1', body: { status: { nodeInfo: { bootID: 'rebooted' } } } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
    await waitFor('drift-1 re-verified after the reboot', async () => verifyRuns.length === 2 && nodeState(await node('drift-1'), 'drift').ready, 60_000, diagnostics);
    expect(nodeState(await node('drift-1'), 'drift').status).toMatchObject({ state: 'installed', bootID: 'rebooted' });
    behaviour = () => ({ outcome: 'succeed', delayMs: 100 });
  });

  it('a handler change rolls out like a revision: the RuntimeClass names the new handler and a node is ready only once it runs it', async () => {
    const handlersSeen: string[] = [];
    behaviour = (_node, _revision, env) => {
      handlersSeen.push(env['HANDLER'] ?? '');
      return { outcome: 'succeed', delayMs: 1_500 };
    };
    await createNodes(core, ['hc-1'], { labels: { hc: 'true' } });
    await applyShim('hc', shimSpec({ nodeSelector: { hc: 'true' }, runtimeClass: { name: 'hc', handler: 'h-one' } }));
    await waitFor('hc-1 ready on h-one', async () => nodeState(await node('hc-1'), 'hc').ready, 60_000, diagnostics);
    expect(nodeState(await node('hc-1'), 'hc').status).toMatchObject({ handler: 'h-one' });

    await applyShim('hc', shimSpec({ nodeSelector: { hc: 'true' }, runtimeClass: { name: 'hc', handler: 'h-two' } }));
    await waitFor('RuntimeClass names h-two', async () => (await nodeApi.readRuntimeClass({ name: 'hc' })).handler === 'h-two', 30_000, diagnostics);
    // While the node still runs h-one, it is not ready for a class that names h-two.
    await waitFor('hc-1 not ready while it runs h-one', async () => {
      const state = nodeState(await node('hc-1'), 'hc');
      return !state.ready && state.status?.['state'] === 'installed' && state.status?.['handler'] === 'h-one';
    }, 30_000, diagnostics);
    await waitFor('hc-1 ready on h-two', async () => {
      const state = nodeState(await node('hc-1'), 'hc');
      return state.ready && state.status?.['handler'] === 'h-two';
    }, 60_000, diagnostics);
    expect(handlersSeen).toEqual(['h-one', 'h-two']);
    behaviour = () => ({ outcome: 'succeed', delayMs: 100 });
  });

  it('a version-only change re-checks nodes without taking their label off, and they then report the new version', async () => {
    const verifies: string[] = [];
    behaviour = (nodeName, _revision, env) => {
      if (env['VERIFY'] === 'true') verifies.push(`${nodeName}@${env['VERSION']}`);
      return { outcome: 'succeed', delayMs: 1_000 };
    };
    await createNodes(core, ['vo-1'], { labels: { vo: 'true' } });
    await applyShim('vo', shimSpec({ nodeSelector: { vo: 'true' }, runtimeClass: { name: 'vo', handler: 'vo' } }));
    await waitFor('vo-1 ready', async () => nodeState(await node('vo-1'), 'vo').ready, 60_000, diagnostics);
    const revision = nodeState(await node('vo-1'), 'vo').status?.['revision'];
    await applyShim('vo', shimSpec({ nodeSelector: { vo: 'true' }, runtimeClass: { name: 'vo', handler: 'vo' }, version: '0.19.1' }));
    const seenNotReady = { value: false };
    await waitFor('vo-1 reports 0.19.1', async () => {
      const state = nodeState(await node('vo-1'), 'vo');
      if (!state.ready) seenNotReady.value = true;
      return state.status?.['state'] === 'installed' && state.status?.['version'] === '0.19.1';
    }, 60_000, diagnostics);
    expect(seenNotReady.value).toBe(false);
    expect(nodeState(await node('vo-1'), 'vo').status?.['revision']).toBe(revision);
    expect(verifies).toEqual(['vo-1@0.19.1']);
    await waitForShim('vo', 'all nodes updated at 0.19.1', (s) => s.status?.nodesUpdated === 1 && condition(s, 'Ready')?.status === 'True');
    behaviour = () => ({ outcome: 'succeed', delayMs: 100 });
  });

  it('deleting a Shim removes the RuntimeClass, uninstalls the shim everywhere, then drops the finalizer', async () => {
    await custom.deleteClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural: 'shims', name: 'spin' });
    await waitFor('Shim spin gone', async () => (await getShim('spin')) === undefined || undefined, 60_000, diagnostics);
    for (const name of ['lab-2', 'ann-1']) expect(nodeState(await node(name), 'spin')).toEqual({ ready: false });
    await expect(nodeApi.readRuntimeClass({ name: 'wasm-spin' })).rejects.toThrow();
    const spinJobs = agent.timeline.filter((e) => ['lab-2', 'ann-1'].includes(e.node));
    expect(spinJobs.filter((e) => e.action === 'uninstall')).toHaveLength(2);
    expect(agent.errors).toEqual([]);
  });
});
