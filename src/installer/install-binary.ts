import { chmod, copyFile, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { InstallerError } from './errors.ts';
import type { Host } from './host.ts';

// Each revision's binary lives in its own directory, so an upgrade never writes to a file that a
// running shim process is executing, and containerd can still exec the old binary to clean up
// containers that were started on it.

/** Host path of the directory holding one revision of a shim. */
export function revisionDir(installDir: string, shim: string, revision: string): string {
  return path.posix.join(installDir, shim, revision);
}

/** Copies the extracted binary (`sourceHere`, a private file of the installer) to `binaryPath` on the host. */
export async function placeBinary(host: Host, sourceHere: string, binaryPath: string): Promise<void> {
  const destinationHere = await host.path(binaryPath);
  const stagingHere = `${destinationHere}.partial`;
  try {
    await host.mkdir(path.posix.dirname(binaryPath));
    await copyFile(sourceHere, stagingHere);
    await chmod(stagingHere, 0o755);
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
 * Removes the shim's revision directories other than `keep` whose binaries no process runs any
 * more. Directories still in use stay; a later install or uninstall collects them.
 */
export async function collectOldRevisions(options: { host: Host; installDir: string; shim: string; keep: string | null; procRoot?: string | undefined }): Promise<{ removed: string[]; retained: string[] }> {
  const { host } = options;
  const shimDir = path.posix.join(options.installDir, options.shim);
  const inUse = await executablesInUse(options.procRoot);
  const removed: string[] = [];
  const retained: string[] = [];
  for (const revision of await host.list(shimDir)) {
    if (revision === options.keep) continue;
    const dir = revisionDir(options.installDir, options.shim, revision);
    const identities = await Promise.all((await host.list(dir)).map((file) => host.stat(path.posix.join(dir, file))));
    const busy = identities.some((info) => info !== null && inUse.has(`${info.dev}:${info.ino}`));
    if (busy) {
      retained.push(revision);
    } else {
      await host.removeTree(dir);
      removed.push(revision);
    }
  }
  if (options.keep === null && retained.length === 0) await host.removeTree(shimDir);
  return { removed, retained };
}
