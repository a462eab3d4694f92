// The per-node, per-shim status annotation `<shim>.shim.runtime.shimkeeper.dev/status`: parsing,
// writing and comparing it. The controller alone writes it.

import type { NodeShimState, NodeShimStatus } from '../../api/names.ts';
import { redactSecrets } from '../../api/redact.ts';
import { memoizeByString } from './memo.ts';

/**
 * What the controller stores in the annotation: DESIGN's NodeShimStatus plus `workingRevision` and `failures`, the number
 * of consecutive failed attempts at `revision`, which drives retry backoff. Readers that only know
 * NodeShimStatus may ignore it.
 */
export interface NodeShimRecord extends NodeShimStatus {
  failures?: number;
  /**
   * While an install is in progress or after it failed: the revision that is still installed and
   * working on the node (the installer changes nothing, or rolls back, when it fails).
   */
  workingRevision?: string;
  /** Installed, but something since suggests it may no longer work (drift.ts): no ready label until verified. */
  suspect?: string;
  /** What the installed binary says its version is (the Shim's `version` is in `version`). */
  shimVersion?: string;
  /** The CRI handler the working installation answers to (installed, or the working revision's). */
  handler?: string;
  /** While a Job runs: why its Pod cannot get going (the kubelet's reason), so nobody waits for the deadline. */
  stuck?: string;
  /** The node's boot ID and container runtime when the installation was last proven. */
  bootID?: string;
  runtime?: string;
  /**
   * The uid of the finished Job whose outcome this record holds. That Job is left for Kubernetes to
   * delete (its ttlSecondsAfterFinished) instead of costing a write per node, and is not folded in
   * again meanwhile; its Pod keeps the installer's log until then.
   */
  job?: string;
}

const RECORD_STRINGS = ['version', 'revision', 'sha256', 'containerd', 'message', 'workingRevision', 'shimVersion', 'handler', 'suspect', 'stuck', 'bootID', 'runtime', 'job'] as const;

const STATES: readonly NodeShimState[] = ['installing', 'installed', 'failed', 'uninstalling'];

/**
 * Parses the annotation value. Returns `null` when absent. A value that is not a valid record (hand
 * edits, a future format) comes back as `{state: 'failed', ...}` with a message: the node is
 * treated as holding an unknown installation, which a reinstall or uninstall then repairs.
 */
export function parseNodeShimStatus(value: string | undefined): NodeShimRecord | null {
  return value === undefined ? null : parsedRecord(value);
}

/**
 * Every plan reads every node's record; most have not changed since the last plan. Records are
 * frozen, so sharing one between plans cannot leak a change from one to the next.
 */
const parsedRecord = memoizeByString((value) => Object.freeze(parseRecord(value)), 50_000);

function parseRecord(value: string): NodeShimRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return { state: 'failed', message: 'status annotation is not JSON', time: '' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { state: 'failed', message: 'status annotation is not a JSON object', time: '' };
  }
  const raw = parsed as Record<string, unknown>;
  if (!STATES.includes(raw.state as NodeShimState)) {
    return { state: 'failed', message: `status annotation has unknown state ${JSON.stringify(raw.state)}`, time: '' };
  }
  const record: NodeShimRecord = { state: raw.state as NodeShimState, time: typeof raw.time === 'string' ? raw.time : '' };
  for (const key of RECORD_STRINGS) {
    if (typeof raw[key] === 'string') record[key] = raw[key];
  }
  if (typeof raw.failures === 'number' && Number.isInteger(raw.failures) && raw.failures > 0) record.failures = raw.failures;
  return record;
}

/** Canonical JSON for the annotation: fixed key order, absent fields left out. */
export function serializeNodeShimStatus(record: NodeShimRecord): string {
  const ordered: Record<string, unknown> = { state: record.state };
  for (const key of [...RECORD_STRINGS, 'failures'] as const) {
    if (record[key] !== undefined && record[key] !== '') ordered[key] = record[key];
  }
  ordered.time = record.time;
  return JSON.stringify(ordered);
}

export function sameNodeShimStatus(a: NodeShimRecord | null, b: NodeShimRecord | null): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  return serializeNodeShimStatus(a) === serializeNodeShimStatus(b);
}

/** The record with secrets (credentials, signed queries in URLs) taken out of its message. */
export function redactRecord<R extends NodeShimRecord | null>(record: R): R {
  if (!record?.message) return record;
  const message = redactSecrets(record.message);
  return message === record.message ? record : { ...record, message };
}
