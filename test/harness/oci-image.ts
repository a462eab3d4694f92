import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, writeFile, copyFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { create as createTar } from 'tar';

// Writes an OCI image layout archive (what `ctr images import` and `skopeo` read) without any
// registry or daemon: one uncompressed layer, an image config, a manifest and an index.

export interface OciImageSpec {
  output: string;
  /** Full reference, e.g. shimkeeper.test/busybox:1 */
  name: string;
  files: Array<{ path: string; source: string; mode: number }>;
  cmd: string[];
  architecture?: string;
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

export async function buildOciArchive(spec: OciImageSpec): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'shimkeeper-oci-'));
  try {
    const rootfs = path.join(work, 'rootfs');
    for (const file of spec.files) {
      await mkdir(path.join(rootfs, path.dirname(file.path)), { recursive: true });
      await copyFile(file.source, path.join(rootfs, file.path));
      await chmod(path.join(rootfs, file.path), file.mode);
    }
    const layerPath = path.join(work, 'layer.tar');
    await createTar({ file: layerPath, cwd: rootfs, portable: true, noMtime: true }, spec.files.map((f) => f.path));
    const layer = await readFile(layerPath);
    const layerDigest = sha256(layer);
    const config = JSON.stringify({
      architecture: spec.architecture ?? (process.arch === 'arm64' ? 'arm64' : 'amd64'),
      os: 'linux',
      config: { Cmd: spec.cmd, Env: ['PATH=/bin'] },
      rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
    });
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha256(config)}`, size: Buffer.byteLength(config) },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerDigest}`, size: layer.length }],
    });
    const index = JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: `sha256:${sha256(manifest)}`,
        size: Buffer.byteLength(manifest),
        annotations: { 'io.containerd.image.name': spec.name, 'org.opencontainers.image.ref.name': spec.name.split(':').pop() },
      }],
    });
    const image = path.join(work, 'image');
    await mkdir(path.join(image, 'blobs', 'sha256'), { recursive: true });
    await writeFile(path.join(image, 'blobs', 'sha256', layerDigest), layer);
    await writeFile(path.join(image, 'blobs', 'sha256', sha256(config)), config);
    await writeFile(path.join(image, 'blobs', 'sha256', sha256(manifest)), manifest);
    await writeFile(path.join(image, 'index.json'), index);
    await writeFile(path.join(image, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await createTar({ file: spec.output, cwd: image, portable: true }, ['oci-layout', 'index.json', 'blobs']);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
