// The rollout phases of a planning pass: the budget (how many nodes may be in flight, whether
// failures pause the rollout), the candidates (nodes that want a Job now, best first), and
// admission (which of them get their Job within the budget).

import type { JobAction } from '../../api/installer-contract.ts';
import { effectiveRolloutStrategy, effectiveRuntimeOptions, type IntOrPercent } from '../../api/shim.ts';
import { installerJobName } from '../installer-job/identity.ts';
import { byName, deleteJobAction, type CreateJobAction, type ObservedJob, type PlannerInput } from './model.ts';
import { containerdVersion, desiredReady, inProgressRecord, retryDueAt } from './node-plan.ts';
import type { NodeShimRecord } from './node-status.ts';
import { ownState, plannedMarks, writeMarks, type NodeState, type NodeWorkBook, type PassContext, type WakeUp } from './pass.ts';

/** How soon to look again when a Job of the wanted name still exists (being deleted). */
export const NAME_CONFLICT_RETRY_MS = 2_000;

/** An integer, or `N%` of `total` rounded down; at least 1 either way. */
export function resolveIntOrPercent(value: IntOrPercent, total: number): number {
  if (typeof value === 'number') return Math.max(1, Math.floor(value));
  const percent = Number.parseInt(value, 10);
  if (!Number.isFinite(percent)) return 1;
  return Math.max(1, Math.floor((percent * total) / 100));
}

export interface RolloutBudget {
  /** Nodes that may be in flight at once (running Jobs + nodes marked installing/uninstalling). */
  maxInFlight: number;
  /** maxFailedNodes resolved against the target count. */
  failureBudget: number;
  /** Target nodes that failed the desired revision. */
  failedAtDesired: number;
  /** The failure budget is spent: no new install starts (uninstalls go on). */
  paused: boolean;
}

/**
 * `rolling` allows maxUpdate nodes in flight, a percentage being of the nodes the Shim manages
 * (targets + nodes still holding the shim); `recreate` has no limit of its own. Either way the
 * cluster-wide cap on installer Jobs, less the other Shims' running Jobs, bounds it: a 5,000-node
 * `recreate` must not put 5,000 Jobs and Pods into etcd at once. The failure budget is derived
 * from the nodes' annotations, not stored: a new revision, a larger budget, or removing a failed
 * node's annotation resumes.
 */
export function rolloutBudget(ctx: PassContext, nodes: readonly NodeState[], clusterJobs?: PlannerInput['clusterJobs']): RolloutBudget {
  const strategy = effectiveRolloutStrategy(ctx.valid ? ctx.shim.spec : { ...ctx.shim.spec, rolloutStrategy: undefined });
  // Counted in one loop: every pass asks this of every node.
  let targetCount = 0;
  let managedCount = 0;
  let failedAtDesired = 0;
  for (const n of nodes) {
    if (n.target || n.current !== null) managedCount++;
    if (!n.target) continue;
    targetCount++;
    if (n.artifact && n.current?.state === 'failed' && n.current.revision === n.artifact.revision) failedAtDesired++;
  }
  const failureBudget = resolveIntOrPercent(strategy.maxFailedNodes, targetCount);
  const byStrategy = strategy.type === 'recreate' ? Number.POSITIVE_INFINITY : resolveIntOrPercent(strategy.maxUpdate, managedCount);
  // Whatever the strategy asks, the cluster holds at most clusterJobs.limit installer Jobs at once.
  const byCluster = clusterJobs ? Math.max(0, clusterJobs.limit - clusterJobs.runningForOtherShims) : Number.POSITIVE_INFINITY;
  return {
    maxInFlight: Math.min(byStrategy, byCluster),
    failureBudget,
    failedAtDesired,
    paused: !ctx.deleting && ctx.valid && failedAtDesired >= failureBudget,
  };
}

export interface Candidate {
  state: NodeState;
  /** The node's place in the pass's list of nodes, where its state is replaced if shared (pass.ts, ownState). */
  index: number;
  action: JobAction;
  revision: string;
  /** Already counted in flight (marked installing/uninstalling, its Job lost): needs no new slot. */
  holdsSlot: boolean;
  /** Lower goes first: resumed work, then uninstalls and drift repairs, then first installs and upgrades, then retries, then re-checks. */
  rank: number;
  /** The node is installed at this revision already: the Job proves (or repairs) it. */
  recheck?: boolean;
}

function inMotion(record: NodeShimRecord | null): boolean {
  return record?.state === 'installing' || record?.state === 'uninstalling';
}

/** Whether a failed node's retry backoff still runs; if so, `wake` learns when it ends. */
function backingOff(record: NodeShimRecord, ctx: PassContext, wake: WakeUp): boolean {
  const due = retryDueAt(record);
  if (due <= ctx.nowMs) return false;
  wake.noLaterThan(due);
  return true;
}

/** The nodes that want a Job now, best first. A running Job is never interrupted: its node waits. */
export function pickCandidates(ctx: PassContext, nodes: readonly NodeState[], budget: RolloutBudget, wake: WakeUp): Candidate[] {
  const candidates: Candidate[] = [];
  if (!ctx.actionable) return candidates;
  for (let index = 0; index < nodes.length; index++) {
    const state = nodes[index]!;
    if (state.busy) continue;
    const current = state.current;
    const holdsSlot = inMotion(current);
    if (state.target) {
      if (!state.artifact) continue;
      const revision = state.artifact.revision;
      const installedHere = current?.state === 'installed' && current.revision === revision;
      // Installed and nothing to prove again: done. Suspected drift is repaired first; a re-check after the rest.
      if (installedHere && !current.suspect && !state.recheck) continue;
      if (budget.paused || ctx.blocked) continue;
      if (installedHere) {
        candidates.push({ state, index, action: 'install', revision, holdsSlot: false, rank: current.suspect ? 1 : 4, recheck: true });
        continue;
      }
      const retry = current?.state === 'failed' && current.revision === revision;
      if (retry && backingOff(current, ctx, wake)) continue;
      candidates.push({ state, index, action: 'install', revision, holdsSlot, rank: holdsSlot ? 0 : retry ? 3 : 2 });
    } else if (current !== null) {
      if (current.state === 'failed' && backingOff(current, ctx, wake)) continue;
      candidates.push({ state, index, action: 'uninstall', revision: current.revision ?? 'unknown', holdsSlot, rank: holdsSlot ? 0 : 1 });
    }
  }
  return candidates.sort((a, b) => a.rank - b.rank || byName(a.state.node.name, b.state.node.name));
}

function createJobAction(ctx: PassContext, candidate: Candidate, jobName: string): CreateJobAction {
  const { state, action, revision } = candidate;
  const spec = ctx.shim.spec;
  const job: CreateJobAction = {
    type: 'createJob',
    jobName,
    node: state.node.name,
    action,
    revision,
    shim: ctx.shimName,
    handler: spec.runtimeClass?.handler ?? '',
    runtimeOptions: effectiveRuntimeOptions(spec),
  };
  if (action === 'install') job.artifact = state.artifact;
  if (spec.version !== undefined) job.version = spec.version;
  if (spec.shimBinary !== undefined) job.shimBinary = spec.shimBinary;
  if (spec.runtimeClass?.takeOverExistingHandler === true) job.takeOverHandler = true;
  if (candidate.recheck) job.verify = true;
  return job;
}

/** Marks the node as worked on by the new Job, and writes that to the node if it changes anything. */
function markStarted(ctx: PassContext, candidate: Candidate, nodes: NodeState[], book: NodeWorkBook): void {
  const { action, revision } = candidate;
  const state = ownState(nodes, candidate.index);
  const before = plannedMarks(state);
  state.current = inProgressRecord(
    before.record,
    action === 'install'
      ? { action, revision, version: ctx.shim.spec.version, sha256: state.artifact?.sha256, containerd: containerdVersion(state.node.containerRuntimeVersion) }
      : { action, revision, version: before.record?.version, sha256: before.record?.sha256 },
    ctx.nowIso,
  );
  state.ready = desiredReady(state.target, state.current, before.ready, ctx.shim.spec.runtimeClass?.handler);
  state.busy = true;
  writeMarks(ctx, state, before, book);
}

/**
 * Gives candidates their Job in order while the budget has room. In flight: running Jobs, plus
 * nodes marked installing/uninstalling whose Job is recreated now; a node stuck in such a state
 * that nothing will act on (unsupported now) does not hold a slot. The Job is written before its
 * node is marked, so a crash in between leaves a Job, never a marked node without one.
 */
export function admit(
  ctx: PassContext,
  candidates: readonly Candidate[],
  nodes: NodeState[],
  jobs: readonly ObservedJob[],
  budget: RolloutBudget,
  wake: WakeUp,
  book: NodeWorkBook,
): void {
  let takenJobNames: Set<string> | undefined; // made once a candidate gets this far: most passes admit none
  let inFlight = 0;
  for (const n of nodes) if (n.busy) inFlight++;
  for (const c of candidates) if (c.holdsSlot) inFlight++;
  for (const candidate of candidates) {
    if (!candidate.holdsSlot) {
      if (inFlight >= budget.maxInFlight) continue;
      inFlight++;
    }
    const { state, action, revision } = candidate;
    const node = state.node.name;
    const jobName = installerJobName(ctx.shimName, node, action, revision);
    // The node's previous Job, kept for its TTL, goes first: one Job per node. Deleted in the
    // background, its name is free at once (its Pods, found by the Job's uid, are not the new Job's).
    if (state.heldJob) book.write(node, deleteJobAction(state.heldJob));
    takenJobNames ??= new Set(jobs.map((j) => j.name));
    if (takenJobNames.has(jobName) && jobName !== state.heldJob?.name) {
      // The previous Job of that name is being deleted; its slot stays reserved meanwhile.
      wake.noLaterThan(ctx.nowMs + NAME_CONFLICT_RETRY_MS);
      continue;
    }
    book.write(node, createJobAction(ctx, candidate, jobName));
    markStarted(ctx, candidate, nodes, book);
  }
}
