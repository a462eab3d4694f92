import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startArtifactServer, type ArtifactServer } from '../../local-cluster/artifact-server.ts';
import { sha256, shimArchive } from '../../local-cluster/artifacts.ts';
import { startContainerd, type TestContainerd } from '../harness/containerd.ts';
import { containerdMatrix, type ContainerdRelease } from '../harness/containerd-releases.ts';
import { containerState, removePod, runPod, shimExecutableFor, waitForExit, type RunningPod } from '../harness/cri-workload.ts';
import { runInstaller } from '../harness/run-installer.ts';

// The installer against real containerd releases (Debian's, the newest 1.7 and 2.x): install,
// run a pod through the shim, re-run (no-op), runtime options, upgrade under a running pod,
// uninstall back to the original bytes. Each release runs its own runc shim under another name.

describe.each(containerdMatrix())('containerd $name', (release: ContainerdRelease) => {
  let containerd: TestContainerd;
  let server: ArtifactServer;
  let originalConfig: string;
  let installDir: string;
  let rev1: Buffer;
  let rev2: Buffer;

  beforeAll(async () => {
    rev1 = shimArchive('containerd-shim-probe-v2', 'one', release.runcShim);
    rev2 = shimArchive('containerd-shim-probe-v2', 'two', release.runcShim);
    containerd = await startContainerd({ release });
    server = await startArtifactServer();
    server.put('probe-1.tar.gz', rev1);
    server.put('probe-2.tar.gz', rev2);
    originalConfig = readFileSync(containerd.configPath, 'utf8');
    installDir = path.join(containerd.dir, 'opt-shimkeeper');
    await mkdir(path.join(containerd.dir, 'pod-logs'), { recursive: true });
  });

  afterAll(async () => {
    await server?.close();
    await containerd?.stop();
  });

  const installArgs = (archive: string, digest: string, version: string) => [
    'install',
    '--host-root', '/',
    '--shim', 'probe',
    '--handler', 'probe',
    '--url', server.url(archive),
    '--sha256', digest,
    '--version', version,
    '--install-dir', installDir,
    '--containerd-config', containerd.configPath,
    '--containerd-socket', containerd.socketPath,
    '--restart', 'signal',
    '--termination-log', path.join(containerd.dir, 'termination-log'),
  ];

  async function loadedRuntimes(): Promise<Record<string, { runtimePath: string; runtimeType: string }>> {
    const status = await containerd.cri.status();
    return (JSON.parse(status.info['config']!) as { containerd: { runtimes: Record<string, { runtimePath: string; runtimeType: string }> } }).containerd.runtimes;
  }

  describe('the installer', () => {
    let firstBinary: string;
    let longRunning: RunningPod;

    it('installs: downloads, verifies, configures, restarts containerd, and the handler is loaded', async () => {
      const pidBefore = await containerd.pid();
      const before = Date.now();
      const run = await runInstaller(installArgs('probe-1.tar.gz', sha256(rev1), '1.0.0'));
      expect(run.code, run.stderr).toBe(0);
      expect(run.result).toMatchObject({ ok: true, action: 'install', shim: 'probe', handler: 'probe', version: '1.0.0', sha256: sha256(rev1), restarted: true, changed: true, configPath: containerd.configPath });
      expect(run.result['containerdVersion']).toMatch(release.name === 'debian' ? /^1\.6\./ : new RegExp(`^v?${release.name.replaceAll('.', '\\.')}`));
      expect(run.result['verification']).toMatchObject({ sandbox: 'started' });
      // When the proving sandbox was asked for: after the run began, before it reported.
      const provenAt = Date.parse((run.result['verification'] as { provenAt: string }).provenAt);
      expect(provenAt).toBeGreaterThanOrEqual(before);
      expect(provenAt).toBeLessThanOrEqual(Date.now());
      expect(run.result['timings']).toHaveProperty('verifyMs');
      // The installed binary tells its own version (`-v`): the release's runc shim here.
      expect(run.result['shimVersion']).toMatch(/\d+\.\d+\.\d+/);
      expect(await containerd.pid()).not.toBe(pidBefore);
      firstBinary = run.result['binaryPath'] as string;
      expect(firstBinary).toBe(path.join(installDir, 'shims', 'probe', run.result['revision'] as string, 'containerd-shim-probe-v2'));
      expect(readFileSync(path.join(containerd.dir, 'termination-log'), 'utf8')).toBe(run.stdout.trim());

      const config = readFileSync(containerd.configPath, 'utf8');
      expect(config.startsWith(originalConfig)).toBe(true);
      const backups = readdirSync(path.join(installDir, 'backups'));
      expect(backups).toHaveLength(1);
      expect(readFileSync(path.join(installDir, 'backups', backups[0]!), 'utf8')).toBe(originalConfig);
      // A shim not named like runc runs from its absolute path on every release (runtime-type.ts).
      expect((await loadedRuntimes())['probe']).toMatchObject({ runtimeType: firstBinary, runtimePath: firstBinary });
      const state = JSON.parse(readFileSync(path.join(installDir, 'state.json'), 'utf8'));
      expect(state.shims.probe).toMatchObject({ revision: run.result['revision'], version: '1.0.0', sha256: sha256(rev1), configPath: containerd.configPath });
    });

    it('runs a container through the installed shim', async () => {
      const pod = await runPod(containerd.cri, 'probe', ['/bin/busybox', 'sh', '-c', 'echo hello from probe'], path.join(containerd.dir, 'pod-logs'));
      expect(shimExecutableFor(pod.sandboxId)).toBe(firstBinary);
      expect(await waitForExit(containerd.cri, pod.containerId)).toBe(0);
      await removePod(containerd.cri, pod);
    });

    it('a re-run with the same revision changes nothing and does not restart containerd', async () => {
      const pidBefore = await containerd.pid();
      const configBefore = readFileSync(containerd.configPath, 'utf8');
      const stateBefore = readFileSync(path.join(installDir, 'state.json'), 'utf8');
      const downloadsBefore = server.requests('probe-1.tar.gz');
      const run = await runInstaller(installArgs('probe-1.tar.gz', sha256(rev1), '1.0.0'));
      expect(run.code, run.stderr).toBe(0);
      expect(run.result).toMatchObject({ ok: true, restarted: false, changed: false });
      expect(run.result).not.toHaveProperty('verification');

      // Asked to (the controller's drift re-checks), a no-op re-run still proves the handler, without a restart.
      const verified = await runInstaller([...installArgs('probe-1.tar.gz', sha256(rev1), '1.0.0'), '--verify']);
      expect(verified.code, verified.stderr).toBe(0);
      expect(verified.result).toMatchObject({ ok: true, restarted: false, changed: false, verification: { sandbox: 'started' } });
      expect(await containerd.pid()).toBe(pidBefore);
      expect(await containerd.pid()).toBe(pidBefore);
      expect(readFileSync(containerd.configPath, 'utf8')).toBe(configBefore);
      expect(readFileSync(path.join(installDir, 'state.json'), 'utf8')).toBe(stateBefore);
      expect(server.requests('probe-1.tar.gz')).toBe(downloadsBefore);
    });

    it('upgrades to a new revision while a container keeps running on the old one', async () => {
      longRunning = await runPod(containerd.cri, 'probe', ['/bin/busybox', 'sleep', '3600'], path.join(containerd.dir, 'pod-logs'));
      expect(shimExecutableFor(longRunning.sandboxId)).toBe(firstBinary);

      const run = await runInstaller(installArgs('probe-2.tar.gz', sha256(rev2), '1.0.1'));
      expect(run.code, run.stderr).toBe(0);
      expect(run.result).toMatchObject({ ok: true, version: '1.0.1', restarted: true });
      const secondBinary = run.result['binaryPath'] as string;
      expect(secondBinary).not.toBe(firstBinary);
      expect((await loadedRuntimes())['probe']!.runtimePath).toBe(secondBinary);

      // The old pod survives the restart on the old binary, which is kept while it runs.
      expect((await containerState(containerd.cri, longRunning.containerId)).state).toBe('CONTAINER_RUNNING');
      expect(shimExecutableFor(longRunning.sandboxId)).toBe(firstBinary);
      expect(existsSync(firstBinary)).toBe(true);

      const fresh = await runPod(containerd.cri, 'probe', ['/bin/busybox', 'true'], path.join(containerd.dir, 'pod-logs'));
      expect(shimExecutableFor(fresh.sandboxId)).toBe(secondBinary);
      expect(await waitForExit(containerd.cri, fresh.containerId)).toBe(0);
      await removePod(containerd.cri, fresh);
    });

    it('a new handler replaces the old one in one edit, while a container keeps running on the old handler', async () => {
      const args = installArgs('probe-2.tar.gz', sha256(rev2), '1.0.1').map((arg, i, all) => (all[i - 1] === '--handler' ? 'probe-two' : arg));
      const run = await runInstaller(args);
      expect(run.code, run.stderr).toBe(0);
      expect(run.result).toMatchObject({ ok: true, handler: 'probe-two', restarted: true, verification: { sandbox: 'started' } });
      const runtimes = await loadedRuntimes();
      expect(runtimes['probe']).toBeUndefined();
      expect(runtimes['probe-two']).toBeDefined();
      expect((await containerState(containerd.cri, longRunning.containerId)).state).toBe('CONTAINER_RUNNING');
      const fresh = await runPod(containerd.cri, 'probe-two', ['/bin/busybox', 'true'], path.join(containerd.dir, 'pod-logs'));
      expect(await waitForExit(containerd.cri, fresh.containerId)).toBe(0);
      await removePod(containerd.cri, fresh);
    });

    it('uninstall restores the config byte for byte, then deletes the binaries no pod uses', async () => {
      await removePod(containerd.cri, longRunning);
      const run = await runInstaller(['uninstall', '--host-root', '/', '--shim', 'probe', '--install-dir', installDir, '--containerd-socket', containerd.socketPath, '--restart', 'signal', '--termination-log', '/nonexistent/x']);
      expect(run.code, run.stderr).toBe(0);
      expect(run.result).toMatchObject({ ok: true, action: 'uninstall', restarted: true });
      expect(readFileSync(containerd.configPath, 'utf8')).toBe(originalConfig);
      expect((await loadedRuntimes())['probe']).toBeUndefined();
      expect(existsSync(path.join(installDir, 'shims', 'probe'))).toBe(false);
      expect(JSON.parse(readFileSync(path.join(installDir, 'state.json'), 'utf8')).shims).toEqual({});

      const again = await runInstaller(['uninstall', '--host-root', '/', '--shim', 'probe', '--install-dir', installDir, '--containerd-config', containerd.configPath, '--containerd-socket', containerd.socketPath, '--restart', 'signal']);
      expect(again.result).toMatchObject({ ok: true, restarted: false, changed: false });
    });
  });

  describe('runtime options', () => {
    const configBefore = () => readFileSync(containerd.configPath, 'utf8');
    const optionArgs = (archive: string, digest: string, shim: string, wrapper: string) => [
      ...installArgs(archive, digest, '1.0.0').map((arg) => (arg === 'probe' ? shim : arg)),
      '--runtime-option', `BinaryName=${wrapper}`,
    ];
    /** A runc stand-in that records each invocation: proof that the BinaryName option reached the shim. */
    function runcWrapper(): { wrapper: string; invocations: () => string } {
      const log = path.join(containerd.dir, 'runc-invocations.log');
      const wrapper = path.join(containerd.dir, 'runc-wrapper');
      writeFileSync(wrapper, `#!/bin/sh\necho "$@" >> ${log}\nexec runc "$@"\n`, { mode: 0o755 });
      return { wrapper, invocations: () => (existsSync(log) ? readFileSync(log, 'utf8') : '') };
    }

    // containerd sends runc's typed options only to a runtime named io.containerd.runc.v2, which
    // 1.7+ starts from runtime_path; 1.6 would start the node's own runc shim for that name.
    it('reach a shim named like runc, whose runc runs through the BinaryName option', async () => {
      const { wrapper, invocations } = runcWrapper();
      const archive = shimArchive('containerd-shim-runc-v2', 'typed-options', release.runcShim);
      server.put('runc-named.tar.gz', archive);
      const before = configBefore();
      const run = await runInstaller(optionArgs('runc-named.tar.gz', sha256(archive), 'opts', wrapper));
      if (release.name === 'debian') {
        // containerd 1.6 would hand the shim an empty generic blob: refused before anything changes.
        expect(run.code).toBe(1);
        expect(run.result).toMatchObject({ ok: false, code: 'RuntimeOptionsUnsupported' });
        expect(run.result['error']).toMatch(/cannot pass the runtime options BinaryName.*Nothing was changed/);
        expect(configBefore()).toBe(before);
        expect(existsSync(path.join(installDir, 'shims', 'opts'))).toBe(false);
        return;
      }
      expect(run.code, run.stderr).toBe(0);
      expect(run.result).toMatchObject({ ok: true, verification: { sandbox: 'started' } });
      expect((await loadedRuntimes())['opts']).toMatchObject({ runtimeType: 'io.containerd.runc.v2', runtimePath: run.result['binaryPath'] });
      const pod = await runPod(containerd.cri, 'opts', ['/bin/busybox', 'sleep', '3600'], path.join(containerd.dir, 'pod-logs'));
      expect(shimExecutableFor(pod.sandboxId)).toBe(run.result['binaryPath']);
      expect(invocations()).toMatch(/\bcreate\b/);
      // containerd finds a running container's shim again after a restart (a name it cannot resolve would kill the pod).
      process.kill((await containerd.pid())!, 'SIGTERM');
      await sleep(500);
      await containerd.ready();
      await sleep(500);
      expect((await containerState(containerd.cri, pod.containerId)).state).toBe('CONTAINER_RUNNING');
      await removePod(containerd.cri, pod);
      const removed = await runInstaller(['uninstall', '--host-root', '/', '--shim', 'opts', '--install-dir', installDir, '--containerd-socket', containerd.socketPath, '--restart', 'signal']);
      expect(removed.code, removed.stderr).toBe(0);
      expect(configBefore()).toBe(before);
    });

    it('a shim that cannot read the options containerd gives it is refused, and the node is left as it was', async () => {
      const { wrapper } = runcWrapper();
      server.put('probe-1.tar.gz', rev1);
      const before = configBefore();
      const pidBefore = await containerd.pid();
      const run = await runInstaller(optionArgs('probe-1.tar.gz', sha256(rev1), 'generic', wrapper));
      expect(run.code).toBe(1);
      if (release.name === 'debian') {
        expect(run.result).toMatchObject({ ok: false, code: 'RuntimeOptionsUnsupported' });
        expect(configBefore()).toBe(before);
        return;
      }
      expect(run.result).toMatchObject({ ok: false, code: 'ShimDoesNotStart' });
      expect(run.result['error']).toMatch(/runtimeoptions\.v1\.Options.*Rolled back/s);
      expect(configBefore()).toBe(before);
      expect((await loadedRuntimes())['generic']).toBeUndefined();
      expect(existsSync(path.join(installDir, 'shims', 'generic'))).toBe(false);
      expect(await containerd.pid()).not.toBe(pidBefore);
    });
  });
});
