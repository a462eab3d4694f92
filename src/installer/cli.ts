#!/usr/bin/env node
import { detectContainerd } from './containerd/detect.ts';
import { waitForContainerd } from './containerd/health.ts';
import { describeError, InstallerError } from './errors.ts';
import { Host } from './host.ts';
import { readHostState } from './host-state.ts';
import { install } from './install.ts';
import { parseInstallerArgs, USAGE, type InstallerOptions } from './options.ts';
import { report } from './report.ts';
import { INSTALLER_DEFAULTS, INSTALLER_FLAGS, type InstallerResult } from '../api/installer-contract.ts';
import { redactSecrets } from '../api/redact.ts';
import { requestTermination, terminationExitCode } from './termination.ts';
import { uninstall } from './uninstall.ts';
import { CHECKSUM_COMMAND, runChecksumCommand } from './checksum.ts';

// `checksum` is for people (moving Shims from runtime-class-manager): no node, no JSON result, so
// none of the result machinery below applies to it.
if (process.argv[2] === CHECKSUM_COMMAND) process.exit(await runChecksumCommand(process.argv.slice(3), process.env, process.stdout, process.stderr));

// Every run ends with exactly one JSON result, even one that breaks in an unforeseen way: the
// controller reads nothing else, and a pod that dies without a result leaves it guessing.

/** Whom a result is about and where it goes; refined once the command line is parsed. */
const run = {
  action: process.argv[2] ?? '',
  shim: process.env[INSTALLER_FLAGS.shim.env] ?? '',
  terminationLog: process.env[INSTALLER_FLAGS.terminationLog.env] || INSTALLER_DEFAULTS.terminationLog,
  /** The result being or already reported, and the exit code that goes with it. */
  reported: null as { written: Promise<void>; exitCode: number } | null,
  crashing: false,
};

function reportOnce(result: InstallerResult, exitCode: number): Promise<void> {
  run.reported ??= { written: report(result, run.terminationLog), exitCode };
  return run.reported.written;
}

/**
 * The safety net: an exception nothing caught (thrown from a callback, such as a socket's event
 * handler inside a library) or a rejection nothing awaited. The run's state is unknown, so it
 * reports InternalError (which the controller does not read as "node intact") and exits 1. When
 * the result was already reported, it stands, and so does the exit code that goes with it.
 */
function crashed(kind: string, error: unknown): void {
  process.stderr.write(`shimkeeper-installer: ${kind}: ${redactSecrets(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`);
  if (run.crashing) return;
  run.crashing = true;
  // Writing the result is all that is left to do; never let it hold the process up.
  setTimeout(() => process.exit(1), 5_000).unref();
  const message = `the installer broke unexpectedly (${kind}): ${redactSecrets(describeError(error))}`;
  const exitCode = run.reported?.exitCode ?? 1;
  reportOnce({ ok: false, action: run.action, shim: run.shim, code: 'InternalError', error: message }, 1).finally(() => process.exit(exitCode));
}
process.on('uncaughtException', (error) => crashed('uncaught exception', error));
process.on('unhandledRejection', (reason) => crashed('unhandled rejection', reason));
// Stop at the next step that may stop, roll back, report Terminated (termination.ts).
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => requestTermination(signal));

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
    const message = redactSecrets(describeError(error));
    process.stderr.write(`${message}\n`);
    await reportOnce({ ok: false, action: argv[0] ?? '', shim: run.shim, code, error: message.split('\n')[0]! }, 2);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  Object.assign(run, { action: options.command, shim: options.shim, terminationLog: options.terminationLog });
  try {
    const result = options.command === 'install' ? await install(options) : options.command === 'uninstall' ? await uninstall(options) : await status(options);
    await reportOnce(result, 0);
    return 0;
  } catch (error) {
    const code = error instanceof InstallerError ? error.code : 'InternalError';
    // Every message passes through redaction: no URL's userinfo or query reaches a log or result.
    const message = redactSecrets(describeError(error));
    process.stderr.write(`shimkeeper-installer ${options.command} ${options.shim}: ${message}\n`);
    const exitCode = (code === 'Terminated' ? terminationExitCode() : undefined) ?? 1;
    await reportOnce({ ok: false, action: options.command, shim: options.shim, code, error: message }, exitCode);
    return exitCode;
  }
}

// Once the result is out the run is over: nothing it leaves behind (a read stuck on a hung
// network filesystem, a socket a server keeps open) may keep the pod from ending.
process.exit(await main(process.argv.slice(2)));
