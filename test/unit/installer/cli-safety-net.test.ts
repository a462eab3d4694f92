import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Host } from '../../../src/installer/host.ts';
import { withHostLock } from '../../../src/installer/host-lock.ts';
import { startSilentServer, startStatusServer, type LoopbackServer } from './loopback-servers.ts';

// The installer CLI as its own process, as the Job runs it: every way a run can end leaves one
// JSON result, and what a killed run leaves in the install dir is cleaned up by the next run.

const CLI = fileURLToPath(new URL('../../../src/installer/cli.ts', import.meta.url));
const CRASH_HOOK = fileURLToPath(new URL('./crash-hook.ts', import.meta.url));
const INSTALL_DIR = '/opt/shimkeeper';
const CONFIG = '/etc/containerd/config.toml';

let hostRoot: string;
let servers: LoopbackServer[];

beforeEach(async () => {
  hostRoot = await mkdtemp(path.join(os.tmpdir(), 'shimkeeper-cli-host-'));
  mkdirSync(path.join(hostRoot, path.dirname(CONFIG)), { recursive: true });
  writeFileSync(path.join(hostRoot, CONFIG), 'version = 2\n');
  servers = [];
});

afterEach(async () => {
  await Promise.all(servers.map((server) => server.close()));
  rmSync(hostRoot, { recursive: true, force: true });
});

const here = (hostPath: string) => path.join(hostRoot, hostPath);
const terminationLog = () => here('termination-log');
const workDirs = () => readdirSync(here(INSTALL_DIR)).filter((name) => name.startsWith('.work-'));

function args(command: 'install' | 'uninstall', url: string): string[] {
  return [
    command, '--host-root', hostRoot, '--shim', 'probe', '--install-dir', INSTALL_DIR,
    '--containerd-config', CONFIG, '--containerd-socket', '/run/containerd/containerd.sock', '--restart', 'none',
    '--health-timeout', '1', '--lock-wait', '5', '--termination-log', terminationLog(),
    ...(command === 'install' ? ['--url', url, '--sha256', 'a'.repeat(64)] : []),
  ];
}

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** The last line of stdout, parsed; null when it is not JSON. */
  result: Record<string, unknown> | null;
}

function startInstaller(cliArgs: string[], options: { crash?: 'exception' | 'rejection' } = {}): { child: ChildProcess; ended: Promise<Ended> } {
  const nodeArgs = options.crash ? ['--import', CRASH_HOOK] : [];
  const env = { ...process.env, ...(options.crash ? { SHIMKEEPER_TEST_CRASH: options.crash } : {}) };
  const child = spawn(process.execPath, [...nodeArgs, CLI, ...cliArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ended = new Promise<Ended>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      let result: Ended['result'] = null;
      try {
        result = JSON.parse(last) as Record<string, unknown>;
      } catch {
        // no result: the test says so
      }
      resolve({ code, signal, stderr, result });
    });
  });
  return { child, ended };
}

/** An installer stuck in its download: the server took the connection and never answers. */
async function installerInDownload(crash?: 'exception' | 'rejection'): Promise<{ child: ChildProcess; ended: Promise<Ended> }> {
  const silent = await startSilentServer();
  servers.push(silent);
  const run = startInstaller(args('install', silent.url()), { crash });
  for (let waited = 0; silent.requests === 0; waited += 20) {
    if (waited > 20_000) throw new Error('the installer never connected');
    await sleep(20);
  }
  expect(workDirs()).toHaveLength(1);
  return run;
}

/** A run that ends quickly (the artifact server answers 404); it has to hold the lock first. */
async function nextRun(command: 'install' | 'uninstall'): Promise<Ended> {
  const notFound = await startStatusServer(404);
  servers.push(notFound);
  return startInstaller(args(command, notFound.url())).ended;
}

describe('the safety net: a run that breaks unexpectedly still reports', () => {
  for (const crash of ['exception', 'rejection'] as const) {
    it(`an ${crash === 'exception' ? 'uncaught exception' : 'unhandled rejection'} mid-download: InternalError on stdout and in the termination log, exit 1`, async () => {
      const { child, ended } = await installerInDownload(crash);
      child.kill('SIGUSR2');
      const run = await ended;
      expect(run.code, run.stderr).toBe(1);
      const kind = crash === 'exception' ? 'uncaught exception' : 'unhandled rejection';
      expect(run.result).toEqual({ ok: false, action: 'install', shim: 'probe', code: 'InternalError', error: expect.stringContaining(`the installer broke unexpectedly (${kind}): boom`) });
      expect(JSON.parse(readFileSync(terminationLog(), 'utf8'))).toEqual(run.result);
      expect(run.stderr).toContain('boom');

      // Its work dir is left behind; the next run removes it (the lock was released on exit).
      expect(workDirs()).toHaveLength(1);
      const next = await nextRun('install');
      expect(next.result).toMatchObject({ ok: false, code: 'HttpClientError' });
      expect(workDirs()).toEqual([]);
    });
  }
});

describe('work dirs of killed runs', () => {
  it('a run killed mid-download leaves its work dir; the next run, install or uninstall, removes it once it holds the lock', async () => {
    for (const command of ['install', 'uninstall'] as const) {
      const { child, ended } = await installerInDownload();
      const stale = workDirs()[0]!;
      writeFileSync(here(`${INSTALL_DIR}/${stale}/artifact`), 'half a download');
      child.kill('SIGKILL');
      expect((await ended).signal).toBe('SIGKILL');
      expect(workDirs()).toEqual([stale]);
      // The killed run's lock stops being refreshed and goes stale after 30 s; skip the wait.
      const old = new Date(Date.now() - 60_000);
      utimesSync(here(`${INSTALL_DIR}/.lock`), old, old);

      const next = await nextRun(command);
      expect(next.result, next.stderr).not.toBeNull();
      expect(next.result!['action']).toBe(command);
      expect(workDirs()).toEqual([]);
      expect(existsSync(here(`${INSTALL_DIR}/.lock`))).toBe(false);
    }
  });

  it('withHostLock removes every .work-* entry and nothing else before the work runs', async () => {
    const host = new Host(hostRoot);
    for (const name of ['.work-abc123/unpack-x', '.work-def456', 'probe/rev1', 'backups']) mkdirSync(here(`${INSTALL_DIR}/${name}`), { recursive: true });
    writeFileSync(here(`${INSTALL_DIR}/.work-abc123/unpack-x/containerd-shim-probe-v2`), 'x');
    writeFileSync(here(`${INSTALL_DIR}/state.json`), '{}');
    const seen = await withHostLock(host, INSTALL_DIR, { waitMs: 1000 }, async () => readdirSync(here(INSTALL_DIR)).sort());
    expect(seen).toEqual(['.lock', 'backups', 'probe', 'state.json']);
  });
});
