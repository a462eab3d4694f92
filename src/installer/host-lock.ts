import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { InstallerError } from './errors.ts';
import type { Host } from './host.ts';
import { termination, throwIfTerminated } from './termination.ts';
import { removeStaleWorkDirs } from './work-dir.ts';

// Installers of different Shims may run on one node at the same time; they all edit the same
// containerd config and restart the same containerd, so they take turns.

const LOCK_RETRY_MS = 500;

export interface LockOptions {
  waitMs: number;
}

/**
 * Runs `work` holding the lock file `<install-dir>/.lock` (install-dir a host path), after removing
 * the scratch dirs that killed runs left behind (work-dir.ts).
 */
export async function withHostLock<T>(host: Host, installDir: string, options: LockOptions, work: () => Promise<T>): Promise<T> {
  await host.mkdir(installDir);
  const release = await acquire(await host.path(installDir), installDir, options.waitMs);
  try {
    await removeStaleWorkDirs(host, installDir);
    return await work();
  } finally {
    await release().catch(() => {});
  }
}

/**
 * Tries every half second for up to `waitMs`. The tries are made here rather than by
 * proper-lockfile's own retries so that a run asked to stop (termination.ts) stops waiting at
 * once, with nothing changed, instead of holding its Pod past the kubelet's grace period.
 */
async function acquire(installDirHere: string, installDir: string, waitMs: number): Promise<() => Promise<void>> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    throwIfTerminated(`while waiting for another shimkeeper installer to release ${installDir}/.lock; nothing was changed`);
    try {
      return await lockfile.lock(installDirHere, {
        lockfilePath: `${installDirHere}/.lock`,
        // A lock left by a killed installer goes stale once its holder stops refreshing it.
        stale: 30_000,
        update: 5_000,
        realpath: false,
      });
    } catch (error) {
      if (Date.now() >= deadline) {
        throw new InstallerError('LockBusy', `another shimkeeper installer holds ${installDir}/.lock and did not finish within ${waitMs} ms; it will be retried`, { cause: error });
      }
      await sleep(LOCK_RETRY_MS, undefined, { signal: termination }).catch(() => {});
    }
  }
}
