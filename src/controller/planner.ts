// The pure planner: one Shim's desired state + what was observed → the actions that move the
// cluster one step closer, plus the Shim status. No I/O. Every action is emitted only when the
// observed state differs from the desired one, so planning a settled world yields no action, and
// replanning after the actions were applied yields none either (idempotence).
//
// The shell applies the actions in the order given and stops at the first failure, then requeues.
// The order makes a crash between any two actions safe to replan from: a node's result is written to
// its annotation before the Job holding it is deleted, and a Job exists before its node is marked as
// installing (a node marked installing without a Job simply gets its Job again).
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
// - deletion: uninstall everywhere the shim is, delete the RuntimeClass, then drop the finalizer.

import { platformKey, resolveArtifact, type ResolvedArtifact } from '../api/artifact.ts';
import { API_GROUP, readyLabelKey, statusAnnotationKey } from '../api/names.ts';
import { effectiveRolloutStrategy, type IntOrPercent, type Shim, type ShimStatus } from '../api/shim.ts';
import { validateShim } from '../api/validate.ts';
import type { JobAction, JobResult } from '../api/installer-contract.ts';
import { installerJobName } from './jobs.ts';
import {
  containerdVersion,
  desiredReady,
  finishedJobOutcome,
  inProgressRecord,
  nodeUnsupported,
  retryDueAt,
  runningJobDetails,
} from './node-plan.ts';
import { parseNodeShimStatus, sameNodeShimStatus, type NodeShimRecord } from './node-status.ts';
import { planRuntimeClasses, type ObservedRuntimeClass, type RuntimeClassAction } from './runtime-class.ts';
import { computeStatus, statusDiffers, toKubeTime, type NodeOutcome } from './status.ts';
import { isTarget } from './targeting.ts';

export type { ObservedRuntimeClass } from './runtime-class.ts';

export const FINALIZER = `${API_GROUP}/finalizer`;
/** How soon to look again when a Job of the wanted name still exists (being deleted). */
export const NAME_CONFLICT_RETRY_MS = 2_000;

export interface ObservedNode {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Overrides the `kubernetes.io/os` label (e.g. from status.nodeInfo.operatingSystem). */
  os?: string;
  /** Overrides the `kubernetes.io/arch` label (e.g. from status.nodeInfo.architecture). */
  arch?: string;
  /** status.nodeInfo.containerRuntimeVersion, e.g. `containerd://1.7.24`. */
  containerRuntimeVersion?: string;
  /** `false` for a node known to be deleted. Nodes missing from the input are gone as well. */
  exists?: boolean;
}

export interface ObservedJob {
  name: string;
  node: string;
  action: JobAction;
  /** The revision the Job installs, or for an uninstall the one it removes. */
  revision: string;
  phase: 'running' | 'succeeded' | 'failed';
  /** Parsed termination message of a finished Job (see parseInstallerResult). */
  result?: JobResult | null;
  /** Why a finished Job failed when it left no result (e.g. `DeadlineExceeded: ...`). */
  error?: string;
  /** RFC 3339 completion time of a finished Job. */
  finishedAt?: string;
  /** metadata.deletionTimestamp is set: the Job is going away and is ignored, but its name is taken. */
  deleting?: boolean;
  /** Finished, but its Pod's result has not reached the cache yet: treated as running meanwhile. */
  awaitingResult?: boolean;
}

export interface PlannerInput {
  shim: Shim;
  nodes: ObservedNode[];
  /** This Shim's installer Jobs. */
  jobs: ObservedJob[];
  /** RuntimeClasses labelled as this Shim's, plus the one named spec.runtimeClass.name if it exists. */
  runtimeClasses: ObservedRuntimeClass[];
  now: Date;
}

export interface CreateJobAction {
  type: 'createJob';
  jobName: string;
  node: string;
  action: JobAction;
  revision: string;
  shim: string;
  handler: string;
  /** For installs: what to fetch and verify. */
  artifact?: ResolvedArtifact;
  version?: string;
  runtimeOptions: Record<string, string>;
  shimBinary?: string;
}

export interface PatchNodeAction {
  type: 'patchNode';
  node: string;
  readyLabelKey: string;
  /** `true` → label value "true"; `null` → remove the label. */
  readyLabel: true | null;
  statusAnnotationKey: string;
  /** Annotation value serializeNodeShimStatus(record); `null` → remove the annotation. */
  statusAnnotation: NodeShimRecord | null;
}

export interface EmitEventAction {
  type: 'emitEvent';
  eventType: 'Normal' | 'Warning';
  reason: string;
  message: string;
  node?: string;
}

export type PlannedAction =
  | { type: 'addFinalizer'; finalizer: string }
  | { type: 'removeFinalizer'; finalizer: string }
  | RuntimeClassAction
  | CreateJobAction
  | { type: 'deleteJob'; name: string; node: string }
  | PatchNodeAction
  | EmitEventAction
  /** Replace the whole status (PUT /status), so that fields which disappear do disappear. */
  | { type: 'updateStatus'; status: ShimStatus }
  | { type: 'requeueAfter'; ms: number };

export interface Plan {
  actions: PlannedAction[];
  /** The status the Shim should have; `updateStatus` is among the actions only when it differs. */
  status: ShimStatus;
}

/** An integer, or `N%` of `total` rounded down; at least 1 either way. */
export function resolveIntOrPercent(value: IntOrPercent, total: number): number {
  if (typeof value === 'number') return Math.max(1, Math.floor(value));
  const percent = Number.parseInt(value, 10);
  if (!Number.isFinite(percent)) return 1;
  return Math.max(1, Math.floor((percent * total) / 100));
}

/** One existing node while planning. */
interface NodeWork {
  node: ObservedNode;
  target: boolean;
  platform: string;
  artifact?: ResolvedArtifact;
  unsupported?: string;
  current: NodeShimRecord | null;
  ready: boolean;
  busy: boolean;
}

interface Candidate {
  work: NodeWork;
  action: JobAction;
  revision: string;
  /** Already counted in flight (marked installing/uninstalling, its Job lost): needs no new slot. */
  holdsSlot: boolean;
  rank: number;
}

function patchFor(shimName: string, node: string, ready: boolean, record: NodeShimRecord | null): PatchNodeAction {
  return {
    type: 'patchNode',
    node,
    readyLabelKey: readyLabelKey(shimName),
    readyLabel: ready ? true : null,
    statusAnnotationKey: statusAnnotationKey(shimName),
    statusAnnotation: record,
  };
}

function byFinishTime(a: ObservedJob, b: ObservedJob): number {
  return (a.finishedAt ?? '').localeCompare(b.finishedAt ?? '') || a.name.localeCompare(b.name);
}

function inMotion(record: NodeShimRecord | null): boolean {
  return record?.state === 'installing' || record?.state === 'uninstalling';
}

export function plan(input: PlannerInput): Plan {
  const { shim } = input;
  const shimName = shim.metadata.name;
  const nowIso = toKubeTime(input.now);
  const nowMs = input.now.getTime();
  const deleting = Boolean(shim.metadata.deletionTimestamp);
  const hasFinalizer = shim.metadata.finalizers?.includes(FINALIZER) ?? false;
  // Without our finalizer a deleted Shim is gone for us: nothing left to do or to report.
  if (deleting && !hasFinalizer) return { actions: [], status: shim.status ?? {} };

  const specErrors = validateShim(shim);
  const valid = specErrors.length === 0;
  // An invalid live spec starts nothing; deletion proceeds whatever the spec says.
  const actionable = valid || deleting;
  const actions: PlannedAction[] = [];
  const events: EmitEventAction[] = [];
  let wakeAt = Number.POSITIVE_INFINITY;

  if (!deleting && !hasFinalizer) actions.push({ type: 'addFinalizer', finalizer: FINALIZER });
  let runtimeClassConflict: string | undefined;
  if (actionable) {
    const runtimeClasses = planRuntimeClasses(shim, input.runtimeClasses, deleting);
    actions.push(...runtimeClasses.actions);
    runtimeClassConflict = runtimeClasses.conflict;
  }

  // Jobs: those of gone nodes are deleted; the rest are grouped per node.
  const liveNodes = input.nodes.filter((n) => n.exists !== false).sort((a, b) => a.name.localeCompare(b.name));
  const liveNames = new Set(liveNodes.map((n) => n.name));
  const takenJobNames = new Set(input.jobs.map((j) => j.name));
  const jobsByNode = new Map<string, ObservedJob[]>();
  for (const job of [...input.jobs].sort((a, b) => a.name.localeCompare(b.name))) {
    if (job.deleting) continue;
    if (!liveNames.has(job.node)) {
      actions.push({ type: 'deleteJob', name: job.name, node: job.node });
      continue;
    }
    jobsByNode.set(job.node, [...(jobsByNode.get(job.node) ?? []), job]);
  }

  // Phase 1, per node: record finished Jobs, reflect running ones, settle the ready label.
  const work: NodeWork[] = [];
  for (const node of liveNodes) {
    const labels = node.labels ?? {};
    const observedRecord = parseNodeShimStatus(node.annotations?.[statusAnnotationKey(shimName)]);
    const observedReady = labels[readyLabelKey(shimName)] === 'true';
    const target = !deleting && isTarget(shim, node);
    const platform = { os: node.os ?? labels['kubernetes.io/os'], arch: node.arch ?? labels['kubernetes.io/arch'] };
    const item: NodeWork = { node, target, platform: platformKey(platform), current: observedRecord, ready: observedReady, busy: false };
    if (target && valid) {
      const resolution = resolveArtifact(shim, platform);
      if (!resolution.supported) item.unsupported = resolution.reason;
      else item.unsupported = nodeUnsupported(node);
      if (resolution.supported && item.unsupported === undefined) item.artifact = resolution.artifact;
    }

    const jobs = jobsByNode.get(node.name) ?? [];
    const consumed: string[] = [];
    for (const job of jobs.filter((j) => j.phase !== 'running').sort(byFinishTime)) {
      const outcome = finishedJobOutcome(job, item.current, nowIso);
      item.current = outcome.record;
      // A failed install that left the previous version working keeps the label as it was.
      const stillWorking = outcome.record?.state === 'failed' && Boolean(outcome.record.workingRevision);
      item.ready = outcome.record?.state === 'installed' || (stillWorking && item.ready);
      events.push({ type: 'emitEvent', ...outcome.event, node: node.name });
      consumed.push(job.name);
    }
    const running = jobs.filter((j) => j.phase === 'running');
    if (running.length > 0) {
      item.busy = true;
      item.current = inProgressRecord(item.current, runningJobDetails(running[running.length - 1]!, item.current), nowIso);
    }
    if (actionable) item.ready = desiredReady(target, item.current, item.ready);
    if (!sameNodeShimStatus(observedRecord, item.current) || item.ready !== observedReady) {
      actions.push(patchFor(shimName, node.name, item.ready, item.current));
    }
    for (const name of consumed) actions.push({ type: 'deleteJob', name, node: node.name });
    work.push(item);
  }

  // Phase 2: which nodes get a new Job, within the rollout and failure budgets.
  const strategy = effectiveRolloutStrategy(valid ? shim.spec : { ...shim.spec, rolloutStrategy: undefined });
  const targets = work.filter((w) => w.target);
  const managedCount = work.filter((w) => w.target || w.current !== null).length;
  const maxInFlight = strategy.type === 'recreate' ? Number.POSITIVE_INFINITY : resolveIntOrPercent(strategy.maxUpdate, managedCount);
  const failureBudget = resolveIntOrPercent(strategy.maxFailedNodes, targets.length);
  const failedAtDesired = targets.filter(
    (w) => w.artifact && w.current?.state === 'failed' && w.current.revision === w.artifact.revision,
  ).length;
  const paused = !deleting && valid && failedAtDesired >= failureBudget;
  const candidates: Candidate[] = [];
  for (const w of work) {
    if (!actionable || w.busy) continue;
    const current = w.current;
    const holdsSlot = inMotion(current);
    if (w.target) {
      if (!w.artifact) continue;
      const revision = w.artifact.revision;
      if (current?.state === 'installed' && current.revision === revision) continue;
      if (paused) continue;
      const retry = current?.state === 'failed' && current.revision === revision;
      if (retry) {
        const due = retryDueAt(current);
        if (due > nowMs) {
          wakeAt = Math.min(wakeAt, due);
          continue;
        }
      }
      candidates.push({ work: w, action: 'install', revision, holdsSlot, rank: holdsSlot ? 0 : retry ? 3 : 2 });
    } else if (current !== null) {
      if (current.state === 'failed') {
        const due = retryDueAt(current);
        if (due > nowMs) {
          wakeAt = Math.min(wakeAt, due);
          continue;
        }
      }
      candidates.push({ work: w, action: 'uninstall', revision: current.revision ?? 'unknown', holdsSlot, rank: holdsSlot ? 0 : 1 });
    }
  }
  candidates.sort((a, b) => a.rank - b.rank || a.work.node.name.localeCompare(b.work.node.name));
  // In flight: running Jobs, plus nodes marked installing/uninstalling whose Job is recreated now.
  // A node stuck in such a state that nothing will act on (unsupported now) does not hold a slot.
  let inFlight = work.filter((w) => w.busy).length + candidates.filter((c) => c.holdsSlot).length;

  for (const candidate of candidates) {
    if (!candidate.holdsSlot) {
      if (inFlight >= maxInFlight) continue;
      inFlight++;
    }
    const { work: w, action, revision } = candidate;
    const jobName = installerJobName(shimName, w.node.name, action, revision);
    if (takenJobNames.has(jobName)) {
      // The previous Job of that name is still being deleted; its slot stays reserved meanwhile.
      wakeAt = Math.min(wakeAt, nowMs + NAME_CONFLICT_RETRY_MS);
      continue;
    }
    const spec = shim.spec;
    const job: CreateJobAction = {
      type: 'createJob',
      jobName,
      node: w.node.name,
      action,
      revision,
      shim: shimName,
      handler: spec.runtimeClass?.handler ?? '',
      runtimeOptions: spec.containerdRuntimeOptions ?? {},
    };
    if (action === 'install') job.artifact = w.artifact;
    if (spec.version !== undefined) job.version = spec.version;
    if (spec.shimBinary !== undefined) job.shimBinary = spec.shimBinary;
    actions.push(job);

    const before = w.current;
    const readyBefore = w.ready;
    w.current = inProgressRecord(
      before,
      action === 'install'
        ? { action, revision, version: spec.version, sha256: w.artifact?.sha256, containerd: containerdVersion(w.node.containerRuntimeVersion) }
        : { action, revision, version: before?.version, sha256: before?.sha256 },
      nowIso,
    );
    w.ready = desiredReady(w.target, w.current, readyBefore);
    w.busy = true;
    if (!sameNodeShimStatus(before, w.current) || w.ready !== readyBefore) {
      actions.push(patchFor(shimName, w.node.name, w.ready, w.current));
    }
    events.push({
      type: 'emitEvent',
      eventType: 'Normal',
      reason: action === 'install' ? 'Installing' : 'Uninstalling',
      message: `${action === 'install' ? 'installing' : 'uninstalling'} revision ${revision} on node ${w.node.name}`,
      node: w.node.name,
    });
  }

  const outcomes: NodeOutcome[] = work.map((w) => {
    const outcome: NodeOutcome = { name: w.node.name, target: w.target, platform: w.platform, record: w.current, ready: w.ready, busy: w.busy };
    if (w.artifact) outcome.desiredRevision = w.artifact.revision;
    if (w.unsupported !== undefined) outcome.unsupported = w.unsupported;
    return outcome;
  });
  const status = computeStatus({
    generation: shim.metadata.generation ?? 0,
    observed: shim.status,
    nodes: outcomes,
    deleting,
    specErrors,
    paused,
    failedAtDesired,
    failureBudget,
    ...(runtimeClassConflict ? { runtimeClassConflict } : {}),
    now: nowIso,
  });

  const observedProgressing = shim.status?.conditions?.find((c) => c.type === 'Progressing');
  if (paused && observedProgressing?.reason !== 'RolloutPaused') {
    const message = status.conditions?.find((c) => c.type === 'Progressing')?.message ?? 'rollout paused';
    events.push({ type: 'emitEvent', eventType: 'Warning', reason: 'RolloutPaused', message });
  } else if (!paused && !deleting && observedProgressing?.reason === 'RolloutPaused') {
    events.push({ type: 'emitEvent', eventType: 'Normal', reason: 'RolloutResumed', message: 'rollout resumed' });
  }
  actions.push(...events);

  const finished = deleting && work.every((w) => w.current === null && !w.ready && !w.busy);
  if (finished) {
    // The object goes away once the finalizer is removed: a status write would only race with that.
    actions.push({ type: 'removeFinalizer', finalizer: FINALIZER });
  } else if (statusDiffers(shim.status, status)) {
    actions.push({ type: 'updateStatus', status });
  }
  if (Number.isFinite(wakeAt)) actions.push({ type: 'requeueAfter', ms: Math.max(1_000, Math.ceil(wakeAt - nowMs)) });
  return { actions, status };
}
