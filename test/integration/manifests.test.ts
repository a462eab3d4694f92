// `kubectl apply -k manifests/` on a real kube-apiserver: everything is accepted, and RBAC (the
// apiserver's own authorizer, asked through `kubectl auth can-i --as` the controller's service
// account) allows every call in CONTROLLER_API_NEEDS where the controller makes it, and not beyond.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTROLLER_API_NEEDS } from '../../src/controller/api-needs.ts';
import { startKubeApiServer, type KubeApiServer } from '../../local-cluster/kube-apiserver.ts';

const manifests = fileURLToPath(new URL('../../manifests/', import.meta.url));
const controller = 'system:serviceaccount:shimkeeper-system:shimkeeper-controller';

describe('manifests on a real kube-apiserver', () => {
  let server: KubeApiServer;
  const kubectl = (...args: string[]): string =>
    execFileSync(join(server.binDir, 'kubectl'), ['--kubeconfig', server.kubeconfigPath, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  /** `kubectl auth can-i` answers through its exit code: 0 yes, 1 no. */
  const canI = (verb: string, resource: string, namespace?: string, subresource?: string): boolean => {
    try {
      kubectl('auth', 'can-i', verb, resource, `--as=${controller}`, ...(namespace ? ['-n', namespace] : []), ...(subresource ? [`--subresource=${subresource}`] : []));
      return true;
    } catch {
      return false;
    }
  };

  beforeAll(async () => {
    server = await startKubeApiServer();
  }, 600_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('applies with kubectl apply -k', () => {
    const out = kubectl('apply', '--server-side', '-k', manifests);
    for (const object of [
      'customresourcedefinition.apiextensions.k8s.io/shims.runtime.shimkeeper.dev',
      'namespace/shimkeeper-system',
      'serviceaccount/shimkeeper-controller',
      'clusterrole.rbac.authorization.k8s.io/shimkeeper-controller',
      'role.rbac.authorization.k8s.io/shimkeeper-controller',
      'deployment.apps/shimkeeper-controller',
      'service/shimkeeper-controller-metrics',
      'poddisruptionbudget.policy/shimkeeper-controller',
    ]) {
      expect(out).toContain(object);
    }
    kubectl('wait', '--for=condition=Established', 'crd/shims.runtime.shimkeeper.dev', '--timeout=60s');
    expect(kubectl('apply', '--dry-run=server', '-f', join(manifests, 'samples/shim-spin.yaml'))).toContain('shim.runtime.shimkeeper.dev/spin-v2');
  });

  it('lets the controller do everything it needs, where it needs it', () => {
    const denied: string[] = [];
    for (const need of CONTROLLER_API_NEEDS) {
      const [plural, subresource] = need.resource.split('/') as [string, string | undefined];
      const resource = need.group ? `${plural}.${need.group}` : plural;
      // Events about cluster-scoped objects go to `default`; other namespaced needs are in the controller's namespace.
      const namespace = need.scope === 'namespace' ? 'shimkeeper-system' : need.resource === 'events' ? 'default' : undefined;
      for (const verb of need.verbs) if (!canI(verb, resource, namespace, subresource)) denied.push(`${verb} ${need.resource} (${need.group || 'core'}) ${namespace ?? ''}`);
    }
    expect(denied).toEqual([]);
  });

  it('gives the controller nothing beyond that', () => {
    expect(canI('create', 'jobs.batch', 'default')).toBe(false);
    expect(canI('list', 'pods', 'kube-system')).toBe(false);
    expect(canI('get', 'secrets', 'shimkeeper-system')).toBe(false);
    expect(canI('create', 'pods', 'shimkeeper-system')).toBe(false);
    expect(canI('delete', 'shims.runtime.shimkeeper.dev')).toBe(false);
    expect(canI('delete', 'nodes')).toBe(false);
    expect(canI('update', 'nodes')).toBe(false);
    expect(canI('patch', 'nodes', undefined, 'status')).toBe(false);
    expect(canI('update', 'jobs.batch', 'shimkeeper-system', 'status')).toBe(false);
  });
});
