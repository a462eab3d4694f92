import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import { mkdir, open, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { InstallerError } from './errors.ts';
import { resolveHostPath } from './host-resolve.ts';

// The node as the installer reaches it. The installer runs in a pod with the host's / mounted at
// --host-root; containerd, its config and state.json all name host paths (as containerd sees
// them). Host.path() is the one place a host path becomes a path this process can open.
//
// Naming rule across the installer: a path is a host path unless its name ends in `Here`, which
// marks the installer's view of it (the result of host.path()). Code that only needs to read,
// write or remove host files calls the methods below with host paths and never sees the mapping.
//
// Symlinks are resolved as the host sees them (host-resolve.ts), and a write goes to the link's
// target, so a link stays a link. Reads open only regular files (a FIFO would hang the read) and
// decode text as strict UTF-8, so a file is never silently rewritten with other bytes.

/** A file the installer cannot take as text: not a regular file, not UTF-8, or a dangling link. Callers word it with their own code. */
export class HostFileError extends Error {
  readonly hostPath: string;
  constructor(hostPath: string, message: string) {
    super(message);
    this.name = 'HostFileError';
    this.hostPath = hostPath;
  }
}

export class Host {
  /** Where the host's / is mounted in this process (`--host-root`; `/` when run on the node itself). */
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /**
   * The installer's view of a host path: every symlink in it resolved within the host root (an
   * absolute target re-rooted under it, `..` stopped at it), so the result never leaves the host.
   */
  async path(hostPath: string): Promise<string> {
    return path.join(this.root, (await this.resolve(hostPath)).hostPath);
  }

  /** The host path with its symlinks resolved, and the dangling link it went through, if any. */
  async resolve(hostPath: string): Promise<{ hostPath: string; danglingLink?: string }> {
    if (!path.posix.isAbsolute(hostPath)) throw new InstallerError('InternalError', `expected an absolute host path, got ${JSON.stringify(hostPath)}`);
    return resolveHostPath(this.root, hostPath);
  }

  /** The installer's view of a file about to be read or written; a dangling symlink is refused. */
  private async filePath(hostPath: string): Promise<string> {
    const resolved = await this.resolve(hostPath);
    if (resolved.danglingLink) {
      throw new HostFileError(hostPath, `${hostPath} goes through the symlink ${resolved.danglingLink}, whose target ${resolved.hostPath} does not exist on the host; fix or remove the link`);
    }
    return path.join(this.root, resolved.hostPath);
  }

  async exists(hostPath: string): Promise<boolean> {
    return (await this.stat(hostPath)) !== null;
  }

  /** The file's metadata, or null when it does not exist (or cannot be reached). */
  async stat(hostPath: string): Promise<Stats | null> {
    return stat(await this.path(hostPath)).catch(() => null);
  }

  /**
   * The file's bytes, or null when it does not exist. Only a regular file is read: it is opened
   * without blocking and checked before a byte is read, so a FIFO or device never hangs the run.
   * A HostFileError (or any other error) is the caller's to word.
   */
  async readBytes(hostPath: string): Promise<Buffer | null> {
    const fileHere = await this.filePath(hostPath);
    let handle;
    try {
      handle = await open(fileHere, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new HostFileError(hostPath, `${hostPath} is ${describeFileType(info)}, not a regular file`);
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  /** The file's text (strict UTF-8, a byte-order mark kept), or null when it does not exist. */
  async readText(hostPath: string): Promise<string | null> {
    const bytes = await this.readBytes(hostPath);
    return bytes === null ? null : decodeUtf8(bytes, hostPath);
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
    let fileHere: string;
    try {
      // A symlink's target is what gets replaced; the link itself stays.
      fileHere = await this.filePath(hostPath);
    } catch (error) {
      if (!(error instanceof HostFileError)) throw error;
      throw new InstallerError('HostPathUnresolvable', `cannot write ${hostPath}: ${error.message}`);
    }
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

/** "a FIFO", "a directory", … for messages. */
export function describeFileType(info: Stats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  if (info.isSymbolicLink()) return 'a symlink';
  return 'not a regular file';
}

/** `bytes` as UTF-8, refusing any invalid sequence with its byte offset (nothing is replaced). */
export function decodeUtf8(bytes: Buffer, hostPath: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new HostFileError(hostPath, `${hostPath} is not valid UTF-8 (first invalid byte at offset ${firstInvalidUtf8Offset(bytes)})`);
  }
}

/** Offset of the first byte of the first invalid UTF-8 sequence (the TextDecoder's rules: no overlongs, surrogates or values past U+10FFFF); -1 when valid. */
export function firstInvalidUtf8Offset(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i += 1;
      continue;
    }
    const length = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    if (length === 0 || i + length > bytes.length) return i;
    for (let k = 1; k < length; k += 1) if ((bytes[i + k]! & 0xc0) !== 0x80) return i;
    const second = bytes[i + 1]!;
    if ((lead === 0xe0 && second < 0xa0) || (lead === 0xed && second > 0x9f) || (lead === 0xf0 && second < 0x90) || (lead === 0xf4 && second > 0x8f)) return i;
    i += length;
  }
  return -1;
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
