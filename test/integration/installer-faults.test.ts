import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Host } from '../../src/installer/host.ts';
import { withHostLock } from '../../src/installer/host-lock.ts';
import { startArtifactServer, type ArtifactServer } from '../../local-cluster/artifact-server.ts';
import { sha256, shimArchive, shimBinary, tarGz } from '../../local-cluster/artifacts.ts';
import { startContainerd, type TestContainerd } from '../harness/containerd.ts';
import { containerdMatrix, DEBIAN_CONTAINERD, type ContainerdRelease } from '../harness/containerd-releases.ts';
import { runInstaller, runInstallerKilledAt } from '../harness/run-installer.ts';

// Every bad input and fault leaves the node as it was (config bytes, binaries, state, and the
// same containerd process) and says what went wrong in words a user can act on.

const REFUSE_MARKER = 'ShimkeeperTestRefuse';

const readIfPresent = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : null);

describe.each(containerdMatrix())('containerd $name', (release: ContainerdRelease) => {
  let containerd: TestContainerd;
  let server: ArtifactServer;
  let originalConfig: string;
  let installDir: string;
  let good: Buffer;

  beforeAll(async () => {
    good = shimArchive('containerd-shim-probe-v2', '', release.runcShim);
    containerd = await startContainerd({ release, refuseConfigContaining: REFUSE_MARKER });
    server = await startArtifactServer();
    server.put('good.tar.gz', good);
    originalConfig = readFileSync(containerd.configPath, 'utf8');
    installDir = path.join(containerd.dir, 'opt-shimkeeper');
  });

  afterAll(async () => {
    await server?.close();
    await containerd?.stop();
  });

  afterEach(() => {
    spawnSync('chattr', ['-i', containerd.configPath]);
    writeFileSync(containerd.configPath, originalConfig);
  });

  function args(overrides: { url?: string; sha256?: string; shim?: string; extra?: string[] } = {}): string[] {
    const shim = overrides.shim ?? 'probe';
    return [
      'install', '--host-root', '/', '--shim', shim, '--handler', shim,
      '--url', overrides.url ?? server.url('good.tar.gz'),
      '--sha256', overrides.sha256 ?? sha256(good),
      '--install-dir', installDir,
      '--containerd-config', containerd.configPath,
      '--containerd-socket', containerd.socketPath,
      '--restart', 'signal',
      '--download-attempts', '2',
      '--health-timeout', '8',
      '--termination-log', path.join(containerd.dir, 'termination-log'),
      ...(overrides.extra ?? []),
    ];
  }

  /** Runs a failing install and proves nothing on the node changed. */
  async function expectRefused(installerArgs: string[], code: string, message: RegExp): Promise<string> {
    const pidBefore = await containerd.pid();
    const configBefore = readFileSync(containerd.configPath, 'utf8');
    const stateBefore = readIfPresent(path.join(installDir, 'state.json'));
    const run = await runInstaller(installerArgs);
    expect(run.code, run.stdout).toBe(1);
    expect(run.result, JSON.stringify(run.result)).toMatchObject({ ok: false, action: 'install', code });
    expect(run.result['error']).toMatch(message);
    expect(run.stderr).toMatch(message);
    expect(readFileSync(containerd.configPath, 'utf8')).toBe(configBefore);
    expect(await containerd.pid()).toBe(pidBefore);
    expect(existsSync(path.join(installDir, 'shims', 'probe'))).toBe(false);
    expect(readIfPresent(path.join(installDir, 'state.json'))).toBe(stateBefore);
    return run.result['error'] as string;
  }

  function serve(name: string, data: Buffer, fault?: Parameters<ArtifactServer['put']>[2]): { url: string; digest: string } {
    server.put(name, data, fault);
    return { url: server.url(name), digest: sha256(data) };
  }

  describe('refused before anything on the node changes', () => {
    it('wrong sha256: names the expected and the actual digest', async () => {
      const error = await expectRefused(args({ sha256: 'a'.repeat(64) }), 'ChecksumMismatch', /sha256 mismatch/);
      expect(error).toContain('a'.repeat(64));
      expect(error).toContain(sha256(good));
    });

    it('truncated download: retried, then reported as truncated', async () => {
      const { url, digest } = serve('truncated.tar.gz', good, 'truncate');
      await expectRefused(args({ url, sha256: digest }), 'DownloadFailed', /failed after 2 attempts.*(truncated|broke off)/);
      expect(server.requests('truncated.tar.gz')).toBe(2);
    });

    it('server down: says it cannot reach the URL', async () => {
      const down = await startArtifactServer();
      const url = down.url('gone.tar.gz');
      await down.close();
      await expectRefused(args({ url }), 'DownloadFailed', /cannot reach http:\/\/127\.0\.0\.1:\d+\/gone\.tar\.gz/);
    });

    it('HTTP 404: not retried, status in the message', async () => {
      await expectRefused(args({ url: server.url('missing.tar.gz') }), 'HttpClientError', /answered 404/);
      expect(server.requests('missing.tar.gz')).toBe(1);
    });

    it('download larger than the cap', async () => {
      await expectRefused(args({ extra: ['--max-artifact-bytes', '1000'] }), 'ArtifactTooLarge', /1000-byte limit/);
    });

    const hostile: Array<[string, Parameters<typeof tarGz>[0], RegExp]> = [
      ['path traversal', [{ path: '../../escaped', data: Buffer.from('x') }, { path: 'containerd-shim-probe-v2', data: shimBinary() }], /points outside the archive/],
      ['absolute path', [{ path: '/etc/shimkeeper-escaped', data: Buffer.from('x') }], /absolute path/],
      ['symlink out', [{ path: 'containerd-shim-probe-v2', type: 'SymbolicLink', linkpath: '../../../usr/bin/containerd-shim-runc-v2' }], /leaves the archive/],
      ['absolute symlink', [{ path: 'containerd-shim-probe-v2', type: 'SymbolicLink', linkpath: '/usr/bin/containerd-shim-runc-v2' }], /absolute path/],
      ['hard link out', [{ path: 'containerd-shim-probe-v2', type: 'Link', linkpath: '../outside' }], /leaves the archive/],
      ['device file', [{ path: 'containerd-shim-probe-v2', type: 'CharacterDevice' }], /is a CharacterDevice/],
    ];
    it.each(hostile)('malicious archive (%s) is refused whole', async (name, entries, message) => {
      const { url, digest } = serve(`${name}.tar.gz`, tarGz(entries));
      await expectRefused(args({ url, sha256: digest }), 'ArtifactUnsafe', message);
    });

    it('archive that unpacks past the cap', async () => {
      // Repeated random blocks compress about 80:1: small to download, too large to unpack.
      const block = randomBytes(4096);
      const large = tarGz([{ path: 'containerd-shim-probe-v2', data: Buffer.concat(Array.from({ length: 2304 }, () => block)) }]);
      expect(large.length).toBeLessThan(2_000_000);
      const { url, digest } = serve('large.tar.gz', large);
      await expectRefused(args({ url, sha256: digest, extra: ['--max-artifact-bytes', '2000000'] }), 'ArtifactUnsafe', /unpacks to more than 8000000 bytes/);
    });

    it('zip bomb (extreme compression ratio)', async () => {
      const { url, digest } = serve('bomb.tar.gz', tarGz([{ path: 'containerd-shim-probe-v2', data: Buffer.alloc(64 * 1024 * 1024) }]));
      await expectRefused(args({ url, sha256: digest }), 'ArtifactUnsafe', /zip bomb/);
    });

    it('archive without a shim binary', async () => {
      const { url, digest } = serve('noshim.tar.gz', tarGz([{ path: 'README.md', data: Buffer.from('hi') }]));
      await expectRefused(args({ url, sha256: digest }), 'ShimNotFound', /no containerd-shim-\*-v1\|v2 binary \(it holds: README\.md\)/);
    });

    it('unparsable containerd config is refused and left untouched', async () => {
      writeFileSync(containerd.configPath, `${originalConfig}\n[plugins."broken"\n`);
      await expectRefused(args(), 'ConfigInvalid', new RegExp(`${containerd.configPath} is not valid TOML, refusing to edit it`));
    });

    it('a config shimkeeper cannot edit safely is refused before the download, and nothing is left', async () => {
      // The handler's tables are split by another table: no single splice could replace them.
      writeFileSync(containerd.configPath, `${originalConfig}\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.probe]\n  runtime_type = "io.containerd.runc.v2"\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.other]\n  runtime_type = "x"\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.probe.options]\n  Extra = 1\n`);
      await expectRefused(args(), 'ConfigUnsupported', /defines runtime 'probe' in tables that are not next to each other/);
    });

    it('read-only (immutable) config: the write fails and the binary is removed again', async () => {
      expect(spawnSync('chattr', ['+i', containerd.configPath]).status).toBe(0);
      await expectRefused(args(), 'WriteFailed', new RegExp(`cannot write ${containerd.configPath}`));
    });

    it('another installer holds the node lock past --lock-wait', async () => {
      await withHostLock(new Host('/'), installDir, { waitMs: 1000 }, async () => {
        await expectRefused(args({ extra: ['--lock-wait', '1'] }), 'LockBusy', /another shimkeeper installer holds/);
      });
    });

    it('asked to stop (SIGTERM) while another installer holds the node lock: stops waiting at once, nothing changed', async () => {
      const pidBefore = await containerd.pid();
      await withHostLock(new Host('/'), installDir, { waitMs: 1000 }, async () => {
        // Waiting its full --lock-wait would end in LockBusy, a minute later, and past a kubelet's grace period.
        const stopped = await runInstallerKilledAt(args({ extra: ['--lock-wait', '60'] }), 'step: detect done', {}, 'SIGTERM');
        expect(stopped.result, stopped.stderr).toMatchObject({ ok: false, code: 'Terminated', error: expect.stringMatching(/stopped by SIGTERM .* while waiting for another shimkeeper installer to release .*\.lock; nothing was changed/) });
        expect(stopped.code).toBe(143);
      });
      expect(readFileSync(containerd.configPath, 'utf8')).toBe(originalConfig);
      expect(await containerd.pid()).toBe(pidBefore);
      expect(existsSync(path.join(installDir, 'state.json'))).toBe(false);
    });
  });

  describe('containerd does not come back', () => {
    it('refuses the new config: rolled back, containerd healthy again on the old config', async () => {
      const pidBefore = await containerd.pid();
      const run = await runInstaller(args({ extra: ['--runtime-option', `ConfigPath=/etc/${REFUSE_MARKER}.toml`] }));
      expect(run.code).toBe(1);
      expect(run.result, JSON.stringify(run.result)).toMatchObject({ ok: false, code: 'ContainerdUnhealthy' });
      expect(run.result['error']).toMatch(/not healthy after 8000 ms.*Rolled back: .* is as it was, containerd was restarted on it and is healthy/);
      expect(readFileSync(containerd.configPath, 'utf8')).toBe(originalConfig);
      await containerd.ready();
      expect(await containerd.pid()).not.toBe(pidBefore);
      expect(existsSync(path.join(installDir, 'shims', 'probe'))).toBe(false);
      expect(existsSync(path.join(installDir, 'state.json'))).toBe(false);
    });

    it('asked to stop (SIGTERM) while waiting for it: stops waiting, rolls back, containerd healthy on the old config, Terminated', async () => {
      // Waiting the full --health-timeout would end in ContainerdUnhealthy a minute later, after a
      // kubelet's grace period (30 s) had killed the run before its rollback.
      const stopped = await runInstallerKilledAt(args({ extra: ['--runtime-option', `ConfigPath=/etc/${REFUSE_MARKER}.toml`, '--health-timeout', '60'] }), 'step: health start', {}, 'SIGTERM');
      expect(stopped.result, stopped.stderr).toMatchObject({ ok: false, code: 'Terminated' });
      expect(stopped.result?.['error']).toMatch(/stopped by SIGTERM .* while waiting for containerd at .* to come back .*Rolled back: .* is as it was, containerd was restarted on it and is healthy/);
      expect(stopped.code).toBe(143);
      expect(readFileSync(containerd.configPath, 'utf8')).toBe(originalConfig);
      await containerd.ready();
      expect(existsSync(path.join(installDir, 'shims', 'probe'))).toBe(false);
      expect(existsSync(path.join(installDir, 'state.json'))).toBe(false);
    });

    it('cannot start even on the previous config (a broken edit nobody had loaded yet): says the node needs attention', async () => {
      const latent = `${originalConfig}\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.other]\n  runtime_type = "io.containerd.runc.v2"\n  runtime_path = 42\n`;
      writeFileSync(containerd.configPath, latent);
      const run = await runInstaller(args());
      expect(run.code).toBe(1);
      expect(run.result, JSON.stringify(run.result)).toMatchObject({ ok: false, code: 'RollbackFailed' });
      expect(run.result['error']).toMatch(/failed and so did the rollback.*needs attention/);
      expect(readFileSync(containerd.configPath, 'utf8')).toBe(latent);
      writeFileSync(containerd.configPath, originalConfig);
      await containerd.ready();
    });
  });

  describe('concurrent installers', () => {
    it('two Shims installed at once take turns on the node lock and both end up configured', async () => {
      const [a, b] = await Promise.all([runInstaller(args({ shim: 'probe-a' })), runInstaller(args({ shim: 'probe-b' }))]);
      expect(a.code, a.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      const status = await containerd.cri.status();
      const runtimes = (JSON.parse(status.info['config']!) as { containerd: { runtimes: Record<string, unknown> } }).containerd.runtimes;
      expect(Object.keys(runtimes)).toEqual(expect.arrayContaining(['probe-a', 'probe-b']));
      for (const shim of ['probe-a', 'probe-b']) {
        const run = await runInstaller(['uninstall', '--host-root', '/', '--shim', shim, '--install-dir', installDir, '--containerd-socket', containerd.socketPath, '--restart', 'signal']);
        expect(run.code, run.stderr).toBe(0);
      }
      expect(readFileSync(containerd.configPath, 'utf8')).toBe(originalConfig);
    });
  });

  describe('the handler is proven, not assumed', () => {
    /** A drop-in directory the main config imports, holding one file. */
    function importDropIn(name: string, content: string): void {
      const dir = path.join(containerd.dir, 'conf.d');
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, name), content);
      writeFileSync(containerd.configPath, `imports = ["${dir}/*.toml"]\n${originalConfig}`);
    }

    it('an imported file that also defines the handler is refused before anything changes', async () => {
      const other = path.join(containerd.dir, 'containerd-shim-other-v2');
      copyFileSync(release.runcShim, other);
      importDropIn('other.toml', `version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.probe]\n  runtime_type = "${other}"\n`);
      await expectRefused(args(), 'HandlerOverridden', /conf\.d\/other\.toml, imported by .* already defines runtime 'probe'/);
    });

    it('an import that sets CRI settings: refused on containerd 1.x, which would drop the stanza; merged on 2.x', async () => {
      importDropIn('registry.toml', `version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${containerd.dir}/certs.d"\n`);
      if (!release.name.startsWith('2.')) {
        await expectRefused(args(), 'ConfigOverriddenByImport', /replaces the whole \[plugins\.io\.containerd\.grpc\.v1\.cri\] table/);
        return;
      }
      const run = await runInstaller(args());
      expect(run.code, run.stderr).toBe(0);
      expect(run.result).toMatchObject({ ok: true, verification: { sandbox: 'started' } });
      const removed = await runInstaller(['uninstall', '--host-root', '/', '--shim', 'probe', '--install-dir', installDir, '--containerd-socket', containerd.socketPath, '--restart', 'signal']);
      expect(removed.code, removed.stderr).toBe(0);
    });

    it.runIf(release.name.startsWith('2.4'))('a shim containerd 2.4 cannot start (the 1.6 runc shim) is refused with containerd\'s own words and rolled back', async () => {
      const old = shimArchive('containerd-shim-probe-v2', 'old', DEBIAN_CONTAINERD.runcShim);
      const { url, digest } = serve('old.tar.gz', old);
      const pidBefore = await containerd.pid();
      const run = await runInstaller(args({ url, sha256: digest }));
      expect(run.code).toBe(1);
      expect(run.result).toMatchObject({ ok: false, code: 'ShimDoesNotStart' });
      expect(run.result['error']).toMatch(/could not start a pod sandbox through handler 'probe'.*start failed.*Rolled back/s);
      expect(readFileSync(containerd.configPath, 'utf8')).toBe(originalConfig);
      expect(existsSync(path.join(installDir, 'shims', 'probe'))).toBe(false);
      expect(await containerd.pid()).not.toBe(pidBefore);
      await containerd.ready();
    });
  });
});
