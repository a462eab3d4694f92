import path from 'node:path';
import { InstallerError } from '../errors.ts';

// How the stanza names the shim for containerd, from what was measured on containerd 1.6.20,
// 1.7.35 and 2.4.2 (test/integration/installer.test.ts runs on all three):
//
// - containerd picks the form of a runtime's options by its runtime_type string: runc's typed
//   options only for `io.containerd.runc.v1`/`v2`, a generic blob (runtimeoptions.v1.Options) for
//   every other name, an absolute path included. So an absolute path gives any shim not named
//   like runc exactly the options a hand-written `io.containerd.<name>.v2` stanza would.
// - A name other than runc is a trap: containerd 2.x looks a running container's shim up by that
//   name on its PATH when it restarts, does not find it (shimkeeper puts nothing on containerd's
//   PATH, where it would shadow or be shadowed by other files) and kills the pod. An absolute path
//   survives restarts on every release.
// - A shim binary named `containerd-shim-runc-v2` (a vendor's patched runc shim) needs runc's typed
//   options, so it gets `io.containerd.runc.v2` with runtime_path naming the binary. containerd
//   1.7+ starts runtime_path; 1.6 ignores it when it starts a shim and would run the node's own
//   runc shim instead, so on 1.6 it gets its absolute path too (and cannot take typed options).

/**
 * Option keys containerd 1.6 passes to a shim it does not know as runc: it decodes the options into
 * the generic runtimeoptions.v1.Options and sends only these two fields (1.7 added the whole table
 * as a TOML body), so every other key would silently never reach the shim.
 */
const GENERIC_OPTION_KEYS_1_6 = new Set(['TypeUrl', 'ConfigPath']);

/** Refuses options this containerd would drop on their way to the shim. */
export function checkOptionsReachShim(options: Record<string, string>, version: string | null): void {
  if (honoursRuntimePath(version) || version === null) return;
  const dropped = Object.keys(options).filter((key) => !GENERIC_OPTION_KEYS_1_6.has(key));
  if (dropped.length === 0) return;
  throw new InstallerError(
    'RuntimeOptionsUnsupported',
    `containerd ${version} cannot pass the runtime options ${dropped.join(', ')} to a shim other than its own runc shim: it sends a shim only ` +
      `the generic ConfigPath and TypeUrl. Upgrade containerd to 1.7 or later, or remove containerdRuntimeOptions (a shim's own config file can go in ConfigPath). Nothing was changed`,
  );
}

const RUNC_SHIM_BINARY = /^containerd-shim-runc-(v[0-9]+)$/;

/** Major and minor of a CRI runtime_version such as `1.6.20~ds1`, `v1.7.35` or `v2.4.2`. */
export function containerdMinor(version: string | null): [number, number] | null {
  const match = version ? /^v?(\d+)\.(\d+)/.exec(version) : null;
  return match ? [Number(match[1]), Number(match[2])] : null;
}

/** Does this containerd start shims from runtime_path? (1.7 and later; unknown counts as no.) */
export function honoursRuntimePath(version: string | null): boolean {
  const minor = containerdMinor(version);
  return minor !== null && (minor[0] > 1 || (minor[0] === 1 && minor[1] >= 7));
}

/** runtime_type for the installed binary on a containerd of `version` (runtime_path always names the binary). */
export function runtimeTypeFor(binaryPath: string, version: string | null): string {
  const runc = RUNC_SHIM_BINARY.exec(path.posix.basename(binaryPath));
  return runc !== null && honoursRuntimePath(version) ? `io.containerd.runc.${runc[1]}` : binaryPath;
}
