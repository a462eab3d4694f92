import { chmod, copyFile, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { InstallerError } from './errors.ts';
import type { Host } from './host.ts';

// Each revision's binary lives in its own directory, so an upgrade never writes to a file that a
// running shim process is executing, and containerd can still exec the old binary to clean up
// containers that were started on it.
//
// Shims' files live under <install-dir>/shims/, apart from the installer's own (state.json,
// backups/, .lock, .work-*), so no Shim name can collide with them. Installs from before this
// layout used <install-dir>/<shim>/<revision>/; state.json names their binary, and clean-up only
// ever deletes directories state.json records (host-state.ts), so they are collected correctly.

/** Host path of the directory holding one revision of a shim. */
export function revisionDir(installDir: string, shim: string, revision: string): string {
  return path.posix.join(installDir, 'shims', shim, revision);
}

/**
 * The installed binary's mode: owner rwx (containerd runs the shim as root), plus only the group
 * and other read/execute bits the source had. A source kept private (0600) stays private; nothing
 * becomes group- or world-writable, setuid or setgid, whatever the archive or file says.
 */
export function installedMode(sourceMode: number): number {
  return 0o700 | (sourceMode & 0o055);
}

/** Copies the extracted binary (`sourceHere`, a private file of the installer) to `binaryPath` on the host. */
export async function placeBinary(host: Host, sourceHere: string, binaryPath: string, sourceMode = 0o755): Promise<void> {
  const destinationHere = await host.path(binaryPath);
  const stagingHere = `${destinationHere}.partial`;
  try {
    await host.mkdir(path.posix.dirname(binaryPath));
    await copyFile(sourceHere, stagingHere);
    await chmod(stagingHere, installedMode(sourceMode));
    await rename(stagingHere, destinationHere);
  } catch (error) {
    await rm(stagingHere, { force: true });
    throw new InstallerError('InstallFailed', `cannot install shim binary at ${binaryPath}: ${(error as Error).message}`, { cause: error });
  }
}

export async function isExecutableFile(host: Host, file: string): Promise<boolean> {
  const info = await host.stat(file);
  return info !== null && info.isFile() && (info.mode & 0o111) !== 0;
}

/**
 * Identities (device:inode) of the executables running processes were started from. Comparing
 * inodes rather than paths works whatever mount namespace the installer sees the host through.
 */
export async function executablesInUse(procRoot = '/proc'): Promise<Set<string>> {
  const inUse = new Set<string>();
  for (const entry of await readdir(procRoot).catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const info = await stat(`${procRoot}/${entry}/exe`).catch(() => null);
    if (info) inUse.add(`${info.dev}:${info.ino}`);
  }
  return inUse;
}

/**
 * Removes the recorded revision directories (`dirs`, host paths) other than `keep` whose binaries
 * no process runs any more, and the shim's directory once it is empty. Nothing else is deleted:
 * only what the installer recorded creating. Directories still in use stay; a later run collects
 * them. Returns the directories removed and the revisions retained.
 */
export async function collectOldRevisions(options: { host: Host; dirs: string[]; keep: string | null; procRoot?: string | undefined }): Promise<{ removed: string[]; retained: string[] }> {
  const { host } = options;
  const inUse = await executablesInUse(options.procRoot);
  const removed: string[] = [];
  const retained: string[] = [];
  for (const dir of options.dirs) {
    if (dir === options.keep) continue;
    const identities = await Promise.all((await host.list(dir)).map((file) => host.stat(path.posix.join(dir, file))));
    const busy = identities.some((info) => info !== null && inUse.has(`${info.dev}:${info.ino}`));
    if (busy) {
      retained.push(path.posix.basename(dir));
    } else {
      await host.removeTree(dir);
      await host.removeIfEmpty(path.posix.dirname(dir));
      removed.push(dir);
    }
  }
  return { removed, retained };
}
