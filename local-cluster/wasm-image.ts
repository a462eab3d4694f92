// Builds OCI image archives of a WASI module for Wasm shims (runwasi's containerd-shim-wasm), in
// the two layouts that library accepts (read from containerd-shim-wasm 1.0.1):
//
//   'file'      a regular image: one ordinary tar layer holding the module at /<name>.wasm, the
//               image config's Entrypoint naming it, the machine's linux/<arch> platform. The shim
//               sees a non-ELF entrypoint whose first bytes are "\0asm" and runs it with its
//               engine. This is what `docker build` of `FROM scratch; COPY app.wasm /` gives and
//               what CRI on every containerd version can create a container from.
//   'artifact'  the OCI Wasm artifact: image config architecture "wasm" (os "wasip1"), and the
//               module itself, not a tar, as a layer of media type `application/wasm` (or
//               runwasi's component type). The shim reads such layers from containerd's content
//               store over containerd's API, keyed by the container's image; it ignores the config
//               Entrypoint (arg0 only selects the exported function after '#').
//
// Only the layout differs; the module, its name and the output are the caller's.

import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { create as createTar } from 'tar';
import { buildLayer, FIXED_TIME, ociArchitecture, writeOciArchive } from './oci-image.ts';

/** Layer media types runwasi's `Shim::supported_layers_types()` accepts by default. */
export const WASM_LAYER_MEDIA_TYPES = {
  module: 'application/wasm',
  component: 'application/vnd.bytecodealliance.wasm.component.layer.v0+wasm',
} as const;

export type WasmImageLayout = 'file' | 'artifact';

export interface WasmImageSpec {
  /** Where the OCI image-layout tar goes. */
  output: string;
  /** Full reference as containerd stores it, e.g. shimkeeper.test/wasm-hello:1 */
  name: string;
  /** The compiled module (.wasm). */
  module: string;
  layout: WasmImageLayout;
  /** The module's path in a 'file' image (default /app.wasm). */
  modulePath?: string;
  /** For 'artifact': the layer media type (default application/wasm). */
  layerMediaType?: string;
  /** Process args after the entrypoint (the module's argv[1..]). */
  args?: string[];
  env?: string[];
}

export async function buildWasmImage(spec: WasmImageSpec): Promise<{ manifestDigest: string }> {
  await mkdir(path.dirname(spec.output), { recursive: true });
  return spec.layout === 'file' ? buildFileImage(spec) : buildArtifactImage(spec);
}

async function buildFileImage(spec: WasmImageSpec): Promise<{ manifestDigest: string }> {
  const modulePath = spec.modulePath ?? '/app.wasm';
  const work = await mkdtemp(path.join(path.dirname(spec.output), '.wasm-image-'));
  try {
    // 0644, as `COPY app.wasm /` leaves it: not an executable, so runwasi does not take the
    // container for a Linux one.
    const layer = await buildLayer([{ type: 'file', path: modulePath, source: spec.module, mode: 0o644 }], path.join(work, 'layer.tar'), `module ${path.basename(spec.module)}`);
    return await writeOciArchive({
      output: spec.output,
      name: spec.name,
      layers: [layer],
      config: {
        Entrypoint: [modulePath],
        ...(spec.args ? { Cmd: spec.args } : {}),
        Env: spec.env ?? [],
        Labels: { 'org.opencontainers.image.title': spec.name },
      },
      architecture: ociArchitecture(),
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

async function buildArtifactImage(spec: WasmImageSpec): Promise<{ manifestDigest: string }> {
  const module = await readFile(spec.module);
  const moduleDigest = sha256(module);
  const created = FIXED_TIME.toISOString();
  // As runwasi's own oci-tar-builder writes it: the config (read by runwasi only for its
  // architecture) has an empty rootfs, because the module layer is no file system layer; unpacking
  // skips such layers from containerd 1.7 on and would otherwise fail with "mismatched image rootfs
  // and manifest layers". With no diff_ids to tell configs apart, a label carries the layer digest.
  const config = JSON.stringify({
    created,
    architecture: 'wasm',
    os: 'wasip1',
    config: {
      Entrypoint: [`/${path.basename(spec.module)}`],
      ...(spec.args ? { Cmd: spec.args } : {}),
      Env: spec.env ?? [],
      Labels: { 'containerd.runwasi.layers': moduleDigest },
    },
    rootfs: { type: 'layers', diff_ids: [] },
    history: [{ created, created_by: `module ${path.basename(spec.module)}` }],
  });
  const configDigest = sha256(config);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configDigest}`, size: Buffer.byteLength(config) },
    layers: [{ mediaType: spec.layerMediaType ?? WASM_LAYER_MEDIA_TYPES.module, digest: `sha256:${moduleDigest}`, size: module.length }],
  });
  const manifestDigest = sha256(manifest);
  const index = JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${manifestDigest}`,
      size: Buffer.byteLength(manifest),
      platform: { architecture: 'wasm', os: 'wasip1' },
      annotations: { 'io.containerd.image.name': spec.name, 'org.opencontainers.image.ref.name': spec.name.split(':').pop() },
    }],
  });
  const layout = await mkdtemp(path.join(path.dirname(spec.output), '.wasm-layout-'));
  const partial = `${spec.output}.partial-${process.pid}`;
  try {
    const blobs = path.join(layout, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    await writeFile(path.join(blobs, moduleDigest), module);
    await writeFile(path.join(blobs, configDigest), config);
    await writeFile(path.join(blobs, manifestDigest), manifest);
    await writeFile(path.join(layout, 'index.json'), index);
    await writeFile(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const names = [...new Set([moduleDigest, configDigest, manifestDigest])].sort();
    const entries = ['oci-layout', 'index.json', 'blobs', 'blobs/sha256', ...names.map((name) => `blobs/sha256/${name}`)];
    await createTar({ file: partial, cwd: layout, noDirRecurse: true, portable: true, mtime: FIXED_TIME }, entries);
    await rename(partial, spec.output);
    return { manifestDigest: `sha256:${manifestDigest}` };
  } finally {
    await rm(layout, { recursive: true, force: true });
    await rm(partial, { force: true });
  }
}

/** The default place for Wasm fixture images: ${SHIMKEEPER_CACHE:-$HOME/.cache/shimkeeper}/wasm/images. */
export function defaultWasmImagesDir(): string {
  return path.join(process.env['SHIMKEEPER_CACHE'] || path.join(os.homedir(), '.cache', 'shimkeeper'), 'wasm', 'images');
}
