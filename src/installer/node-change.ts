import { backUpConfig, writeConfig, type PlannedConfig } from './containerd/config-file.ts';
import { controlContainerd, type ContainerdControl } from './containerd/control.ts';
import type { ContainerdTarget } from './containerd/detect.ts';
import type { Host } from './host.ts';
import type { InstallerOptions } from './options.ts';
import { step } from './steps.ts';
import type { UndoStack } from './undo.ts';

// The steps install and uninstall share: change containerd's config and restart containerd onto
// it, each recording its inverse on the run's undo stack as soon as the change is made.

/** What the CLI leaves at its defaults and tests replace. */
export interface InstallerSeams {
  /** Where running processes are listed: the host's /proc when the pod runs with hostPID. */
  procRoot?: string | undefined;
  /** Restarts and health-checks containerd; the real one unless a test passes its own. */
  containerd?: ((host: Host, target: ContainerdTarget, options: InstallerOptions) => ContainerdControl) | undefined;
}

/** One install or uninstall run on the node. */
export interface NodeRun {
  options: InstallerOptions;
  host: Host;
  target: ContainerdTarget;
  containerd: ContainerdControl;
  undo: UndoStack;
}

export function containerdFor(host: Host, target: ContainerdTarget, options: InstallerOptions, seams: InstallerSeams): ContainerdControl {
  if (seams.containerd) return seams.containerd(host, target, options);
  return controlContainerd(host, target, { restart: options.restart, healthTimeoutMs: options.healthTimeoutMs, procRoot: seams.procRoot });
}

/** Backs up containerd's config, writes the planned text (or deletes the file) and records how to put it back. */
export async function changeConfig(run: NodeRun, planned: PlannedConfig): Promise<void> {
  if (!planned.changed) return;
  const { host, options, target } = run;
  await step('back-up-config', () => backUpConfig(host, options.installDir, target.configPath, planned.before, options.shim));
  await step('write-config', () => writeConfig(host, target.configPath, planned.after));
  run.undo.changedFile({ change: describeConfigChange(target.configPath, planned), undo: () => writeConfig(host, target.configPath, planned.before.text) });
}

function describeConfigChange(configPath: string, planned: PlannedConfig): string {
  if (planned.before.text === null) return `the creation of ${configPath}`;
  if (planned.after === null) return `the removal of ${configPath}`;
  return `the edit of ${configPath}`;
}

/**
 * Restarts containerd so it loads the changed files, and records that rolling back restarts it
 * again once they are restored and checks it is healthy with `handlerAfterRollback` loaded.
 * Returns whether containerd was restarted.
 */
export async function restartOntoChange(run: NodeRun, handlerAfterRollback: string | null): Promise<boolean> {
  const restarted = await run.containerd.restart();
  if (restarted) {
    run.undo.restartedContainerd({
      change: `the restart of containerd on the changed ${run.target.configPath}`,
      undo: async () => {
        await run.containerd.restart();
        await run.containerd.waitHealthy(handlerAfterRollback);
      },
    });
  }
  return restarted;
}
