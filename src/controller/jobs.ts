// Installer Jobs as the planner sees them: deterministic names.

import { createHash } from 'node:crypto';
import type { JobAction } from '../api/installer-contract.ts';

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
