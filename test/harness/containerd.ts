import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitForContainerd } from '../../src/installer/containerd/health.ts';
import { findSocketOwner } from '../../src/installer/containerd/restart.ts';
import { CriClient } from '../../src/installer/cri/cri-client.ts';
import type { ContainerdRelease } from './containerd-releases.ts';
import { CRI_TEST_PROTO } from './cri-test-proto.ts';

// A real containerd for tests: Debian's containerd + runc with its own config, root, state and
// socket under a temp dir, kept alive by a supervisor loop (the role systemd plays on a node), so
// the installer's `--restart signal` really stops it and a new process really comes back.

export const TEST_IMAGE = 'shimkeeper.test/busybox:1';

export interface TestContainerd {
  dir: string;
  configPath: string;
  socketPath: string;
  logPath: string;
  cri: CriClient;
  pid(): Promise<number | undefined>;
  log(): Promise<string>;
  /** Waits until the CRI socket answers with the runtime ready. */
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export function baseConfig(dir: string): string {
  return `# containerd for shimkeeper tests: everything lives under this directory.
version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "${dir}/containerd.sock"

[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${TEST_IMAGE}"
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # root here lacks CAP_SYS_RESOURCE, so runc must not lower oom_score_adj
  restrict_oom_score_adj = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
`;
}

const running = new Set<() => void>();
process.on('exit', () => {
  for (const kill of running) kill();
});

export interface ContainerdOptions {
  config?: (dir: string) => string;
  /** Which containerd runs (with the runc shim of its release); Debian's by default. */
  release?: ContainerdRelease;
  /**
   * Fault injection: while the config contains this text, the supervisor's containerd "refuses"
   * to start (exits at once), as a real containerd does with a config it cannot load.
   */
  refuseConfigContaining?: string;
}

export async function startContainerd(options: ContainerdOptions = {}): Promise<TestContainerd> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'shimkeeper-containerd-'));
  const configPath = path.join(dir, 'config.toml');
  const socketPath = path.join(dir, 'containerd.sock');
  const logPath = path.join(dir, 'containerd.log');
  const stopFile = path.join(dir, 'stop-supervisor');
  await writeFile(configPath, (options.config ?? baseConfig)(dir));
  // The supervisor restarts containerd whenever it exits, until the stop file appears.
  const supervisor: ChildProcess = spawn(
    'bash',
    [
      '-c',
      `while [ ! -e "$STOP" ]; do
         if [ -n "$REFUSE" ] && grep -qF -- "$REFUSE" "$CONFIG"; then echo "test fault: containerd refuses this config" >>"$LOG"; sleep 0.2; continue; fi
         containerd --config "$CONFIG" >>"$LOG" 2>&1; sleep 0.2
       done`,
    ],
    { env: { ...process.env, STOP: stopFile, CONFIG: configPath, LOG: logPath, REFUSE: options.refuseConfigContaining ?? '', PATH: releasePath(options.release) }, stdio: 'ignore', detached: true },
  );
  // Synchronous, so it also works from an 'exit' handler. Never shell out to kill(1) with a
  // negative PID: some versions read it as a signal and end up signalling every process.
  const killEverything = () => {
    writeFileSync(stopFile, '');
    if (supervisor.pid) signalQuietly(-supervisor.pid);
    killProcessesMatching(`-address ${socketPath}`);
    killProcessesMatching(`containerd --config ${configPath}`);
  };
  running.add(killEverything);

  // The test client also speaks the container calls, to run workloads through a shim.
  const cri = new CriClient(socketPath, CRI_TEST_PROTO);
  const instance: TestContainerd = {
    dir,
    configPath,
    socketPath,
    logPath,
    cri,
    pid: () => findSocketOwner('/proc', socketPath),
    log: () => readFile(logPath, 'utf8').catch(() => ''),
    async ready(timeoutMs = 30_000) {
      await waitForContainerd({ socketPathHere: socketPath, handler: null, timeoutMs }).catch(async (error: unknown) => {
        throw new Error(`test containerd in ${dir}: ${(error as Error).message}\n${(await instance.log()).slice(-3000)}`);
      });
    },
    async stop() {
      cri.close();
      killEverything();
      running.delete(killEverything);
      await sleep(200);
      spawnSync('bash', ['-c', `grep -o " ${dir}/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l`]);
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    },
  };
  await instance.ready();
  await importTestImage(instance);
  return instance;
}

/** containerd and its runc shim resolve from the release's directory first. */
function releasePath(release: ContainerdRelease | undefined): string {
  const base = process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin';
  return release?.binDir ? `${release.binDir}:${base}` : base;
}

function signalQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** SIGKILLs processes whose command line contains `needle` (e.g. shims of this containerd). */
export function killProcessesMatching(needle: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (cmdline.includes(needle)) signalQuietly(Number(entry));
  }
}

/** Builds a one-layer OCI image holding static busybox and imports it into the k8s.io namespace. */
async function importTestImage(containerd: TestContainerd): Promise<void> {
  const archive = path.join(containerd.dir, 'busybox-oci.tar');
  if (!existsSync('/bin/busybox')) throw new Error('static busybox is missing: apt-get install busybox-static');
  const { buildOciArchive } = await import('../../local-cluster/oci-image.ts');
  await buildOciArchive({ output: archive, name: TEST_IMAGE, files: [{ path: 'bin/busybox', source: '/bin/busybox', mode: 0o755 }], cmd: ['/bin/busybox', 'sleep', '3600'] });
  const result = spawnSync('ctr', ['--address', containerd.socketPath, '--namespace', 'k8s.io', 'images', 'import', '--no-unpack=false', archive], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`ctr images import failed: ${result.stderr}`);
}
