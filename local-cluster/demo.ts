// The one-line demo: `npm run demo` brings up a local one-node cluster, deploys shimkeeper from
// manifests/, labels the node, applies a Shim, waits until it is Ready, runs a pod on the shim's
// RuntimeClass, shows the result, and tears everything down (`--keep` leaves it running until Ctrl-C).
import { readyLabelKey } from '../src/api/names.ts';
import { waitFor } from './kube-helpers.ts';
import { probeShimManifest, startLocalShimkeeper } from './local-shimkeeper.ts';

const keep = process.argv.includes('--keep');
const step = (text: string) => console.log(`\n==> ${text}`);
const local = await startLocalShimkeeper({ log: (line) => console.log(`    ${line}`) });
const { cluster } = local;
const kubectl = (...args: string[]) => cluster.kubectl(args);
try {
  step(`kubectl label node ${cluster.nodeName} demo.shimkeeper.dev/probe=true`);
  kubectl('label', 'node', cluster.nodeName, 'demo.shimkeeper.dev/probe=true');
  step('kubectl apply -f - (a Shim: containerd-shim-probe-v2 1.0.0, served from the node)');
  console.log(probeShimManifest(local.artifacts.first, '1.0.0', 'demo.shimkeeper.dev/probe'));
  cluster.kubectl(['apply', '-f', '-'], probeShimManifest(local.artifacts.first, '1.0.0', 'demo.shimkeeper.dev/probe'));
  await waitFor('the Shim to be Ready', () => kubectl('get', 'shim', 'probe', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') === 'True', 180_000, () => cluster.logs());

  step('kubectl get shims');
  console.log(kubectl('get', 'shims'));
  step(`kubectl get node ${cluster.nodeName} -L ${readyLabelKey('probe')}`);
  console.log(kubectl('get', 'node', cluster.nodeName, '-L', readyLabelKey('probe')));

  step('a pod with runtimeClassName: probe');
  cluster.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'hello-probe' },
    spec: { runtimeClassName: 'probe', restartPolicy: 'Never', containers: [{ name: 'main', image: 'shimkeeper.test/busybox:1', imagePullPolicy: 'Never', command: ['/bin/sh', '-c', 'echo hello from a pod on the probe shim'] }] },
  }));
  await waitFor('the pod to finish', () => kubectl('get', 'pod', 'hello-probe', '-o', 'jsonpath={.status.phase}') === 'Succeeded', 120_000, () => cluster.logs());
  console.log(kubectl('get', 'pod', 'hello-probe', '-o', 'wide'));
  console.log(`logs: ${kubectl('logs', 'hello-probe')}`);
  const containerId = kubectl('get', 'pod', 'hello-probe', '-o', 'jsonpath={.status.containerStatuses[0].containerID}').replace('containerd://', '');
  const info = JSON.parse(cluster.runOnNode(['ctr', '--namespace', 'k8s.io', 'containers', 'info', containerId]).stdout) as { Runtime: { Name: string } };
  console.log(`containerd ran it with: ${info.Runtime.Name}`);
  if (keep) {
    step(`still running; kubectl: ${cluster.binDir}/kubectl --kubeconfig ${cluster.kubeconfigPath}  (Ctrl-C stops it)`);
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
} finally {
  step('tearing down');
  await local.stop();
}
