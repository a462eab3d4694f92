import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { InstallerError } from './errors.ts';

// The node as the installer reaches it. The installer runs in a pod with the host's / mounted at
// --host-root; containerd, its config and state.json all name host paths (as containerd sees
// them). Host.path() is the one place a host path becomes a path this process can open.
//
// Naming rule across the installer: a path is a host path unless its name ends in `Here`, which
// marks the installer's view of it (the result of host.path()). Code that only needs to read,
// write or remove host files calls the methods below with host paths and never sees the mapping.

export class Host {
  /** Where the host's / is mounted in this process (`--host-root`; `/` when run on the node itself). */
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /**
   * The installer's view of a host path. Today a lexical join under the root (normalising first,
   * so `..` cannot climb out of it); async because this is where symlinks inside the host will be
   * resolved against the root rather than against the installer's own filesystem.
   */
  async path(hostPath: string): Promise<string> {
    if (!path.posix.isAbsolute(hostPath)) throw new InstallerError('InternalError', `expected an absolute host path, got ${JSON.stringify(hostPath)}`);
    return path.join(this.root, path.posix.normalize(hostPath));
  }

  async exists(hostPath: string): Promise<boolean> {
    return (await this.stat(hostPath)) !== null;
  }

  /** The file's metadata, or null when it does not exist (or cannot be reached). */
  async stat(hostPath: string): Promise<Stats | null> {
    return stat(await this.path(hostPath)).catch(() => null);
  }

  /** The file's text, or null when it does not exist. Any other error is the caller's to word. */
  async readText(hostPath: string): Promise<string | null> {
    try {
      return await readFile(await this.path(hostPath), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  /** Names in a directory, or none when it does not exist. */
  async list(hostPath: string): Promise<string[]> {
    return readdir(await this.path(hostPath)).catch(() => [] as string[]);
  }

  async mkdir(hostPath: string, mode = 0o755): Promise<void> {
    await mkdir(await this.path(hostPath), { recursive: true, mode });
  }

  /** Removes a file; nothing to do when it is already gone. */
  async remove(hostPath: string): Promise<void> {
    await rm(await this.path(hostPath), { force: true });
  }

  /** Removes a directory and everything in it; nothing to do when it is already gone. */
  async removeTree(hostPath: string): Promise<void> {
    await rm(await this.path(hostPath), { recursive: true, force: true });
  }

  /** Removes a directory only if it is empty: one another run still fills stays. */
  async removeIfEmpty(hostPath: string): Promise<void> {
    await rmdir(await this.path(hostPath)).catch(() => {});
  }

  /**
   * Replaces a file whole: a sibling temp file is written, fsynced and renamed over the target,
   * then the directory is fsynced. A crash leaves either the old or the new file, never half of one.
   * The file keeps its mode unless one is given.
   */
  async writeAtomic(hostPath: string, content: string | Buffer, options: { mode?: number } = {}): Promise<void> {
    const fileHere = await this.path(hostPath);
    const dirHere = path.dirname(fileHere);
    const mode = options.mode ?? ((await stat(fileHere).catch(() => null))?.mode ?? 0o644) & 0o7777;
    const tempHere = path.join(dirHere, `.${path.basename(fileHere)}.shimkeeper-${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(dirHere, { recursive: true });
      await writeSynced(tempHere, content, mode);
      await rename(tempHere, fileHere);
      await syncDirectory(dirHere);
    } catch (error) {
      await rm(tempHere, { force: true });
      const code = (error as NodeJS.ErrnoException).code;
      const reason = code === 'EROFS' || code === 'EACCES' || code === 'EPERM' ? `${(error as Error).message} (is the file or its directory read-only?)` : (error as Error).message;
      throw new InstallerError('WriteFailed', `cannot write ${hostPath}: ${reason}`, { cause: error });
    }
  }
}

async function writeSynced(fileHere: string, content: string | Buffer, mode: number): Promise<void> {
  const handle = await open(fileHere, 'wx', mode);
  try {
    await handle.writeFile(content);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDirectory(dirHere: string): Promise<void> {
  const handle = await open(dirHere, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
