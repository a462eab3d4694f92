// Which artifact one node gets for a Shim, and the revision that identifies it.

import { redactUrl } from './redact.ts';
import { computeRevision } from './revision.ts';
import { effectiveRuntimeOptions, type Shim } from './shim.ts';

export interface NodePlatform {
  /** The node's `kubernetes.io/os` label (kubelet sets it; absent is taken as linux). */
  os?: string;
  /** The node's `kubernetes.io/arch` label. */
  arch?: string;
}

export interface ResolvedArtifact {
  url: string;
  /** Absent only when the Shim opts out with `fetchStrategy.insecureSkipChecksum`. */
  sha256?: string;
  /** computeRevision of (url, sha256, handler, runtime options): what the installer also computes. */
  revision: string;
}

export type ArtifactResolution =
  | { supported: true; artifact: ResolvedArtifact }
  | { supported: false; reason: string };

// Kubernetes spells architectures the Go way; release archives often use uname names.
// Keep in step with the CEL uniqueness rule in crd.ts.
export const ARCH_ALIASES: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  aarch64: 'arm64',
};

/** Go-style architecture name: `x86_64` → `amd64`, `aarch64` → `arm64`; case-insensitive. */
export function normalizeArch(arch: string): string {
  const lower = arch.toLowerCase();
  return ARCH_ALIASES[lower] ?? lower;
}

export function normalizeOs(os: string | undefined): string {
  return (os ?? 'linux').toLowerCase();
}

/** `linux/amd64`: the key status.revisions uses. */
export function platformKey(platform: NodePlatform): string {
  return `${normalizeOs(platform.os)}/${normalizeArch(platform.arch ?? 'unknown')}`;
}

/**
 * The artifact for a node of the given platform, or why there is none. Windows nodes are never
 * supported (the installer is a Linux program editing a Linux containerd). When `platforms` is
 * non-empty it alone decides (no fallback to anonHttp, as upstream); otherwise anonHttp serves every
 * Linux node whatever its architecture — the artifact is the author's responsibility then.
 */
export function resolveArtifact(shim: Shim, platform: NodePlatform): ArtifactResolution {
  const os = normalizeOs(platform.os);
  if (os === 'windows') return { supported: false, reason: 'Windows nodes are not supported' };
  if (os !== 'linux') return { supported: false, reason: `nodes running ${os} are not supported` };

  const fetch = shim.spec.fetchStrategy;
  const platforms = fetch.platforms ?? [];
  let location: string;
  let sha256: string | undefined;
  if (platforms.length > 0) {
    if (platform.arch === undefined || platform.arch === '') {
      return { supported: false, reason: 'node has no kubernetes.io/arch label to pick an artifact by' };
    }
    const arch = normalizeArch(platform.arch);
    const match = platforms.find((p) => normalizeOs(p.os) === os && normalizeArch(p.arch) === arch);
    if (!match) {
      return { supported: false, reason: `fetchStrategy.platforms has no artifact for ${os}/${arch}` };
    }
    location = match.location;
    sha256 = match.sha256;
  } else if (fetch.anonHttp?.location) {
    location = fetch.anonHttp.location;
    sha256 = fetch.anonHttp.sha256;
  } else {
    return { supported: false, reason: 'fetchStrategy has neither anonHttp.location nor platforms' };
  }

  if (!sha256 && fetch.insecureSkipChecksum !== true) {
    // validate.ts rejects this too; refuse here as well so nothing unverified is ever installed by accident.
    return { supported: false, reason: `no sha256 for ${redactUrl(location)} and insecureSkipChecksum is not set` };
  }
  const normalizedSha = sha256 ? sha256.toLowerCase() : undefined;
  const revision = computeRevision({
    url: location,
    sha256: normalizedSha ?? '',
    handler: shim.spec.runtimeClass.handler,
    runtimeOptions: effectiveRuntimeOptions(shim.spec),
    shimBinary: shim.spec.shimBinary,
  });
  return {
    supported: true,
    artifact: normalizedSha ? { url: location, sha256: normalizedSha, revision } : { url: location, revision },
  };
}
