// Smoke test of the real kube-apiserver + etcd harness: proves that what the controller relies on
// (Nodes, CRDs with a status subresource, server-side apply and its conflicts) behaves as on a
// real cluster, and that the kubeconfig works for both @kubernetes/client-node and kubectl.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiException,
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeApiServer, type KubeApiServer } from '../../local-cluster/kube-apiserver.ts';

const group = 'example.shimkeeper.dev';

const widgetCrd: V1CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `widgets.${group}` },
  spec: {
    group,
    scope: 'Namespaced',
    names: { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' },
    versions: [{
      name: 'v1',
      served: true,
      storage: true,
      subresources: { status: {} },
      schema: {
        openAPIV3Schema: {
          type: 'object',
          properties: {
            spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 }, color: { type: 'string' } } },
            status: { type: 'object', properties: { observedSize: { type: 'integer' } } },
          },
        },
      },
    }],
  },
};

interface Widget extends KubernetesObject {
  spec?: { size?: number; color?: string };
  status?: { observedSize?: number };
}

describe('real kube-apiserver + etcd', () => {
  let server: KubeApiServer;
  let kc: KubeConfig;

  beforeAll(async () => {
    server = await startKubeApiServer();
    kc = new KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
  }, 600_000); // a cold cache builds kube-apiserver + kubectl from source first

  afterAll(async () => {
    if (!server) return;
    await server.stop();
    expect(existsSync(server.dataDir)).toBe(false);
  });

  it('creates a Namespace and a Node', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'smoke' } } });
    await core.createNode({
      body: { metadata: { name: 'node-a', labels: { 'kubernetes.io/os': 'linux' } } },
    });
    const node = await core.readNode({ name: 'node-a' });
    expect(node.metadata?.labels?.['kubernetes.io/os']).toBe('linux');
    expect((await core.readNamespace({ name: 'smoke' })).status?.phase).toBe('Active');
  });

  it('kubectl works with the same kubeconfig', () => {
    const out = execFileSync(join(server.binDir, 'kubectl'), ['--kubeconfig', server.kubeconfigPath, 'get', 'nodes', '-o', 'name'], {
      encoding: 'utf8',
    });
    expect(out.trim()).toBe('node/node-a');
  });

  it('serves a CRD with a status subresource and server-side apply', async () => {
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({ body: widgetCrd });
    await waitFor(async () => {
      const crd = await ext.readCustomResourceDefinition({ name: `widgets.${group}` });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
    });

    const objects = KubernetesObjectApi.makeApiClient(kc);
    const widget: Widget = {
      apiVersion: `${group}/v1`,
      kind: 'Widget',
      metadata: { name: 'w1', namespace: 'smoke' },
      spec: { size: 3, color: 'blue' },
      status: { observedSize: 99 }, // ignored on the main resource because status is a subresource
    };
    // The new API group shows up in discovery a moment after Established; retry until it does.
    const applied = await waitFor(() =>
      objects.patch(widget, undefined, undefined, 'smoke-a', false, PatchStrategy.ServerSideApply));
    expect(applied.spec).toEqual({ size: 3, color: 'blue' });
    expect(applied.status).toBeUndefined();
    expect(applied.metadata?.managedFields?.map((f) => [f.manager, f.operation])).toEqual([['smoke-a', 'Apply']]);

    // A second manager claiming the same field conflicts unless it forces: real SSA semantics.
    const rival: Widget = { ...widget, spec: { color: 'red' }, status: undefined };
    const conflict = await objects
      .patch(rival, undefined, undefined, 'smoke-b', false, PatchStrategy.ServerSideApply)
      .catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(ApiException);
    expect((conflict as ApiException<unknown>).code).toBe(409);
    const forced = await objects.patch(rival, undefined, undefined, 'smoke-b', true, PatchStrategy.ServerSideApply);
    expect(forced.spec).toEqual({ size: 3, color: 'red' });

    // Status goes through /status only, also by server-side apply.
    const custom = kc.makeApiClient(CustomObjectsApi);
    await custom.patchNamespacedCustomObjectStatus(
      {
        group, version: 'v1', namespace: 'smoke', plural: 'widgets', name: 'w1',
        body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w1', namespace: 'smoke' }, status: { observedSize: 3 } },
        fieldManager: 'smoke-controller',
        force: true,
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    const read = (await custom.getNamespacedCustomObject({
      group, version: 'v1', namespace: 'smoke', plural: 'widgets', name: 'w1',
    })) as Widget;
    expect(read.status).toEqual({ observedSize: 3 });
    expect(read.spec).toEqual({ size: 3, color: 'red' });

    // Schema validation is enforced (minimum: 1).
    const invalid = await objects
      .patch({ ...widget, metadata: { name: 'w2', namespace: 'smoke' }, spec: { size: 0 }, status: undefined } as Widget,
        undefined, undefined, 'smoke-a', false, PatchStrategy.ServerSideApply)
      .catch((e: unknown) => e);
    expect((invalid as ApiException<unknown>).code).toBe(422);
  });
});

/** Polls until fn returns a truthy value (or resolves without throwing), for up to 30 s. */
async function waitFor<T>(fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      if (Date.now() > deadline) throw new Error('condition not met in time');
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
