import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { create as createTar, type WriteEntry } from 'tar';

// Writes OCI image-layout archives (what `ctr images import` and `skopeo` read) without any
// registry or daemon. Layers are uncompressed tars (containerd accepts them, and they are the
// fastest to build) with fixed metadata: one mtime, numeric owners, no uname/atime/ctime/inode,
// entries sorted. The same files therefore always give the same digests, which keeps content
// caches and containerd's content store from filling up with copies of unchanged layers.

/** Every entry of every layer and archive carries this mtime, and image configs this `created`. */
export const FIXED_TIME = new Date('2025-01-01T00:00:00Z');

interface Ownership {
  /** Permission bits, including setuid/setgid/sticky (e.g. 0o1777 for /tmp). */
  mode: number;
  uid?: number;
  gid?: number;
}

/** One entry of a layer, at `path` inside the image (relative: `usr/local/bin/node`). */
export type LayerEntry =
  | ({ type: 'file'; path: string; source: string } & Ownership)
  | ({ type: 'file'; path: string; content: string | Uint8Array } & Ownership)
  | ({ type: 'directory'; path: string } & Ownership)
  | { type: 'symlink'; path: string; target: string };

/** A layer blob on disk. Uncompressed, so its digest is also its diff_id. */
export interface LayerBlob {
  file: string;
  digest: string;
  size: number;
  /** Shown in the image history (`created_by`). */
  description: string;
}

/** The runtime part of an OCI image config (field names as the spec spells them). */
export interface OciRuntimeConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  StopSignal?: string;
  Labels?: Record<string, string>;
}

export interface OciArchiveSpec {
  output: string;
  /** Full reference as containerd stores it, e.g. docker.io/library/shimkeeper-installer:dev */
  name: string;
  layers: LayerBlob[];
  config: OciRuntimeConfig;
  architecture?: string;
}

export interface OciImageSpec {
  output: string;
  /** Full reference, e.g. shimkeeper.test/busybox:1 */
  name: string;
  files: Array<{ path: string; source: string; mode: number }>;
  cmd: string[];
  architecture?: string;
}

export function ociArchitecture(arch: string = process.arch): string {
  if (arch === 'x64') return 'amd64';
  if (arch === 'arm64') return 'arm64';
  throw new Error(`no OCI architecture for Node's process.arch ${arch}`);
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/**
 * Writes `entries` as an uncompressed layer tar at `output`. Missing parent directories are
 * added (0755, root). Sources are staged as hard links when possible (no copy of a 100 MB node
 * binary) and only read; their owner, mode and times never reach the layer.
 */
export async function buildLayer(entries: LayerEntry[], output: string, description: string): Promise<LayerBlob> {
  const stage = await mkdtemp(path.join(path.dirname(output), '.layer-'));
  try {
    const metadata = new Map<string, Required<Ownership>>();
    const ensureParents = async (entryPath: string) => {
      const parents: string[] = [];
      for (let dir = path.posix.dirname(entryPath); dir !== '.' && !metadata.has(dir); dir = path.posix.dirname(dir)) parents.unshift(dir);
      for (const dir of parents) {
        metadata.set(dir, { mode: 0o755, uid: 0, gid: 0 });
        await mkdir(path.join(stage, dir), { recursive: true });
      }
    };
    // Directories first (so a directory listed with its own mode is not taken as a default
    // parent), then everything else in a stable order.
    const ordered = [...entries].sort((a, b) => Number(b.type === 'directory') - Number(a.type === 'directory') || compare(a.path, b.path));
    const copies: Array<() => Promise<void>> = [];
    for (const entry of ordered) {
      const entryPath = normaliseEntryPath(entry.path);
      if (metadata.has(entryPath) && entry.type !== 'directory') throw new Error(`layer ${description}: ${entryPath} is listed twice`);
      await ensureParents(entryPath);
      const target = path.join(stage, entryPath);
      if (entry.type === 'symlink') {
        metadata.set(entryPath, { mode: 0o777, uid: 0, gid: 0 });
        await symlink(entry.target, target);
        continue;
      }
      metadata.set(entryPath, { mode: entry.mode, uid: entry.uid ?? 0, gid: entry.gid ?? 0 });
      if (entry.type === 'directory') await mkdir(target, { recursive: true });
      else if ('source' in entry) copies.push(() => linkOrCopy(entry.source, target));
      else copies.push(() => writeFile(target, entry.content));
    }
    // node_modules alone is thousands of small files: stage a few at a time.
    for (let next = 0; next < copies.length; next += 32) await Promise.all(copies.slice(next, next + 32).map((copy) => copy()));
    await writeDeterministicTar(stage, [...metadata.keys()].sort(compare), metadata, output);
    const { size } = await stat(output);
    return { file: output, digest: `sha256:${await sha256File(output)}`, size, description };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/**
 * Writes a one-image OCI layout archive. Layer blobs are hard-linked into the layout when they
 * live on the same filesystem, so a 100 MB layer is read once, by tar.
 */
export async function writeOciArchive(spec: OciArchiveSpec): Promise<{ manifestDigest: string }> {
  const created = FIXED_TIME.toISOString();
  const config = JSON.stringify({
    created,
    architecture: spec.architecture ?? ociArchitecture(),
    os: 'linux',
    config: spec.config,
    rootfs: { type: 'layers', diff_ids: spec.layers.map((layer) => layer.digest) },
    history: spec.layers.map((layer) => ({ created, created_by: layer.description })),
  });
  const configDigest = sha256(config);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configDigest}`, size: Buffer.byteLength(config) },
    layers: spec.layers.map((layer) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.size })),
  });
  const manifestDigest = sha256(manifest);
  const index = JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${manifestDigest}`,
      size: Buffer.byteLength(manifest),
      annotations: { 'io.containerd.image.name': spec.name, 'org.opencontainers.image.ref.name': spec.name.split(':').pop() },
    }],
  });
  const layout = await mkdtemp(path.join(path.dirname(spec.output), '.oci-layout-'));
  const partial = `${spec.output}.partial-${process.pid}`;
  try {
    const blobs = path.join(layout, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    for (const layer of spec.layers) await linkOrCopy(layer.file, path.join(blobs, layer.digest.replace(/^sha256:/, '')));
    await writeFile(path.join(blobs, configDigest), config);
    await writeFile(path.join(blobs, manifestDigest), manifest);
    await writeFile(path.join(layout, 'index.json'), index);
    await writeFile(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const blobNames = [...new Set([...spec.layers.map((layer) => layer.digest.replace(/^sha256:/, '')), configDigest, manifestDigest])].sort();
    const entries = ['oci-layout', 'index.json', 'blobs', 'blobs/sha256', ...blobNames.map((name) => `blobs/sha256/${name}`)];
    const metadata = new Map(entries.map((entry) => [entry, { mode: entry.startsWith('blobs/sha256/') || !entry.startsWith('blobs') ? 0o644 : 0o755, uid: 0, gid: 0 }]));
    // Written under a temp name and renamed: a reader never sees half an archive, and two
    // concurrent builds of the same image both end with a whole one.
    await writeDeterministicTar(layout, entries, metadata, partial);
    await rename(partial, spec.output);
    return { manifestDigest: `sha256:${manifestDigest}` };
  } finally {
    await rm(layout, { recursive: true, force: true });
    await rm(partial, { force: true });
  }
}

/** The original one-layer helper (static busybox for the harness), on top of the above. */
export async function buildOciArchive(spec: OciImageSpec): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'shimkeeper-oci-'));
  try {
    const layer = await buildLayer(
      spec.files.map((file) => ({ type: 'file', path: file.path, source: file.source, mode: file.mode })),
      path.join(work, 'layer.tar'),
      'files',
    );
    await writeOciArchive({
      output: spec.output,
      name: spec.name,
      layers: [layer],
      config: { Cmd: spec.cmd, Env: ['PATH=/bin'] },
      ...(spec.architecture ? { architecture: spec.architecture } : {}),
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function writeDeterministicTar(cwd: string, entries: string[], metadata: Map<string, Required<Ownership>>, output: string): Promise<void> {
  const normalise = (entry: WriteEntry) => {
    const own = metadata.get(entry.path.replace(/\/$/, ''));
    const original = entry.stat;
    if (!own || !original) throw new Error(`tar: no metadata for ${entry.path}`);
    // The header is built from entry.stat right after this hook: replace what would leak the
    // build machine (owner, times, inode) and set the mode the image wants.
    entry.stat = Object.assign(Object.create(Object.getPrototypeOf(original) as object) as typeof original, original, {
      mode: (original.mode & ~0o7777) | own.mode,
      uid: own.uid,
      gid: own.gid,
      atime: undefined,
      ctime: undefined,
      dev: undefined,
      ino: undefined,
      nlink: undefined,
    });
    entry.myuser = '';
  };
  await createTar({ file: output, cwd, noDirRecurse: true, mtime: FIXED_TIME, onWriteEntry: normalise, strict: true }, entries);
}

async function linkOrCopy(source: string, target: string): Promise<void> {
  try {
    await link(source, target);
  } catch {
    await copyFile(source, target);
  }
}

function normaliseEntryPath(entryPath: string): string {
  const normalised = path.posix.normalize(entryPath.replace(/^\/+/, '')).replace(/\/$/, '');
  if (normalised === '.' || normalised.startsWith('..')) throw new Error(`layer entry path ${entryPath} is outside the image root`);
  return normalised;
}

// Byte order, not locale order: the same on every machine.
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
