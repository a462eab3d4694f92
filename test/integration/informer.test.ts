// The controller's informer (src/kube/informer.ts) on a real kube-apiserver: a LIST in pages, each
// object slimmed before it is cached, watch events with the version they replace, and a watch the
// server ends resumed from its resourceVersion without listing again.
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1ConfigMap } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeApiServer, type KubeApiServer } from '../../local-cluster/kube-apiserver.ts';
import { kubeconfigAccess } from '../../src/kube/cluster-access.ts';
import { startInformer, type CachedKind } from '../../src/kube/informer.ts';
import { KubeClient } from '../../src/kube/rest.ts';
import { createLogger } from '../../src/log.ts';

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
});
