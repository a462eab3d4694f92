import { chmod, copyFile, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { InstallerError } from './errors.ts';

// Each revision's binary lives in its own directory, so an upgrade never writes to a file that a
// running shim process is executing, and containerd can still exec the old binary to clean up
// containers that were started on it.

export function revisionDir(installDir: string, shim: string, revision: string): string {
  return path.posix.join(installDir, shim, revision);
}

export async function placeBinary(source: string, destination: string): Promise<void> {
  const dir = path.dirname(destination);
  const staging = `${destination}.partial`;
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await copyFile(source, staging);
    await chmod(staging, 0o755);
    await rename(staging, destination);
  } catch (error) {
    await rm(staging, { force: true });
    throw new InstallerError('InstallFailed', `cannot install shim binary at ${destination}: ${(error as Error).message}`, { cause: error });
  }
}

export async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const info = await stat(file);
    return info.isFile() && (info.mode & 0o111) !== 0;
  } catch {
    return false;
  }
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
export async function collectOldRevisions(options: { hostRoot: string; installDir: string; shim: string; keep: string | null; procRoot?: string }): Promise<{ removed: string[]; retained: string[] }> {
  const shimDirOnHost = path.join(options.hostRoot, options.installDir, options.shim);
  const revisions = await readdir(shimDirOnHost).catch(() => [] as string[]);
  const inUse = await executablesInUse(options.procRoot);
  const removed: string[] = [];
  const retained: string[] = [];
  for (const revision of revisions) {
    if (revision === options.keep) continue;
    const dirOnHost = revisionDir(options.installDir, options.shim, revision);
    const files = await readdir(path.join(options.hostRoot, dirOnHost)).catch(() => [] as string[]);
    const identities = await Promise.all(files.map((file) => stat(path.join(options.hostRoot, dirOnHost, file)).catch(() => null)));
    const busy = identities.some((info) => info !== null && inUse.has(`${info.dev}:${info.ino}`));
    if (busy) {
      retained.push(revision);
    } else {
      await rm(path.join(options.hostRoot, dirOnHost), { recursive: true, force: true });
      removed.push(revision);
    }
  }
  if (options.keep === null && retained.length === 0) await rm(shimDirOnHost, { recursive: true, force: true });
  return { removed, retained };
}
