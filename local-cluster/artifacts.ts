import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';

// Shim artifacts for tests, built in memory. The "shim" is Debian's containerd-shim-runc-v2 under
// a new name: a real shim that containerd really runs. Extra bytes appended to the ELF file make a
// second revision with other bytes that still runs ("the security patch").

export const RUNC_SHIM = '/usr/bin/containerd-shim-runc-v2';

export interface TarEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'FIFO';
  data?: Buffer;
  /** Size to declare in the header (defaults to data length); lets a test lie about sizes. */
  size?: number;
  linkpath?: string;
  mode?: number;
}

/** Encodes a tar archive entry by entry, with no path sanitising: tests need hostile archives. */
export function rawTar(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const data = entry.data ?? Buffer.alloc(0);
    const header = new Header({
      path: entry.path,
      type: entry.type ?? 'File',
      size: entry.size ?? (entry.type === undefined || entry.type === 'File' ? data.length : 0),
      mode: entry.mode ?? (entry.type === 'Directory' ? 0o755 : 0o755),
      linkpath: entry.linkpath ?? '',
      mtime: new Date(0),
      uid: 0,
      gid: 0,
    });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export function tarGz(entries: TarEntry[]): Buffer {
  return gzipSync(rawTar(entries));
}

/** A runnable shim binary: `source` (a runc shim) with a revision marker appended. */
export function shimBinary(revisionMarker = '', source = RUNC_SHIM): Buffer {
  const binary = readFileSync(source);
  return revisionMarker ? Buffer.concat([binary, Buffer.from(`\nshimkeeper-test-revision:${revisionMarker}\n`)]) : binary;
}

/** A release-style archive: the shim plus a licence file, as upstream shim releases ship. */
export function shimArchive(name = 'containerd-shim-probe-v2', revisionMarker = '', source = RUNC_SHIM): Buffer {
  return tarGz([
    { path: 'LICENSE', data: Buffer.from('Apache-2.0\n'), mode: 0o644 },
    { path: name, data: shimBinary(revisionMarker, source), mode: 0o755 },
  ]);
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
