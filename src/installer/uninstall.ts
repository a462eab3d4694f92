import type { ShimActionResult } from '../api/installer-contract.ts';
import { hostPath } from './containerd/detect.ts';
import { detectContainerd } from './containerd/detect.ts';
import { backUpConfig, planUninstallConfig, readConfig, writeConfig } from './containerd/config-file.ts';
import { waitForContainerd } from './containerd/health.ts';
import { restartContainerd } from './containerd/restart.ts';
import { describeError, InstallerError } from './errors.ts';
import { readHostState, writeHostState } from './host-state.ts';
import { withHostLock } from './host-lock.ts';
import { collectOldRevisions } from './install-binary.ts';
import type { InstallerOptions } from './options.ts';

// uninstall: take the stanza out (putting back whatever it replaced), restart containerd, check
// it came back, and only then delete binaries that no running shim still executes.

export async function uninstall(options: InstallerOptions, procRoot?: string): Promise<ShimActionResult> {
  const installDirOnHost = hostPath(options.hostRoot, options.installDir);
  return withHostLock(installDirOnHost, { waitMs: options.lockWaitMs }, async () => {
    const state = await readHostState(installDirOnHost);
    const installed = state.shims[options.shim];
    const target = await detectContainerd({
      hostRoot: options.hostRoot,
      shim: options.shim,
      configPath: options.containerdConfig ?? installed?.configPath,
      socketPath: options.containerdSocket,
    });
    const configOnHost = hostPath(options.hostRoot, target.configPath);
    const before = await readConfig(configOnHost);
    const planned = planUninstallConfig(target, before, options.shim, installed?.splice, installed?.createdConfig ?? false);

    let restarted = false;
    let containerdVersion = '';
    try {
      if (planned.changed) {
        await backUpConfig(installDirOnHost, target.configPath, before, options.shim);
        await writeConfig(configOnHost, planned.after);
        const outcome = await restartContainerd({ strategy: options.restart, hostRoot: options.hostRoot, target, procRoot });
        restarted = outcome.method !== 'none';
      }
      const health = await waitForContainerd({ socketPath: hostPath(options.hostRoot, target.socketPath), handler: null, timeoutMs: options.healthTimeoutMs });
      containerdVersion = health.version;
    } catch (error) {
      if (planned.changed) {
        await writeConfig(configOnHost, before.text);
        if (restarted) await restartContainerd({ strategy: options.restart, hostRoot: options.hostRoot, target, procRoot }).catch(() => {});
      }
      throw new InstallerError('UninstallFailed', `uninstalling ${options.shim}: ${describeError(error)}; ${target.configPath} was put back as it was`, { cause: error });
    }

    const { retained } = await collectOldRevisions({ hostRoot: options.hostRoot, installDir: options.installDir, shim: options.shim, keep: null, procRoot });
    if (installed) {
      delete state.shims[options.shim];
      await writeHostState(installDirOnHost, state);
    }
    return {
      ok: true,
      action: 'uninstall',
      shim: options.shim,
      handler: installed?.handler ?? options.handler,
      version: installed?.version ?? '',
      revision: installed?.revision ?? '',
      sha256: installed?.sha256 ?? '',
      binaryPath: '',
      ...(retained.length > 0 ? { retainedRevisions: retained } : {}),
      configPath: target.configPath,
      flavour: target.flavour,
      containerdVersion,
      restarted,
      changed: planned.changed || installed !== undefined,
    };
  });
}
