import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// The containerd releases the installer is tested on: Debian's (the distribution package, 1.6 here)
// and the newest 1.7 and 2.x, built from their Go modules by scripts/build-containerd.sh into the
// cache outside the repository. Each runs with the runc shim of the same release, which is also the
// shim the tests install under other names (containerd 2.3+ cannot start the 1.6 runc shim).

export interface ContainerdRelease {
  /** `debian` or the release version. */
  name: string;
  /** Directory holding `containerd` and `containerd-shim-runc-v2`; null for Debian's on PATH. */
  binDir: string | null;
  /** The runc shim of this release. */
  runcShim: string;
}

/** Keep in step with CONTAINERD_RELEASES in scripts/build-containerd.sh. */
export const BUILT_RELEASES = ['1.7.35', '2.4.2'] as const;

const cacheRoot = process.env['SHIMKEEPER_CACHE'] ?? path.join(os.homedir(), '.cache', 'shimkeeper');

export const DEBIAN_CONTAINERD: ContainerdRelease = { name: 'debian', binDir: null, runcShim: '/usr/bin/containerd-shim-runc-v2' };

export function builtRelease(version: string): ContainerdRelease {
  const binDir = path.join(cacheRoot, 'containerd', version, 'bin');
  if (!existsSync(path.join(binDir, 'containerd'))) {
    throw new Error(`containerd ${version} is not built: run scripts/build-containerd.sh (it caches releases in ${path.dirname(path.dirname(binDir))})`);
  }
  return { name: version, binDir, runcShim: path.join(binDir, 'containerd-shim-runc-v2') };
}

/**
 * The matrix: SHIMKEEPER_CONTAINERD_RELEASES (comma-separated names, e.g. `debian,2.4.2`) narrows
 * it for a quick local run; by default every release.
 */
export function containerdMatrix(): ContainerdRelease[] {
  const wanted = (process.env['SHIMKEEPER_CONTAINERD_RELEASES'] ?? ['debian', ...BUILT_RELEASES].join(',')).split(',').map((n) => n.trim()).filter(Boolean);
  return wanted.map((name) => (name === 'debian' ? DEBIAN_CONTAINERD : builtRelease(name)));
}
