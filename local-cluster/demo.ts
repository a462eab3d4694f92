// The one-line demo: `npm run demo` brings up a local one-node cluster (containerd 2.4), deploys
// shimkeeper from manifests/, labels the node, applies a Shim for a real runwasi Wasm shim
// (containerd-shim-wasmi-v1 0.1.0, served from the node as a release archive with its sha256), waits
// until it is Ready, runs Wasm pods on its RuntimeClass, upgrades the shim to 0.2.0 while one of
// them keeps running, shows what runs where and the Wasm pods' output, and tears everything down
// (`--keep` leaves it running until Ctrl-C).
import { API_GROUP, readyLabelKey, statusAnnotationKey } from '../src/api/names.ts';
import { waitFor } from './kube-helpers.ts';
import { startLocalShimkeeper, WASM_IMAGES, wasmShimManifest } from './local-shimkeeper.ts';

const keep = process.argv.includes('--keep');
const LABEL = 'demo.shimkeeper.dev/wasm';
const step = (text: string) => console.log(`\n==> ${text}`);
const local = await startLocalShimkeeper({ log: (line) => console.log(`    ${line}`) });
const { cluster } = local;
const kubectl = (...args: string[]) => cluster.kubectl(args);
const withOptions = cluster.containerd.passesRuntimeOptions;
/** The per-node version label (DESIGN.md), `<shim>.shim.runtime.shimkeeper.dev/version`. */
const VERSION_LABEL = `wasmi.shim.${API_GROUP}/version`;
const jsonPath = (labelKey: string) => `.metadata.labels.${labelKey.replaceAll('.', '\\.')}`;

function nodeVersions(): string {
  const nodes = JSON.parse(kubectl('get', 'nodes', '-o', 'json')) as { items: Array<{ metadata: { name: string; annotations?: Record<string, string> } }> };
  return nodes.items.map((node) => {
    const raw = node.metadata.annotations?.[statusAnnotationKey('wasmi')];
    const status = raw ? (JSON.parse(raw) as { state: string; version?: string; revision?: string; containerd?: string }) : undefined;
    return status
      ? `${node.metadata.name}: wasmi ${status.version ?? '?'} (${status.state}, revision ${status.revision ?? '?'}, containerd ${status.containerd ?? '?'})`
      : `${node.metadata.name}: no wasmi`;
  }).join('\n');
}

function runWasmPod(name: string, image: string, restartPolicy: 'Never' | 'Always'): void {
  cluster.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { runtimeClassName: 'wasmi', restartPolicy, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image, imagePullPolicy: 'Never' }] },
  }));
}

const podPhase = (name: string) => kubectl('get', 'pod', name, '-o', 'jsonpath={.status.phase}');
const runtimeOf = (pod: string) => {
  const containerId = kubectl('get', 'pod', pod, '-o', 'jsonpath={.status.containerStatuses[0].containerID}').replace('containerd://', '');
  const info = JSON.parse(cluster.runOnNode(['ctr', '--namespace', 'k8s.io', 'containers', 'info', containerId]).stdout) as { Runtime: { Name: string } };
  return info.Runtime.Name;
};
const shimReady = (version: string) => () =>
  kubectl('get', 'shim', 'wasmi', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.nodesUpdated}') === 'True 1' &&
  nodeVersions().includes(`wasmi ${version} (installed`);

try {
  step(`kubectl label node ${cluster.nodeName} ${LABEL}=true`);
  kubectl('label', 'node', cluster.nodeName, `${LABEL}=true`);
  const first = wasmShimManifest(local.wasm.releases['0.1.0'], '0.1.0', LABEL, withOptions);
  step(`kubectl apply -f - (a Shim: runwasi's containerd-shim-wasmi-v1 0.1.0, a release archive served from the node, on containerd ${cluster.containerd.name})`);
  console.log(first);
  cluster.kubectl(['apply', '-f', '-'], first);
  await waitFor('the Shim to be Ready', shimReady('0.1.0'), 180_000, () => cluster.logs());
  console.log(kubectl('get', 'shims'));

  step('a long-running Wasm pod (runtimeClassName: wasmi, a WASI module that prints a line every 2 s)');
  runWasmPod('wasm-ticker', WASM_IMAGES.ticker, 'Always');
  await waitFor('the pod to run', () => podPhase('wasm-ticker') === 'Running', 120_000, () => cluster.logs());
  console.log(`wasm-ticker runs on: ${runtimeOf('wasm-ticker')}`);

  step('upgrade: kubectl apply -f - (the same Shim, release 0.2.0 and its sha256); the node restarts containerd under the running pod');
  cluster.kubectl(['apply', '-f', '-'], wasmShimManifest(local.wasm.releases['0.2.0'], '0.2.0', LABEL, withOptions));
  await waitFor('the node to run 0.2.0', shimReady('0.2.0'), 180_000, () => cluster.logs());
  // containerd deletes, when it restarts, the running tasks of shims that do not answer Task.Pids,
  // and runwasi's shims do not: the Wasm container ends and the kubelet restarts it in the same
  // pod sandbox, whose shim process (0.1.0) lives on.
  await waitFor('wasm-ticker to run', () => podPhase('wasm-ticker') === 'Running' && kubectl('get', 'pod', 'wasm-ticker', '-o', 'jsonpath={.status.containerStatuses[0].ready}') === 'true', 120_000, () => cluster.logs());
  console.log(`wasm-ticker: ${kubectl('get', 'pod', 'wasm-ticker', '-o', 'jsonpath={.status.phase}, restarts {.status.containerStatuses[0].restartCount}')}, now on ${runtimeOf('wasm-ticker')}`);
  console.log('(restarts 1: containerd\'s restart ended the Wasm container, since runwasi shims do not answer containerd\'s Task.Pids;\n the kubelet restarted it in the same pod sandbox, still served by its 0.1.0 shim process; new pods get 0.2.0)');

  step('a new Wasm pod after the upgrade (the module prints one line and exits)');
  runWasmPod('wasm-hello', WASM_IMAGES.hello, 'Never');
  await waitFor('the pod to finish', () => podPhase('wasm-hello') === 'Succeeded', 120_000, () => cluster.logs());
  console.log(`wasm-hello ran on: ${runtimeOf('wasm-hello')}`);

  step('kubectl get shims');
  console.log(kubectl('get', 'shims'));
  // -L would title both label columns by their last segment (READY, VERSION, like the node's own).
  const columns = `NODE:.metadata.name,WASMI-READY:${jsonPath(readyLabelKey('wasmi'))},WASMI-VERSION:${jsonPath(VERSION_LABEL)}`;
  step(`which node runs which version: kubectl get nodes -o custom-columns=${columns}, and each node's ${statusAnnotationKey('wasmi')}`);
  console.log(kubectl('get', 'nodes', '-o', `custom-columns=${columns}`));
  console.log(nodeVersions());
  step('the Wasm pods\' output: kubectl logs wasm-hello; kubectl logs wasm-ticker --tail=3');
  console.log(kubectl('logs', 'wasm-hello').trimEnd());
  console.log(kubectl('logs', 'wasm-ticker', '--tail=3').trimEnd());
  if (keep) {
    step(`still running; kubectl: ${cluster.binDir}/kubectl --kubeconfig ${cluster.kubeconfigPath}  (Ctrl-C stops it)`);
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
} finally {
  step('tearing down');
  await local.stop();
}
