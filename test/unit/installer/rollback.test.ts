import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ContainerdControl } from '../../../src/installer/containerd/control.ts';
import { ScriptedContainerd } from './scripted-containerd.ts';
import { InstallerError } from '../../../src/installer/errors.ts';
import { install } from '../../../src/installer/install.ts';
import { parseInstallerArgs, type InstallerOptions } from '../../../src/installer/options.ts';
import { uninstall } from '../../../src/installer/uninstall.ts';

// install and uninstall on a host directory with a scripted containerd: every rollback path,
// without a real containerd. The fake records the config it was restarted on each time.

const CONFIG = '/etc/containerd/config.toml';
const INSTALL_DIR = '/opt/shimkeeper';
// Comments, CRLF and no final newline: a byte-for-byte restore keeps them all.
const ORIGINAL = '# the node\'s own config\r\nversion = 2\r\n\r\n[plugins."io.containerd.grpc.v1.cri".containerd]\r\n  default_runtime_name = "runc"';

let hostRoot: string;
let artifacts: string;

beforeEach(async () => {
  hostRoot = await mkdtemp(path.join(os.tmpdir(), 'shimkeeper-rollback-host-'));
  artifacts = await mkdtemp(path.join(os.tmpdir(), 'shimkeeper-rollback-artifacts-'));
});

afterEach(() => {
  rmSync(hostRoot, { recursive: true, force: true });
  rmSync(artifacts, { recursive: true, force: true });
});

const here = (hostPath: string) => path.join(hostRoot, hostPath);
const configText = () => (existsSync(here(CONFIG)) ? readFileSync(here(CONFIG), 'utf8') : null);

function writeHostConfig(text: string): void {
  mkdirSync(path.dirname(here(CONFIG)), { recursive: true });
  writeFileSync(here(CONFIG), text);
}

/** A bare shim binary served from file:// (a host path: the node's /srv/artifacts); `content` tells revisions apart. */
function artifact(content: string): { url: string; sha256: string } {
  const hostDir = `/srv/artifacts/${content}`;
  mkdirSync(here(hostDir), { recursive: true });
  const file = path.join(here(hostDir), 'containerd-shim-probe-v2');
  writeFileSync(file, `#!/bin/sh\necho ${content}\n`, { mode: 0o755 });
  return { url: pathToFileURL(`${hostDir}/containerd-shim-probe-v2`).href, sha256: createHash('sha256').update(readFileSync(file)).digest('hex') };
}

function options(command: 'install' | 'uninstall', shim = artifact('one')): InstallerOptions {
  const args = [command, '--host-root', hostRoot, '--shim', 'probe', '--install-dir', INSTALL_DIR, '--containerd-config', CONFIG, '--restart', 'signal', '--termination-log', '/dev/null'];
  if (command === 'install') args.push('--url', shim.url, '--sha256', shim.sha256);
  return parseInstallerArgs(args, {}) as InstallerOptions;
}

/** Something puts a directory where the config was: writing the config back onto it fails. */
function replaceConfigWithDirectory(): void {
  rmSync(here(CONFIG));
  mkdirSync(here(`${CONFIG}/blocked`), { recursive: true });
}

const seamsFor = (containerd: ContainerdControl) => ({ containerd: () => containerd });
const revisionDirs = () => (existsSync(here(`${INSTALL_DIR}/shims/probe`)) ? readdirSync(here(`${INSTALL_DIR}/shims/probe`)) : []);

async function failure(promise: Promise<unknown>): Promise<InstallerError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InstallerError);
  return error as InstallerError;
}

describe('install rolls back', () => {
  it('after a failed health check: the config is restored byte for byte, containerd restarted on it, the new binary removed', async () => {
    writeHostConfig(ORIGINAL);
    const containerd = new ScriptedContainerd(configText, { unhealthy: (check) => check === 1 });
    const error = await failure(install(options('install'), seamsFor(containerd)));
    expect(error.code).toBe('ContainerdUnhealthy');
    expect(error.message).toBe(`containerd is not healthy (check 1). Rolled back: ${CONFIG} is as it was, containerd was restarted on it and is healthy.`);
    expect(configText()).toBe(ORIGINAL);
    expect(containerd.restartedOn).toHaveLength(2);
    expect(containerd.restartedOn[0]).toContain('# shimkeeper:begin probe');
    expect(containerd.restartedOn[1]).toBe(ORIGINAL);
    expect(existsSync(here(`${INSTALL_DIR}/shims/probe`))).toBe(false);
    expect(existsSync(here(`${INSTALL_DIR}/state.json`))).toBe(false);
  });

  it('a config file the install created is deleted again', async () => {
    const containerd = new ScriptedContainerd(configText, { unhealthy: (check) => check === 1 });
    const error = await failure(install(options('install'), seamsFor(containerd)));
    expect(error.code).toBe('ContainerdUnhealthy');
    expect(containerd.restartedOn[0]).toContain('# shimkeeper:begin probe');
    expect(configText()).toBeNull();
    expect(containerd.restartedOn[1]).toBeNull();
  });

  it('an upgrade removes the new revision and keeps the previous one, which the restored config names', async () => {
    writeHostConfig(ORIGINAL);
    const first = await install(options('install'), seamsFor(new ScriptedContainerd(configText)));
    const [firstRevision] = revisionDirs();
    const configWithFirst = configText();
    expect(configWithFirst).toContain(first.binaryPath);

    const containerd = new ScriptedContainerd(configText, { unhealthy: (check) => check === 1 });
    const error = await failure(install(options('install', artifact('two')), seamsFor(containerd)));
    expect(error.code).toBe('ContainerdUnhealthy');
    expect(revisionDirs()).toEqual([firstRevision]);
    expect(existsSync(here(first.binaryPath))).toBe(true);
    expect(configText()).toBe(configWithFirst);
    expect(containerd.restartedOn[1]).toBe(configWithFirst);
    expect(containerd.healthChecks).toEqual(['probe', 'probe']);
    expect(JSON.parse(readFileSync(here(`${INSTALL_DIR}/state.json`), 'utf8')).shims.probe.revision).toBe(first.revision);
  });

  it('a drift repair (the stanza removed by hand, containerd running without it) rolls back to that node, not to a handler it did not have', async () => {
    writeHostConfig(ORIGINAL);
    await install(options('install'), seamsFor(new ScriptedContainerd(configText)));
    writeHostConfig(ORIGINAL); // the managed block removed by hand, and containerd restarted on that
    const containerd = new ScriptedContainerd(configText, { unhealthy: (check) => check === 1 });
    const error = await failure(install(options('install'), seamsFor(containerd)));
    expect(error.code).toBe('ContainerdUnhealthy');
    expect(error.message).toMatch(/Rolled back: .* is as it was, containerd was restarted on it and is healthy/);
    expect(configText()).toBe(ORIGINAL);
    expect(containerd.healthChecks).toEqual(['probe', null]);
  });

  it('containerd unhealthy even on the restored config: RollbackFailed, config restored, the node needs attention', async () => {
    writeHostConfig(ORIGINAL);
    const containerd = new ScriptedContainerd(configText, { unhealthy: () => true });
    const error = await failure(install(options('install'), seamsFor(containerd)));
    expect(error.code).toBe('RollbackFailed');
    expect(error.message).toMatch(/^installing probe failed and so did the rollback: could not undo the restart of containerd on the changed \/etc\/containerd\/config\.toml \(containerd is not healthy \(check 2\)\); undone: the edit of \/etc\/containerd\/config\.toml/);
    expect(error.message).toContain(`undone: the edit of ${CONFIG}, the new binary in ${INSTALL_DIR}/shims/probe/`);
    expect(error.message).toMatch(/The install failed because: containerd is not healthy \(check 1\)\. containerd on this node needs attention; its config is \/etc\/containerd\/config\.toml$/);
    expect(configText()).toBe(ORIGINAL);
  });

  it('the config cannot be put back: RollbackFailed naming the config, and containerd is not restarted on a config that was not restored', async () => {
    writeHostConfig(ORIGINAL);
    const containerd = new ScriptedContainerd(configText, { unhealthy: () => true, onRestart: replaceConfigWithDirectory });
    const error = await failure(install(options('install'), seamsFor(containerd)));
    expect(error.code).toBe('RollbackFailed');
    expect(error.message).toMatch(/could not undo the edit of \/etc\/containerd\/config\.toml \(cannot write \/etc\/containerd\/config\.toml: /);
    expect(error.message).toContain('not undone either: the new binary in /opt/shimkeeper/shims/probe/');
    expect(containerd.restartedOn).toHaveLength(1);
  });

  it('a re-run of the same revision changes nothing and restarts nothing', async () => {
    writeHostConfig(ORIGINAL);
    const containerd = new ScriptedContainerd(configText);
    await install(options('install'), seamsFor(containerd));
    const stateBefore = readFileSync(here(`${INSTALL_DIR}/state.json`), 'utf8');
    const again = await install(options('install'), seamsFor(containerd));
    expect(again).toMatchObject({ restarted: false, changed: false });
    expect(containerd.restartedOn).toHaveLength(1);
    expect(readFileSync(here(`${INSTALL_DIR}/state.json`), 'utf8')).toBe(stateBefore);
  });
});

describe('uninstall rolls back the same way', () => {
  async function installed(): Promise<string> {
    writeHostConfig(ORIGINAL);
    await install(options('install'), seamsFor(new ScriptedContainerd(configText)));
    return configText()!;
  }

  it('after a failed health check: the stanza is put back and containerd restarted on it, with the handler loaded', async () => {
    const withShim = await installed();
    const containerd = new ScriptedContainerd(configText, { unhealthy: (check) => check === 1 });
    const error = await failure(uninstall(options('uninstall'), seamsFor(containerd)));
    expect(error.code).toBe('UninstallFailed');
    expect(error.message).toBe(`containerd is not healthy (check 1). Rolled back: ${CONFIG} is as it was, containerd was restarted on it and is healthy.`);
    expect(containerd.restartedOn).toEqual([ORIGINAL, withShim]);
    expect(containerd.healthChecks).toEqual([null, 'probe']);
    expect(configText()).toBe(withShim);
    expect(revisionDirs()).toHaveLength(1);
    expect(JSON.parse(readFileSync(here(`${INSTALL_DIR}/state.json`), 'utf8')).shims).toHaveProperty('probe');
  });

  it('a failed restart during the rollback is not ignored: RollbackFailed, as for install', async () => {
    const withShim = await installed();
    const containerd = new ScriptedContainerd(configText, { unhealthy: () => true });
    const error = await failure(uninstall(options('uninstall'), seamsFor(containerd)));
    expect(error.code).toBe('RollbackFailed');
    expect(error.message).toMatch(/^uninstalling probe failed and so did the rollback: could not undo the restart of containerd on the changed \/etc\/containerd\/config\.toml \(containerd is not healthy \(check 2\)\); undone: the edit of \/etc\/containerd\/config\.toml/);
    expect(error.message).toMatch(/needs attention; its config is \/etc\/containerd\/config\.toml$/);
    expect(configText()).toBe(withShim);
  });

  it('the config cannot be put back: RollbackFailed, never "put back as it was"', async () => {
    await installed();
    const containerd = new ScriptedContainerd(configText, { unhealthy: () => true, onRestart: replaceConfigWithDirectory });
    const error = await failure(uninstall(options('uninstall'), seamsFor(containerd)));
    expect(error.code).toBe('RollbackFailed');
    expect(error.message).toMatch(/could not undo the edit of \/etc\/containerd\/config\.toml/);
    expect(error.message).not.toMatch(/as it was/);
    expect(containerd.restartedOn).toHaveLength(1);
  });
});
