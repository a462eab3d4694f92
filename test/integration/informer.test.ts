// The controller's informer (src/kube/informer.ts) on a real kube-apiserver: a LIST in pages, each
// object slimmed before it is cached, watch events with the version they replace, and a watch the
// server ends resumed from its resourceVersion without listing again.
import { BatchV1Api, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type KubernetesObject, type V1ConfigMap, type V1Job, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeApiServer, type KubeApiServer } from '../../local-cluster/kube-apiserver.ts';
import { kubeconfigAccess } from '../../src/kube/cluster-access.ts';
import { startInformer, type CachedKind } from '../../src/kube/informer.ts';
import { KubeClient } from '../../src/kube/rest.ts';
import { installerJob } from '../../src/controller/installer-job/spec.ts';
import { shimOwnerReference } from '../../src/controller/owner-reference.ts';
import { nodeFingerprints } from '../../src/controller/shell/node-fingerprint.ts';
import { JOB_READS, NODE_READS, POD_READS, slimJob, slimNode, slimPod } from '../../src/controller/shell/slim.ts';
import { readPartialEvent, type PartialRead } from '../../src/kube/partial-event.ts';
import { streamWatch } from '../../src/kube/watch-stream.ts';
import { createLogger } from '../../src/log.ts';
import { kubeletConditions, kubeletNodeObject, kubeletNodeStatus } from '../harness/kubelet-like-node.ts';

const NAMESPACE = 'informer-test';

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('informer on a real kube-apiserver', () => {
  let server: KubeApiServer;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let informer: CachedKind<V1ConfigMap> | undefined;
  const requests = { list: 0, watch: 0 };
  const seen: string[] = [];

  beforeAll(async () => {
    server = await startKubeApiServer();
    kc = new KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    for (let i = 0; i < 25; i++) {
      await core.createNamespacedConfigMap({ namespace: NAMESPACE, body: { metadata: { name: `cm-${i}`, labels: { app: 'x' } }, data: { big: 'x'.repeat(1000), keep: String(i) } } });
    }
  }, 120_000);

  afterAll(async () => {
    await informer?.stop();
    await server?.stop();
  });

  it('lists in pages and keeps only the slim part of each object', async () => {
    informer = startInformer<V1ConfigMap>(
      new KubeClient(kubeconfigAccess(server.kubeconfigPath)),
      {
        name: 'configmaps',
        path: `/api/v1/namespaces/${NAMESPACE}/configmaps`,
        labelSelector: 'app=x',
        pageSize: 10,
        watchTimeoutSeconds: 2,
        slim: (cm) => ({ metadata: { name: cm.metadata?.name, namespace: cm.metadata?.namespace, resourceVersion: cm.metadata?.resourceVersion }, data: { keep: cm.data?.['keep'] ?? '' } }),
        handlers: {
          onAdd: (cm) => seen.push(`add ${cm.metadata?.name}`),
          onUpdate: (cm, before) => seen.push(`update ${cm.metadata?.name} ${before.data?.['keep']}→${cm.data?.['keep']}`),
          onDelete: (cm) => seen.push(`delete ${cm.metadata?.name} ${cm.data?.['keep']}`),
        },
        onRequest: (verb) => requests[verb]++,
      },
      createLogger({ level: 'warn' }),
    );
    await informer.synced;
    expect(informer.list()).toHaveLength(25);
    expect(informer.list(NAMESPACE)).toHaveLength(25);
    expect(informer.list('elsewhere')).toHaveLength(0);
    expect(requests.list).toBe(3);
    expect(informer.get('cm-7', NAMESPACE)).toEqual({ metadata: { name: 'cm-7', namespace: NAMESPACE, resourceVersion: expect.any(String) }, data: { keep: '7' } });
    expect(seen.filter((s) => s.startsWith('add'))).toHaveLength(25);
  }, 60_000);

  it('reports adds, updates with the version they replace, and deletes', async () => {
    seen.length = 0;
    await core.createNamespacedConfigMap({ namespace: NAMESPACE, body: { metadata: { name: 'new', labels: { app: 'x' } }, data: { keep: 'a' } } });
    await core.patchNamespacedConfigMap({ name: 'cm-3', namespace: NAMESPACE, body: { data: { keep: 'three' } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await core.deleteNamespacedConfigMap({ name: 'cm-4', namespace: NAMESPACE });
    await until(() => seen.length >= 3, 'three events');
    expect(seen).toEqual(['add new', 'update cm-3 3→three', 'delete cm-4 4']);
    expect(informer!.get('cm-4', NAMESPACE)).toBeUndefined();
    expect(informer!.get('cm-3', NAMESPACE)?.data?.['keep']).toBe('three');
  }, 60_000);

  it('resumes a watch the server ended from its resourceVersion, without listing again', async () => {
    const watchesBefore = requests.watch;
    // The server ends each watch after 2-4 s here.
    await sleep(9_000);
    expect(requests.watch).toBeGreaterThan(watchesBefore);
    seen.length = 0;
    await core.createNamespacedConfigMap({ namespace: NAMESPACE, body: { metadata: { name: 'after-resume', labels: { app: 'x' } }, data: { keep: 'b' } } });
    await until(() => seen.includes('add after-resume'), 'the add after the watch was resumed');
    expect(requests.list).toBe(3);
    expect(seen).toEqual(['add after-resume']);
  }, 60_000);

  it('leaves Node heartbeats unparsed, from the first one after the LIST, and still sees every real change', async () => {
    const names = ['fp-node-1', 'fp-node-2', 'fp-node-3'];
    const status = { 'Content-Type': PatchStrategy.StrategicMergePatch };
    for (const [i, name] of names.entries()) {
      await core.createNode({ body: kubeletNodeObject(name, i + 1, { pool: 'wasm' }), fieldManager: 'kubelet' });
      await core.patchNodeStatus({ name, body: { status: kubeletNodeStatus(name, i + 1) }, fieldManager: 'kubelet' }, setHeaderOptions('Content-Type', status['Content-Type']));
    }
    const changes: string[] = [];
    const client = new KubeClient(kubeconfigAccess(server.kubeconfigPath));
    const readNode = (name: string) => client.call<V1Node>('GET', `/api/v1/nodes/${name}`);
    const nodes = startInformer<V1Node>(
      client,
      {
        name: 'nodes',
        path: '/api/v1/nodes',
        slim: slimNode,
        fingerprints: nodeFingerprints,
        coalesceMs: 300,
        handlers: { onUpdate: (node) => changes.push(`update ${node.metadata?.name}`), onDelete: (node) => changes.push(`delete ${node.metadata?.name}`) },
      },
      createLogger({ level: 'warn' }),
    );
    try {
      await nodes.synced;
      const heartbeat = (name: string, at: string) =>
        core.patchNodeStatus({ name, body: { status: { conditions: kubeletConditions(at, '2026-12-01T00:00:00Z') } }, fieldManager: 'kubelet' }, setHeaderOptions('Content-Type', status['Content-Type']));
      // Heartbeats, several per node and in bursts the coalescer holds back: the cache follows
      // each Node's resourceVersion, and no handler is called.
      for (let round = 0; round < 3; round++) for (const name of names) await heartbeat(name, new Date(Date.UTC(2026, 11, 1, 2, round)).toISOString());
      const latest = await Promise.all(names.map(readNode));
      await until(() => latest.every((node) => nodes.get(node.metadata!.name!)?.metadata?.resourceVersion === node.metadata!.resourceVersion), 'the heartbeats in the cache');
      for (const node of latest) expect(nodes.get(node.metadata!.name!)).toEqual(slimNode(node));
      expect(changes).toEqual([]);

      // A label, an annotation, a reboot (bootID), a deletion: each one reaches the handlers.
      await core.patchNode({ name: 'fp-node-1', body: { metadata: { labels: { pool: 'other' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      await core.patchNode({ name: 'fp-node-2', body: { metadata: { annotations: { 'runtime.shimkeeper.dev/shims': 'spin' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      await core.patchNodeStatus({ name: 'fp-node-3', body: { status: { nodeInfo: { ...kubeletNodeStatus('fp-node-3', 3)!.nodeInfo!, bootID: 'rebooted' } } }, fieldManager: 'kubelet' }, setHeaderOptions('Content-Type', status['Content-Type']));
      await until(() => changes.length >= 3, 'three changes');
      expect(changes.sort()).toEqual(['update fp-node-1', 'update fp-node-2', 'update fp-node-3']);
      expect(nodes.get('fp-node-1')?.metadata?.labels?.['pool']).toBe('other');
      expect(nodes.get('fp-node-2')?.metadata?.annotations).toEqual({ 'runtime.shimkeeper.dev/shims': 'spin' });
      expect(nodes.get('fp-node-3')?.status?.nodeInfo?.bootID).toBe('rebooted');
      await heartbeat('fp-node-3', '2026-12-01T03:00:00Z');
      await core.deleteNode({ name: 'fp-node-1' });
      await until(() => changes.includes('delete fp-node-1'), 'the deletion');
      expect(changes).toHaveLength(4);
      const node3 = await readNode('fp-node-3');
      await until(() => nodes.get('fp-node-3')?.metadata?.resourceVersion === node3.metadata!.resourceVersion, 'the last heartbeat');
      expect(nodes.get('fp-node-3')).toEqual(slimNode(node3));
    } finally {
      await nodes.stop();
      await client.close();
    }
  }, 60_000);

  it('reads the watch events of Nodes, installer Jobs and Pods from their bytes to the slim objects a whole parse gives', async () => {
    const client = new KubeClient(kubeconfigAccess(server.kubeconfigPath));
    const batch = kc.makeApiClient(BatchV1Api);
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const abort = new AbortController();
    const lines = new Map<string, Buffer[]>([['nodes', []], ['jobs', []], ['pods', []]]);
    const paths = { nodes: '/api/v1/nodes', jobs: `/apis/batch/v1/namespaces/${NAMESPACE}/jobs`, pods: `/api/v1/namespaces/${NAMESPACE}/pods` };
    const watching = Object.entries(paths).map(([kind, path]) =>
      streamWatch(client, { path, query: { resourceVersion: '0' }, idleTimeoutMs: 60_000, onLine: (line) => lines.get(kind)!.push(Buffer.from(line)) }, abort.signal).catch(() => undefined),
    );
    // The informer the controller runs for Jobs, which takes their Pod template from its cache.
    const jobs = startInformer<V1Job>(client, { name: 'jobs', path: paths.jobs, slim: slimJob, reads: JOB_READS, handlers: {} }, createLogger({ level: 'warn' }));
    try {
      await jobs.synced;
      const nodeStatus = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
      await core.createNode({ body: kubeletNodeObject('pr-node', 9, { pool: 'wasm' }), fieldManager: 'kubelet' });
      await core.patchNodeStatus({ name: 'pr-node', body: { status: kubeletNodeStatus('pr-node', 9) }, fieldManager: 'kubelet' }, nodeStatus);
      await core.patchNode({ name: 'pr-node', body: { metadata: { annotations: { 'spin.shim.runtime.shimkeeper.dev/status': '{"state":"installed","message":"a \\"quoted\\" note"}' } } } }, merge);

      const action = { type: 'createJob', node: 'pr-node', jobName: 'spin-install-pr', action: 'install', revision: 'r1', shim: 'spin', handler: 'spin', runtimeOptions: {}, artifact: { url: 'https://example.com/shim.tar.gz', sha256: 'a'.repeat(64) } };
      const job = await batch.createNamespacedJob({ namespace: NAMESPACE, body: installerJob(action as never, { namespace: NAMESPACE, image: 'installer:dev', owner: shimOwnerReference({ metadata: { name: 'spin', uid: 'uid-1' } }) }), fieldManager: 'shimkeeper' });
      const jobStatus = (status: object) => batch.patchNamespacedJobStatus({ name: job.metadata!.name!, namespace: NAMESPACE, body: { status }, fieldManager: 'job-controller' }, merge);
      await jobStatus({ startTime: '2026-12-01T00:00:01Z', active: 1, ready: 0 });
      const template = job.spec!.template;
      const pod = await core.createNamespacedPod({
        namespace: NAMESPACE,
        body: { metadata: { name: 'spin-install-pr-x1', labels: template.metadata?.labels ?? {}, annotations: template.metadata?.annotations ?? {}, finalizers: ['batch.kubernetes.io/job-tracking'] }, spec: template.spec! },
        fieldManager: 'job-controller',
      });
      const podStatus = (status: object) => core.patchNamespacedPodStatus({ name: pod.metadata!.name!, namespace: NAMESPACE, body: { status }, fieldManager: 'kubelet' }, merge);
      await podStatus({ phase: 'Pending', containerStatuses: [{ name: 'installer', image: 'installer:dev', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ErrImagePull', message: 'pull "installer:dev": not found' } } }] });
      await podStatus({ phase: 'Succeeded', containerStatuses: [{ name: 'installer', image: 'installer:dev', imageID: 'sha256:1', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed', message: '{"ok":true,"status":{"x":"}}"}}', startedAt: '2026-12-01T00:00:02Z', finishedAt: '2026-12-01T00:00:05Z' } } }] });
      const condition = (type: string) => ({ type, status: 'True', lastProbeTime: '2026-12-01T00:00:06Z', lastTransitionTime: '2026-12-01T00:00:06Z' });
      await jobStatus({ active: 0, succeeded: 1, conditions: [condition('SuccessCriteriaMet')] });
      await jobStatus({ completionTime: '2026-12-01T00:00:06Z', conditions: [condition('SuccessCriteriaMet'), condition('Complete')] });
      await core.patchNamespacedPod({ name: pod.metadata!.name!, namespace: NAMESPACE, body: { metadata: { finalizers: null } } }, merge);
      const finished = await client.call<V1Job>('GET', `${paths.jobs}/${job.metadata!.name!}`);
      await until(() => jobs.get(job.metadata!.name!, NAMESPACE)?.metadata?.resourceVersion === finished.metadata!.resourceVersion, 'the finished Job in the cache');
      expect(jobs.get(job.metadata!.name!, NAMESPACE)).toEqual(slimJob(finished));
      expect(jobs.get(job.metadata!.name!, NAMESPACE)?.spec?.template.spec?.nodeName).toBe('pr-node');
      await core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace: NAMESPACE, gracePeriodSeconds: 0 });
      await batch.deleteNamespacedJob({ name: job.metadata!.name!, namespace: NAMESPACE, propagationPolicy: 'Background' });
      await core.deleteNode({ name: 'pr-node' });
      await until(() => ['nodes', 'jobs', 'pods'].every((kind) => lines.get(kind)!.some((line) => line.includes('"type":"DELETED"') && line.includes('pr'))), 'every deletion');
    } finally {
      abort.abort();
      await Promise.all(watching);
      await jobs.stop();
      await client.close();
    }

    const kinds: Array<[string, PartialRead, (obj: never) => KubernetesObject]> = [
      ['nodes', NODE_READS, slimNode as (obj: never) => KubernetesObject],
      ['jobs', JOB_READS, slimJob as (obj: never) => KubernetesObject],
      ['pods', POD_READS, slimPod as (obj: never) => KubernetesObject],
    ];
    for (const [kind, read, slim] of kinds) {
      const events = lines.get(kind)!.filter((line) => line.includes('pr-'));
      expect(events.length, kind).toBeGreaterThanOrEqual(kind === 'nodes' ? 4 : 5);
      for (const line of events) {
        const whole = JSON.parse(line.toString('utf8')) as { type: string; object: V1Node & V1Job & V1Pod };
        const partial = readPartialEvent(line, read);
        expect(partial, `${kind} ${whole.type}`).toBeDefined();
        const spec = read.immutableSpec ? (slim(whole.object as never) as { spec?: unknown }).spec : undefined;
        expect(slim({ ...partial!.object, ...(spec ? { spec } : {}) } as never), `${kind} ${whole.type}`).toEqual(slim(whole.object as never));
      }
    }
  }, 60_000);
});
