// The pure planner: one Shim's desired state + what was observed → the actions that move the
// cluster one step closer, plus the Shim status. No I/O. Every action is emitted only when the
// observed state differs from the desired one, so planning a settled world yields no action, and
// replanning after the actions were applied yields none either (idempotence).
//
// plan() runs named phases over one pass (pass.ts): Shim setup (finalizer, RuntimeClass), the
// nodes with their Jobs (node-jobs.ts: Jobs of gone nodes, finished Jobs recorded on their nodes),
// drift, the rollout budget, the candidates and their admission (rollout.ts), the status
// (status.ts), and the events and final write about the Shim.
// The result has a shape (model.ts: Plan): Shim work before the nodes, each node's work, Shim work
// after; the shell applies it in that order and stops at the first failure, then requeues.
//
// Rollout rules, in short:
// - one Job per node at a time; a running Job is never interrupted, its node waits for it; the
//   successful Job a node's record holds is left for Kubernetes to delete (its TTL), unless the
//   node's next Job comes first;
// - `rolling`: at most maxUpdate nodes in flight (running Jobs + nodes marked installing or
//   uninstalling), first installs, upgrades and uninstalls alike, since each restarts containerd;
//   a percentage is of the nodes the Shim manages (targets + nodes still holding the shim);
//   `recreate`: no limit;
// - failure budget: once maxFailedNodes target nodes failed the desired revision, no new install
//   starts (uninstalls go on). This is derived from the nodes' annotations, not stored: a new
//   revision, a larger budget, or removing a failed node's annotation resumes;
// - a failed node is retried after 10 s · 2^(failures-1), at most 5 min, unless paused;
// - unsupported nodes (Windows, not containerd, no artifact for the platform) are never attempted;
// - an invalid spec starts nothing (finished Jobs are still recorded);
// - deletion: the first pass deletes the RuntimeClass (before any node's work) and takes the ready
//   labels off, so no new pod can pick the handler; the shim is then uninstalled everywhere it is,
//   and the finalizer is dropped once no node holds it.

import type { ShimStatus } from '../../api/shim.ts';
import {
  byName,
  FINALIZER,
  type EmitEventAction,
  type JobOutcomeCount,
  type ObservedRuntimeClass,
  type Plan,
  type PlannerInput,
  type ShimAction,
} from './model.ts';
import { NodeWorkBook, WakeUp, ownState, passContext, plannedMarks, writeMarks, type NodeState, type PassContext } from './pass.ts';
import { admit, pickCandidates, rolloutBudget, type RolloutBudget } from './rollout.ts';
import { planRuntimeClasses } from './runtime-class.ts';
import { computeStatus, progressOnly, STATUS_PROGRESS_INTERVAL_MS, statusDiffers, type NodeOutcome } from './status.ts';
import { describeNoTargets } from './targeting.ts';
import { driftSignals } from './drift.ts';
import { EventDigest } from './event-digest.ts';
import { deleteJobsOfGoneNodes, nodeState } from './node-jobs.ts';

export function plan(input: PlannerInput): Plan {
  const ctx = passContext(input);
  // Without our finalizer a deleted Shim is gone for us: nothing left to do or to report.
  if (ctx.deleting && !ctx.hasFinalizer) return { before: [], nodes: [], after: [], status: input.shim.status ?? {}, outcomes: [] };

  const book = new NodeWorkBook();
  const wake = new WakeUp();
  const setup = shimSetup(ctx, input.runtimeClasses);
  const liveNodes = input.nodes.filter((n) => n.exists !== false).sort((a, b) => byName(a.name, b.name));
  const jobsByNode = deleteJobsOfGoneNodes(input.jobs, liveNodes, book);
  const outcomes: JobOutcomeCount[] = [];
  const digest = new EventDigest();
  const nodes = liveNodes.map((node) => nodeState(ctx, node, jobsByNode.get(node.name) ?? [], book, digest, outcomes));
  for (let i = 0; i < nodes.length; i++) noticeDrift(ctx, nodes, i, input.reverifyAfterMs ?? 0, book, wake);
  const budget = rolloutBudget(ctx, nodes, input.clusterJobs);
  admit(ctx, pickCandidates(ctx, nodes, budget, wake), nodes, input.jobs, budget, wake, book);
  const status = shimStatus(ctx, nodes, budget, setup.runtimeClassConflict);
  const told = [...shimEvents(ctx, status), ...problemEvents(ctx, setup.runtimeClassConflict)];
  // Those Events are decided on the status as written: it must record them at once, or the next pass tells them again.
  const statusWrittenAt = told.length > 0 ? undefined : input.statusWrittenAt;

  const result: Plan = {
    before: setup.actions,
    nodes: book.work(),
    after: [...digest.events(), ...told, ...finalWrite(ctx, nodes, status, statusWrittenAt, wake)],
    status,
    outcomes,
  };
  const requeueAfterMs = wake.delayFrom(ctx.nowMs);
  if (requeueAfterMs !== undefined) result.requeueAfterMs = requeueAfterMs;
  return result;
}

/** The finalizer, and the RuntimeClass in the shape the Shim wants (unless the spec is invalid or the Shim blocked). */
function shimSetup(ctx: PassContext, runtimeClasses: ObservedRuntimeClass[]): { actions: ShimAction[]; runtimeClassConflict?: string } {
  const actions: ShimAction[] = [];
  if (!ctx.deleting && !ctx.hasFinalizer) actions.push({ type: 'addFinalizer', finalizer: FINALIZER });
  if (!ctx.actionable || ctx.blocked) return { actions };
  const planned = planRuntimeClasses(ctx.shim, runtimeClasses, ctx.deleting);
  return { actions: [...actions, ...planned.actions], ...(planned.conflict ? { runtimeClassConflict: planned.conflict } : {}) };
}

/**
 * Marks a node suspected of drift (its ready label goes off, an Event says why, once) and notes a
 * re-check; the rollout phases then give either an install Job of the same revision.
 */
function noticeDrift(ctx: PassContext, nodes: NodeState[], index: number, reverifyAfterMs: number, book: NodeWorkBook, wake: WakeUp): void {
  const observed = nodes[index]!;
  if (observed.busy || !ctx.actionable || ctx.deleting) return;
  const signals = driftSignals(ctx, observed, reverifyAfterMs, wake);
  if (signals.recheck) ownState(nodes, index).recheck = signals.recheck;
  if (!signals.suspect || observed.current?.suspect) return;
  const state = ownState(nodes, index);
  const before = plannedMarks(state);
  state.current = { ...state.current!, suspect: signals.suspect };
  state.ready = false;
  writeMarks(ctx, state, before, book);
  book.event(state.node.name, { eventType: 'Warning', reason: 'DriftSuspected', message: `${signals.suspect}; re-installing to repair or prove it` });
}

function shimStatus(ctx: PassContext, nodes: readonly NodeState[], budget: RolloutBudget, runtimeClassConflict: string | undefined): ShimStatus {
  const outcomes: NodeOutcome[] = nodes.map((n) => nodeOutcome(ctx, n));
  return computeStatus({
    generation: ctx.shim.metadata.generation ?? 0,
    observed: ctx.shim.status,
    nodes: outcomes,
    deleting: ctx.deleting,
    specErrors: ctx.specErrors,
    paused: budget.paused,
    failedAtDesired: budget.failedAtDesired,
    failureBudget: budget.failureBudget,
    ...(runtimeClassConflict ? { runtimeClassConflict } : {}),
    noTargets: describeNoTargets(ctx.shim),
    ...(ctx.blocked ? { blocked: ctx.blocked } : {}),
    now: ctx.nowIso,
  });
}

/**
 * What the status counts of a node, kept with a settled node's shared state (node-jobs.ts): that
 * state is only handed out again to passes of the same Shim and spec, which make the same entry.
 */
const settledOutcomes = new WeakMap<NodeState, NodeOutcome>();

function nodeOutcome(ctx: PassContext, n: NodeState): NodeOutcome {
  const shared = Object.isFrozen(n);
  const known = shared ? settledOutcomes.get(n) : undefined;
  if (known) return known;
  const outcome: NodeOutcome = { name: n.node.name, target: n.target, platform: n.platform, record: n.current, ready: n.ready, busy: n.busy };
  if (n.artifact) outcome.desiredRevision = n.artifact.revision;
  if (ctx.shim.spec.version !== undefined) outcome.desiredVersion = ctx.shim.spec.version;
  if (n.unsupported !== undefined) outcome.unsupported = n.unsupported;
  // As this pass leaves it (a write may set or remove it), so replanning reports the same.
  const versionLabel = n.versionLabel !== undefined ? n.versionLabel : n.node.labels?.[ctx.keys.version];
  if (versionLabel) outcome.versionLabel = versionLabel;
  if (shared) settledOutcomes.set(n, Object.freeze(outcome));
  return outcome;
}

/**
 * A Warning Event when a problem about the Shim as a whole appears: its install is blocked
 * (HandlerConflict, ArtifactNotAllowed) or its RuntimeClass name is taken. Once: the problem's
 * message is in the observed Degraded condition from the status write that follows.
 */
function problemEvents(ctx: PassContext, runtimeClassConflict: string | undefined): EmitEventAction[] {
  const observedDegraded = ctx.shim.status?.conditions?.find((c) => c.type === 'Degraded')?.message ?? '';
  const problems: Array<[reason: string, message: string]> = [];
  if (ctx.blocked) problems.push([ctx.blocked.reason, ctx.blocked.message]);
  if (runtimeClassConflict) problems.push(['RuntimeClassConflict', runtimeClassConflict]);
  return problems
    .filter(([, message]) => !observedDegraded.includes(message))
    .map(([reason, message]) => ({ type: 'emitEvent', eventType: 'Warning', reason, message }));
}

/**
 * Events about the Shim itself, the rollout's history in `kubectl describe shim`: started, a
 * quarter, half and three quarters of the nodes updated, complete; paused and resumed. Decided on
 * the status as observed and as planned, so each milestone is told once however many passes a
 * rollout takes (a 5,000-node rollout writes a handful of Events, not one per node). A blocked Shim
 * reports its block instead (problemEvents); failures come with the installer's codes (EventDigest).
 */
function shimEvents(ctx: PassContext, status: ShimStatus): EmitEventAction[] {
  const observed = ctx.shim.status?.conditions?.find((c) => c.type === 'Progressing');
  const planned = status.conditions?.find((c) => c.type === 'Progressing');
  const event = (eventType: 'Normal' | 'Warning', reason: string, message: string): EmitEventAction => ({ type: 'emitEvent', eventType, reason, message });
  if (planned?.reason === 'RolloutPaused' && observed?.reason !== 'RolloutPaused') return [event('Warning', 'RolloutPaused', planned.message)];
  if (observed?.reason === 'RolloutPaused' && planned?.reason !== 'RolloutPaused' && !ctx.deleting && !ctx.blocked) return [event('Normal', 'RolloutResumed', 'rollout resumed')];
  if (ctx.deleting || ctx.blocked) return [];
  const what = rolloutSubject(ctx, status);
  const total = status.nodes ?? 0;
  if (planned?.reason === 'RollingOut' && observed?.reason !== 'RollingOut') return [event('Normal', 'RolloutStarted', `rolling out ${what}: ${planned.message}`)];
  if (planned?.reason === 'RolloutComplete' && observed?.reason === 'RollingOut') return [event('Normal', 'RolloutComplete', `${what} on all ${total} target nodes`)];
  if (planned?.reason !== 'RollingOut' || observed?.reason !== 'RollingOut' || total === 0) return [];
  const before = ctx.shim.status?.nodesUpdated ?? 0;
  const after = status.nodesUpdated ?? 0;
  const crossed = [75, 50, 25].find((percent) => before * 100 < percent * total && after * 100 >= percent * total);
  return crossed ? [event('Normal', 'RolloutProgress', `${what} on ${after} of ${total} target nodes (${crossed}%)`)] : [];
}

/** "revision abc (version 1.2.3)", or each platform's revision when they differ. */
function rolloutSubject(ctx: PassContext, status: ShimStatus): string {
  const revisions = [...new Set((status.revisions ?? []).map((r) => r.revision))];
  const version = ctx.shim.spec.version !== undefined ? ` (version ${ctx.shim.spec.version})` : '';
  return `${revisions.length === 1 ? `revision ${revisions[0]}` : revisions.length > 1 ? `revisions ${revisions.join(', ')}` : 'the shim'}${version}`;
}

/**
 * The finalizer's removal once deletion is done, else the status when it differs. A status that
 * only moves the progress on waits until STATUS_PROGRESS_INTERVAL_MS after the last status write
 * (`statusWrittenAt`; absent, it is written now).
 */
function finalWrite(ctx: PassContext, nodes: readonly NodeState[], status: ShimStatus, statusWrittenAt: Date | undefined, wake: WakeUp): ShimAction[] {
  const finished = ctx.deleting && nodes.every((n) => n.current === null && !n.ready && !n.busy);
  // The object goes away once the finalizer is removed: a status write would only race with that.
  if (finished) return [{ type: 'removeFinalizer', finalizer: FINALIZER }];
  if (!statusDiffers(ctx.shim.status, status)) return [];
  const due = (statusWrittenAt?.getTime() ?? Number.NEGATIVE_INFINITY) + STATUS_PROGRESS_INTERVAL_MS;
  if (due > ctx.nowMs && progressOnly(ctx.shim.status, status)) {
    wake.noLaterThan(due);
    return [];
  }
  return [{ type: 'updateStatus', status }];
}
