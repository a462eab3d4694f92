// A real kube-apiserver on a real etcd, for integration tests. No fakes: the binaries come from
// scripts/build-kube.sh (built from the k8s.io/kubernetes Go module, cached outside the repo) and
// Debian's etcd-server. Both run in a private network namespace (see netns.ts for why) and write
// only into one temp dir, which stop() removes.
import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createIsolatedNetwork, type IsolatedNetwork } from './netns.ts';
import {
  forgetTempDir, launch, removeTempDirOnExit, runToCompletion, sweepOrphanedTempDirs, tail, terminate, waitUntil,
} from './processes.ts';

export interface KubeApiServerOptions {
  /** Admission plugins to turn off. Default ['ServiceAccount']: without a controller-manager no
   * token controller creates `default` service accounts, and that plugin would reject every Pod. */
  disableAdmissionPlugins?: string[];
  /** Appended last, so they override the defaults (pflag keeps the last value). */
  extraArgs?: string[];
  /** Milliseconds to wait for etcd and then /readyz. Default 60 s. */
  readyTimeoutMs?: number;
}

export interface KubeApiServer {
  /** https://<namespace address>:6443, reachable from the test process. */
  url: string;
  /** kubeconfig (JSON, which is valid YAML) for @kubernetes/client-node and kubectl. */
  kubeconfigPath: string;
  /** Bearer token of user `admin` in group system:masters. */
  token: string;
  /** The temp dir holding etcd data, certs, keys and the logs etcd.log / kube-apiserver.log. */
  dataDir: string;
  /** Directory with kube-apiserver, kubectl, ... of the pinned version. */
  binDir: string;
  /** etcd's client URL (inside the namespace, reachable from the host too). */
  etcdUrl: string;
  /** The network namespace both servers run in; more components (a kubelet) can join it. */
  network: Omit<IsolatedNetwork, 'destroy'>;
  stop(): Promise<void>;
}

const repoRoot = fileURLToPath(new URL('../', import.meta.url));
const buildScript = join(repoRoot, 'scripts', 'build-kube.sh');
const apiPort = 6443; // fixed ports are safe: the namespace is ours alone
const etcdClientPort = 2379;
const etcdPeerPort = 2380;

/** The pinned Kubernetes version: scripts/build-kube.sh is the single source of truth. */
export function kubeVersion(): string {
  const fromEnv = process.env['SHIMKEEPER_KUBE_VERSION'];
  if (fromEnv) return fromEnv;
  const m = /SHIMKEEPER_KUBE_VERSION:-(v[0-9][^}"]*)\}/.exec(readFileSync(buildScript, 'utf8'));
  if (!m?.[1]) throw new Error(`cannot find the pinned version in ${buildScript}`);
  return m[1];
}

/** Same convention as scripts/build-kube.sh: ${SHIMKEEPER_CACHE:-$HOME/.cache/shimkeeper}/kube/<v>/bin */
export function kubeBinDir(version: string = kubeVersion()): string {
  const cacheRoot = process.env['SHIMKEEPER_CACHE'] || join(homedir(), '.cache', 'shimkeeper');
  return join(cacheRoot, 'kube', version, 'bin');
}

/** Returns the bin dir, building the missing components first (slow on a cold cache). */
export async function ensureKubeBinaries(components: string[] = ['kube-apiserver', 'kubectl']): Promise<string> {
  const binDir = kubeBinDir();
  if (components.every((c) => existsSync(join(binDir, c))) && findEtcd(binDir)) return binDir;
  console.warn(`kube binaries missing in ${binDir}: building ${components.join(' ')} (about 5 min on 2 cores)`);
  // Async, not spawnSync: a blocked event loop would starve the test runner's worker RPC. Progress
  // goes to our stderr; the script's stdout is only the bin dir.
  await runToCompletion(['bash', buildScript, ...components], { stdio: ['ignore', 'ignore', 'inherit'] });
  return binDir;
}

function findEtcd(binDir: string): string | undefined {
  for (const dir of [binDir, ...(process.env['PATH'] ?? '').split(delimiter)]) {
    if (dir && existsSync(join(dir, 'etcd'))) return join(dir, 'etcd');
  }
  return undefined;
}

export async function startKubeApiServer(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const binDir = await ensureKubeBinaries();
  const etcdBin = findEtcd(binDir)!;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  sweepOrphanedTempDirs(tmpdir(), 'shimkeeper-kube-');
  const dataDir = mkdtempSync(join(tmpdir(), 'shimkeeper-kube-'));
  removeTempDirOnExit(dataDir);
  const started: ChildProcess[] = [];
  let network: IsolatedNetwork | undefined;
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // apiserver first, so it does not log a storm of etcd connection errors on the way down.
    for (const child of [...started].reverse()) await terminate(child);
    await network?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
    forgetTempDir(dataDir);
  };

  try {
    network = await createIsolatedNetwork(dataDir);
    const { address } = network;
    const inNetns = { netnsPath: network.path };

    const etcdUrl = `http://${address}:${etcdClientPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    const etcdEnv: NodeJS.ProcessEnv = { ...process.env };
    if (process.arch === 'arm64') etcdEnv['ETCD_UNSUPPORTED_ARCH'] = 'arm64'; // etcd 3.4 refuses otherwise
    const etcd = launch([
      etcdBin,
      '--name=test',
      `--data-dir=${join(dataDir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=test=${peerUrl}`,
      '--logger=zap',
      '--log-level=warn',
    ], join(dataDir, 'etcd.log'), { ...inNetns, env: etcdEnv });
    started.push(etcd);
    await waitUntil('etcd', etcd, readyTimeoutMs, async () => (await httpGet(`${etcdUrl}/health`)).includes('true'));

    const token = randomBytes(24).toString('hex');
    writeFileSync(join(dataDir, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });
    const saKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dataDir, 'sa.key'), saKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(join(dataDir, 'sa.pub'), saKeys.publicKey.export({ type: 'spki', format: 'pem' }));

    const certDir = join(dataDir, 'certs');
    const apiserver = launch([
      join(binDir, 'kube-apiserver'),
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${address}`,
      `--advertise-address=${address}`,
      `--secure-port=${apiPort}`,
      // No --tls-cert-file: the apiserver generates a self-signed CA + serving cert (SAN: the bind
      // address) into --cert-dir; the kubeconfig trusts that CA, so clients verify TLS for real.
      `--cert-dir=${certDir}`,
      `--token-auth-file=${join(dataDir, 'tokens.csv')}`,
      '--authorization-mode=Node,RBAC',
      `--disable-admission-plugins=${(opts.disableAdmissionPlugins ?? ['ServiceAccount']).join(',')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(dataDir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dataDir, 'sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--allow-privileged=true', // the installer Job pods are privileged
      '--profiling=false',
      '--v=1',
      ...(opts.extraArgs ?? []),
    ], join(dataDir, 'kube-apiserver.log'), inNetns);
    started.push(apiserver);
    const url = `https://${address}:${apiPort}`;
    const caPath = join(certDir, 'apiserver.crt');
    await waitUntil('kube-apiserver', apiserver, readyTimeoutMs, async () =>
      existsSync(caPath) && (await httpGet(`${url}/readyz`, token)) === 'ok');

    const kubeconfigPath = join(dataDir, 'kubeconfig');
    writeFileSync(kubeconfigPath, JSON.stringify(kubeconfig(url, caPath, token), null, 2), { mode: 0o600 });
    const { path, hostAddress, hostInterface } = network;
    return { url, kubeconfigPath, token, dataDir, binDir, etcdUrl, network: { path, address, hostAddress, hostInterface }, stop };
  } catch (err) {
    const logs = ['etcd.log', 'kube-apiserver.log'].map((f) => `--- ${f} (tail) ---\n${tail(join(dataDir, f))}`);
    await stop();
    throw new Error(`${(err as Error).message}\n${logs.join('\n')}`, { cause: err });
  }
}

function kubeconfig(server: string, caPath: string, token: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    // apiserver.crt holds the serving cert followed by its self-signed CA. Embedded, not a path,
    // so a copy of the kubeconfig keeps working on its own.
    clusters: [{ name: 'test', cluster: { server, 'certificate-authority-data': readFileSync(caPath).toString('base64') } }],
    users: [{ name: 'admin', user: { token } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'admin' } }],
    'current-context': 'test',
  };
}

// node:https, not fetch: fetch cannot skip verification, and the CA file may still be half-written.
// Only readiness polling skips it; every real client verifies against the CA in the kubeconfig.
function httpGet(url: string, token?: string): Promise<string> {
  if (url.startsWith('http:')) return fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.text());
  return new Promise((resolve, reject) => {
    const req = request(url, {
      rejectUnauthorized: false,
      timeout: 2000,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
