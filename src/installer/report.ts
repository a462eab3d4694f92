import { writeFile } from 'node:fs/promises';

// The installer's only channel back to the controller: one JSON object as the last line of
// stdout and in the pod's termination message (which Kubernetes caps at 4096 bytes).

export interface ShimActionResult {
  ok: true;
  action: 'install' | 'uninstall';
  shim: string;
  handler: string;
  version: string;
  revision: string;
  sha256: string;
  binaryPath: string;
  configPath: string;
  flavour: string;
  containerdVersion: string;
  restarted: boolean;
  changed: boolean;
  /** After uninstall: revisions whose binaries stay because running shims still execute them. */
  retainedRevisions?: string[];
  timings?: Record<string, number>;
}

export type InstallerResult =
  | ShimActionResult
  | { ok: true; action: 'status'; installed: unknown; containerdVersion?: string; containerdError?: string }
  | { ok: false; action: string; shim: string; code: string; error: string };

const TERMINATION_MESSAGE_LIMIT = 4096;

export async function report(result: InstallerResult, terminationLog: string): Promise<void> {
  const line = JSON.stringify(result);
  process.stdout.write(`${line}\n`);
  const forTermination = line.length <= TERMINATION_MESSAGE_LIMIT ? line : JSON.stringify(shorten(result));
  await writeFile(terminationLog, forTermination).catch(() => {
    // Not running in a pod (or the file is not writable): stdout carries the result.
  });
}

function shorten(result: InstallerResult): InstallerResult {
  if (!result.ok) return { ...result, error: `${result.error.slice(0, 3500)}…` };
  if (result.action === 'status') return { ok: true, action: 'status', installed: 'too large for the termination message; run status on the node' };
  const { timings: _timings, ...rest } = result;
  return rest;
}
