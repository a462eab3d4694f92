import path from 'node:path';
import type { SpliceRecord } from './containerd/config-edit.ts';
import { InstallerError } from './errors.ts';
import { HostFileError, type Host } from './host.ts';
import { hostStateProblem } from './host-state-shape.ts';

// The node's own record of what shimkeeper installed. It lets a re-run recognise "already done"
// without downloading anything, and lets uninstall undo exactly what install did.
//
// What the config edit displaced is also written into the managed block itself (config-edit.ts),
// so the config file always knows how to undo itself; state.json is the record of the *files*
// shimkeeper created: revisionDirs lists every revision directory an install created, written
// before the directory is, and clean-up deletes nothing else.

export interface InstalledShim {
  shim: string;
  handler: string;
  version: string;
  revision: string;
  sha256: string;
  binaryName: string;
  /** Host path of the binary containerd runs for this revision. */
  binaryPath: string;
  /** Host path of the file holding the stanza. */
  configPath: string;
  configFormat: string;
  configVersion: number;
  /** True when shimkeeper created the config file (uninstall then removes it if nothing else is in it). */
  createdConfig: boolean;
  splice: SpliceRecord;
  runtimeOptions: Record<string, string>;
  installedAt: string;
}

export interface HostState {
  schema: 1;
  shims: Record<string, InstalledShim>;
  /** Per shim, host paths of the revision directories installs created and that may still exist. */
  revisionDirs?: Record<string, string[]>;
}

export const STATE_FILE = 'state.json';

/** Host path of the state file in the install dir. */
export function stateFilePath(installDir: string): string {
  return path.posix.join(installDir, STATE_FILE);
}

const KEEP_IT = 'Repair that field by hand or restore the file; do not delete it: it is the record of which binaries shimkeeper installed on this node';

export async function readHostState(host: Host, installDir: string): Promise<HostState> {
  const file = stateFilePath(installDir);
  let text: string | null;
  try {
    text = await host.readText(file);
  } catch (error) {
    if (error instanceof HostFileError && /UTF-8/.test(error.message)) throw new InstallerError('StateCorrupt', `shimkeeper state ${error.message}. ${KEEP_IT}`);
    if (error instanceof InstallerError) throw error;
    throw new InstallerError('StateUnreadable', `cannot read shimkeeper state ${file}: ${(error as Error).message}`);
  }
  if (text === null) return { schema: 1, shims: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InstallerError('StateCorrupt', `shimkeeper state ${file} is not valid JSON (${(error as Error).message}). ${KEEP_IT}`);
  }
  const problem = hostStateProblem(parsed);
  if (problem) throw new InstallerError('StateCorrupt', `shimkeeper state ${file} is not valid: ${problem}. ${KEEP_IT}`);
  return parsed as HostState;
}

export async function writeHostState(host: Host, installDir: string, state: HostState): Promise<void> {
  await host.writeAtomic(stateFilePath(installDir), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

/** The revision directories recorded for `shim`: those installs created, and the installed one's. */
export function recordedRevisionDirs(state: HostState, shim: string): string[] {
  const dirs = new Set(state.revisionDirs?.[shim] ?? []);
  const installed = state.shims[shim];
  // An install from before revisionDirs existed recorded only its binary.
  if (installed) dirs.add(path.posix.dirname(installed.binaryPath));
  return [...dirs];
}

/** Records a directory an install is about to create, before it creates it. */
export async function recordRevisionDir(host: Host, installDir: string, state: HostState, shim: string, dir: string): Promise<void> {
  const dirs = state.revisionDirs?.[shim] ?? [];
  if (dirs.includes(dir)) return;
  state.revisionDirs = { ...state.revisionDirs, [shim]: [...dirs, dir] };
  await writeHostState(host, installDir, state);
}

/** Forgets directories that are gone. */
export function forgetRevisionDirs(state: HostState, shim: string, removed: string[]): void {
  const left = (state.revisionDirs?.[shim] ?? []).filter((dir) => !removed.includes(dir));
  const { [shim]: _gone, ...others } = state.revisionDirs ?? {};
  state.revisionDirs = left.length > 0 ? { ...others, [shim]: left } : others;
  if (Object.keys(state.revisionDirs).length === 0) delete state.revisionDirs;
}
