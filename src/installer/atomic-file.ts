import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { InstallerError } from './errors.ts';

// Files on the node are replaced whole: write a sibling temp file, fsync it, rename it over the
// target, fsync the directory. A crash leaves either the old or the new file, never half of one.

export async function writeFileAtomic(file: string, content: string | Buffer, options: { mode?: number } = {}): Promise<void> {
  const dir = path.dirname(file);
  const mode = options.mode ?? (await existingMode(file)) ?? 0o644;
  const temp = path.join(dir, `.${path.basename(file)}.shimkeeper-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(dir, { recursive: true });
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(content);
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
    await syncDirectory(dir);
  } catch (error) {
    await rm(temp, { force: true });
    const reason = (error as NodeJS.ErrnoException).code === 'EROFS' || (error as NodeJS.ErrnoException).code === 'EACCES'
      ? `${(error as Error).message} (is the file or its directory read-only?)`
      : (error as Error).message;
    throw new InstallerError('WriteFailed', `cannot write ${file}: ${reason}`, { cause: error });
  }
}

async function existingMode(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).mode & 0o7777;
  } catch {
    return undefined;
  }
}

export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
