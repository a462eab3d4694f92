import { execFile } from 'node:child_process';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { RestartStrategy } from '../../api/installer-contract.ts';
import { InstallerError } from '../errors.ts';
import type { Host } from '../host.ts';
import type { ContainerdTarget } from './detect.ts';

// Restarting containerd is the one step that touches running workloads' control plane, so each
// strategy waits for the old process to be gone before health checks start: otherwise a check
// could pass against the old process and miss a new one that fails.

const execFileAsync = promisify(execFile);

export type { RestartStrategy };

export interface RestartOptions {
  strategy: RestartStrategy;
  host: Host;
  target: ContainerdTarget;
  /** Where to look for processes: the host's /proc when the pod runs with hostPID. */
  procRoot?: string;
  stopTimeoutMs?: number;
}

export interface RestartOutcome {
  method: 'systemd' | 'signal' | 'none';
  detail: string;
}

export async function restartContainerd(options: RestartOptions): Promise<RestartOutcome> {
  const method = await resolveStrategy(options);
  if (method === 'none') return { method, detail: 'restart disabled (--restart none); containerd loads the change at its next start' };
  if (method === 'systemd') return restartWithSystemd(options);
  return restartWithSignal(options);
}

async function resolveStrategy(options: RestartOptions): Promise<'systemd' | 'signal' | 'none'> {
  if (options.strategy !== 'auto') return options.strategy;
  if (!options.target.restartRequired) return 'none';
  return (await options.host.exists('/run/systemd/system')) ? 'systemd' : 'signal';
}

/** Runs systemctl in the host's namespaces (PID 1's), so the host's systemd does the restart. */
async function restartWithSystemd(options: RestartOptions): Promise<RestartOutcome> {
  const inHost = (args: string[]) => execFileAsync('nsenter', ['--target', '1', '--mount', '--uts', '--ipc', '--net', '--pid', '--', 'systemctl', ...args], { timeout: 120_000 });
  for (const unit of options.target.systemdUnits) {
    const active = await inHost(['is-active', '--quiet', unit]).then(() => true, () => false);
    if (!active) continue;
    try {
      await inHost(['restart', unit]);
    } catch (error) {
      throw new InstallerError('RestartFailed', `systemctl restart ${unit} failed: ${(error as Error).message}`, { cause: error });
    }
    return { method: 'systemd', detail: `systemctl restart ${unit}` };
  }
  throw new InstallerError('RestartFailed', `none of the systemd units ${options.target.systemdUnits.join(', ')} is active on this node; use --restart signal or none`);
}

/** Stops the containerd that serves the socket and waits for its supervisor to start a new one. */
async function restartWithSignal(options: RestartOptions): Promise<RestartOutcome> {
  const procRoot = options.procRoot ?? '/proc';
  const socketHere = await options.host.path(options.target.socketPath);
  const pid = await ownerOnceSettled(procRoot, options.target.socketPath, socketHere);
  if (pid === undefined) {
    // Nothing is signalled: only the containerd that serves this very socket under the host root
    // may be, and none does (containerd is down, e.g. it refused a config; or the socket is gone).
    // Its supervisor starts it again with the config as it is now, which the health check judges.
    return { method: 'signal', detail: `no containerd process serves ${options.target.socketPath} under the host root (needs hostPID when run in a pod); nothing was signalled, waiting for its supervisor to start it` };
  }
  process.kill(pid, 'SIGTERM');
  const stopBy = Date.now() + (options.stopTimeoutMs ?? 30_000);
  while (await processAlive(procRoot, pid)) {
    if (Date.now() > stopBy) {
      process.kill(pid, 'SIGKILL');
      break;
    }
    await sleep(50);
  }
  return { method: 'signal', detail: `sent SIGTERM to containerd pid ${pid}` };
}

/**
 * The socket's owner, looked for again for a few seconds: a containerd that was just started (by
 * its supervisor after a crash, say) may not serve its socket yet, and restarting "nothing" then
 * would leave it running on the config it read before the change.
 */
async function ownerOnceSettled(procRoot: string, socketPath: string, socketHere: string): Promise<number | undefined> {
  const deadline = Date.now() + OWNER_SETTLE_MS;
  for (;;) {
    const pid = await findSocketOwner(procRoot, socketPath, socketHere);
    if (pid !== undefined || Date.now() >= deadline) return pid;
    await sleep(200);
  }
}

const OWNER_SETTLE_MS = 10_000;

/**
 * The containerd process serving the socket. Several containerds may bind the same path in
 * different mount namespaces (a nested cluster, a leftover test node): the socket file the process
 * sees through /proc/<pid>/root must be the very file (device and inode) under the host root that
 * the installer checks health on. When that file does not exist, no process can be proven to serve
 * it, so none is returned: a containerd listening on the same path elsewhere is never signalled.
 */
export async function findSocketOwner(procRoot: string, socketPath: string, socketPathHere: string = socketPath): Promise<number | undefined> {
  const wanted = await stat(socketPathHere).catch(() => null);
  if (!wanted?.isSocket()) return undefined;
  for (const entry of await readdir(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const comm = await readFile(`${procRoot}/${pid}/comm`, 'utf8').catch(() => '');
    if (comm.trim() !== 'containerd') continue;
    const seenByProcess = await stat(`${procRoot}/${pid}/root${socketPath}`).catch(() => null);
    if (!seenByProcess || seenByProcess.dev !== wanted.dev || seenByProcess.ino !== wanted.ino) continue;
    const inodes = await listeningInodes(`${procRoot}/${pid}/net/unix`, socketPath);
    if (inodes.size === 0) continue;
    const fds = await readdir(`${procRoot}/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const link = await readlink(`${procRoot}/${pid}/fd/${fd}`).catch(() => '');
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (inode && inodes.has(inode)) return pid;
    }
  }
  return undefined;
}

async function listeningInodes(netUnixFile: string, socketPath: string): Promise<Set<string>> {
  const table = await readFile(netUnixFile, 'utf8').catch(() => '');
  const inodes = new Set<string>();
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length >= 8 && fields[7] === socketPath) inodes.add(fields[6]!);
  }
  return inodes;
}

async function processAlive(procRoot: string, pid: number): Promise<boolean> {
  const stat = await readFile(`${procRoot}/${pid}/stat`, 'utf8').catch(() => null);
  // A zombie has exited; only its parent has yet to reap it.
  return stat !== null && !/^\d+ \(.*\) Z /.test(stat);
}
