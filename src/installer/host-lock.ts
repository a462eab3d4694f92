import lockfile from 'proper-lockfile';
import { InstallerError } from './errors.ts';
import type { Host } from './host.ts';
import { removeStaleWorkDirs } from './work-dir.ts';

// Installers of different Shims may run on one node at the same time; they all edit the same
// containerd config and restart the same containerd, so they take turns.

export interface LockOptions {
  waitMs: number;
}

/**
 * Runs `work` holding the lock file `<install-dir>/.lock` (install-dir a host path), after removing
 * the scratch dirs that killed runs left behind (work-dir.ts).
 */
export async function withHostLock<T>(host: Host, installDir: string, options: LockOptions, work: () => Promise<T>): Promise<T> {
  await host.mkdir(installDir);
  const installDirHere = await host.path(installDir);
  const retries = Math.max(1, Math.ceil(options.waitMs / 500));
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(installDirHere, {
      lockfilePath: `${installDirHere}/.lock`,
      // A lock left by a killed installer goes stale once its holder stops refreshing it.
      stale: 30_000,
      update: 5_000,
      retries: { retries, factor: 1, minTimeout: 500, maxTimeout: 500 },
      realpath: false,
    });
  } catch (error) {
    throw new InstallerError(
      'LockBusy',
      `another shimkeeper installer holds ${installDir}/.lock and did not finish within ${options.waitMs} ms; it will be retried`,
      { cause: error },
    );
  }
  try {
    await removeStaleWorkDirs(host, installDir);
    return await work();
  } finally {
    await release().catch(() => {});
  }
}
