#!/usr/bin/env node
import http from 'node:http';
import { detectContainerd } from './containerd/detect.ts';
import { waitForContainerd } from './containerd/health.ts';
import { describeError, InstallerError } from './errors.ts';
import { Host } from './host.ts';
import { readHostState } from './host-state.ts';
import { install } from './install.ts';
import { parseInstallerArgs, USAGE, type InstallerOptions } from './options.ts';
import { report } from './report.ts';
import { INSTALLER_DEFAULTS, INSTALLER_FLAGS, type InstallerResult } from '../api/installer-contract.ts';
import { uninstall } from './uninstall.ts';

async function status(options: InstallerOptions): Promise<InstallerResult> {
  const host = new Host(options.hostRoot);
  const state = await readHostState(host, options.installDir);
  const installed = options.shim ? (state.shims[options.shim] ?? null) : state.shims;
  const target = await detectContainerd({ host, shim: options.shim || 'status', configPath: options.containerdConfig, socketPath: options.containerdSocket });
  try {
    const health = await waitForContainerd({ socketPathHere: await host.path(target.socketPath), handler: null, timeoutMs: 5_000 });
    return { ok: true, action: 'status', installed, containerdVersion: health.version };
  } catch (error) {
    return { ok: true, action: 'status', installed, containerdError: describeError(error) };
  }
}

async function main(argv: string[]): Promise<number> {
  let options: InstallerOptions | 'help';
  try {
    options = parseInstallerArgs(argv, process.env);
  } catch (error) {
    const code = error instanceof InstallerError ? error.code : 'InvalidArguments';
    process.stderr.write(`${describeError(error)}\n`);
    await report({ ok: false, action: argv[0] ?? '', shim: process.env[INSTALLER_FLAGS.shim.env] ?? '', code, error: describeError(error).split('\n')[0]! }, process.env[INSTALLER_FLAGS.terminationLog.env] ?? INSTALLER_DEFAULTS.terminationLog);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (process.env['HTTPS_PROXY'] || process.env['HTTP_PROXY'] || process.env['https_proxy'] || process.env['http_proxy']) {
    // Node's fetch ignores proxy variables unless told to honour them.
    http.setGlobalProxyFromEnv();
  }
  try {
    const result = options.command === 'install' ? await install(options) : options.command === 'uninstall' ? await uninstall(options) : await status(options);
    await report(result, options.terminationLog);
    return 0;
  } catch (error) {
    const code = error instanceof InstallerError ? error.code : 'InternalError';
    const message = describeError(error);
    process.stderr.write(`shimkeeper-installer ${options.command} ${options.shim}: ${message}\n`);
    await report({ ok: false, action: options.command, shim: options.shim, code, error: message }, options.terminationLog);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
