import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startArtifactServer, type ArtifactServer } from '../../local-cluster/artifact-server.ts';
import { sha256, shimArchive } from '../../local-cluster/artifacts.ts';
import { startContainerd, type TestContainerd } from '../harness/containerd.ts';
import { containerdMatrix, type ContainerdRelease } from '../harness/containerd-releases.ts';
import { runInstaller } from '../harness/run-installer.ts';

// A containerd config that is a symlink with an absolute target (config management, NixOS,
// alternatives) on a real containerd: install edits the link's target, the link stays a link, and
// uninstall restores the target byte for byte. Also: a successful install's output carries no
// credentials of its artifact URL.

const SIGNATURE = 'X-Amz-Signature=5ec7e75164a7u7e';

describe.each(containerdMatrix())('containerd $name', (release: ContainerdRelease) => {
  let containerd: TestContainerd;
  let server: ArtifactServer;
  let archive: Buffer;
  let installDir: string;
  let target: string;
  let original: string;

  beforeAll(async () => {
    archive = shimArchive('containerd-shim-probe-v2', '', release.runcShim);
    containerd = await startContainerd({ release });
    server = await startArtifactServer();
    server.put(`probe.tar.gz?${SIGNATURE}`, archive);
    installDir = path.join(containerd.dir, 'opt-shimkeeper');
    // The config moves to a "managed" location; config.toml becomes an absolute link to it.
    target = path.join(containerd.dir, 'managed', 'containerd.toml');
    mkdirSync(path.dirname(target), { recursive: true });
    renameSync(containerd.configPath, target);
    symlinkSync(target, containerd.configPath);
    original = readFileSync(target, 'utf8');
  });

  afterAll(async () => {
    await server?.close();
    await containerd?.stop();
  });

  const common = () => ['--host-root', '/', '--shim', 'probe', '--install-dir', installDir, '--containerd-config', containerd.configPath, '--containerd-socket', containerd.socketPath, '--restart', 'signal'];

  it('install edits the target through the link, the link stays, and nothing reported carries the URL\'s signature', async () => {
    const terminationLog = path.join(containerd.dir, 'termination-log');
    const run = await runInstaller(['install', ...common(), '--url', `${server.url('probe.tar.gz')}?${SIGNATURE}`, '--sha256', sha256(archive), '--termination-log', terminationLog]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.result).toMatchObject({ ok: true, verification: { sandbox: 'started' } });
    expect(lstatSync(containerd.configPath).isSymbolicLink()).toBe(true);
    expect(readlinkSync(containerd.configPath)).toBe(target);
    expect(readFileSync(target, 'utf8')).toContain('# shimkeeper:begin probe ');
    expect([run.stdout, run.stderr, readFileSync(terminationLog, 'utf8')].join('\n')).not.toContain('5ec7e75164a7u7e');
  });

  it('uninstall restores the target byte for byte and leaves the link in place', async () => {
    const run = await runInstaller(['uninstall', ...common()]);
    expect(run.code, run.stderr).toBe(0);
    expect(lstatSync(containerd.configPath).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe(original);
    expect(existsSync(path.join(installDir, 'shims', 'probe'))).toBe(false);
  });

  it('a dangling config link is refused, and the link is not replaced by a file', async () => {
    const dangling = path.join(containerd.dir, 'dangling.toml');
    symlinkSync(path.join(containerd.dir, 'nowhere', 'containerd.toml'), dangling);
    const run = await runInstaller(['install', ...common().map((arg) => (arg === containerd.configPath ? dangling : arg)), '--url', `${server.url('probe.tar.gz')}?${SIGNATURE}`, '--sha256', sha256(archive)]);
    expect(run.result).toMatchObject({ ok: false, code: 'HostPathUnresolvable' });
    expect(run.result['error']).toContain(`symlink ${dangling}`);
    expect(lstatSync(dangling).isSymbolicLink()).toBe(true);
    rmSync(dangling);
  });
});
