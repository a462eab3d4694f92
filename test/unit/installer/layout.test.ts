import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InstallerError } from '../../../src/installer/errors.ts';
import { install } from '../../../src/installer/install.ts';
import { parseInstallerArgs, type InstallerOptions } from '../../../src/installer/options.ts';
import { uninstall } from '../../../src/installer/uninstall.ts';
import { ScriptedContainerd } from './scripted-containerd.ts';

// Shims' files live apart from the installer's own, and clean-up deletes only what state.json
// records the installer creating: no Shim name can wedge the node or delete someone else's files.

const CONFIG = '/etc/containerd/config.toml';
const ORIGINAL = 'version = 2\n\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  default_runtime_name = "runc"\n';
let hostRoot: string;
const here = (hostPath: string) => path.join(hostRoot, hostPath);
const configText = () => (existsSync(here(CONFIG)) ? readFileSync(here(CONFIG), 'utf8') : null);
const seams = () => ({ containerd: () => new ScriptedContainerd(configText) });

beforeEach(async () => {
  hostRoot = await mkdtemp(path.join(os.tmpdir(), 'shimkeeper-layout-'));
  mkdirSync(here('/etc/containerd'), { recursive: true });
  writeFileSync(here(CONFIG), ORIGINAL);
});
afterEach(() => rmSync(hostRoot, { recursive: true, force: true }));

function artifact(content: string, mode = 0o755): { url: string; sha256: string } {
  const hostPath = `/srv/artifacts/${content}/containerd-shim-probe-v2`;
  mkdirSync(path.dirname(here(hostPath)), { recursive: true });
  writeFileSync(here(hostPath), `#!/bin/sh\necho ${content}\n`, { mode });
  return { url: `file://${hostPath}`, sha256: createHash('sha256').update(readFileSync(here(hostPath))).digest('hex') };
}

function options(command: 'install' | 'uninstall', shim: string, installDir: string, source = artifact('one'), extra: string[] = []): InstallerOptions {
  const args = [command, '--host-root', hostRoot, '--shim', shim, '--handler', 'probe', '--install-dir', installDir, '--containerd-config', CONFIG, '--restart', 'signal', ...extra];
  if (command === 'install') args.push('--url', source.url, '--sha256', source.sha256);
  return parseInstallerArgs(args, {}) as InstallerOptions;
}

describe('install layout', () => {
  it("a shim named like another tool's directory (cni, with --install-dir /opt) deletes nothing of it", async () => {
    mkdirSync(here('/opt/cni/bin'), { recursive: true });
    writeFileSync(here('/opt/cni/bin/bridge'), 'cni plugin');
    const first = await install(options('install', 'cni', '/opt', artifact('one')), seams());
    expect(first.binaryPath).toMatch(/^\/opt\/shims\/cni\/[0-9a-f]+\/containerd-shim-probe-v2$/);
    const second = await install(options('install', 'cni', '/opt', artifact('two')), seams());
    expect(readdirSync(here('/opt/shims/cni'))).toEqual([path.posix.basename(path.posix.dirname(second.binaryPath))]);
    await uninstall(options('uninstall', 'cni', '/opt'), seams());
    expect(readFileSync(here('/opt/cni/bin/bridge'), 'utf8')).toBe('cni plugin');
    expect(existsSync(here('/opt/shims/cni'))).toBe(false);
    expect(configText()).toBe(ORIGINAL);
  });

  it('shims named backups or lock cannot touch the backups or the lock', async () => {
    for (const shim of ['backups', 'shims', 'lock']) {
      const installed = await install(options('install', shim, '/opt/shimkeeper', artifact(shim)), seams());
      await uninstall(options('uninstall', shim, '/opt/shimkeeper'), seams());
      expect(installed.binaryPath.startsWith(`/opt/shimkeeper/shims/${shim}/`)).toBe(true);
    }
    expect(readdirSync(here('/opt/shimkeeper/backups')).length).toBeGreaterThan(0);
    expect(() => parseInstallerArgs(['install', '--shim', 'state.json'], {})).toThrow(/DNS label/);
    expect(() => parseInstallerArgs(['install', '--shim', 'a'.repeat(64)], {})).toThrow(/DNS label/);
  });

  it('an install recorded under the old layout (<install-dir>/<shim>/<revision>) is upgraded and collected correctly', async () => {
    const oldDir = '/opt/shimkeeper/probe/0ldrev';
    mkdirSync(here(oldDir), { recursive: true });
    writeFileSync(here(`${oldDir}/containerd-shim-probe-v2`), 'old', { mode: 0o755 });
    writeFileSync(here('/opt/shimkeeper/probe/unrelated.txt'), 'not ours');
    const block = `\n# shimkeeper:begin probe (managed by shimkeeper; edits inside are replaced)\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.probe]\n  runtime_type = "${oldDir}/containerd-shim-probe-v2"\n  runtime_path = "${oldDir}/containerd-shim-probe-v2"\n# shimkeeper:end probe\n`;
    writeFileSync(here(CONFIG), ORIGINAL + block);
    const record = { shim: 'probe', handler: 'probe', version: '', revision: '0ldrev', sha256: '', binaryName: 'containerd-shim-probe-v2', binaryPath: `${oldDir}/containerd-shim-probe-v2`, configPath: CONFIG, configFormat: 'toml', configVersion: 2, createdConfig: false, splice: { separator: '\n', displaced: '' }, runtimeOptions: {}, installedAt: '2025-01-01T00:00:00.000Z' };
    writeFileSync(here('/opt/shimkeeper/state.json'), JSON.stringify({ schema: 1, shims: { probe: record } }));
    const upgraded = await install(options('install', 'probe', '/opt/shimkeeper'), seams());
    expect(upgraded.binaryPath.startsWith('/opt/shimkeeper/shims/probe/')).toBe(true);
    expect(existsSync(here(oldDir))).toBe(false);
    expect(readFileSync(here('/opt/shimkeeper/probe/unrelated.txt'), 'utf8')).toBe('not ours');
    await uninstall(options('uninstall', 'probe', '/opt/shimkeeper'), seams());
    expect(configText()).toBe(ORIGINAL);
  });

  it('the installed binary is owner rwx plus the group/other read and execute bits of its source', async () => {
    const private600 = await install(options('install', 'probe', '/opt/shimkeeper', artifact('private', 0o600)), seams());
    expect(statSync(here(private600.binaryPath)).mode & 0o7777).toBe(0o700);
    const open777 = await install(options('install', 'probe', '/opt/shimkeeper', artifact('open', 0o777)), seams());
    expect(statSync(here(open777.binaryPath)).mode & 0o7777).toBe(0o755);
  });

  it('a file:// location is a host path under the host root, and must be a regular file', async () => {
    mkdirSync(here('/srv/artifacts/a-directory'), { recursive: true });
    const error = await install(options('install', 'probe', '/opt/shimkeeper', { url: 'file:///srv/artifacts/a-directory', sha256: 'a'.repeat(64) }), seams()).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ArtifactInvalid', message: expect.stringContaining('artifact /srv/artifacts/a-directory on the node is a directory') });
    expect(configText()).toBe(ORIGINAL);
  });
});

describe('a config that is not UTF-8', () => {
  it('is refused by install and uninstall with ConfigInvalid naming the byte offset, and its bytes stay as they were', async () => {
    const bytes = Buffer.concat([Buffer.from(ORIGINAL), Buffer.from('# latin-1 caf'), Buffer.from([0xe9, 0x0a])]);
    writeFileSync(here(CONFIG), bytes);
    for (const command of ['install', 'uninstall'] as const) {
      const error = (await (command === 'install' ? install : uninstall)(options(command, 'probe', '/opt/shimkeeper'), seams()).catch((e: unknown) => e)) as InstallerError;
      expect(error).toMatchObject({ code: 'ConfigInvalid', message: expect.stringContaining(`${CONFIG} is not valid UTF-8 (first invalid byte at offset ${bytes.length - 2})`) });
      expect(readFileSync(here(CONFIG)).equals(bytes)).toBe(true);
    }
  });
});

describe('state.json is validated whole', () => {
  it.each([
    ['{"shims":null}', /schema: expected 1/],
    ['{"schema":1,"shims":null}', /shims: expected an object, got null/],
    ['{"schema":1,"shims":{"probe":{"shim":"probe"}}}', /shims\.probe\.handler: expected a string, got nothing/],
    ['{"schema":1,"shims":{"probe":7}}', /shims\.probe: expected an object, got 7/],
    ['{"schema":1,"shims":{},"revisionDirs":{"probe":["relative"]}}', /revisionDirs\.probe: expected a list of absolute host paths/],
    ['[]', /not a JSON object/],
    ['{', /not valid JSON/],
  ])('%s is StateCorrupt naming the file and the field, and nothing changes', async (text, field) => {
    mkdirSync(here('/opt/shimkeeper'), { recursive: true });
    writeFileSync(here('/opt/shimkeeper/state.json'), text);
    for (const command of ['install', 'uninstall'] as const) {
      const error = (await (command === 'install' ? install : uninstall)(options(command, 'probe', '/opt/shimkeeper'), seams()).catch((e: unknown) => e)) as InstallerError;
      expect(error.code).toBe('StateCorrupt');
      expect(error.message).toMatch(field);
      expect(error.message).toContain('/opt/shimkeeper/state.json');
      expect(error.message).not.toMatch(/move it aside/);
    }
    expect(configText()).toBe(ORIGINAL);
    expect(readFileSync(here('/opt/shimkeeper/state.json'), 'utf8')).toBe(text);
  });
});
