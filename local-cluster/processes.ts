// Child processes for integration tests that never outlive the test run: each one gets a parent
// death signal (the kernel SIGKILLs it when this process dies, even by SIGKILL), and exit/signal
// handlers kill whatever is still running when the test process ends normally.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const live = new Set<ChildProcess>();
const groupLeaders = new WeakSet<ChildProcess>();
const tempDirs = new Set<string>();
const cleanups = new Set<() => void>();
let exitHooksInstalled = false;

function killAllLive(): void {
  for (const c of live) {
    try {
      // Detached children lead their own process group: kill the whole group.
      if (c.pid !== undefined && groupLeaders.has(c)) process.kill(-c.pid, 'SIGKILL');
      else c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

function cleanUpNow(): void {
  killAllLive();
  // After the children: what they started and left behind (containerd under a killed supervisor
  // loop, shims, containers) is found by the namespaces and cgroups it lives in.
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // best effort on the way out
    }
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

/**
 * Registers a synchronous clean-up to run when this process exits or dies by a signal, after its
 * tracked children are killed; the returned function unregisters it (call it once the owner
 * cleaned up by itself).
 */
export function cleanUpOnExit(cleanup: () => void): () => void {
  installExitHooks();
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL is the only kill that fits.
  process.on('exit', cleanUpNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanUpNow();
      // Keep the default behaviour (die by this signal) unless someone else handles it too.
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

function track(child: ChildProcess): ChildProcess {
  installExitHooks();
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

/**
 * Registers a temp dir to delete when this process exits (call forgetTempDir after removing it
 * yourself). The dir gets an owner.pid file; sweepOrphanedTempDirs removes dirs whose owner died
 * without cleaning up (SIGKILL, OOM), so a CI machine does not fill up over many runs.
 */
export function removeTempDirOnExit(dir: string): void {
  installExitHooks();
  writeFileSync(join(dir, 'owner.pid'), `${process.pid}\n`);
  tempDirs.add(dir);
}

export function forgetTempDir(dir: string): void {
  tempDirs.delete(dir);
}

/** Deletes `<parent>/<prefix>*` dirs whose owner.pid names a process that is gone. */
export function sweepOrphanedTempDirs(parent: string, prefix: string): void {
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(prefix)) continue;
    const dir = join(parent, name);
    try {
      const pid = Number(readFileSync(join(dir, 'owner.pid'), 'utf8'));
      if (pid > 0 && !processAlive(pid)) rmSync(dir, { recursive: true, force: true });
    } catch {
      // no owner file (still being created, or not ours): leave it alone
    }
  }
}

/** Whether a process exists (EPERM: it does, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
const nsenter = ['/usr/bin/nsenter', '/bin/nsenter'].find((p) => existsSync(p));

/**
 * The command line that runs `argv` with a parent-death SIGKILL, optionally in a network namespace
 * and a mount namespace (paths like /proc/<pid>/ns/net of a process holding them).
 */
export function wrapArgv(argv: string[], netnsPath?: string, mntnsPath?: string): string[] {
  if (!setpriv) throw new Error('setpriv (util-linux) is required to tie test servers to the test process');
  // setpriv and nsenter both exec (no fork), so the server's parent stays this Node process and
  // the death signal fires when it dies.
  const namespaces = [...(netnsPath ? [`--net=${netnsPath}`] : []), ...(mntnsPath ? [`--mount=${mntnsPath}`] : [])];
  const enter = namespaces.length > 0 ? [nsenterPath(), ...namespaces, '--'] : [];
  return [setpriv, '--pdeathsig', 'KILL', '--', ...enter, ...argv];
}

function nsenterPath(): string {
  if (!nsenter) throw new Error('nsenter (util-linux) is required to run servers in a network namespace');
  return nsenter;
}

/** Starts a long-running server with stdout+stderr appended to logPath. */
export function launch(argv: string[], logPath: string, opts: { netnsPath?: string; mntnsPath?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const logFd = openSync(logPath, 'a');
  const [cmd, ...args] = wrapArgv(argv, opts.netnsPath, opts.mntnsPath);
  try {
    return track(spawn(cmd!, args, { stdio: ['ignore', logFd, logFd], env: opts.env ?? process.env }));
  } finally {
    closeSync(logFd); // the child holds its own copy
  }
}

/** Runs a command to completion (a build, say) in its own process group, killed with the test run. */
export async function runToCompletion(argv: string[], opts: SpawnOptions = {}): Promise<void> {
  const [cmd, ...args] = argv;
  const child = spawn(cmd!, args, { ...opts, detached: true });
  groupLeaders.add(child);
  track(child);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c, s) => resolve([c, s]));
  });
  if (code !== 0) throw new Error(`${argv.join(' ')} failed (exit ${code ?? signal})`);
}

/** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
export async function terminate(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Polls ready() every 200 ms; fails fast if the process exits, or after timeoutMs. */
export async function waitUntil(what: string, child: ChildProcess, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited during startup (${child.exitCode ?? child.signalCode})`);
    }
    try {
      if (await ready()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} not ready after ${timeoutMs} ms${lastError ? ` (last error: ${lastError})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The last lines of a log file, for error messages. */
export function tail(path: string, lines = 40): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
