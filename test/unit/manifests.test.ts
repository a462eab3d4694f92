// The hand-written manifests agree with themselves and with the code: the kustomization lists what
// is there, the Deployment runs as the service account RBAC binds, and RBAC grants exactly what
// src/controller/api-needs.ts says the controller uses (nothing missing, nothing extra).
import { parseAllowedArtifactLocations } from '../../src/api/artifact-policy.ts';
import {
  loadAllYaml,
  type KubernetesObject,
  type V1ClusterRole,
  type V1ClusterRoleBinding,
  type V1Deployment,
  type V1PodDisruptionBudget,
  type V1PolicyRule,
  type V1Role,
  type V1RoleBinding,
  type V1Service,
} from '@kubernetes/client-node';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SHIM_API_VERSION } from '../../src/api/shim.ts';
import { validateShim } from '../../src/api/validate.ts';
import { CONTROLLER_API_NEEDS } from '../../src/controller/api-needs.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const manifests = join(root, 'manifests');
const NAMESPACE = 'shimkeeper-system';
const CLUSTER_SCOPED = new Set(['CustomResourceDefinition', 'Namespace', 'ClusterRole', 'ClusterRoleBinding']);

function load(file: string): KubernetesObject[] {
  return loadAllYaml(readFileSync(join(manifests, file), 'utf8')).filter(Boolean) as KubernetesObject[];
}

const kustomization = load('kustomization.yaml')[0] as unknown as { kind: string; resources: string[] };
const objects = kustomization.resources.flatMap(load);
const ofKind = <T extends KubernetesObject>(kind: string): T[] => objects.filter((o) => o.kind === kind) as T[];
const one = <T extends KubernetesObject>(kind: string): T => {
  const found = ofKind<T>(kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!;
};

/** Every (scope, group, resource, verb) the rules grant. */
function grants(rules: V1PolicyRule[] | undefined, scope: string): string[] {
  return (rules ?? []).flatMap((rule) =>
    (rule.apiGroups ?? []).flatMap((group) =>
      (rule.resources ?? []).flatMap((resource) => rule.verbs.map((verb) => `${scope} ${group || 'core'} ${resource} ${verb}`)),
    ),
  );
}

describe('manifests', () => {
  it('the kustomization lists exactly the manifest files there are (samples aside)', () => {
    expect(kustomization.kind).toBe('Kustomization');
    const present = readdirSync(manifests).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(present.sort());
    expect(new Set(kustomization.resources).size).toBe(kustomization.resources.length);
  });

  it('puts every namespaced object in shimkeeper-system, which it creates', () => {
    expect(one('Namespace').metadata?.name).toBe(NAMESPACE);
    for (const object of objects) {
      const expected = CLUSTER_SCOPED.has(object.kind!) ? undefined : NAMESPACE;
      expect(object.metadata?.namespace, `${object.kind}/${object.metadata?.name}`).toBe(expected);
    }
  });

  it('runs the Deployment as the service account that RBAC binds', () => {
    const deployment = one<V1Deployment>('Deployment');
    const serviceAccount = deployment.spec!.template.spec!.serviceAccountName;
    expect(ofKind('ServiceAccount').map((sa) => sa.metadata?.name)).toContain(serviceAccount);
    const subject = { kind: 'ServiceAccount', name: serviceAccount, namespace: NAMESPACE };
    const clusterBinding = one<V1ClusterRoleBinding>('ClusterRoleBinding');
    expect(clusterBinding.subjects).toEqual([subject]);
    expect(clusterBinding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: one('ClusterRole').metadata?.name });
    const binding = one<V1RoleBinding>('RoleBinding');
    expect(binding.subjects).toEqual([subject]);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: one('Role').metadata?.name });
  });

  it('grants exactly the API permissions the controller needs, without wildcards', () => {
    const needed = CONTROLLER_API_NEEDS.flatMap((need) => need.verbs.map((verb) => `${need.scope} ${need.group || 'core'} ${need.resource} ${verb}`));
    const granted = [...grants(one<V1ClusterRole>('ClusterRole').rules, 'cluster'), ...grants(one<V1Role>('Role').rules, 'namespace')];
    expect([...new Set(granted)].sort()).toEqual([...new Set(needed)].sort());
    expect(granted.join('\n')).not.toContain('*');
    for (const need of CONTROLLER_API_NEEDS) expect(need.why).not.toBe('');
  });

  it('configures the controller as its main module and the installer Jobs expect', () => {
    const deployment = one<V1Deployment>('Deployment');
    const spec = deployment.spec!;
    expect(spec.replicas).toBe(2);
    expect(spec.template.metadata!.labels).toMatchObject(spec.selector.matchLabels!);
    const [container, ...others] = spec.template.spec!.containers;
    expect(others).toEqual([]);
    expect(container!.image).toBe('shimkeeper-controller:dev');
    expect(container!.command).toEqual(['node', '/opt/shimkeeper/dist/src/controller/main.js']);
    // The compiled path mirrors the source tree (tsconfig outDir dist, rootDir .).
    expect(existsSync(join(root, 'src/controller/main.ts'))).toBe(true);

    const env = Object.fromEntries((container!.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]));
    expect(env).toMatchObject({ SHIMKEEPER_INSTALLER_IMAGE: 'shimkeeper-installer:dev', POD_NAMESPACE: 'metadata.namespace', POD_NAME: 'metadata.name' });
    // The artifact allow-list is there to be filled in, empty (any location) by default.
    expect(env['SHIMKEEPER_ALLOWED_ARTIFACT_URLS']).toBe('');
    expect(parseAllowedArtifactLocations(env['SHIMKEEPER_ALLOWED_ARTIFACT_URLS'])).toEqual([]);

    expect(container!.ports).toEqual([{ name: 'http-metrics', containerPort: 8080, protocol: 'TCP' }]);
    expect(container!.livenessProbe?.httpGet).toMatchObject({ path: '/healthz', port: 'http-metrics' });
    expect(container!.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', port: 'http-metrics' });
    expect(container!.resources?.requests).toBeDefined();
    expect(container!.resources?.limits?.memory).toBeDefined();
    expect(container!.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(spec.template.spec!.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
  });

  it('exposes the metrics port with a Service and bounds disruption of the controller\'s Pods', () => {
    const deployment = one<V1Deployment>('Deployment');
    const podLabels = deployment.spec!.template.metadata!.labels!;
    const service = one<V1Service>('Service');
    expect(podLabels).toMatchObject(service.spec!.selector!);
    expect(service.spec!.ports).toEqual([{ name: 'http-metrics', port: 8080, targetPort: 'http-metrics', protocol: 'TCP' }]);
    const env = Object.fromEntries(deployment.spec!.template.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
    expect(deployment.spec!.template.spec!.containers[0]!.ports).toContainEqual({ name: 'http-metrics', containerPort: Number(env['METRICS_PORT']), protocol: 'TCP' });
    const pdb = one<V1PodDisruptionBudget>('PodDisruptionBudget');
    expect(podLabels).toMatchObject(pdb.spec!.selector!.matchLabels!);
    // maxUnavailable, so a single replica (a one-node cluster) never blocks a drain.
    expect(pdb.spec).toMatchObject({ maxUnavailable: 1 });
    expect(pdb.spec!.minAvailable).toBeUndefined();
  });

  it('the image has the controller and installer targets the manifests and Jobs use', () => {
    const dockerfile = readFileSync(join(root, 'installer-image/Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM .* AS installer$/m);
    expect(dockerfile).toMatch(/^FROM .* AS controller$/m);
    const controllerStage = dockerfile.slice(dockerfile.search(/^FROM .* AS controller$/m));
    expect(controllerStage).toMatch(/^USER 1000:1000$/m); // numeric, so runAsNonRoot can verify it
    expect(controllerStage).toContain('"/opt/shimkeeper/dist/src/controller/main.js"');
  });

  it('ships a sample Shim that the API accepts and the kustomization leaves out', () => {
    const [sample, ...rest] = loadAllYaml(readFileSync(join(manifests, 'samples/shim-spin.yaml'), 'utf8')) as Array<Record<string, unknown>>;
    expect(rest).toEqual([]);
    expect(sample).toMatchObject({ apiVersion: SHIM_API_VERSION, kind: 'Shim' });
    expect(validateShim(sample)).toEqual([]);
    expect(kustomization.resources.some((r) => r.includes('samples'))).toBe(false);
  });
});
