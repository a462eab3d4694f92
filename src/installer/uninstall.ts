import type { ShimActionResult } from '../api/installer-contract.ts';
import { planUninstallConfig, readConfig, type PlannedConfig } from './containerd/config-file.ts';
import { detectContainerd } from './containerd/detect.ts';
import { InstallerError } from './errors.ts';
import { Host } from './host.ts';
import { withHostLock } from './host-lock.ts';
import { forgetRevisionDirs, readHostState, recordedRevisionDirs, writeHostState, type HostState, type InstalledShim } from './host-state.ts';
import { collectOldRevisions } from './install-binary.ts';
import { changeConfig, containerdFor, restartOntoChange, type InstallerSeams, type NodeRun } from './node-change.ts';
import type { InstallerOptions } from './options.ts';
import { step } from './steps.ts';
import { throwIfTerminated } from './termination.ts';
import { UndoStack } from './undo.ts';

// uninstall: (lock) prepare → take the stanza out, putting back whatever it replaced → restart
// containerd → check health (rolling back like install on failure) → only then delete binaries
// that no running shim still executes → forget the shim in state.json.

interface UninstallRun extends NodeRun {
  state: HostState;
  installed: InstalledShim | undefined;
  planned: PlannedConfig;
}

export async function uninstall(options: InstallerOptions, seams: InstallerSeams = {}): Promise<ShimActionResult> {
  const host = new Host(options.hostRoot);
  return withHostLock(host, options.installDir, { waitMs: options.lockWaitMs }, async () => {
    const run = await prepare(options, host, seams);
    const { restarted, containerdVersion } = await changeNode(run).catch(async (error: unknown) => {
      throw await run.undo.rollBack(error, error instanceof InstallerError && error.code === 'Terminated' ? 'Terminated' : 'UninstallFailed');
    });
    const { removed, retained } = await step('collect-revisions', () =>
      collectOldRevisions({ host, dirs: recordedRevisionDirs(run.state, options.shim), keep: null, procRoot: seams.procRoot }),
    );
    await step('forget', () => forget(run, removed));
    return {
      ok: true,
      action: 'uninstall',
      shim: options.shim,
      handler: run.installed?.handler ?? options.handler,
      version: run.installed?.version ?? '',
      revision: run.installed?.revision ?? '',
      sha256: run.installed?.sha256 ?? '',
      binaryPath: '',
      ...(retained.length > 0 ? { retainedRevisions: retained } : {}),
      configPath: run.target.configPath,
      flavour: run.target.flavour,
      containerdVersion,
      restarted,
      changed: run.planned.changed || run.installed !== undefined,
    };
  });
}

/** Reads the state file, finds the config the shim went into (detected again when state has none) and plans its edit. */
async function prepare(options: InstallerOptions, host: Host, seams: InstallerSeams): Promise<UninstallRun> {
  const state = await step('read-state', () => readHostState(host, options.installDir));
  const installed = state.shims[options.shim];
  const target = await step('detect', () =>
    detectContainerd({ host, shim: options.shim, configPath: options.containerdConfig ?? installed?.configPath, socketPath: options.containerdSocket }),
  );
  const before = await readConfig(host, target.configPath);
  // The block carries its own undo record; state.json's is for blocks written before it did.
  const planned = await step('plan-config', () => planUninstallConfig(target, before, options.shim, installed?.splice, installed?.createdConfig ?? false));
  const undo = new UndoStack({ command: 'uninstall', shim: options.shim, configPath: target.configPath });
  return { options, host, target, containerd: containerdFor(host, target, options, seams), undo, state, installed, planned };
}

/**
 * Writes the config without the stanza and restarts containerd on it; then containerd must be
 * healthy (it may run without the handler now). A rollback restores the stanza and restarts
 * containerd on it, so the handler must be loaded again.
 */
async function changeNode(run: UninstallRun): Promise<{ restarted: boolean; containerdVersion: string }> {
  let restarted = false;
  // state.json still recording the shim while the block is gone means an uninstall was cut short
  // after writing the config: containerd may still run with the stanza loaded, so it restarts too.
  if (run.planned.changed || run.installed !== undefined) {
    await changeConfig(run, run.planned);
    restarted = await step('restart', () => restartOntoChange(run, run.installed?.handler ?? null));
  }
  const health = await step('health', () => run.containerd.waitHealthy(null, throwIfTerminated));
  return { restarted, containerdVersion: health.version };
}

/** Forgets the shim and the revision directories removed; a directory still in use stays recorded for a later run. */
async function forget(run: UninstallRun, removed: string[]): Promise<void> {
  if (!run.installed && removed.length === 0) return;
  delete run.state.shims[run.options.shim];
  forgetRevisionDirs(run.state, run.options.shim, removed);
  await writeHostState(run.host, run.options.installDir, run.state);
}
