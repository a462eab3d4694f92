// The Shim status the planner derives from per-node outcomes: counts, revisions, failing nodes and
// the Ready / Progressing / Degraded conditions. Pure; conditions keep lastTransitionTime while their
// status stays the same, so re-planning an unchanged world yields an identical status.

import type { Condition, FailingNode, PlatformRevision, ShimStatus } from '../api/shim.ts';
import { MAX_FAILING_NODES } from '../api/shim.ts';
import type { NodeShimRecord } from './node-status.ts';

/** One existing node as the plan leaves it. */
export interface NodeOutcome {
  name: string;
  /** Targeted by the Shim (always false while the Shim is being deleted). */
  target: boolean;
  /** `os/arch`, for status.revisions. */
  platform: string;
  /** The revision this node should run (targets with a supported platform and a valid spec only). */
  desiredRevision?: string;
  /** Why a target node can never get the shim. */
  unsupported?: string;
  record: NodeShimRecord | null;
  ready: boolean;
  /** An installer Job runs (or was just created) for the node. */
  busy: boolean;
}

export interface StatusInput {
  generation: number;
  observed: ShimStatus | undefined;
  nodes: NodeOutcome[];
  deleting: boolean;
  specErrors: string[];
  paused: boolean;
  /** Target nodes that failed the desired revision (what the failure budget counts). */
  failedAtDesired: number;
  failureBudget: number;
  runtimeClassConflict?: string;
  now: string;
}

/** RFC 3339 with second precision: the API server stores metav1.Time that way, so compare in it too. */
export function toKubeTime(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

function failing(node: NodeOutcome): boolean {
  if (node.record?.state !== 'failed') return false;
  // A failure at an older revision is superseded: the node is simply due for the new one.
  return !(node.target && node.desiredRevision !== undefined && node.record.revision !== node.desiredRevision);
}

function updated(node: NodeOutcome): boolean {
  return (
    node.target &&
    node.desiredRevision !== undefined &&
    node.record?.state === 'installed' &&
    node.record.revision === node.desiredRevision
  );
}

function describeNodes(entries: FailingNode[], total: number): string {
  const listed = entries.map((entry) => `${entry.node}: ${entry.message}`).join('; ');
  return total > entries.length ? `${listed}; and ${total - entries.length} more` : listed;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/**
 * Sets the condition's lastTransitionTime from the observed one when the status did not change
 * (as metav1 SetStatusCondition does), otherwise to now.
 */
function withTransitionTime(
  condition: Omit<Condition, 'lastTransitionTime'>,
  observed: Condition[] | undefined,
  now: string,
): Condition {
  const previous = observed?.find((c) => c.type === condition.type);
  const lastTransitionTime = previous && previous.status === condition.status ? previous.lastTransitionTime : now;
  return { ...condition, lastTransitionTime };
}

export function computeStatus(input: StatusInput): ShimStatus {
  const { nodes, generation } = input;
  const targets = nodes.filter((n) => n.target);
  const unsupported = targets.filter((n) => n.unsupported !== undefined);
  const supported = targets.filter((n) => n.desiredRevision !== undefined);
  const updatedCount = supported.filter(updated).length;
  const failingAll = nodes
    .filter(failing)
    .map((n) => ({ node: n.name, message: n.record?.message || 'failed' }))
    .sort((a, b) => a.node.localeCompare(b.node));
  const failingNodes = failingAll.slice(0, MAX_FAILING_NODES);

  const revisionByPlatform = new Map<string, string>();
  for (const node of supported) revisionByPlatform.set(node.platform, node.desiredRevision!);
  const revisions: PlatformRevision[] = [...revisionByPlatform.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([platform, revision]) => ({ platform, revision }));

  const busy = nodes.filter((n) => n.busy).length;
  const leftToUninstall = nodes.filter((n) => !n.target && (n.record !== null || n.ready)).length;
  const leftToUpdate = supported.length - updatedCount;

  let ready: Omit<Condition, 'lastTransitionTime'>;
  let progressing: Omit<Condition, 'lastTransitionTime'>;
  if (input.deleting) {
    ready = { type: 'Ready', status: 'False', reason: 'Deleting', message: 'the Shim is being deleted' };
    progressing = {
      type: 'Progressing',
      status: 'True',
      reason: 'Deleting',
      message: `uninstalling from ${plural(leftToUninstall, 'node')} before the Shim is removed`,
    };
  } else if (input.specErrors.length > 0) {
    const message = `invalid spec: ${input.specErrors.join('; ')}`;
    ready = { type: 'Ready', status: 'False', reason: 'InvalidSpec', message };
    progressing = { type: 'Progressing', status: 'False', reason: 'InvalidSpec', message: 'no change is rolled out until the spec is fixed' };
  } else {
    if (supported.length === 0) {
      ready = {
        type: 'Ready',
        status: 'False',
        reason: 'NoTargetNodes',
        message:
          targets.length === 0
            ? 'no node matches spec.nodeSelector or opts in with the runtime.shimkeeper.dev/shims annotation'
            : `none of the ${plural(targets.length, 'target node')} can run the shim`,
      };
    } else if (updatedCount === supported.length) {
      ready = { type: 'Ready', status: 'True', reason: 'AllNodesUpdated', message: `all ${plural(supported.length, 'target node')} run the desired revision` };
    } else {
      ready = { type: 'Ready', status: 'False', reason: 'NodesNotUpdated', message: `${updatedCount} of ${plural(supported.length, 'target node')} run the desired revision` };
    }

    if (input.paused) {
      progressing = {
        type: 'Progressing',
        status: 'False',
        reason: 'RolloutPaused',
        message:
          `rollout paused: ${plural(input.failedAtDesired, 'node')} failed the desired revision ` +
          `(maxFailedNodes ${input.failureBudget}): ${describeNodes(failingNodes, failingAll.length)}. ` +
          'Change the spec, raise maxFailedNodes, or remove a failed node\'s status annotation to retry',
      };
    } else if (leftToUpdate > 0 || leftToUninstall > 0 || busy > 0) {
      const parts = [`${updatedCount} of ${supported.length} updated`];
      if (busy > 0) parts.push(`${busy} in progress`);
      if (leftToUninstall > 0) parts.push(`${leftToUninstall} to uninstall`);
      progressing = { type: 'Progressing', status: 'True', reason: 'RollingOut', message: parts.join(', ') };
    } else {
      progressing = { type: 'Progressing', status: 'False', reason: 'RolloutComplete', message: 'nothing left to roll out' };
    }
  }

  const problems: string[] = [];
  let degradedReason = 'AsExpected';
  if (input.specErrors.length > 0) {
    degradedReason = 'InvalidSpec';
    problems.push(`invalid spec: ${input.specErrors.join('; ')}`);
  }
  if (failingAll.length > 0) {
    if (degradedReason === 'AsExpected') degradedReason = 'NodesFailed';
    problems.push(`${plural(failingAll.length, 'node')} failed: ${describeNodes(failingNodes, failingAll.length)}`);
  }
  if (input.runtimeClassConflict) {
    if (degradedReason === 'AsExpected') degradedReason = 'RuntimeClassConflict';
    problems.push(input.runtimeClassConflict);
  }
  if (unsupported.length > 0) {
    if (degradedReason === 'AsExpected') degradedReason = 'UnsupportedNodes';
    const entries = unsupported
      .map((n) => ({ node: n.name, message: n.unsupported! }))
      .sort((a, b) => a.node.localeCompare(b.node));
    problems.push(
      `${plural(unsupported.length, 'target node')} cannot run the shim: ${describeNodes(entries.slice(0, MAX_FAILING_NODES), entries.length)}`,
    );
  }
  const degraded: Omit<Condition, 'lastTransitionTime'> =
    problems.length > 0
      ? { type: 'Degraded', status: 'True', reason: degradedReason, message: problems.join('. ') }
      : { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'no failed or unsupported nodes' };

  const conditions = [ready, progressing, degraded].map((c) =>
    withTransitionTime({ ...c, observedGeneration: generation }, input.observed?.conditions, input.now),
  );
  return {
    observedGeneration: generation,
    conditions,
    nodes: targets.length,
    nodesReady: targets.filter((n) => n.ready).length,
    nodesUpdated: updatedCount,
    nodesFailed: failingAll.length,
    nodesUnsupported: unsupported.length,
    revisions,
    failingNodes,
  };
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)));
    }
    return v;
  });
}

/** Whether writing `desired` would change the observed status (key order does not matter). */
export function statusDiffers(observed: ShimStatus | undefined, desired: ShimStatus): boolean {
  return canonical(observed ?? {}) !== canonical(desired);
}
