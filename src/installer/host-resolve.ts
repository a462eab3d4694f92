import { lstat, readlink } from 'node:fs/promises';
import path from 'node:path';
import { InstallerError } from './errors.ts';

// Resolves a host path the way the host's own kernel would, but against --host-root: a symlink
// inside the host (config management, NixOS, alternatives) names a *host* path, so an absolute
// target is re-rooted under the root and `..` never climbs above it. Resolving with the
// installer's own filesystem instead would look into the container (where the target is absent)
// and then replace the link with a file.

/** Linux's own limit on symlinks followed while resolving one path. */
export const MAX_SYMLINKS = 40;

export interface ResolvedHostPath {
  /** The host path with every existing symlink resolved (as the host sees it). */
  hostPath: string;
  /** The host path of a symlink whose target does not exist, when one was met. */
  danglingLink?: string;
}

/**
 * Resolves every component of `hostPath` under `root`. Components that do not exist (yet) are
 * kept as they are, so the result also names files and directories about to be created.
 */
export async function resolveHostPath(root: string, hostPath: string): Promise<ResolvedHostPath> {
  // Each component remembers the symlink whose target it came from, to name a dangling one.
  const pending: Array<{ component: string; fromLink?: string }> = splitComponents(hostPath).map((component) => ({ component }));
  const resolved: string[] = [];
  let links = 0;
  let danglingLink: string | undefined;
  let missing = false;
  while (pending.length > 0) {
    const { component, fromLink } = pending.shift()!;
    if (component === '..') {
      resolved.pop(); // at the root, `..` is the root, as on the host
      continue;
    }
    const candidate = [...resolved, component];
    if (missing) {
      resolved.push(component);
      continue;
    }
    const info = await lstat(path.join(root, ...candidate)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return null;
      throw new InstallerError('HostPathUnresolvable', `cannot resolve host path ${hostPath} at /${candidate.join('/')}: ${error.message}`);
    });
    if (info === null) {
      missing = true;
      danglingLink = fromLink;
      resolved.push(component);
      continue;
    }
    if (!info.isSymbolicLink()) {
      resolved.push(component);
      continue;
    }
    links += 1;
    if (links > MAX_SYMLINKS) {
      throw new InstallerError('HostPathUnresolvable', `host path ${hostPath} goes through more than ${MAX_SYMLINKS} symlinks (a loop?) at /${candidate.join('/')}; fix the link on the node`);
    }
    const target = await readlink(path.join(root, ...candidate));
    const link = `/${candidate.join('/')}`;
    // A relative target resolves from the link's directory; an absolute one from the host's /.
    if (path.posix.isAbsolute(target)) resolved.length = 0;
    pending.unshift(...splitComponents(target).map((c) => ({ component: c, fromLink: link })));
  }
  const result = `/${resolved.join('/')}`;
  return danglingLink !== undefined ? { hostPath: result, danglingLink } : { hostPath: result };
}

function splitComponents(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}
