// The pure planner: one Shim's desired state + what was observed → the actions that move the
// cluster one step closer, plus the Shim status. No I/O. Every action is emitted only when the
// observed state differs from the desired one, so planning a settled world yields no action, and
// replanning after the actions were applied yields none either (idempotence).
//
// plan() runs named phases over one pass (pass.ts): Shim setup (finalizer, RuntimeClass), Jobs of
// gone nodes, recording finished Jobs on their nodes, the rollout budget, the candidates and their
// admission (rollout.ts), the status (status.ts), and the events and final write about the Shim.
// The result has a shape (model.ts: Plan): Shim work before the nodes, each node's work, Shim work
// after; the shell applies it in that order and stops at the first failure, then requeues.
//
// Rollout rules, in short:
// - one Job per node at a time; a running Job is never interrupted, its node waits for it;
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

import { platformKey } from '../../api/artifact.ts';
import { redactSecrets } from '../../api/redact.ts';
import type { ShimStatus } from '../../api/shim.ts';
import {
  byName,
  deleteJobAction,
  FINALIZER,
  type EmitEventAction,
  type JobOutcomeCount,
  type ObservedJob,
  type ObservedNode,
  type ObservedRuntimeClass,
  type Plan,
  type PlannerInput,
  type ShimAction,
} from './model.ts';
import { containerdVersion, desiredReady, finishedJobOutcome, inProgressRecord, nodeUnsupported, runningJobDetails } from './node-plan.ts';
import { parseNodeShimStatus, redactRecord, type NodeShimRecord } from './node-status.ts';
import { NodeWorkBook, WakeUp, passContext, plannedMarks, writeMarks, type NodeState, type PassContext } from './pass.ts';
import { admit, pickCandidates, rolloutBudget, type RolloutBudget } from './rollout.ts';
import { planRuntimeClasses } from './runtime-class.ts';
import { computeStatus, progressOnly, STATUS_PROGRESS_INTERVAL_MS, statusDiffers, type NodeOutcome } from './status.ts';
import { describeNoTargets, isTarget } from './targeting.ts';
import { driftSignals, nodeFingerprint } from './drift.ts';
import { EventDigest } from './event-digest.ts';

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
  const nodes = liveNodes.map((node) => recordFinishedJobs(ctx, node, jobsByNode.get(node.name) ?? [], book, digest, outcomes));
  for (const state of nodes) noticeDrift(ctx, state, input.reverifyAfterMs ?? 0, book, wake);
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
 * Deletes the Jobs of nodes that are gone, in name order; groups the rest by node (Jobs being
 * deleted are ignored). Not sorted as a whole: the finished Jobs left for their TTL (one per
 * installed node) make this the longest list a pass reads.
 */
function deleteJobsOfGoneNodes(jobs: readonly ObservedJob[], liveNodes: readonly ObservedNode[], book: NodeWorkBook): Map<string, ObservedJob[]> {
  const liveNames = new Set(liveNodes.map((n) => n.name));
  const jobsByNode = new Map<string, ObservedJob[]>();
  const ofGoneNodes: ObservedJob[] = [];
  for (const job of jobs) {
    if (job.deleting) continue;
    if (!liveNames.has(job.node)) ofGoneNodes.push(job);
    else {
      const ofNode = jobsByNode.get(job.node);
      if (ofNode) ofNode.push(job);
      else jobsByNode.set(job.node, [job]);
    }
  }
  for (const job of ofGoneNodes.sort((a, b) => byName(a.name, b.name))) book.write(job.node, deleteJobAction(job));
  return jobsByNode;
}

/** A node as observed: whether the Shim targets it, what it would get, its record (as `observedRecord`, redacted) and ready label. */
function observedState(ctx: PassContext, node: ObservedNode, observedRecord: NodeShimRecord | null): NodeState {
  const labels = node.labels ?? {};
  const target = !ctx.deleting && isTarget(ctx.shim, node);
  const platform = { os: node.os ?? labels['kubernetes.io/os'], arch: node.arch ?? labels['kubernetes.io/arch'] };
  const state: NodeState = {
    node,
    target,
    platform: platformKey(platform),
    // Redacted: a record written before redaction existed is rewritten without its secrets.
    current: redactRecord(observedRecord),
    ready: labels[ctx.keys.ready] === 'true',
    busy: false,
  };
  if (target && ctx.valid) {
    const resolution = ctx.artifactFor(platform);
    state.unsupported = resolution.supported ? nodeUnsupported(node) : resolution.reason;
    if (resolution.supported && state.unsupported === undefined) state.artifact = resolution.artifact;
  }
  return state;
}

/**
 * Marks a node suspected of drift (its ready label goes off, an Event says why, once) and notes a
 * re-check; the rollout phases then give either an install Job of the same revision.
 */
function noticeDrift(ctx: PassContext, state: NodeState, reverifyAfterMs: number, book: NodeWorkBook, wake: WakeUp): void {
  if (state.busy || !ctx.actionable || ctx.deleting) return;
  const signals = driftSignals(ctx, state, reverifyAfterMs, wake);
  if (signals.recheck) state.recheck = signals.recheck;
  if (!signals.suspect || state.current?.suspect) return;
  const before = plannedMarks(state);
  state.current = { ...state.current!, suspect: signals.suspect };
  state.ready = false;
  writeMarks(ctx, state, before, book);
  book.event(state.node.name, { eventType: 'Warning', reason: 'DriftSuspected', message: `${signals.suspect}; re-installing to repair or prove it` });
}

/** The in-progress record saying whether its Job's Pod is stuck (and no longer, once it moves). */
function withStuck(record: NodeShimRecord, stuck: string | undefined): NodeShimRecord {
  if (record.stuck === stuck) return record;
  const { stuck: _was, ...rest } = record;
  return stuck ? { ...rest, stuck: redactSecrets(stuck) } : rest;
}

/**
 * The record a finished Job's outcome builds on. Work in progress is not written to the node
 * (pass.ts, recordToWrite), so for an install of another revision than the node's record it is
 * rebuilt here, as the Job's start planned it: a failure then still records the version, sha256
 * and containerd it was attempted with.
 */
function attemptRecord(ctx: PassContext, state: NodeState, job: ObservedJob): NodeShimRecord | null {
  if (job.action !== 'install' || state.current?.revision === job.revision) return state.current;
  const desired = state.artifact?.revision === job.revision;
  return inProgressRecord(
    state.current,
    {
      action: 'install',
      revision: job.revision,
      version: desired ? ctx.shim.spec.version : undefined,
      sha256: desired ? state.artifact?.sha256 : undefined,
      containerd: containerdVersion(state.node.containerRuntimeVersion),
    },
    ctx.nowIso,
  );
}

function byFinishTime(a: ObservedJob, b: ObservedJob): number {
  return (a.finishedAt ?? '').localeCompare(b.finishedAt ?? '') || byName(a.name, b.name);
}

/**
 * The record a finished Job leaves. An installation also holds the node's fingerprint and the
 * Job's uid, which marks the Job as recorded: it is not folded in twice while it stays.
 */
function recordOfJob(node: ObservedNode, job: ObservedJob, record: NodeShimRecord | null): NodeShimRecord | null {
  if (record?.state !== 'installed') return record;
  return { ...record, ...nodeFingerprint(node), ...(job.uid ? { job: job.uid } : {}) };
}

/** The installation the node's record holds came from this Job. */
function holdsJob(record: NodeShimRecord | null, job: ObservedJob): boolean {
  return record?.state === 'installed' && job.uid !== undefined && record.job === job.uid;
}

/**
 * Per node: folds finished Jobs into the node's record, reflects a running Job, settles the ready
 * label, and writes the node when any of that changed. The successful Job whose installation the
 * record now holds stays (Kubernetes deletes it after its TTL, or admission does before the node's
 * next Job), so a rollout costs no deletion per node; the others are deleted: failures (removing
 * a failed node's annotation then retries it), uninstalls, Jobs a later one overtook. The write
 * comes before the deletions, so a crash in between replays the Job onto the same record.
 */
function recordFinishedJobs(ctx: PassContext, node: ObservedNode, jobs: ObservedJob[], book: NodeWorkBook, digest: EventDigest, outcomes: JobOutcomeCount[]): NodeState {
  const observedRecord = parseNodeShimStatus(node.annotations?.[ctx.keys.status]);
  const state = observedState(ctx, node, observedRecord);
  const observed = { record: observedRecord, ready: state.ready };
  const finished = jobs.filter((j) => j.phase !== 'running').sort(byFinishTime);
  for (const job of finished) {
    if (holdsJob(state.current, job)) continue;
    const outcome = finishedJobOutcome(job, attemptRecord(ctx, state, job), ctx.nowIso);
    state.current = recordOfJob(node, job, outcome.record);
    // A failed install that left the previous version working keeps the label as it was.
    const stillWorking = outcome.record?.state === 'failed' && Boolean(outcome.record.workingRevision);
    state.ready = outcome.record?.state === 'installed' || (stillWorking && state.ready);
    if (outcome.event) book.event(node.name, outcome.event);
    // Failures are told on the Shim as they happen; successes by the rollout's milestones (shimEvents).
    if (outcome.summary.eventType === 'Warning') digest.add(outcome.summary.eventType, outcome.summary.reason, outcome.summary.what, node.name);
    outcomes.push({ job: job.name, node: node.name, action: job.action, outcome: outcome.outcome });
  }
  const running = jobs.filter((j) => j.phase === 'running').sort((a, b) => byName(a.name, b.name));
  if (running.length > 0) {
    state.busy = true;
    const job = running[running.length - 1]!;
    const wasStuck = state.current?.stuck;
    state.current = withStuck(inProgressRecord(state.current, runningJobDetails(job, state.current), ctx.nowIso), job.stuck);
    if (job.stuck && job.stuck !== wasStuck) {
      book.event(node.name, { eventType: 'Warning', reason: 'InstallerStuck', message: `the installer Pod of ${job.name} on node ${node.name} cannot start: ${job.stuck}` });
    }
  }
  if (ctx.actionable) state.ready = desiredReady(state.target, state.current, state.ready, ctx.shim.spec.runtimeClass?.handler);
  writeMarks(ctx, state, observed, book);
  for (const job of finished) {
    if (holdsJob(state.current, job)) state.heldJob = job;
    else book.write(node.name, deleteJobAction(job));
  }
  return state;
}

function shimStatus(ctx: PassContext, nodes: readonly NodeState[], budget: RolloutBudget, runtimeClassConflict: string | undefined): ShimStatus {
  const outcomes: NodeOutcome[] = nodes.map((n) => {
    const outcome: NodeOutcome = { name: n.node.name, target: n.target, platform: n.platform, record: n.current, ready: n.ready, busy: n.busy };
    if (n.artifact) outcome.desiredRevision = n.artifact.revision;
    if (ctx.shim.spec.version !== undefined) outcome.desiredVersion = ctx.shim.spec.version;
    if (n.unsupported !== undefined) outcome.unsupported = n.unsupported;
    // As this pass leaves it (a write may set or remove it), so replanning reports the same.
    const versionLabel = n.versionLabel !== undefined ? n.versionLabel : n.node.labels?.[ctx.keys.version];
    if (versionLabel) outcome.versionLabel = versionLabel;
    return outcome;
  });
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
