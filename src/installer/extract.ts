import { lstat, open, rename } from 'node:fs/promises';
import path from 'node:path';
import { extract as extractTar, list as listTar, type ReadEntry } from 'tar';
import { InstallerError } from './errors.ts';

// Unpacks the verified artifact into a private directory. Every entry is checked before a single
// byte is written: the archive is refused whole if any entry could escape the directory, is a
// device, or the total would exceed the size cap. The tar library's own guards stay on as a
// second line of defence.

export interface ExtractOptions {
  archive: string;
  /** An empty private directory. */
  destination: string;
  maxBytes: number;
  maxEntries: number;
  /** The shim's file name inside the archive; found by pattern when absent. */
  shimBinary?: string | undefined;
  /** Where the artifact came from (redacted: no credentials), for messages and to name a bare (non-archive) binary. */
  source: string;
  /** Permission bits of a bare binary's source (`file://`); 0755 when unknown (http). */
  sourceMode?: number | undefined;
}

export interface ExtractedShim {
  binaryPath: string;
  binaryName: string;
  /** Permission bits the binary had in the archive (or its source file). */
  mode: number;
}

/** An archive may unpack to this many times the download cap: room for compression, not for a zip bomb. */
export const UNPACK_RATIO = 4;
export const MAX_ARCHIVE_ENTRIES = 10_000;

const SHIM_NAME = /^containerd-shim-[a-z0-9]+(?:[-_][a-z0-9]+)*-v[12]$/;
const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);

export function isShimBinaryName(name: string): boolean {
  return SHIM_NAME.test(name);
}

export async function extractShim(options: ExtractOptions): Promise<ExtractedShim> {
  const kind = await sniffArchiveKind(options.archive);
  if (kind === 'binary') return placeBareBinary(options);

  const entries = await checkEntries(options);
  await extractTar({ file: options.archive, cwd: options.destination, strict: true, preserveOwner: false, filter: (p: string) => entries.has(normalizeEntryPath(p)) }).catch((error: unknown) => {
    throw tarFailure(error, options.source);
  });
  const binary = chooseBinary([...entries.entries()].filter(([, type]) => type !== 'Directory').map(([p]) => p), options);
  const binaryPath = path.join(options.destination, binary);
  const info = await lstat(binaryPath);
  if (!info.isFile()) {
    throw new InstallerError('ArtifactInvalid', `${binary} in ${options.source} is not a regular file (links to the shim are not accepted)`);
  }
  return { binaryPath, binaryName: path.posix.basename(binary), mode: info.mode & 0o7777 };
}

/** Whatever the tar or zlib library stops on is the artifact's fault, never an internal error. */
function tarFailure(error: unknown, source: string): InstallerError {
  if (error instanceof InstallerError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/decompression ratio/.test(message)) {
    return new InstallerError('ArtifactUnsafe', `refusing archive ${source}: it decompresses like a zip bomb (${message}). Nothing was unpacked.`, { cause: error });
  }
  return new InstallerError('ArtifactInvalid', `${source} is not a readable tar archive: ${message}`, { cause: error });
}

/** Lists the archive and refuses it if any entry is unsafe. Returns entry path → type. */
async function checkEntries(options: ExtractOptions): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  let totalBytes = 0;
  let problem: string | undefined;
  const refuse = (why: string) => {
    problem ??= why;
  };
  await listTar({
    file: options.archive,
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      const entryPath = entry.path;
      if (path.posix.isAbsolute(entryPath) || /^[A-Za-z]:/.test(entryPath)) refuse(`entry ${entryPath} has an absolute path`);
      const normalized = normalizeEntryPath(entryPath);
      if (normalized === '..' || normalized.startsWith('../')) refuse(`entry ${entryPath} points outside the archive ('..')`);
      if (!ALLOWED_TYPES.has(entry.type)) refuse(`entry ${entryPath} is a ${entry.type}; only files, directories and links inside the archive are accepted`);
      if (entry.type === 'SymbolicLink' || entry.type === 'Link') checkLink(entry, normalized, refuse);
      totalBytes += entry.size ?? 0;
      if (totalBytes > options.maxBytes) refuse(`archive unpacks to more than ${options.maxBytes} bytes`);
      entries.set(normalized, entry.type);
      if (entries.size > options.maxEntries) refuse(`archive has more than ${options.maxEntries} entries`);
      entry.resume();
    },
  }).catch((error: unknown) => {
    throw tarFailure(error, options.source);
  });
  if (problem) throw new InstallerError('ArtifactUnsafe', `refusing archive ${options.source}: ${problem}. Nothing was unpacked.`);
  return entries;
}

function checkLink(entry: ReadEntry, normalizedPath: string, refuse: (why: string) => void): void {
  const target = entry.linkpath ?? '';
  if (path.posix.isAbsolute(target)) {
    refuse(`link ${entry.path} points to the absolute path ${target}`);
    return;
  }
  // A symlink resolves from its own directory; a hard link names a path from the archive root.
  const base = entry.type === 'SymbolicLink' ? path.posix.dirname(normalizedPath) : '.';
  const resolved = path.posix.normalize(path.posix.join(base, target));
  if (resolved === '..' || resolved.startsWith('../')) refuse(`link ${entry.path} → ${target} leaves the archive`);
}

function normalizeEntryPath(entryPath: string): string {
  return path.posix.normalize(entryPath).replace(/^\.\/+/, '').replace(/\/+$/, '');
}

function chooseBinary(files: string[], options: ExtractOptions): string {
  if (options.shimBinary) {
    const named = files.filter((f) => path.posix.basename(f) === options.shimBinary);
    if (named.length === 1) return named[0]!;
    if (named.length > 1) throw new InstallerError('ArtifactInvalid', `${options.source} holds ${named.length} files named ${options.shimBinary}: ${named.join(', ')}`);
    throw new InstallerError('ShimNotFound', `${options.source} has no file named ${options.shimBinary} (it holds: ${summarize(files)})`);
  }
  const candidates = files.filter((f) => isShimBinaryName(path.posix.basename(f)));
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length === 0) {
    throw new InstallerError('ShimNotFound', `${options.source} holds no containerd-shim-*-v1|v2 binary (it holds: ${summarize(files)}); name the file with --shim-binary`);
  }
  throw new InstallerError('ShimAmbiguous', `${options.source} holds several shims (${candidates.join(', ')}); choose one with --shim-binary`);
}

function summarize(files: string[]): string {
  if (files.length === 0) return 'nothing';
  return files.length > 8 ? `${files.slice(0, 8).join(', ')}, … ${files.length - 8} more` : files.join(', ');
}

async function sniffArchiveKind(file: string): Promise<'gzip' | 'tar' | 'binary'> {
  const handle = await open(file, 'r');
  try {
    const header = Buffer.alloc(512);
    const { bytesRead } = await handle.read(header, 0, 512, 0);
    if (bytesRead >= 2 && header[0] === 0x1f && header[1] === 0x8b) return 'gzip';
    if (bytesRead >= 262 && header.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
    return 'binary';
  } finally {
    await handle.close();
  }
}

/** An artifact that is the shim executable itself (not an archive). */
async function placeBareBinary(options: ExtractOptions): Promise<ExtractedShim> {
  const urlName = path.posix.basename(new URL(options.source).pathname);
  const name = options.shimBinary ?? urlName;
  if (!isShimBinaryName(name)) {
    throw new InstallerError('ShimNotFound', `${options.source} is neither a tar archive nor a file named containerd-shim-*-v2; name the binary with --shim-binary`);
  }
  const binaryPath = path.join(options.destination, name);
  await rename(options.archive, binaryPath);
  return { binaryPath, binaryName: name, mode: options.sourceMode ?? 0o755 };
}
