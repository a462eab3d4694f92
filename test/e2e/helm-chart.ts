import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readyLabelKey } from '../../src/api/names.ts';
import { localChartValues } from '../../local-cluster/deploy.ts';
import { CHART_DIR, ensureHelm } from '../../local-cluster/helm.ts';
import { waitFor } from '../../local-cluster/kube-helpers.ts';
import { probeShimManifest, type LocalShimkeeper } from '../../local-cluster/local-shimkeeper.ts';

// The second way to install shimkeeper, on the same cluster once the scenarios deployed with
// `kubectl apply -k` are done: that deployment is deleted (`kubectl delete -k`, CRD included),
// then `helm install` of charts/shimkeeper into another namespace, a Shim installed by the
// chart's controller (into the install dir the chart's values set, which proves the values reach
// the installer Jobs), `helm upgrade` with a changed value while the Shim rolls out a new revision,
// and `helm uninstall`, which keeps the CRD. Registered by e2e.test.ts between its scenarios and
// the cluster's teardown, so the cluster is started once.

const NAMESPACE = 'shimkeeper-helm';
const INSTALL_DIR = '/opt/shimkeeper-helm';
const LABEL = 'shimkeeper.dev/e2e-helm';

export interface HelmScenarioContext {
  local: () => LocalShimkeeper;
  kubectl: (...args: string[]) => string;
  kubectlIn: (input: string, ...args: string[]) => string;
  diagnostics: () => string;
  /** Where the failure diagnostics look for the controller. */
  setControllerNamespace: (namespace: string) => void;
}

export function describeHelmChart(ctx: HelmScenarioContext): void {
  describe('the Helm chart: install, upgrade and uninstall on the same cluster', () => {
    let helmBin: string;
    let valuesDir: string;
    const helm = (...args: string[]) =>
      execFileSync(helmBin, ['--kubeconfig', ctx.local().cluster.kubeconfigPath, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const deployment = () =>
      JSON.parse(ctx.kubectl('get', 'deployment', 'shimkeeper-controller', '-n', NAMESPACE, '-o', 'json')) as {
        metadata: { generation: number; labels: Record<string, string> };
        spec: { template: { spec: { containers: Array<{ env: Array<{ name: string; value?: string }> }> } } };
        status: { observedGeneration?: number; updatedReplicas?: number; availableReplicas?: number; replicas?: number };
      };
    /** The Deployment has rolled out its current spec: one updated replica, available, no old one left. */
    const rolledOut = () => {
      const d = deployment();
      return d.status.observedGeneration === d.metadata.generation && d.status.updatedReplicas === 1 && d.status.availableReplicas === 1 && d.status.replicas === 1;
    };
    const node = () => ctx.local().cluster.nodeName;
    const probeStatus = () => {
      const n = JSON.parse(ctx.kubectl('get', 'node', node(), '-o', 'json')) as { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } };
      const raw = n.metadata.annotations?.['probe.shim.runtime.shimkeeper.dev/status'];
      return { ready: n.metadata.labels?.[readyLabelKey('probe')] === 'true', status: raw ? (JSON.parse(raw) as { state: string; version?: string; revision?: string }) : undefined };
    };
    const applyProbe = (which: 'first' | 'patched', version: string) => ctx.kubectlIn(probeShimManifest(ctx.local().artifacts[which], version, LABEL), 'apply', '-f', '-');

    beforeAll(async () => {
      helmBin = await ensureHelm();
      valuesDir = mkdtempSync(path.join(os.tmpdir(), 'shimkeeper-helm-values-'));
    }, 600_000);
    afterAll(() => rmSync(valuesDir, { recursive: true, force: true }));

    it('kubectl delete -k removes the kustomize deployment; helm install brings the controller up in another namespace', async () => {
      const { cluster, overlay } = ctx.local();
      cluster.kubectl(['delete', '-k', overlay, '--wait=true', '--timeout=120s']);
      expect(ctx.kubectl('get', 'crd', '-o', 'name')).not.toContain('shims.runtime.shimkeeper.dev');
      // As the README says: a namespace that allows the privileged installer Pods.
      ctx.kubectl('create', 'namespace', NAMESPACE);
      ctx.kubectl('label', 'namespace', NAMESPACE, 'pod-security.kubernetes.io/enforce=privileged');
      const values = path.join(valuesDir, 'local.yaml');
      writeFileSync(values, `${localChartValues(cluster.nodeIP)}  installDir: ${INSTALL_DIR}\n`);
      ctx.setControllerNamespace(NAMESPACE);
      const out = helm('install', 'shimkeeper', CHART_DIR, '-n', NAMESPACE, '-f', values);
      expect(out).toMatch(/STATUS: deployed/);
      ctx.kubectl('wait', '--for=condition=Established', 'crd/shims.runtime.shimkeeper.dev', '--timeout=60s');
      await waitFor('the chart\'s controller', rolledOut, 180_000, ctx.diagnostics);
      expect(deployment().metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/instance': 'shimkeeper' });
      expect(ctx.kubectl('get', 'service,pdb', '-n', NAMESPACE, '-o', 'name').split('\n').sort().filter(Boolean)).toEqual([
        'poddisruptionbudget.policy/shimkeeper-controller',
        'service/shimkeeper-controller-metrics',
      ]);
    });

    it('the chart\'s controller installs a Shim with the chart\'s installer settings', async () => {
      ctx.kubectl('label', 'node', node(), `${LABEL}=true`);
      applyProbe('first', '1.0.0');
      await waitFor('probe installed by the chart\'s controller', () => probeStatus().ready && probeStatus().status?.state === 'installed', 180_000, ctx.diagnostics);
      const revision = probeStatus().status!.revision!;
      // installer.installDir reached the Job: the binary and containerd's stanza are under it.
      expect(readFileSync(ctx.local().cluster.containerdConfigPath, 'utf8')).toContain(`runtime_path = "${INSTALL_DIR}/shims/probe/${revision}/containerd-shim-probe-v2"`);
    });

    it('helm upgrade changes the controller, and the upgraded controller rolls out a new revision', async () => {
      const pods = () => ctx.kubectl('get', 'pods', '-n', NAMESPACE, '-l', 'app.kubernetes.io/name=shimkeeper-controller', '-o', 'jsonpath={.items[*].metadata.name}').trim();
      const before = pods();
      helm('upgrade', 'shimkeeper', CHART_DIR, '-n', NAMESPACE, '--reuse-values', '--set', 'controller.logLevel=debug');
      await waitFor('the upgraded controller', () => rolledOut() && pods() !== before && !pods().includes(' '), 180_000, ctx.diagnostics);
      expect(deployment().spec.template.spec.containers[0]!.env).toContainEqual({ name: 'LOG_LEVEL', value: 'debug' });
      expect(helm('history', 'shimkeeper', '-n', NAMESPACE)).toMatch(/\n2\s.*deployed/);
      applyProbe('patched', '1.0.1');
      await waitFor('probe at 1.0.1', () => probeStatus().status?.state === 'installed' && probeStatus().status?.version === '1.0.1', 180_000, ctx.diagnostics);
    });

    it('helm uninstall removes the controller and keeps the CRD', async () => {
      // Shims first, while the controller can still uninstall them from the nodes.
      ctx.kubectl('delete', 'shim', 'probe', '--wait=false');
      await waitFor('Shim gone', () => ctx.kubectl('get', 'shims', '-o', 'name').trim() === '', 180_000, ctx.diagnostics);
      expect(probeStatus()).toEqual({ ready: false, status: undefined });
      ctx.kubectl('label', 'node', node(), `${LABEL}-`);
      helm('uninstall', 'shimkeeper', '-n', NAMESPACE, '--wait');
      expect(ctx.kubectl('get', 'deployment,serviceaccount,role,service,pdb', '-n', NAMESPACE, '-o', 'name').split('\n').filter((n) => n.includes('shimkeeper'))).toEqual([]);
      expect(ctx.kubectl('get', 'clusterrole', '-o', 'name')).not.toContain('shimkeeper-controller');
      expect(ctx.kubectl('get', 'crd', '-o', 'name')).toContain('shims.runtime.shimkeeper.dev');
    });
  });
}
