import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  failureLeavesNodeIntact,
  INSTALLER_ERROR_CODES,
  INSTALLER_FLAGS,
  JOB_OWNED_FLAGS,
  parseInstallerResult,
  TERMINATION_MESSAGE_LIMIT,
  type InstallerErrorCode,
  type InstallerResult,
} from '../../src/api/installer-contract.ts';
import { installerEnv } from '../../src/controller/installer-job/spec.ts';
import { report } from '../../src/installer/report.ts';
import { parseInstallerArgs } from '../../src/installer/options.ts';

// Both sides of the only process boundary: what the installer writes, the controller reads.

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'contract-'));
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
});
afterAll(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

async function roundTrip(result: InstallerResult): Promise<unknown> {
  const file = path.join(dir, `termination-${Math.random()}`);
  await report(result, file);
  const written = await readFile(file);
  expect(written.byteLength).toBeLessThanOrEqual(TERMINATION_MESSAGE_LIMIT);
  return parseInstallerResult(written.toString('utf8'));
}

describe('installer result contract', () => {
  it.each(Object.keys(INSTALLER_ERROR_CODES) as InstallerErrorCode[])('a failure with code %s reaches the controller as written', async (code) => {
    const failure = { ok: false as const, action: 'install', shim: 'spin', code, error: `it failed: ${code}` };
    expect(await roundTrip(failure)).toEqual(failure);
  });

  it('a success reaches the controller as written', async () => {
    const success = {
      ok: true as const,
      action: 'install' as const,
      shim: 'spin',
      handler: 'spin',
      version: '0.19.0',
      revision: '0123456789',
      sha256: 'f'.repeat(64),
      binaryPath: '/opt/shimkeeper/spin/0123456789/containerd-shim-spin-v2',
      configPath: '/etc/containerd/config.toml',
      flavour: 'containerd',
      containerdVersion: '1.7.24',
      restarted: true,
      changed: true,
    };
    expect(await roundTrip({ ...success, timings: { downloadMs: 5 } })).toMatchObject(success);
  });

  it('a message of multi-byte characters still fits the termination message and parses', async () => {
    const failure = { ok: false as const, action: 'install', shim: 'spin', code: 'DownloadFailed' as const, error: `cannot reach https://例え.jp/${'é'.repeat(3000)}` };
    expect(await roundTrip(failure)).toMatchObject({ ok: false, code: 'DownloadFailed' });
  });

  it('reads a code it does not know as InternalError, which never keeps a node ready', () => {
    expect(parseInstallerResult('{"ok":false,"action":"install","shim":"s","code":"FromTheFuture","error":"x"}')).toMatchObject({ code: 'InternalError' });
    expect(failureLeavesNodeIntact('FromTheFuture')).toBe(false);
    expect(failureLeavesNodeIntact(undefined)).toBe(false);
  });

  it.each([
    ['the last JSON line after logs', 'fetching...\n{"not":"a result"}\n{"ok":false,"action":"install","shim":"s","code":"LockBusy","error":"e"}\n', { ok: false, code: 'LockBusy' }],
    ['a failure without error text', '{"ok":false}', { ok: false, error: 'installer failed', code: 'InternalError' }],
    ['nothing', '', null],
    ['undefined', undefined, null],
    ['a truncated line', '{"ok":true,"action":"inst', null],
    ['a success with an unknown action', '{"ok":true,"action":"dance"}', null],
  ])('parses %s', (_case, message, expected) => {
    const parsed = parseInstallerResult(message);
    if (expected === null) expect(parsed).toBeNull();
    else expect(parsed).toMatchObject(expected);
  });

  it('only RollbackFailed and InternalError leave the node in an unknown state', () => {
    const unknown = Object.entries(INSTALLER_ERROR_CODES).filter(([, rule]) => !rule.nodeIntact).map(([code]) => code);
    expect(unknown.sort()).toEqual(['InternalError', 'RollbackFailed']);
  });
});

describe('installer flag contract', () => {
  it('every variable a Job sets is one the installer reads, with the same value', () => {
    const env = installerEnv(
      {
        type: 'createJob',
        jobName: 'j',
        node: 'n',
        action: 'install',
        revision: 'r',
        shim: 'spin',
        handler: 'spin-h',
        artifact: { url: 'https://example.com/a.tar.gz', sha256: 'a'.repeat(64), revision: 'r' },
        version: '1.2.3',
        runtimeOptions: { SystemdCgroup: 'true', Note: 'a,b\nc' },
        shimBinary: 'containerd-shim-spin-v2',
      },
      { installDir: '/var/lib/shimkeeper', restart: 'signal' },
    );
    const known = new Set(Object.values(INSTALLER_FLAGS).map((spec) => spec.env));
    for (const variable of env) expect(known).toContain(variable.name);
    const options = parseInstallerArgs(['install'], Object.fromEntries(env.map((e) => [e.name, e.value])));
    expect(options).toMatchObject({
      shim: 'spin',
      handler: 'spin-h',
      hostRoot: '/host',
      installDir: '/var/lib/shimkeeper',
      restart: 'signal',
      url: 'https://example.com/a.tar.gz',
      sha256: 'a'.repeat(64),
      version: '1.2.3',
      runtimeOptions: { SystemdCgroup: 'true', Note: 'a,b\nc' },
      shimBinary: 'containerd-shim-spin-v2',
    });
  });

  it('job-owned flags are flags of the contract', () => {
    for (const key of JOB_OWNED_FLAGS) expect(INSTALLER_FLAGS[key]).toBeDefined();
  });
});
