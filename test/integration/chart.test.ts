// The Helm chart (charts/shimkeeper) with `helm` built from its Go module: it lints; with its
// defaults it renders the same objects as `kubectl kustomize manifests/` (so the two install paths
// cannot drift); its CRD is the generated one, byte for byte; and every value has its effect, down
// to the installer Job the controller builds from the environment the chart rendered. kustomize's
// `images:` pins both images, the installer's included.
import { loadAllYaml, type KubernetesObject, type V1Deployment, type V1EnvVar, type V1PodDisruptionBudget, type V1Service } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureKubeBinaries } from '../../local-cluster/kube-apiserver.ts';
import { CHART_DIR, ensureHelm } from '../../local-cluster/helm.ts';
import { INSTALLER_FLAGS, OPERATOR_FLAGS } from '../../src/api/installer-contract.ts';
import { configFromEnv } from '../../src/controller/config.ts';
import { installerJob } from '../../src/controller/installer-job/spec.ts';
import { shimOwnerReference } from '../../src/controller/owner-reference.ts';
import type { CreateJobAction } from '../../src/controller/planner/model.ts';
import { parseInstallerArgs, type InstallerOptions } from '../../src/installer/options.ts';
import { OPERATOR_INSTALLER_OPTIONS } from '../unit/operator-installer-options.ts';
import { makeNode, makeShim, planFlat, T0 } from '../unit/planner-fixtures.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const EVERY_VALUE = path.join(CHART_DIR, 'ci/every-value-values.yaml');
const run = promisify(execFile);
let helmBin: string;
let kubectlBin: string;

async function helm(...args: string[]): Promise<string> {
  return (await run(helmBin, args, { encoding: 'utf8', maxBuffer: 1 << 24 })).stdout;
}
async function helmFails(...args: string[]): Promise<string> {
  try {
    await helm(...args);
  } catch (error) {
    return String((error as { stderr?: string }).stderr ?? error);
  }
  throw new Error(`helm ${args.join(' ')} succeeded`);
}
const objectsOf = (yaml: string) => (loadAllYaml(yaml) as KubernetesObject[]).filter(Boolean);
const render = async (...args: string[]) => objectsOf(await helm('template', 'shimkeeper', CHART_DIR, '--namespace', 'shimkeeper-system', ...args));
const kustomize = async (dir: string) => objectsOf((await run(kubectlBin, ['kustomize', dir], { encoding: 'utf8', maxBuffer: 1 << 24 })).stdout);
const key = (o: KubernetesObject) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
const find = <T extends KubernetesObject>(objects: KubernetesObject[], kind: string): T => {
  const found = objects.filter((o) => o.kind === kind);
  expect(found.map(key), kind).toHaveLength(1);
  return found[0] as T;
};
const envMap = (env: V1EnvVar[] | undefined) => Object.fromEntries((env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));

/** Labels Helm charts conventionally add, which kustomize's manifests do not carry. */
const HELM_LABELS = ['app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by', 'helm.sh/chart'];
function withoutHelmLabels(object: KubernetesObject): KubernetesObject {
  const copy = JSON.parse(JSON.stringify(object)) as KubernetesObject;
  for (const label of HELM_LABELS) delete copy.metadata?.labels?.[label];
  return copy;
}

beforeAll(async () => {
  helmBin = await ensureHelm();
  kubectlBin = path.join(await ensureKubeBinaries(['kubectl']), 'kubectl');
}, 600_000);

describe('the Helm chart', () => {
  const chart = readFileSync(path.join(CHART_DIR, 'Chart.yaml'), 'utf8');
  const appVersion = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;

  it('is version 0.1.0 of the chart and deploys the package version', () => {
    expect(chart).toMatch(/^version: 0\.1\.0$/m);
    expect(chart).toMatch(new RegExp(`^appVersion: "${appVersion.replaceAll('.', '\\.')}"$`, 'm'));
  });

  it('ships the generated CRD byte for byte', () => {
    expect(readFileSync(path.join(CHART_DIR, 'crds/crd.yaml'), 'utf8')).toBe(readFileSync(path.join(root, 'manifests/crd.yaml'), 'utf8'));
  });

  it('lints, with its defaults and with every value set', async () => {
    expect(await helm('lint', '--strict', CHART_DIR)).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(await helm('lint', '--strict', CHART_DIR, '-f', EVERY_VALUE)).toMatch(/0 chart\(s\) failed/);
  });

  it('renders with its defaults exactly what kubectl kustomize renders from manifests/', async () => {
    const fromManifests = await kustomize(path.join(root, 'manifests'));
    const fromChart = (await render('--include-crds', '--set', 'namespace.create=true')).map(withoutHelmLabels);
    // The one intended difference: the chart pins its appVersion, manifests/ names a placeholder tag.
    const deployment = find<V1Deployment>(fromChart, 'Deployment');
    const container = deployment.spec!.template.spec!.containers[0]!;
    expect(container.image).toBe(`shimkeeper-controller:${appVersion}`);
    const installerImage = container.env!.find((e) => e.name === 'SHIMKEEPER_INSTALLER_IMAGE')!;
    expect(installerImage.value).toBe(`shimkeeper-installer:${appVersion}`);
    container.image = 'shimkeeper-controller:dev';
    installerImage.value = 'shimkeeper-installer:dev';

    const byKey = (objects: KubernetesObject[]) => new Map(objects.map((o) => [key(o), o]));
    expect([...byKey(fromChart).keys()].sort()).toEqual([...byKey(fromManifests).keys()].sort());
    for (const [name, object] of byKey(fromManifests)) expect(byKey(fromChart).get(name), name).toEqual(object);

    // By default the namespace is not the chart's (`helm install --create-namespace` or an existing one).
    expect((await render()).map(key).filter((k) => k.startsWith('Namespace/'))).toEqual([]);
  });

  it('sets every value of values.yaml in its every-value file, each to something else', async () => {
    const defaults = objectsOf(readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8'))[0] as unknown as Record<string, unknown>;
    const every = objectsOf(readFileSync(EVERY_VALUE, 'utf8'))[0] as unknown as Record<string, unknown>;
    // Values that are free-form maps or lists are compared whole.
    const WHOLE = new Set(['strategy', 'affinity', 'nodeSelector', 'resources', 'env', 'extraEnv', 'tolerations', 'podAnnotations', 'podLabels', 'annotations', 'labels']);
    const same: string[] = [];
    const walk = (a: unknown, b: unknown, at: string) => {
      const leaf = at.split('.').pop()!;
      if (typeof a === 'object' && a !== null && !Array.isArray(a) && !WHOLE.has(leaf)) {
        for (const [k, v] of Object.entries(a)) walk(v, (b as Record<string, unknown> | undefined)?.[k], at ? `${at}.${k}` : k);
      } else if (b === undefined || JSON.stringify(a) === JSON.stringify(b)) {
        same.push(at);
      }
    };
    walk(defaults, every, '');
    // leaderElection.enabled stays true in the file: false needs one replica (tested below).
    expect(same).toEqual(['controller.leaderElection.enabled', 'controller.metrics.service.enabled', 'controller.podDisruptionBudget.enabled']);
    // The installer's own flags are spelled as in the contract.
    for (const flag of OPERATOR_FLAGS) expect(Object.keys(defaults['installer'] as object)).toContain(flag);
  });

  describe('with every value set', () => {
    let objects: KubernetesObject[];
    let deployment: V1Deployment;
    beforeAll(async () => {
      objects = await render('-f', EVERY_VALUE, '--namespace', 'shimkeeper-ops');
      deployment = find<V1Deployment>(objects, 'Deployment');
    });

    it('puts every namespaced object in the release namespace, which it creates with the Pod Security labels', () => {
      const namespace = find(objects, 'Namespace');
      expect(namespace.metadata).toMatchObject({ name: 'shimkeeper-ops', labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } });
      for (const object of objects) {
        if (['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(object.kind!)) continue;
        expect(object.metadata?.namespace, key(object)).toBe('shimkeeper-ops');
      }
      for (const kind of ['ClusterRoleBinding', 'RoleBinding']) {
        expect((find(objects, kind) as unknown as { subjects: Array<{ namespace: string }> }).subjects[0]!.namespace).toBe('shimkeeper-ops');
      }
    });

    it('runs the controller as asked', () => {
      const pod = deployment.spec!.template;
      const container = pod.spec!.containers[0]!;
      expect(deployment.spec!.replicas).toBe(3);
      expect(deployment.spec!.strategy).toEqual({ type: 'Recreate' });
      expect(container.image).toBe('registry.example/shimkeeper/controller@sha256:1111111111111111111111111111111111111111111111111111111111111111');
      expect(container.imagePullPolicy).toBe('Always');
      expect(pod.metadata!.labels).toMatchObject({ 'example.com/cost-center': 'infra', 'app.kubernetes.io/name': 'shimkeeper-controller' });
      expect(pod.metadata!.annotations).toEqual({ 'example.com/team': 'platform' });
      expect(pod.spec).toMatchObject({
        imagePullSecrets: [{ name: 'regcred' }, { name: 'mirror-pull' }],
        priorityClassName: 'system-cluster-critical',
        hostNetwork: true,
        dnsPolicy: 'ClusterFirstWithHostNet',
        nodeSelector: { 'node-role.kubernetes.io/control-plane': '' },
        tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }],
      });
      // Helm merges maps into the defaults: the anti-affinity stays unless set to null.
      expect(Object.keys(pod.spec!.affinity!).sort()).toEqual(['nodeAffinity', 'podAntiAffinity']);
      expect(container.resources).toEqual({ requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1536Mi' } });
      expect(container.ports).toEqual([{ name: 'http-metrics', containerPort: 9443, protocol: 'TCP' }]);
      expect(envMap(container.env)).toMatchObject({
        HTTP_PROXY: 'http://proxy.example:3128',
        HTTPS_PROXY: 'http://proxy.example:3129',
        NO_PROXY: '10.0.0.0/8,.cluster.local',
        KUBERNETES_SERVICE_HOST: '10.0.0.1',
        NODE_OPTIONS: '--max-old-space-size=1024',
      });

      const config = configFromEnv({ ...envMap(container.env), POD_NAMESPACE: 'shimkeeper-ops', POD_NAME: 'controller-0' });
      expect(config).toMatchObject({ namespace: 'shimkeeper-ops', metricsPort: 9443, leaderElection: true, leaseDurationSeconds: 30, renewDeadlineMs: 20_000, retryPeriodMs: 4_000, logLevel: 'debug', reverifyAfterMs: 12 * 3_600_000, maxConcurrentJobs: 40 });
      expect(config.allowedArtifactLocations.map((p) => p.text)).toEqual(['https://github.com/spinkube/', 'https://artifacts.example.com/shims/']);
    });

    it('gives the installer Jobs every installer value, through the controller\'s own configuration', () => {
      const env = envMap(deployment.spec!.template.spec!.containers[0]!.env);
      const config = configFromEnv({ ...env, POD_NAMESPACE: 'shimkeeper-ops' });
      const action = planFlat({ shim: makeShim(), nodes: [makeNode('node-a')], jobs: [], runtimeClasses: [], now: T0 }).actions.find((a): a is CreateJobAction => a.type === 'createJob')!;
      const job = installerJob(action, { ...config.job, namespace: config.namespace, owner: shimOwnerReference({ metadata: { name: 'spin', uid: 'uid-1' } }) });
      const pod = job.spec!.template.spec!;
      const container = pod.containers[0]!;
      expect(job.metadata!.namespace).toBe('shimkeeper-ops');
      expect(job.spec).toMatchObject({ activeDeadlineSeconds: 900, ttlSecondsAfterFinished: 1200, backoffLimit: 1 });
      expect(pod).toMatchObject({ priorityClassName: 'shimkeeper-installer', imagePullSecrets: [{ name: 'regcred' }, { name: 'mirror-pull' }] });
      expect(pod.tolerations).toEqual([{ key: 'dedicated', operator: 'Equal', value: 'wasm', effect: 'NoExecute' }]);
      expect(container).toMatchObject({ image: 'registry.example/shimkeeper/installer@sha256:2222222222222222222222222222222222222222222222222222222222222222', imagePullPolicy: 'Always' });
      expect(container.resources).toEqual({ requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } });
      const seen = envMap(container.env);
      // installer.env wins over proxy for the same name.
      expect(seen).toMatchObject({ HTTP_PROXY: 'http://proxy.example:3128', HTTPS_PROXY: 'http://proxy.example:3129', NO_PROXY: '10.0.0.0/8,.cluster.local,.example.com', SHIMKEEPER_TRACE: '1' });
      expect(parseInstallerArgs(container.args!, seen) as InstallerOptions).toMatchObject(OPERATOR_INSTALLER_OPTIONS);
      for (const flag of OPERATOR_FLAGS) expect(seen, INSTALLER_FLAGS[flag].env).toHaveProperty(INSTALLER_FLAGS[flag].env);
    });

    it('exposes the metrics with a Service and a ServiceMonitor, and bounds disruption', () => {
      const service = find<V1Service>(objects, 'Service');
      expect(service.metadata!.annotations).toEqual({ 'example.com/scrape': 'true' });
      expect(service.spec).toMatchObject({ type: 'NodePort', selector: { 'app.kubernetes.io/name': 'shimkeeper-controller' }, ports: [{ name: 'http-metrics', port: 9090, targetPort: 'http-metrics', protocol: 'TCP' }] });
      const monitor = find(objects, 'ServiceMonitor') as unknown as { metadata: { labels: Record<string, string> }; spec: Record<string, unknown> };
      expect(monitor.metadata.labels).toMatchObject({ release: 'prometheus' });
      expect(monitor.spec).toEqual({
        selector: { matchLabels: { 'app.kubernetes.io/name': 'shimkeeper-controller', 'app.kubernetes.io/component': 'metrics' } },
        namespaceSelector: { matchNames: ['shimkeeper-ops'] },
        endpoints: [{ port: 'http-metrics', path: '/metrics', interval: '15s', scrapeTimeout: '10s' }],
      });
      expect(service.metadata!.labels).toMatchObject((monitor.spec['selector'] as { matchLabels: Record<string, string> }).matchLabels);
      expect(find<V1PodDisruptionBudget>(objects, 'PodDisruptionBudget').spec).toEqual({ maxUnavailable: 2, selector: { matchLabels: { 'app.kubernetes.io/name': 'shimkeeper-controller' } } });
    });
  });

  it('leaves out the Service, ServiceMonitor and PDB when turned off', async () => {
    const kinds = (await render('--set', 'controller.metrics.service.enabled=false', '--set', 'controller.podDisruptionBudget.enabled=false')).map((o) => o.kind);
    expect(kinds).not.toContain('Service');
    expect(kinds).not.toContain('PodDisruptionBudget');
    expect(kinds).not.toContain('ServiceMonitor');
  });

  it('refuses values that cannot work, with a message', async () => {
    expect(await helmFails('template', 'x', CHART_DIR, '--set', 'controller.leaderElection.enabled=false')).toMatch(/needs controller.replicas=1/);
    expect(await helmFails('template', 'x', CHART_DIR, '--set', 'controller.metrics.serviceMonitor.enabled=true', '--set', 'controller.metrics.service.enabled=false')).toMatch(/serviceMonitor.enabled needs controller.metrics.service.enabled/);
    expect(await helmFails('template', 'x', CHART_DIR, '--set', 'installer.image.digest=latest')).toMatch(/installer\/image\/digest/);
    // values.schema.json: a misspelt value is an error, not silently ignored; enums and paths are checked.
    expect(await helmFails('template', 'x', CHART_DIR, '--set', 'controller.logLevl=debug')).toMatch(/additional properties 'logLevl' not allowed/);
    expect(await helmFails('template', 'x', CHART_DIR, '--set', 'installer.restart=reboot')).toMatch(/installer\/restart/);
    expect(await helmFails('template', 'x', CHART_DIR, '--set', 'installer.installDir=opt')).toMatch(/installer\/installDir/);
    const single = find<V1Deployment>(await render('--set', 'controller.leaderElection.enabled=false', '--set', 'controller.replicas=1'), 'Deployment');
    expect(envMap(single.spec!.template.spec!.containers[0]!.env)['LEADER_ELECTION']).toBe('false');
  });
});

describe('kustomize images: pins both images', () => {
  let dir: string;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('an overlay\'s images: rewrites the controller container and the installer image variable', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'shimkeeper-overlay-'));
    const digest = `sha256:${'3'.repeat(64)}`;
    writeFileSync(path.join(dir, 'kustomization.yaml'), `resources:
  - ${path.relative(dir, path.join(root, 'manifests'))}
images:
  - {name: shimkeeper-controller, newName: registry.example/shimkeeper-controller, newTag: v1.2.3}
  - {name: shimkeeper-installer, newName: registry.example/shimkeeper-installer, digest: ${digest}}
`);
    const deployment = find<V1Deployment>(await kustomize(dir), 'Deployment');
    const container = deployment.spec!.template.spec!.containers[0]!;
    expect(container.image).toBe('registry.example/shimkeeper-controller:v1.2.3');
    const env = envMap(container.env);
    expect(env['SHIMKEEPER_INSTALLER_IMAGE']).toBe(`registry.example/shimkeeper-installer@${digest}`);
    // No other value changed.
    const plain = envMap(find<V1Deployment>(await kustomize(path.join(root, 'manifests')), 'Deployment').spec!.template.spec!.containers[0]!.env);
    expect({ ...env, SHIMKEEPER_INSTALLER_IMAGE: plain['SHIMKEEPER_INSTALLER_IMAGE'] }).toEqual(plain);
  });
});
