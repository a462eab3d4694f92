// Which containerd the local cluster's node runs.
//
// By default containerd 2.4.2, built from its Go module by scripts/build-containerd.sh (cached in
// ${SHIMKEEPER_CACHE:-~/.cache/shimkeeper}/containerd/<version>/bin with the runc shim of the same
// release) and Debian's runc: what a current node runs, and the release on which a Wasm shim gets
// its runtime options (containerd 1.6 sends a non-runc shim the generic options with an empty body,
// so runwasi's required `SystemdCgroup` key cannot reach it; the installer refuses such options on
// 1.6). SHIMKEEPER_NODE_CONTAINERD=1.7.35 picks another built release, `debian` the distribution's
// 1.6 on PATH (then the Wasm Shim goes without runtime options).
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runToCompletion } from './processes.ts';

export const DEFAULT_NODE_CONTAINERD = '2.4.2';

export interface NodeContainerd {
  /** `debian` or a release version such as `2.4.2`. */
  name: string;
  /** Directory with `containerd` and `containerd-shim-runc-v2`, put first on containerd's PATH; null for Debian's. */
  binDir: string | null;
  /** The runc shim of this release (the probe shim is a renamed copy: 2.3+ cannot start 1.6's). */
  runcShim: string;
  /** containerd config version the node's config.toml is written in (2 for 1.x, 3 for 2.x). */
  configVersion: 2 | 3;
  /** Whether runtime options in the handler's table reach a non-runc shim (1.7 and later). */
  passesRuntimeOptions: boolean;
}

const buildScript = fileURLToPath(new URL('../scripts/build-containerd.sh', import.meta.url));

export function nodeContainerdName(): string {
  return process.env['SHIMKEEPER_NODE_CONTAINERD'] || DEFAULT_NODE_CONTAINERD;
}

/** The node's containerd, built first when the cache lacks it (1.5–3.5 min on 2 cores). */
export async function ensureNodeContainerd(name = nodeContainerdName()): Promise<NodeContainerd> {
  if (name === 'debian') {
    return { name, binDir: null, runcShim: '/usr/bin/containerd-shim-runc-v2', configVersion: 2, passesRuntimeOptions: false };
  }
  const cacheRoot = process.env['SHIMKEEPER_CACHE'] || path.join(os.homedir(), '.cache', 'shimkeeper');
  const binDir = path.join(cacheRoot, 'containerd', name, 'bin');
  const runcShim = path.join(binDir, 'containerd-shim-runc-v2');
  if (!existsSync(path.join(binDir, 'containerd')) || !existsSync(runcShim)) {
    console.warn(`containerd ${name} is not in ${binDir}: building it from its Go module (a few minutes)`);
    await runToCompletion(['bash', buildScript, name], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const major = Number(name.split('.')[0]);
  return { name, binDir, runcShim, configVersion: major >= 2 ? 3 : 2, passesRuntimeOptions: true };
}
