// Proves the test-node agent against a real kube-apiserver: installer Jobs built by job-spec.ts are
// accepted, and every Pod and Job status write the agent makes (the kubelet's and the Job
// controller's part) passes the apiserver's validation, ending in the states the controller reads.
import { BatchV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_GROUP, API_VERSION, SHIM_PLURAL } from '../../src/api/names.ts';
import type { Shim } from '../../src/api/shim.ts';
import { installerJobIdentity } from '../../src/controller/installer-job/identity.ts';
import { installerJob } from '../../src/controller/installer-job/spec.ts';
import { shimOwnerReference } from '../../src/controller/owner-reference.ts';
import { parseInstallerResult } from '../../src/api/installer-contract.ts';
import type { CreateJobAction } from '../../src/controller/planner/model.ts';
import { plan } from '../../src/controller/planner/plan.ts';
import { startKubeApiServer, type KubeApiServer } from '../../local-cluster/kube-apiserver.ts';
import { createNodes, maxConcurrent, startTestNodeAgent, type Behaviour, type TestNodeAgent } from '../harness/test-node.ts';

const namespace = 'shimkeeper-system';
const longNode = `${'ip-10-0-12-34.eu-west-1.compute.internal.'.repeat(6)}node`.slice(0, 253);
const nodes = ['node-ok', 'node-fail', 'node-deadline', 'node-crashy', 'node-hang', 'node-orphan', longNode];

describe('test-node agent on a real kube-apiserver', () => {
  let server: KubeApiServer;
  let core: CoreV1Api;
  let batch: BatchV1Api;
  let agent: TestNodeAgent;
  let shim: Shim;
  const actions = new Map<string, CreateJobAction>();

  const behaviour: Behaviour = (job, attempt) => {
    const node = job.spec?.template.spec?.nodeName;
    if (node === 'node-fail') return { outcome: 'fail' };
    if (node === 'node-deadline') return { outcome: 'deadline', delayMs: 50 };
    if (node === 'node-crashy' && attempt < 2) return { outcome: 'fail', exitCode: 137, reason: 'OOMKilled', result: null };
    if (node === 'node-hang' || node === 'node-orphan') return { outcome: 'hang' };
    return { outcome: 'succeed', delayMs: 100 };
  };

  beforeAll(async () => {
    server = await startKubeApiServer();
    const kc = new KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
    batch = kc.makeApiClient(BatchV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });

    // A real Shim, so the Jobs' owner reference names a real object. kubectl, not the typed client:
    // its serializer drops schema keys spelled the JSON way (x-kubernetes-int-or-string).
    const kubectl = (...args: string[]) => execFileSync(join(server.binDir, 'kubectl'), ['--kubeconfig', server.kubeconfigPath, ...args], { encoding: 'utf8' });
    kubectl('apply', '--server-side', '-f', fileURLToPath(new URL('../../manifests/crd.yaml', import.meta.url)));
    kubectl('wait', '--for=condition=Established', 'crd/shims.runtime.shimkeeper.dev', '--timeout=60s');
    const custom = kc.makeApiClient(CustomObjectsApi);
    const spec: Shim['spec'] = {
      nodeSelector: { spin: 'true' },
      version: '0.19.0',
      fetchStrategy: { anonHttp: { location: 'https://example.com/spin.tar.gz', sha256: 'a'.repeat(64) } },
      runtimeClass: { name: 'wasmtime-spin-v2', handler: 'spin' },
      rolloutStrategy: { type: 'recreate' },
      containerdRuntimeOptions: { SystemdCgroup: 'true', Args: 'a,b\nc=d' },
    };
    shim = await waitFor(() => custom.createClusterCustomObject({
      group: API_GROUP, version: API_VERSION, plural: SHIM_PLURAL,
      body: { apiVersion: `${API_GROUP}/${API_VERSION}`, kind: 'Shim', metadata: { name: 'spin' }, spec },
    })) as Shim;

    await createNodes(core, nodes, { labels: { spin: 'true' }, containerRuntimeVersion: 'containerd://2.0.5' });
    agent = await startTestNodeAgent(server.kubeconfigPath, namespace, behaviour);

    // The planner's own actions, created as the controller would.
    const observed = nodes.map((name) => ({ name, labels: { spin: 'true', 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' } }));
    const planned = plan({ shim: { ...shim, metadata: { ...shim.metadata, finalizers: [`${API_GROUP}/finalizer`] } }, nodes: observed, jobs: [], runtimeClasses: [], now: new Date() });
    for (const action of planned.nodes.flatMap((work) => work.actions)) {
      if (action.type !== 'createJob') continue;
      actions.set(action.node, action);
      await batch.createNamespacedJob({ namespace, body: installerJob(action, { namespace, image: 'shimkeeper-installer:dev', owner: shimOwnerReference(shim) }) });
    }
    expect(actions.size).toBe(nodes.length);
  }, 600_000);

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
  });

  const jobOf = (node: string) => batch.readNamespacedJob({ name: actions.get(node)!.jobName, namespace });
  const podsOf = async (job: V1Job): Promise<V1Pod[]> =>
    (await core.listNamespacedPod({ namespace, labelSelector: `batch.kubernetes.io/controller-uid=${job.metadata!.uid}` })).items;
  const finished = (job: V1Job) => job.status?.conditions?.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
  const conditionTypes = (job: V1Job) => job.status?.conditions?.map((c) => `${c.type}:${c.reason}`);

  it('runs a succeeding Job like the kubelet and the Job controller would', async () => {
    const job = await waitFor(async () => { const j = await jobOf('node-ok'); return finished(j) ? j : null; });
    expect(conditionTypes(job)).toEqual(['SuccessCriteriaMet:CompletionsReached', 'Complete:CompletionsReached']);
    expect(job.status).toMatchObject({ succeeded: 1, ready: 0, terminating: 0 });
    expect(job.status!.active ?? 0).toBe(0); // omitted when 0, as the apiserver serializes it
    expect(job.status!.completionTime!.getTime()).toBeGreaterThanOrEqual(job.status!.startTime!.getTime());

    const [pod, ...others] = await podsOf(job);
    expect(others).toEqual([]);
    expect(pod!.metadata!.name).toMatch(new RegExp(`^${job.metadata!.name}-[a-z0-9]{5}$`));
    expect(pod!.metadata!.labels).toMatchObject({
      ...job.spec!.template.metadata!.labels,
      'batch.kubernetes.io/job-name': job.metadata!.name,
      'job-name': job.metadata!.name,
      'batch.kubernetes.io/controller-uid': job.metadata!.uid,
    });
    expect(pod!.metadata!.ownerReferences).toEqual([expect.objectContaining({ kind: 'Job', uid: job.metadata!.uid, controller: true })]);
    expect(pod!.metadata!.finalizers ?? []).toEqual([]);
    expect(pod!.spec!.priority).toBe(2000001000); // system-node-critical exists and was resolved
    expect(pod!.status!.phase).toBe('Succeeded');

    const terminated = pod!.status!.containerStatuses![0]!.state!.terminated!;
    expect(terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    const result = parseInstallerResult(terminated.message);
    expect(result).toMatchObject({ ok: true, action: 'install', shim: 'spin', handler: 'spin', version: '0.19.0', revision: actions.get('node-ok')!.revision, containerdVersion: '2.0.5' });
  });

  it('fails a Job through its podFailurePolicy when the installer exits 1 with a result', async () => {
    const job = await waitFor(async () => { const j = await jobOf('node-fail'); return finished(j) ? j : null; });
    expect(conditionTypes(job)).toEqual(['FailureTarget:PodFailurePolicy', 'Failed:PodFailurePolicy']);
    expect(job.status).toMatchObject({ failed: 1, ready: 0 });
    expect(job.status!.active ?? 0).toBe(0);
    expect(job.status!.completionTime).toBeUndefined();
    const pods = await podsOf(job);
    expect(pods).toHaveLength(1);
    expect(job.status!.conditions![1]!.message).toBe(`Container installer for pod ${namespace}/${pods[0]!.metadata!.name} failed with exit code 1 matching FailJob rule at index 0`);
    expect(pods[0]!.status!.phase).toBe('Failed');
    expect(parseInstallerResult(pods[0]!.status!.containerStatuses![0]!.state!.terminated!.message)).toMatchObject({ ok: false, action: 'install', shim: 'spin' });
  });

  it('fails a Job that outlives its deadline, leaving no Pod and no result', async () => {
    const job = await waitFor(async () => { const j = await jobOf('node-deadline'); return finished(j) ? j : null; });
    expect(conditionTypes(job)).toEqual(['FailureTarget:DeadlineExceeded', 'Failed:DeadlineExceeded']);
    expect(job.status).toMatchObject({ failed: 1, terminating: 0 });
    expect(job.status!.active ?? 0).toBe(0);
    expect(await podsOf(job)).toEqual([]);
  });

  it('retries crashes within backoffLimit, each in a new Pod', async () => {
    const job = await waitFor(async () => { const j = await jobOf('node-crashy'); return finished(j) ? j : null; });
    expect(conditionTypes(job)).toEqual(['SuccessCriteriaMet:CompletionsReached', 'Complete:CompletionsReached']);
    expect(job.status).toMatchObject({ failed: 2, succeeded: 1 });
    const pods = await podsOf(job);
    expect(pods.map((p) => p.status!.phase).sort()).toEqual(['Failed', 'Failed', 'Succeeded']);
    const crashed = pods.filter((p) => p.status!.phase === 'Failed').map((p) => p.status!.containerStatuses![0]!.state!.terminated!);
    expect(crashed.map((t) => [t.exitCode, t.reason, t.message])).toEqual([[137, 'OOMKilled', undefined], [137, 'OOMKilled', undefined]]);
  });

  it('keeps labels valid and the full node name readable for a 253-character node', async () => {
    const job = await waitFor(async () => { const j = await jobOf(longNode); return finished(j) ? j : null; });
    expect(job.spec!.template.spec!.nodeName).toBe(longNode);
    expect(installerJobIdentity(job)).toMatchObject({ node: longNode, action: 'install' });
  });

  it('leaves a hanging Job running, and deletes its Pods when the Job is deleted in the background', async () => {
    const job = await waitFor(async () => { const j = await jobOf('node-hang'); return j.status?.ready === 1 ? j : null; });
    expect(job.status).toMatchObject({ active: 1, ready: 1 });
    expect(finished(job)).toBeUndefined();
    const [pod] = await podsOf(job);
    expect(pod!.status!.phase).toBe('Running');
    await batch.deleteNamespacedJob({ name: job.metadata!.name!, namespace, propagationPolicy: 'Background' });
    await waitFor(async () => (await podsOf(job)).length === 0);
  });

  it('orphans the Pods of a Job deleted with batch/v1\'s default propagation, as the real GC does', async () => {
    const job = await waitFor(async () => { const j = await jobOf('node-orphan'); return j.status?.ready === 1 ? j : null; });
    await batch.deleteNamespacedJob({ name: job.metadata!.name!, namespace });
    await waitFor(async () => batch.readNamespacedJob({ name: job.metadata!.name!, namespace }).then(() => false, () => true));
    const pods = await podsOf(job);
    expect(pods).toHaveLength(1);
    expect(pods[0]!.metadata!.ownerReferences ?? []).toEqual([]);
  });

  it('is held to the apiserver\'s Job status rules (so what the agent writes is what they allow)', async () => {
    // Not an installer Job by its labels, so the agent leaves it alone.
    const base = installerJob(actions.get('node-ok')!, { namespace, image: 'x', owner: shimOwnerReference(shim) });
    const job = await batch.createNamespacedJob({
      namespace,
      body: { ...base, metadata: { ...base.metadata, name: 'by-hand', labels: {} }, spec: { ...base.spec!, template: { ...base.spec!.template, metadata: {} } } },
    });
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const put = (conditions: Array<{ type: string; reason: string }>, extra: object = {}) =>
      batch.replaceNamespacedJobStatus({
        name: 'by-hand', namespace,
        body: { ...job, status: { startTime: now, ...extra, conditions: conditions.map((c) => ({ ...c, status: 'True', message: 'm', lastTransitionTime: now, lastProbeTime: now })) } },
      }).then(() => 'accepted', (e: { body?: string }) => String(e.body));
    expect(await put([{ type: 'Complete', reason: 'CompletionsReached' }], { completionTime: now, succeeded: 1 })).toMatch(/without the SuccessCriteriaMet=true condition/);
    expect(await put([{ type: 'Failed', reason: 'BackoffLimitExceeded' }], { failed: 1 })).toMatch(/without the FailureTarget=true condition/);
    expect(await put([{ type: 'SuccessCriteriaMet', reason: 'CompletionsReached' }, { type: 'Complete', reason: 'CompletionsReached' }], { succeeded: 1 })).toMatch(/completionTime is required/);
    await batch.deleteNamespacedJob({ name: 'by-hand', namespace, propagationPolicy: 'Background' });
  });

  it('records a timeline and no errors', () => {
    expect(agent.errors).toEqual([]);
    expect(agent.timeline.map((e) => e.node).sort()).toEqual([...nodes].sort());
    const done = agent.timeline.filter((e) => e.finishedAt !== undefined);
    expect(done.map((e) => `${e.node}:${e.outcome}`).sort()).toEqual(
      ['node-ok:succeeded', 'node-fail:failed', 'node-deadline:failed', 'node-crashy:succeeded', `${longNode}:succeeded`].sort(),
    );
    for (const entry of agent.timeline) expect(entry.revision).toBe(actions.get(entry.node)!.revision);
    // recreate: every Job started at once, and the two hanging ones never finish.
    expect(maxConcurrent(agent.timeline)).toBeGreaterThanOrEqual(2);
    expect(maxConcurrent([{ job: 'a', node: 'a', action: 'install', revision: 'r', startedAt: 0, finishedAt: 10 }, { job: 'b', node: 'b', action: 'install', revision: 'r', startedAt: 10, finishedAt: 20 }])).toBe(1);
  });
});

/** Polls until fn returns a truthy value, for up to 30 s. */
async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
