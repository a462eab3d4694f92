// Installer Jobs as the planner sees them: deterministic names and the result contract.

import { createHash } from 'node:crypto';

export type JobAction = 'install' | 'uninstall';

/**
 * What a finished installer reports through its termination message (last stdout line and
 * /dev/termination-log). The installer (src/installer) owns the format; this is the contract.
 */
export type InstallerResult =
  | {
      ok: true;
      action: JobAction;
      shim: string;
      handler?: string;
      version?: string;
      revision?: string;
      sha256?: string;
      binaryPath?: string;
      configPath?: string;
      containerdVersion?: string;
      restarted?: boolean;
    }
  | { ok: false; action?: JobAction; shim?: string; code?: string; error: string };

/**
 * Installer error codes after which the node may not be as it was (the rollback failed, or the
 * installer broke in an unforeseen way). Every other reported failure left the previous
 * installation untouched or restored it.
 */
export const NODE_STATE_UNKNOWN_CODES: ReadonlySet<string> = new Set(['RollbackFailed', 'InternalError']);

/**
 * The result in a termination message: its last line that is a JSON object with a boolean `ok`.
 * `null` when there is none (the pod died before reporting, or the message was truncated).
 */
export function parseInstallerResult(message: string | undefined): InstallerResult | null {
  if (!message) return null;
  const lines = message.split('\n').map((line) => line.trim()).filter((line) => line.startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const value: unknown = JSON.parse(lines[i]!);
      if (typeof value !== 'object' || value === null || Array.isArray(value)) continue;
      const record = value as Record<string, unknown>;
      if (record.ok === true && (record.action === 'install' || record.action === 'uninstall')) {
        return value as InstallerResult;
      }
      if (record.ok === false) {
        return { ...(value as object), error: typeof record.error === 'string' ? record.error : 'installer failed' } as InstallerResult;
      }
    } catch {
      // Not JSON: keep looking at earlier lines.
    }
  }
  return null;
}

const MAX_NAME = 63;

/**
 * Deterministic Job name for one action on one node at one revision: readable
 * `<shim>-<node>-<action>-<hash>`, at most 63 characters (the Job controller copies the name into a
 * label value). The hash covers the exact (shim, node, action, revision), so names never collide even
 * when the readable part is truncated or sanitised (`a.b` and `a-b` both read `a-b`).
 */
export function installerJobName(shim: string, node: string, action: JobAction, revision: string): string {
  const hash = createHash('sha256').update(JSON.stringify([shim, node, action, revision])).digest('hex').slice(0, 8);
  const suffix = `-${action}-${hash}`;
  const readable = `${shim}-${node}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-');
  const head = readable.slice(0, MAX_NAME - suffix.length).replace(/^-+|-+$/g, '');
  return `${head || 'shim'}${suffix}`;
}
