import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CriClient } from '../src/installer/cri/cri-client.ts';
import { waitFor } from './kube-helpers.ts';
import { ensureKubeBinaries, startKubeApiServer, type KubeApiServer } from './kube-apiserver.ts';
import { type NodeContainerd } from './node-containerd.ts';
import { cleanUpOnExit, launch, tail, terminate } from './processes.ts';

// A real single-node Kubernetes cluster on this machine, for the end-to-end test and the demo:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and a kubelet (built from the
// k8s.io/kubernetes module, scripts/build-kube.sh), containerd (2.4.2 built from its Go module by
// default, node-containerd.ts says why) with Debian's runc under a supervisor loop (systemd's role
// on a real node), bridge CNI from Debian's containernetworking-plugins.
//
// Everything runs in one network namespace (the apiserver harness's) and the node's processes in
// one mount namespace in which /etc/containerd, /run/containerd, /var/log and /opt are bind-mounted from
// the state directory: the node looks standard to the installer (default containerd paths), and
// nothing is written to the machine's own copies of those paths. The kubelet's cgroups live under
// one cgroup root of their own, removed on stop.

export const NODE_NAME = 'shimkeeper-e2e';
export const PAUSE_IMAGE = 'shimkeeper.test/pause:3.10';

export interface TestCluster {
  apiserver: KubeApiServer;
  kubeconfigPath: string;
  binDir: string;
  nodeName: string;
  /** The node's address, reachable from this process and from pods. */
  nodeIP: string;
  stateDir: string;
  /** Where the file containerd reads as /etc/containerd/config.toml really is. */
  containerdConfigPath: string;
  containerdSocketPath: string;
  kubectl(args: string[], input?: string): string;
  /** Runs a command in the node's namespaces (ctr, ls of node paths, ...). */
  runOnNode(argv: string[]): { status: number | null; stdout: string; stderr: string };
  /** Starts a long-running process in the node's namespaces (stopped with the cluster). */
  launchOnNode(argv: string[], name: string, env?: NodeJS.ProcessEnv): ChildProcess;
  /** Imports an OCI archive into the node's containerd (k8s.io); `allPlatforms` for Wasm artifacts (wasip1/wasm). */
  importImage(archive: string, opts?: { allPlatforms?: boolean }): void;
  /** The containerd the node runs. */
  containerd: NodeContainerd;
  /** How to recognise every process the cluster started (see {@link clusterSurvivors}). */
  footprint: ClusterFootprint;
  logs(lines?: number): string;
  /** Stops everything the cluster started and removes its state; safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * What marks a process as the cluster's: its network namespace (etcd, apiserver and every node
 * process), the node's mount namespace (containerd, shims, the kubelet), the kubelet's cgroup root
 * (containers, which live in namespaces of their own), or the state directory on its command line.
 * Namespaces are named by their identity (`net:[4026531993]`), not by a holder's /proc path, so
 * they are found even after the holder is gone.
 */
export interface ClusterFootprint {
  netns: string;
  mntns: string;
  cgroupRoot: string;
  stateDir: string;
}

function containerdConfig(stateDir: string, containerd: NodeContainerd): string {
  if (containerd.configVersion === 3) {
    // containerd 2.x's own layout (`containerd config default` writes version 3 or 4).
    return `# containerd ${containerd.name} of the shimkeeper local node (the installer edits this file)
version = 3
root = "${stateDir}/containerd-root"
state = "/run/containerd"

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"

  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "${PAUSE_IMAGE}"

[plugins."io.containerd.cri.v1.runtime"]
  # root here lacks CAP_SYS_RESOURCE: runc must not lower oom_score_adj
  restrict_oom_score_adj = true

  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "${stateDir}/cni-conf"

  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"

    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
`;
  }
  return `# containerd of the shimkeeper e2e node (the installer edits this file)
version = 2
root = "${stateDir}/containerd-root"
state = "/run/containerd"

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # root here lacks CAP_SYS_RESOURCE: runc must not lower oom_score_adj
  restrict_oom_score_adj = true

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${stateDir}/cni-conf"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
`;
}

function cniConfig(stateDir: string): string {
  return JSON.stringify({
    cniVersion: '0.4.0',
    name: 'shimkeeper-e2e',
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: '10.88.0.0/16' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: `${stateDir}/cni-ipam` },
      },
      { type: 'loopback' },
    ],
  }, null, 2);
}

function kubeletConfig(nodeIP: string, cgroupRoot: string): string {
  return JSON.stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
    authorization: { mode: 'AlwaysAllow' },
    address: nodeIP,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    cgroupDriver: 'cgroupfs',
    cgroupRoot,
    failSwapOn: false,
    failCgroupV1: false,
    containerRuntimeEndpoint: 'unix:///run/containerd/containerd.sock',
    // A busy build machine is not a node under pressure: never evict the test's pods.
    evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    maxPods: 50,
    syncFrequency: '5s',
    nodeStatusUpdateFrequency: '5s',
    resolvConf: '/etc/resolv.conf',
  }, null, 2);
}


export async function startCluster(options: { log?: (line: string) => void; containerd: NodeContainerd }): Promise<TestCluster> {
  const say = options.log ?? (() => {});
  const { containerd } = options;
  const binDir = await ensureKubeBinaries(['kube-apiserver', 'kubectl', 'kube-controller-manager', 'kube-scheduler', 'kubelet']);
  say('starting etcd and kube-apiserver');
  // The node's name does not resolve here: reach the kubelet (logs, exec) by its address.
  const apiserver = await startKubeApiServer({ disableAdmissionPlugins: [], extraArgs: ['--kubelet-preferred-address-types=InternalIP'] });
  const stateDir = mkdtempSync(path.join(tmpdir(), 'shimkeeper-cluster-'));
  const nodeIP = apiserver.network.address;
  const netnsPath = apiserver.network.path;
  const cgroupRoot = `/shimkeeper-e2e-${process.pid}`;
  const children: ChildProcess[] = [];
  const dirs = ['etc-containerd', 'run-containerd', 'varlog', 'opt', 'containerd-root', 'cni-conf', 'cni-ipam', 'kubelet', 'kubelet-pki', 'logs'];
  for (const dir of dirs) mkdirSync(path.join(stateDir, dir), { recursive: true });
  const logDir = path.join(stateDir, 'logs');
  const logFiles = ['containerd.log', 'kubelet.log', 'kube-controller-manager.log', 'kube-scheduler.log'];
  const logs = (lines = 30) =>
    [...logFiles.map((f) => `--- ${f} ---\n${tail(path.join(logDir, f), lines)}`), `--- kube-apiserver.log ---\n${tail(path.join(apiserver.dataDir, 'kube-apiserver.log'), lines)}`].join('\n');

  // The node's mount namespace: a holder process keeps it alive; the binds are private to it.
  const holder = launch(['unshare', '--mount', '--propagation', 'private', '--', 'sleep', 'infinity'], path.join(logDir, 'mntns-holder.log'));
  children.push(holder);
  const mntnsPath = `/proc/${holder.pid}/ns/mnt`;
  const ownMntns = readlinkSync('/proc/self/ns/mnt');
  await waitFor('mount namespace', () => readlinkSync(mntnsPath) !== ownMntns, 5_000, logs);
  const footprint: ClusterFootprint = { netns: readlinkSync(netnsPath), mntns: readlinkSync(mntnsPath), cgroupRoot, stateDir };
  // Whatever way this process ends (a signal, a crash, process.exit), the node's processes end too.
  const forgetExitCleanup = cleanUpOnExit(() => killClusterProcesses(footprint));
  const inNode = (argv: string[]) => spawnSync('nsenter', [`--net=${netnsPath}`, `--mount=${mntnsPath}`, '--', ...argv], { encoding: 'utf8' });
  for (const target of ['/etc/containerd', '/run/containerd']) mkdirSync(target, { recursive: true });
  // /opt: where the installer puts shims (/opt/shimkeeper) and containerd its opt plugin.
  for (const [source, target] of [['etc-containerd', '/etc/containerd'], ['run-containerd', '/run/containerd'], ['varlog', '/var/log'], ['opt', '/opt']] as const) {
    const result = inNode(['mount', '--bind', path.join(stateDir, source), target]);
    if (result.status !== 0) throw new Error(`cannot bind ${target} in the node's mount namespace: ${result.stderr}`);
  }
  const containerdConfigPath = path.join(stateDir, 'etc-containerd', 'config.toml');
  writeFileSync(containerdConfigPath, containerdConfig(stateDir, containerd));
  writeFileSync(path.join(stateDir, 'cni-conf', '10-shimkeeper-e2e.conflist'), cniConfig(stateDir));
  for (const hierarchy of cgroupHierarchies()) mkdirSync(path.join(hierarchy, cgroupRoot), { recursive: true });

  const onNode = { netnsPath, mntnsPath };
  const launchOnNode = (argv: string[], name: string, env?: NodeJS.ProcessEnv) => {
    const child = launch(argv, path.join(logDir, `${name}.log`), { ...onNode, ...(env ? { env } : {}) });
    children.push(child);
    return child;
  };
  const stopFile = path.join(stateDir, 'stop-containerd-supervisor');
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= (async () => {
    say('stopping the cluster');
    writeFileSync(stopFile, '');
    for (const child of [...children].reverse()) if (child !== holder) await terminate(child, 3_000);
    // Shims and containers outlive containerd by design, and containerd outlives its supervisor
    // loop: end every process of this node (its mount namespace, its cgroup tree).
    killClusterProcesses({ ...footprint, netns: '' });
    await terminate(holder, 2_000);
    await sleep(200);
    await apiserver.stop();
    // Anything still in the cluster's network namespace (nothing, normally).
    killClusterProcesses(footprint);
    removeCgroupTree(cgroupRoot);
    rmSync(stateDir, { recursive: true, force: true, maxRetries: 3 });
    forgetExitCleanup();
  })());

  try {
    say(`starting containerd ${containerd.name} under its supervisor`);
    // The release's containerd and runc shim come first on PATH (Debian's runc stays the runc).
    const containerdEnv = containerd.binDir ? { ...process.env, PATH: `${containerd.binDir}:${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` } : undefined;
    launchOnNode(['bash', '-c', `while [ ! -e "${stopFile}" ]; do containerd --config /etc/containerd/config.toml >>"${logDir}/containerd.log" 2>&1; sleep 0.2; done`], 'containerd-supervisor', containerdEnv);
    const containerdSocketPath = path.join(stateDir, 'run-containerd', 'containerd.sock');
    const cri = new CriClient(containerdSocketPath);
    await waitFor('containerd', async () => (await cri.status(2_000)).status.conditions.some((c) => c.type === 'RuntimeReady' && c.status), 30_000, logs);
    cri.close();

    const kubeconfig = apiserver.kubeconfigPath;
    say('starting kube-controller-manager, kube-scheduler and the kubelet');
    launchOnNode([
      path.join(binDir, 'kube-controller-manager'),
      `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
      `--service-account-private-key-file=${path.join(apiserver.dataDir, 'sa.key')}`,
      `--root-ca-file=${path.join(apiserver.dataDir, 'certs', 'apiserver.crt')}`,
      '--leader-elect=false', '--bind-address=127.0.0.1', '--v=1',
    ], 'kube-controller-manager');
    launchOnNode([
      path.join(binDir, 'kube-scheduler'),
      `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
      '--leader-elect=false', '--bind-address=127.0.0.1', '--v=1',
    ], 'kube-scheduler');
    const kubeletConfigPath = path.join(stateDir, 'kubelet-config.json');
    writeFileSync(kubeletConfigPath, kubeletConfig(nodeIP, cgroupRoot));
    launchOnNode([
      path.join(binDir, 'kubelet'),
      `--config=${kubeletConfigPath}`, `--kubeconfig=${kubeconfig}`,
      `--hostname-override=${NODE_NAME}`, `--node-ip=${nodeIP}`,
      `--root-dir=${path.join(stateDir, 'kubelet')}`, `--cert-dir=${path.join(stateDir, 'kubelet-pki')}`,
      '--v=1',
    ], 'kubelet');

    const kubectl = (args: string[], input?: string): string => {
      const result = spawnSync(path.join(binDir, 'kubectl'), ['--kubeconfig', kubeconfig, ...args], { input, encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr || result.stdout}`);
      return result.stdout;
    };
    await waitFor('node Ready', () => kubectl(['get', 'node', NODE_NAME, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']).trim() === 'True', 120_000, logs);
    await waitFor('default service account', () => kubectl(['get', 'serviceaccount', 'default', '-n', 'default', '-o', 'name']).includes('default'), 60_000, logs);
    say(`node ${NODE_NAME} is Ready`);

    return {
      apiserver,
      kubeconfigPath: kubeconfig,
      binDir,
      nodeName: NODE_NAME,
      nodeIP,
      stateDir,
      containerdConfigPath,
      containerdSocketPath,
      kubectl,
      runOnNode: (argv) => {
        const result = inNode(argv);
        return { status: result.status, stdout: result.stdout, stderr: result.stderr };
      },
      launchOnNode,
      importImage: (archive, opts) => importIntoNode(containerdSocketPath, archive, opts?.allPlatforms ?? false),
      containerd,
      footprint,
      logs,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Imports an OCI archive into the node's containerd (k8s.io namespace) and makes every image in it
 * findable by the name the kubelet asks for: CRI normalises `name:tag` to docker.io/library/name:tag.
 */
function importIntoNode(socket: string, archive: string, allPlatforms: boolean): void {
  const ctr = (...args: string[]) => spawnSync('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args], { encoding: 'utf8' });
  const imported = ctr('images', 'import', ...(allPlatforms ? ['--all-platforms'] : []), archive);
  if (imported.status !== 0) throw new Error(`ctr images import ${archive}: ${imported.stderr}`);
  for (const line of imported.stdout.split('\n')) {
    const name = /^unpacking (\S+) /.exec(line)?.[1];
    if (!name) continue;
    const firstPart = name.split('/')[0]!;
    const hasDomain = name.includes('/') && (firstPart.includes('.') || firstPart.includes(':') || firstPart === 'localhost');
    if (!hasDomain) ctr('images', 'tag', '--force', name, `docker.io/library/${name}`);
  }
}

function cgroupHierarchies(): string[] {
  const root = '/sys/fs/cgroup';
  return readdirSync(root)
    .map((entry) => path.join(root, entry))
    .filter((dir) => existsSync(path.join(dir, 'cgroup.procs')));
}

/** Removes the kubelet's cgroup tree (children first; a cgroup dir goes with rmdir once empty). */
function removeCgroupTree(cgroupRoot: string): void {
  for (const hierarchy of cgroupHierarchies()) {
    const top = path.join(hierarchy, cgroupRoot);
    if (existsSync(top)) spawnSync('find', [top, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';'], { encoding: 'utf8' });
  }
}

/** The processes (pid and command line) that carry the cluster's marks; none once stop() is done. */
export function clusterSurvivors(footprint: ClusterFootprint): Array<{ pid: number; why: string; cmdline: string }> {
  const found: Array<{ pid: number; why: string; cmdline: string }> = [];
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  const link = (file: string) => {
    try {
      return readlinkSync(file);
    } catch {
      return '';
    }
  };
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = read(`/proc/${entry}/cmdline`).replaceAll('\0', ' ').trim();
    const why = [
      footprint.netns && link(`/proc/${entry}/ns/net`) === footprint.netns ? 'network namespace' : '',
      footprint.mntns && link(`/proc/${entry}/ns/mnt`) === footprint.mntns ? 'mount namespace' : '',
      read(`/proc/${entry}/cgroup`).includes(`${footprint.cgroupRoot}/`) || read(`/proc/${entry}/cgroup`).includes(`${footprint.cgroupRoot}\n`) ? 'cgroup' : '',
      cmdline.includes(footprint.stateDir) ? 'state dir on its command line' : '',
    ].filter(Boolean).join(', ');
    if (why) found.push({ pid: Number(entry), why, cmdline: cmdline || `(${read(`/proc/${entry}/comm`).trim()})` });
  }
  return found;
}

/** SIGKILLs every process carrying the cluster's marks (a few rounds: a dying shim may still fork). */
function killClusterProcesses(footprint: ClusterFootprint): void {
  for (let round = 0; round < 3; round++) {
    const survivors = clusterSurvivors(footprint);
    if (survivors.length === 0) return;
    for (const { pid } of survivors) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}
