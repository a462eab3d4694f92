// The Shim status the planner derives from per-node outcomes: the node counts (countNodes), then one
// function per condition (Ready, Progressing, Degraded) over them, and the revisions per platform.
// Pure; conditions keep lastTransitionTime while their status stays the same, so re-planning an
// unchanged world yields an identical status.

import type { Condition, FailingNode, PlatformRevision, ShimStatus } from '../../api/shim.ts';
import { redactSecrets } from '../../api/redact.ts';
import { MAX_FAILING_NODES } from '../../api/shim.ts';
import { byName } from './model.ts';
import type { NodeShimRecord } from './node-status.ts';
import type { NoTargetsExplanation } from './targeting.ts';
import { versionsOf } from './versions.ts';

/** One existing node as the plan leaves it. */
export interface NodeOutcome {
  name: string;
  /** Targeted by the Shim (always false while the Shim is being deleted). */
  target: boolean;
  /** `os/arch`, for status.revisions. */
  platform: string;
  /** The revision this node should run (targets with a supported platform and a valid spec only). */
  desiredRevision?: string;
  /** The version the Shim names, when it names one: a node reporting another is not up to date. */
  desiredVersion?: string;
  /** Why a target node can never get the shim. */
  unsupported?: string;
  record: NodeShimRecord | null;
  ready: boolean;
  /** An installer Job runs (or was just created) for the node. */
  busy: boolean;
  /** The node's version label: the version it runs while an upgrade replaces it (status.versions). */
  versionLabel?: string;
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
  /** What Ready (and, for an empty nodeSelector, Degraded) says when no node is a target. */
  noTargets?: NoTargetsExplanation;
  /** Why the Shim starts no install (HandlerConflict, ArtifactNotAllowed). */
  blocked?: { reason: string; message: string };
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
    node.record.revision === node.desiredRevision &&
    !node.record.suspect &&
    (node.desiredVersion === undefined || (node.record.version ?? '') === node.desiredVersion)
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

type ConditionBody = Omit<Condition, 'lastTransitionTime'>;

/** The node counts the status reports and the conditions are made of. */
interface NodeCounts {
  targets: NodeOutcome[];
  unsupported: NodeOutcome[];
  /** Targets with a supported platform (and a valid spec): those that get the desired revision. */
  supported: NodeOutcome[];
  updated: number;
  /** Every failing node, sorted; `failingNodes` is its capped head. */
  failingAll: FailingNode[];
  failingNodes: FailingNode[];
  busy: number;
  /** Nodes whose installer Pod cannot get going, sorted. */
  stuck: FailingNode[];
  /** Installed nodes suspected of drift (drift.ts), sorted. */
  suspect: FailingNode[];
  leftToUninstall: number;
  leftToUpdate: number;
}

/** In one loop over the nodes: every pass counts every node. */
function countNodes(nodes: NodeOutcome[]): NodeCounts {
  const targets: NodeOutcome[] = [];
  const supported: NodeOutcome[] = [];
  const unsupported: NodeOutcome[] = [];
  const failingAll: FailingNode[] = [];
  const suspect: FailingNode[] = [];
  const stuck: FailingNode[] = [];
  let updatedCount = 0;
  let busy = 0;
  let leftToUninstall = 0;
  for (const n of nodes) {
    if (n.target) {
      targets.push(n);
      if (n.unsupported !== undefined) unsupported.push(n);
      if (n.desiredRevision !== undefined) supported.push(n);
      if (updated(n)) updatedCount++;
      if (n.record?.suspect) suspect.push({ node: n.name, message: redactSecrets(n.record.suspect) });
    } else if (n.record !== null || n.ready) leftToUninstall++;
    if (failing(n)) failingAll.push({ node: n.name, message: redactSecrets(n.record?.message || 'failed') });
    if (n.busy) {
      busy++;
      if (n.record?.stuck) stuck.push({ node: n.name, message: redactSecrets(n.record.stuck) });
    }
  }
  for (const list of [failingAll, suspect, stuck]) list.sort((a, b) => byName(a.node, b.node));
  return {
    targets,
    unsupported,
    supported,
    updated: updatedCount,
    failingAll,
    failingNodes: failingAll.slice(0, MAX_FAILING_NODES),
    busy,
    suspect,
    stuck,
    leftToUninstall,
    leftToUpdate: supported.length - updatedCount,
  };
}

/** The desired revision of each platform among the supported targets, sorted by platform. */
function revisionsOf(supported: NodeOutcome[]): PlatformRevision[] {
  const revisionByPlatform = new Map<string, string>();
  for (const node of supported) revisionByPlatform.set(node.platform, node.desiredRevision!);
  return [...revisionByPlatform.entries()]
    .sort(([a], [b]) => byName(a, b))
    .map(([platform, revision]) => ({ platform, revision }));
}

function invalidSpecMessage(input: StatusInput): string {
  return `invalid spec: ${input.specErrors.join('; ')}`;
}

/** Ready: every supported target node runs the desired revision. */
function readyCondition(input: StatusInput, counts: NodeCounts): ConditionBody {
  const { supported, targets } = counts;
  if (input.deleting) return { type: 'Ready', status: 'False', reason: 'Deleting', message: 'the Shim is being deleted' };
  if (input.specErrors.length > 0) return { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: invalidSpecMessage(input) };
  if (input.blocked) return { type: 'Ready', status: 'False', reason: input.blocked.reason, message: input.blocked.message };
  if (supported.length === 0) {
    return {
      type: 'Ready',
      status: 'False',
      reason: 'NoTargetNodes',
      message:
        targets.length === 0
          ? (input.noTargets?.message ?? 'no node matches spec.nodeSelector or opts in with the runtime.shimkeeper.dev/shims annotation')
          : `none of the ${plural(targets.length, 'target node')} can run the shim`,
    };
  }
  if (counts.updated === supported.length) {
    return { type: 'Ready', status: 'True', reason: 'AllNodesUpdated', message: `all ${plural(supported.length, 'target node')} run the desired revision` };
  }
  return { type: 'Ready', status: 'False', reason: 'NodesNotUpdated', message: `${counts.updated} of ${plural(supported.length, 'target node')} run the desired revision` };
}

/** Progressing: work is left to do (or deletion runs), unless the rollout is paused or the spec invalid. */
function progressingCondition(input: StatusInput, counts: NodeCounts): ConditionBody {
  const { busy, leftToUninstall } = counts;
  if (input.deleting) {
    return {
      type: 'Progressing',
      status: 'True',
      reason: 'Deleting',
      message: `uninstalling from ${plural(leftToUninstall, 'node')} before the Shim is removed`,
    };
  }
  if (input.specErrors.length > 0) {
    return { type: 'Progressing', status: 'False', reason: 'InvalidSpec', message: 'no change is rolled out until the spec is fixed' };
  }
  if (input.blocked) return { type: 'Progressing', status: 'False', reason: input.blocked.reason, message: 'no install starts while the Shim is blocked (see Ready)' };
  if (input.paused) {
    return {
      type: 'Progressing',
      status: 'False',
      reason: 'RolloutPaused',
      message:
        `rollout paused: ${plural(input.failedAtDesired, 'node')} failed the desired revision ` +
        `(maxFailedNodes ${input.failureBudget}): ${describeNodes(counts.failingNodes, counts.failingAll.length)}. ` +
        'Change the spec, raise maxFailedNodes, or remove a failed node\'s status annotation to retry',
    };
  }
  if (counts.leftToUpdate > 0 || leftToUninstall > 0 || busy > 0) {
    const parts = [`${counts.updated} of ${counts.supported.length} updated`];
    if (busy > 0) parts.push(`${busy} in progress`);
    if (counts.stuck.length > 0) parts.push(`${counts.stuck.length} stuck`);
    if (leftToUninstall > 0) parts.push(`${leftToUninstall} to uninstall`);
    return { type: 'Progressing', status: 'True', reason: 'RollingOut', message: parts.join(', ') };
  }
  return { type: 'Progressing', status: 'False', reason: 'RolloutComplete', message: 'nothing left to roll out' };
}

/** Degraded: an invalid spec, failed nodes, a RuntimeClass conflict, unsupported nodes; the first names the reason. */
function degradedCondition(input: StatusInput, counts: NodeCounts): ConditionBody {
  const problems: Array<[reason: string, message: string]> = [];
  if (input.specErrors.length > 0) problems.push(['InvalidSpec', invalidSpecMessage(input)]);
  if (input.blocked) problems.push([input.blocked.reason, input.blocked.message]);
  if (counts.failingAll.length > 0) {
    problems.push(['NodesFailed', `${plural(counts.failingAll.length, 'node')} failed: ${describeNodes(counts.failingNodes, counts.failingAll.length)}`]);
  }
  if (counts.suspect.length > 0) {
    problems.push(['DriftSuspected', `${plural(counts.suspect.length, 'node')} may have lost the shim and are being re-verified: ${describeNodes(counts.suspect.slice(0, MAX_FAILING_NODES), counts.suspect.length)}`]);
  }
  if (counts.stuck.length > 0) {
    problems.push(['InstallerStuck', `the installer Pod cannot start on ${plural(counts.stuck.length, 'node')}: ${describeNodes(counts.stuck.slice(0, MAX_FAILING_NODES), counts.stuck.length)}`]);
  }
  if (input.runtimeClassConflict) problems.push(['RuntimeClassConflict', input.runtimeClassConflict]);
  if (counts.unsupported.length > 0) {
    const entries = counts.unsupported
      .map((n) => ({ node: n.name, message: n.unsupported! }))
      .sort((a, b) => byName(a.node, b.node));
    problems.push([
      'UnsupportedNodes',
      `${plural(counts.unsupported.length, 'target node')} cannot run the shim: ${describeNodes(entries.slice(0, MAX_FAILING_NODES), entries.length)}`,
    ]);
  }
  // A Shim without nodeSelector that reaches no node is almost surely a manifest from
  // runtime-class-manager, where that meant every node: say so where `kubectl get -o wide` shows it.
  if (input.noTargets?.selectorEmpty && counts.targets.length === 0 && !input.deleting && input.specErrors.length === 0) {
    problems.push(['NoTargetNodes', input.noTargets.message]);
  }
  if (problems.length === 0) return { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'no failed or unsupported nodes' };
  return { type: 'Degraded', status: 'True', reason: problems[0]![0], message: problems.map(([, message]) => message).join('. ') };
}

export function computeStatus(input: StatusInput): ShimStatus {
  const { generation } = input;
  const counts = countNodes(input.nodes);
  const conditions = [readyCondition, progressingCondition, degradedCondition].map((condition) => {
    const body = condition(input, counts);
    // Every message passes here, whatever it quotes (node records, spec errors): no secret leaves.
    return withTransitionTime({ ...body, message: redactSecrets(body.message), observedGeneration: generation }, input.observed?.conditions, input.now);
  });
  return {
    observedGeneration: generation,
    conditions,
    nodes: counts.targets.length,
    nodesReady: counts.targets.filter((n) => n.ready).length,
    nodesUpdated: counts.updated,
    nodesFailed: counts.failingAll.length,
    nodesUnsupported: counts.unsupported.length,
    revisions: revisionsOf(counts.supported),
    failingNodes: counts.failingNodes,
    versions: versionsOf(counts.targets, new Set(counts.supported.map((n) => n.desiredRevision!))),
  };
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => byName(a, b)));
    }
    return v;
  });
}

/** Whether writing `desired` would change the observed status (key order does not matter). */
export function statusDiffers(observed: ShimStatus | undefined, desired: ShimStatus): boolean {
  return canonical(observed ?? {}) !== canonical(desired);
}

/**
 * How often a status that only says the rollout moved on is written at most. During a rollout
 * nearly every reconcile updates a count; written each time they cost a tenth of a write per node
 * at 1,000 nodes (bench/controller.bench.ts), for figures a few seconds fresher.
 */
export const STATUS_PROGRESS_INTERVAL_MS = 5_000;

/**
 * The status without what a rollout moves on at every step: the ready and updated counts, the
 * versions the nodes run, and the conditions' messages saying so (their types, statuses and
 * reasons stay). Failures, targets, revisions and the generation are all kept.
 */
function withoutProgress(status: ShimStatus): ShimStatus {
  const { nodesReady: _ready, nodesUpdated: _updated, versions: _versions, ...rest } = status;
  return { ...rest, conditions: (status.conditions ?? []).map(({ message: _message, ...condition }) => condition) as NonNullable<ShimStatus['conditions']> };
}

/** Whether `desired` differs from the observed status in the rollout's progress only. */
export function progressOnly(observed: ShimStatus | undefined, desired: ShimStatus): boolean {
  return observed !== undefined && canonical(withoutProgress(observed)) === canonical(withoutProgress(desired));
}
