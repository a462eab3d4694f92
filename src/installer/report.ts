import { writeFile } from 'node:fs/promises';
import { TERMINATION_MESSAGE_LIMIT, type InstallerResult } from '../api/installer-contract.ts';

// The installer's only channel back to the controller: one JSON object as the last line of
// stdout and in the pod's termination message, whose size the kubelet caps.

export async function report(result: InstallerResult, terminationLog: string): Promise<void> {
  const line = JSON.stringify(result);
  process.stdout.write(`${line}\n`);
  await writeFile(terminationLog, fitTerminationMessage(result)).catch(() => {
    // Not running in a pod (or the file is not writable): stdout carries the result.
  });
}

/** The result as one JSON line of at most TERMINATION_MESSAGE_LIMIT bytes (UTF-8), still parseable. */
export function fitTerminationMessage(result: InstallerResult): string {
  const line = JSON.stringify(result);
  if (Buffer.byteLength(line) <= TERMINATION_MESSAGE_LIMIT) return line;
  if (result.ok && result.action === 'status') {
    return JSON.stringify({ ok: true, action: 'status', installed: 'too large for the termination message; run status on the node' });
  }
  if (result.ok) {
    const { timings: _timings, retainedRevisions: _retained, ...rest } = result;
    return JSON.stringify(rest);
  }
  // Keep the longest head of the error that fits (bytes, not characters: URLs and paths may not be ASCII).
  const withError = (length: number) => JSON.stringify({ ...result, error: `${result.error.slice(0, length)}…` });
  let low = 0;
  let high = result.error.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (Buffer.byteLength(withError(mid)) <= TERMINATION_MESSAGE_LIMIT) low = mid;
    else high = mid - 1;
  }
  return withError(low);
}
