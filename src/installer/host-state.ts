import path from 'node:path';
import type { SpliceRecord } from './containerd/config-edit.ts';
import { InstallerError } from './errors.ts';
import type { Host } from './host.ts';

// The node's own record of what shimkeeper installed. It lets a re-run recognise "already done"
// without downloading anything, and lets uninstall undo exactly what install did.

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
}

export const STATE_FILE = 'state.json';

/** Host path of the state file in the install dir. */
export function stateFilePath(installDir: string): string {
  return path.posix.join(installDir, STATE_FILE);
}

export async function readHostState(host: Host, installDir: string): Promise<HostState> {
  const file = stateFilePath(installDir);
  let text: string | null;
  try {
    text = await host.readText(file);
  } catch (error) {
    throw new InstallerError('StateUnreadable', `cannot read shimkeeper state ${file}: ${(error as Error).message}`);
  }
  if (text === null) return { schema: 1, shims: {} };
  try {
    const parsed = JSON.parse(text) as HostState;
    if (parsed.schema !== 1 || typeof parsed.shims !== 'object') throw new Error('unknown schema');
    return parsed;
  } catch (error) {
    throw new InstallerError('StateCorrupt', `shimkeeper state ${file} is not valid (${(error as Error).message}); move it aside to start over`);
  }
}

export async function writeHostState(host: Host, installDir: string, state: HostState): Promise<void> {
  await host.writeAtomic(stateFilePath(installDir), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}
