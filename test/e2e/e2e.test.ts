import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readyLabelKey, statusAnnotationKey } from '../../src/api/names.ts';
import type { TestCluster } from '../../local-cluster/cluster.ts';
import { waitFor } from '../../local-cluster/kube-helpers.ts';
import { probeShimManifest, startLocalShimkeeper, type LocalShimkeeper, type ShimArtifact } from '../../local-cluster/local-shimkeeper.ts';

// The whole product as a user meets it: a real one-node cluster (kubelet, containerd under a
// supervisor), shimkeeper deployed with `kubectl apply -k` from manifests/, the installer Job run
// by the kubelet, privileged, restarting containerd underneath it, and pods that really run on the
// installed shim.

const LABEL = 'shimkeeper.dev/e2e-probe';
let local: LocalShimkeeper;
let cluster: TestCluster;
let originalConfig: string;

const kubectl = (...args: string[]) => cluster.kubectl(args);
const kubectlIn = (input: string, ...args: string[]) => cluster.kubectl(args, input);

function diagnostics(): string {
  const safely = (f: () => string) => {
    try {
      return f();
    } catch (error) {
      return String((error as Error).message);
    }
  };
  return [
    '=== kubectl get shims,jobs,pods -A -o wide',
    safely(() => kubectl('get', 'shims,jobs,pods', '-A', '-o', 'wide')),
    '=== Shim probe',
    safely(() => kubectl('get', 'shim', 'probe', '-o', 'yaml')),
    '=== controller logs',
    safely(() => kubectl('logs', '-n', 'shimkeeper-system', 'deployment/shimkeeper-controller', '--tail=60')),
    '=== installer logs',
    safely(() => kubectl('logs', '-n', 'shimkeeper-system', '-l', 'app.kubernetes.io/name=shimkeeper-installer', '--tail=40', '--prefix')),
    '=== node components',
    cluster.logs(25),
  ].join('\n');
}

beforeAll(async () => {
  local = await startLocalShimkeeper({ log: (line) => console.log(`[e2e] ${line}`) });
  cluster = local.cluster;
  originalConfig = readFileSync(cluster.containerdConfigPath, 'utf8');
}, 900_000);

afterEach((context) => {
  if (context.task.result?.state === 'fail') console.log(diagnostics());
});

afterAll(async () => {
  await local?.stop();
});

function applyShim(artifact: ShimArtifact, version: string): void {
  kubectlIn(probeShimManifest(artifact, version, LABEL), 'apply', '-f', '-');
}

interface ShimView {
  status?: { nodesReady?: number; nodes?: number; conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
}

function shim(): ShimView {
  return JSON.parse(kubectl('get', 'shim', 'probe', '-o', 'json')) as ShimView;
}

function nodeShimStatus(): { ready: boolean; status?: { state: string; version?: string; revision?: string; workingRevision?: string } } {
  const node = JSON.parse(kubectl('get', 'node', cluster.nodeName, '-o', 'json')) as { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } };
  const raw = node.metadata.annotations?.[statusAnnotationKey('probe')];
  return { ready: node.metadata.labels?.[readyLabelKey('probe')] === 'true', ...(raw ? { status: JSON.parse(raw) } : {}) };
}

function runPod(name: string, command: string[], opts: { wait: 'Succeeded' | 'Running' }): Promise<string> {
  kubectlIn(JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      runtimeClassName: 'probe',
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: 'shimkeeper.test/busybox:1', imagePullPolicy: 'Never', command }],
    },
  }), 'apply', '-f', '-');
  return waitFor(`pod ${name} ${opts.wait}`, () => {
    const phase = kubectl('get', 'pod', name, '-o', 'jsonpath={.status.phase}').trim();
    if (phase === 'Failed') throw new Error(`pod ${name} failed: ${kubectl('describe', 'pod', name)}`);
    return phase === opts.wait ? kubectl('get', 'pod', name, '-o', 'jsonpath={.status.containerStatuses[0].containerID}').trim().replace('containerd://', '') : undefined;
  }, 120_000, diagnostics);
}

/** The shim containerd runs a container with: recorded in the container's runtime info. */
function runtimeOf(containerId: string): string {
  const info = cluster.runOnNode(['ctr', '--namespace', 'k8s.io', 'containers', 'info', containerId]);
  if (info.status !== 0) throw new Error(`ctr containers info ${containerId}: ${info.stderr}`);
  return (JSON.parse(info.stdout) as { Runtime: { Name: string } }).Runtime.Name;
}

const binaryOf = (revision: string) => `/opt/shimkeeper/probe/${revision}/containerd-shim-probe-v2`;

describe('shimkeeper end to end on a real one-node cluster', () => {
  let firstRevision: string;
  let sleeperId: string;

  it('installs the shim on the labelled node: Job run by the kubelet, containerd restarted underneath it, node ready', async () => {
    const containerdPidBefore = cluster.runOnNode(['pgrep', '-x', 'containerd']).stdout.trim();
    kubectl('label', 'node', cluster.nodeName, `${LABEL}=true`);
    applyShim(local.artifacts.first, '1.0.0');
    await waitFor('Shim Ready 1/1', () => shim().status?.nodesReady === 1 && shim().status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True', 180_000, diagnostics);
    const state = nodeShimStatus();
    expect(state).toMatchObject({ ready: true, status: { state: 'installed', version: '1.0.0', containerd: '1.6.20~ds1' } });
    firstRevision = state.status!.revision!;
    expect(kubectl('get', 'shims')).toMatch(/probe\s+probe\s+1\.0\.0\s+1\s+1/);
    expect(cluster.runOnNode(['pgrep', '-x', 'containerd']).stdout.trim()).not.toBe(containerdPidBefore);
    expect(readFileSync(cluster.containerdConfigPath, 'utf8')).toContain(`runtime_path = "${binaryOf(firstRevision)}"`);
    expect(JSON.parse(kubectl('get', 'runtimeclass', 'probe', '-o', 'json')).scheduling.nodeSelector).toEqual({ [readyLabelKey('probe')]: 'true' });
  });

  it('runs pods through the installed shim', async () => {
    const onceId = await runPod('probe-once', ['/bin/sh', '-c', 'echo hello from the probe shim'], { wait: 'Succeeded' });
    expect(runtimeOf(onceId)).toBe(binaryOf(firstRevision));
    expect(kubectl('logs', 'probe-once')).toContain('hello from the probe shim');
    sleeperId = await runPod('probe-sleeper', ['/bin/sleep', '3600'], { wait: 'Running' });
    expect(runtimeOf(sleeperId)).toBe(binaryOf(firstRevision));
  });

  it('rolls out the security patch: the running pod survives the containerd restart, new pods use the new revision', async () => {
    applyShim(local.artifacts.patched, '1.0.1');
    await waitFor('node at 1.0.1', () => nodeShimStatus().status?.state === 'installed' && nodeShimStatus().status?.version === '1.0.1', 180_000, diagnostics);
    const secondRevision = nodeShimStatus().status!.revision!;
    expect(secondRevision).not.toBe(firstRevision);
    await waitFor('Shim Ready', () => shim().status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True', 60_000, diagnostics);
    expect(kubectl('get', 'shims')).toMatch(/probe\s+probe\s+1\.0\.1\s+1\s+1/);

    expect(kubectl('get', 'pod', 'probe-sleeper', '-o', 'jsonpath={.status.phase} {.status.containerStatuses[0].restartCount}')).toBe('Running 0');
    expect(runtimeOf(sleeperId)).toBe(binaryOf(firstRevision));
    const afterId = await runPod('probe-after', ['/bin/sh', '-c', 'echo patched'], { wait: 'Succeeded' });
    expect(runtimeOf(afterId)).toBe(binaryOf(secondRevision));
  });

  it('un-labelling the node uninstalls the shim and restores containerd\'s config byte for byte', async () => {
    kubectl('delete', 'pod', 'probe-sleeper', 'probe-once', 'probe-after', '--wait=true');
    kubectl('label', 'node', cluster.nodeName, `${LABEL}-`);
    await waitFor('node cleaned', () => !nodeShimStatus().ready && nodeShimStatus().status === undefined, 180_000, diagnostics);
    expect(readFileSync(cluster.containerdConfigPath, 'utf8')).toBe(originalConfig);
    expect(cluster.runOnNode(['ls', '/opt/shimkeeper']).stdout).not.toContain('probe');
  });

  it('a broken revision is refused on the node and pauses the rollout; the node keeps running the previous one', async () => {
    kubectl('label', 'node', cluster.nodeName, `${LABEL}=true`);
    await waitFor('reinstalled', () => nodeShimStatus().status?.state === 'installed', 180_000, diagnostics);
    const working = nodeShimStatus().status!.revision!;
    applyShim({ ...local.artifacts.first, sha256: local.artifacts.patched.sha256 }, '1.0.2'); // the digest of other bytes
    await waitFor('RolloutPaused', () => shim().status?.conditions?.find((c) => c.type === 'Progressing')?.reason === 'RolloutPaused', 180_000, diagnostics);
    const progressing = shim().status!.conditions!.find((c) => c.type === 'Progressing')!;
    expect(progressing.status).toBe('False');
    expect(progressing.message).toContain(cluster.nodeName);
    expect(nodeShimStatus()).toMatchObject({ ready: true, status: { state: 'failed', workingRevision: working } });
    expect(JSON.stringify(shim().status)).toMatch(/sha256 mismatch/);
    const podId = await runPod('probe-still', ['/bin/sh', '-c', 'echo still here'], { wait: 'Succeeded' });
    expect(runtimeOf(podId)).toBe(binaryOf(working));
    kubectl('delete', 'pod', 'probe-still', '--wait=true');
  });

  it('deleting the Shim uninstalls it, removes the RuntimeClass, then lets the Shim go', async () => {
    kubectl('delete', 'shim', 'probe', '--wait=false');
    await waitFor('Shim gone', () => kubectl('get', 'shims', '-o', 'name').trim() === '', 180_000, diagnostics);
    expect(kubectl('get', 'runtimeclass', '-o', 'name')).not.toContain('probe');
    expect(nodeShimStatus()).toEqual({ ready: false });
    expect(readFileSync(cluster.containerdConfigPath, 'utf8')).toBe(originalConfig);
  });
});
