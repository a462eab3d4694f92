import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'smol-toml';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startArtifactServer, type ArtifactServer } from '../../local-cluster/artifact-server.ts';
import { sha256, shimArchive } from '../../local-cluster/artifacts.ts';
import { INSTALL_STEPS, UNINSTALL_STEPS } from '../../src/installer/steps.ts';
import { startContainerd, type TestContainerd } from '../harness/containerd.ts';
import { DEBIAN_CONTAINERD } from '../harness/containerd-releases.ts';
import { runInstaller, runInstallerKilledAt } from '../harness/run-installer.ts';

// Issue 9's done-criterion: a kill at every step of install and uninstall leaves the node
// consistent and the user's config recoverable. The CLI logs `step: <name> start|done`; each case
// SIGKILLs it at one of those lines, then checks: the config parses and holds the complete managed
// block or none of it; a re-run converges; uninstall returns the config byte for byte to the
// user's original — here one with a hand-written stanza for the handler, taken over with
// --take-over-handler — and leaves no shim files behind.
//
// A killed run leaves the node lock (<install-dir>/.lock) behind; on a node the next installer
// reclaims it once it is stale (30 s, host-lock.ts). The test removes it at once to save that wait.

const HANDWRITTEN = '\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.probe]\n  # the node\'s own runtime for this handler\n  runtime_type = "io.containerd.runc.v2"\n';
const KILL_POINTS = (steps: readonly string[]) => steps.flatMap((step) => [`step: ${step} start`, `step: ${step} done`]);

describe('containerd debian: a kill at any step', () => {
  let containerd: TestContainerd;
  let server: ArtifactServer;
  let userConfig: string;
  let installDir: string;
  let archive: Buffer;

  beforeAll(async () => {
    archive = shimArchive('containerd-shim-probe-v2', '', DEBIAN_CONTAINERD.runcShim);
    containerd = await startContainerd({ release: DEBIAN_CONTAINERD });
    server = await startArtifactServer();
    server.put('probe.tar.gz', archive);
    userConfig = readFileSync(containerd.configPath, 'utf8') + HANDWRITTEN;
    writeFileSync(containerd.configPath, userConfig);
    installDir = path.join(containerd.dir, 'opt-shimkeeper');
  });

  afterAll(async () => {
    await server?.close();
    await containerd?.stop();
  });

  beforeEach(async () => {
    // Every case starts from the user's config, loaded, and nothing of shimkeeper's on the node.
    expect(readFileSync(containerd.configPath, 'utf8')).toBe(userConfig);
    await containerd.ready();
  });

  const common = () => ['--host-root', '/', '--shim', 'probe', '--handler', 'probe', '--install-dir', installDir, '--containerd-config', containerd.configPath, '--containerd-socket', containerd.socketPath, '--restart', 'signal', '--health-timeout', '20', '--termination-log', path.join(containerd.dir, 'termination-log')];
  const installArgs = () => ['install', ...common(), '--url', server.url('probe.tar.gz'), '--sha256', sha256(archive), '--take-over-handler'];
  const uninstallArgs = () => ['uninstall', ...common()];

  /** What a kill may leave: a config that parses and holds our whole block or none of it; a node lock to reclaim; containerd back. */
  async function afterKill(): Promise<void> {
    rmSync(path.join(installDir, '.lock'), { recursive: true, force: true });
    const text = readFileSync(containerd.configPath, 'utf8');
    expect(() => parse(text)).not.toThrow();
    const begins = text.split('\n').filter((line) => line.startsWith('# shimkeeper:begin probe ')).length;
    const ends = text.split('\n').filter((line) => line === '# shimkeeper:end probe').length;
    expect([begins, ends]).toEqual(begins === 0 ? [0, 0] : [1, 1]);
    if (begins === 0) expect(text).toBe(userConfig);
    await containerd.ready();
  }

  async function expectOk(args: string[]): Promise<void> {
    const run = await runInstaller(args);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
  }

  /** Uninstall put every byte back and left no shim files; state.json forgets the shim; containerd runs the user's own runtime again. */
  async function expectUserConfigBack(): Promise<void> {
    const status = await containerd.cri.status();
    const loaded = (JSON.parse(status.info['config']!) as { containerd: { runtimes: Record<string, { runtimeType: string; runtimePath?: string }> } }).containerd.runtimes['probe'];
    expect(loaded?.runtimeType).toBe('io.containerd.runc.v2');
    expect(loaded?.runtimePath ?? '').toBe('');
    expect(readFileSync(containerd.configPath, 'utf8')).toBe(userConfig);
    expect(existsSync(path.join(installDir, 'shims', 'probe'))).toBe(false);
    const state = JSON.parse(readFileSync(path.join(installDir, 'state.json'), 'utf8')) as { shims: object; revisionDirs?: object };
    expect(state.shims).toEqual({});
    expect(state.revisionDirs ?? {}).toEqual({});
  }

  it.each(KILL_POINTS(INSTALL_STEPS))('install killed at "%s": a re-run converges, uninstall restores the user\'s config', async (line) => {
    const killed = await runInstallerKilledAt(installArgs(), line);
    expect(killed.killed, `the run ended before "${line}":\n${killed.stderr}`).toBe(true);
    await afterKill();
    await expectOk(installArgs());
    expect(readFileSync(containerd.configPath, 'utf8')).toContain('# shimkeeper:begin probe ');
    await expectOk(uninstallArgs());
    await expectUserConfigBack();
  });

  it.each(KILL_POINTS(UNINSTALL_STEPS))('uninstall killed at "%s": a re-run converges to the user\'s config', async (line) => {
    await expectOk(installArgs());
    const killed = await runInstallerKilledAt(uninstallArgs(), line);
    expect(killed.killed, `the run ended before "${line}":\n${killed.stderr}`).toBe(true);
    await afterKill();
    await expectOk(uninstallArgs());
    await expectUserConfigBack();
  });

  // SIGTERM (the Pod deleted or evicted, the Job past its deadline): the run stops at the next step
  // that may stop, rolls back and says so, instead of leaving the next run to find out.
  it.each(['step: fetch start', 'step: place-binary done', 'step: write-config done', 'step: restart start', 'step: restart done'])(
    'install asked to stop (SIGTERM) at "%s": rolled back, the node as it was, and a Terminated result that says so',
    async (line) => {
      const stopped = await runInstallerKilledAt(installArgs(), line, {}, 'SIGTERM');
      expect(stopped.killed, `the run ended before "${line}":\n${stopped.stderr}`).toBe(true);
      expect(stopped.result, stopped.stderr).toMatchObject({ ok: false, code: 'Terminated', error: expect.stringMatching(/stopped by SIGTERM/) });
      // 128 + SIGTERM, not the installer's own failure code 1: the Job's podFailurePolicy retries an evicted Pod.
      expect(stopped.code).toBe(143);
      expect(readFileSync(containerd.configPath, 'utf8')).toBe(userConfig);
      expect(existsSync(path.join(installDir, '.lock'))).toBe(false);
      await containerd.ready();
      await expectOk(installArgs());
      await expectOk(uninstallArgs());
      await expectUserConfigBack();
    },
  );

  it('uninstall asked to stop (SIGTERM) before its change is proven: rolled back to the installed shim, Terminated', async () => {
    await expectOk(installArgs());
    const installed = readFileSync(containerd.configPath, 'utf8');
    const stopped = await runInstallerKilledAt(uninstallArgs(), 'step: restart start', {}, 'SIGTERM');
    expect(stopped.result, stopped.stderr).toMatchObject({ ok: false, code: 'Terminated', error: expect.stringMatching(/Rolled back: .* is as it was/) });
    expect(readFileSync(containerd.configPath, 'utf8')).toBe(installed);
    await containerd.ready();
    await expectOk(uninstallArgs());
    await expectUserConfigBack();
  });

  it('asked to stop once the change is proven, the run finishes and records it', async () => {
    const finished = await runInstallerKilledAt(installArgs(), 'step: record-state start', {}, 'SIGTERM');
    expect(finished.result, finished.stderr).toMatchObject({ ok: true, action: 'install' });
    expect(readFileSync(containerd.configPath, 'utf8')).toContain('# shimkeeper:begin probe ');
    await expectOk(uninstallArgs());
    await expectUserConfigBack();
  });

  it('a drift repair that cannot prove the handler rolls back to the node as it found it: the failure, not RollbackFailed', async () => {
    const install = await runInstaller(installArgs());
    expect(install.code, install.stderr).toBe(0);
    const installed = readFileSync(containerd.configPath, 'utf8');
    // Drift: the managed block removed by hand (the hand-written stanza it replaced goes with it), containerd restarted on that.
    const drifted = installed.replace(/# shimkeeper:begin probe[\s\S]*# shimkeeper:end probe\n/, '');
    writeFileSync(containerd.configPath, drifted);
    process.kill((await containerd.pid())!, 'SIGTERM');
    await containerd.ready();
    // ...and the installed binary no longer starts a sandbox.
    const binary = install.result['binaryPath'] as string;
    const working = readFileSync(binary);
    writeFileSync(binary, '#!/bin/sh\nexit 1\n');
    const repair = await runInstaller([...installArgs(), '--verify']);
    expect(repair.result, repair.stderr).toMatchObject({ ok: false, code: 'ShimDoesNotStart', error: expect.stringMatching(/Rolled back: .* is as it was, containerd was restarted on it and is healthy/) });
    expect(readFileSync(containerd.configPath, 'utf8')).toBe(drifted);
    await containerd.ready();
    // Back to the installed node, then to the user's.
    writeFileSync(binary, working);
    writeFileSync(containerd.configPath, installed);
    await expectOk(uninstallArgs());
    await expectUserConfigBack();
  });

  it('uninstall still restores the hand-written stanza when state.json is gone (the block knows its own undo)', async () => {
    await expectOk(installArgs());
    rmSync(path.join(installDir, 'state.json'));
    await expectOk(uninstallArgs());
    expect(readFileSync(containerd.configPath, 'utf8')).toBe(userConfig);
    // Binaries nobody recorded are never deleted: the revision dir stays for a person to remove.
    rmSync(path.join(installDir, 'shims'), { recursive: true, force: true });
    writeFileSync(path.join(installDir, 'state.json'), '{"schema":1,"shims":{}}\n');
  });
});
