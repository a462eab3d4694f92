import { mkdtemp, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Host } from './host.ts';

// Each install downloads and unpacks in a private scratch dir `<install-dir>/.work-XXXXXX`, and
// removes it when it is done. A run that is killed (SIGKILL, node reboot, OOM) cannot, so every
// run removes the ones it finds once it holds the node lock: only a lock holder creates them, so
// none of them belongs to a run still going.

const WORK_DIR_PREFIX = '.work-';

/** Creates a fresh scratch dir in the install dir (a host path); returns its path here. */
export async function makeWorkDir(host: Host, installDir: string): Promise<string> {
  return mkdtemp(path.join(await host.path(installDir), WORK_DIR_PREFIX));
}

/** Removes the scratch dirs runs that were killed left in the install dir; returns their names. Call it holding the lock. */
export async function removeStaleWorkDirs(host: Host, installDir: string): Promise<string[]> {
  const installDirHere = await host.path(installDir);
  const stale = (await readdir(installDirHere).catch(() => [] as string[])).filter((name) => name.startsWith(WORK_DIR_PREFIX));
  // Best effort: a leftover that cannot be removed now wastes space but breaks nothing.
  await Promise.all(stale.map((name) => rm(path.join(installDirHere, name), { recursive: true, force: true }).catch(() => {})));
  return stale;
}
