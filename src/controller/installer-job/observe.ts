// An installer Job as the planner observes it: its phase, and the installer's result read from the
// termination message of its Pod (parsed by the installer contract, src/api/installer-contract.ts).
// Pure: the shell passes what its informers hold.

import type { V1Job, V1JobCondition, V1Pod } from '@kubernetes/client-node';
import { parseInstallerResult } from '../../api/installer-contract.ts';
import type { ObservedJob } from '../planner/model.ts';
import { memoizeByObject } from '../planner/memo.ts';
import { installerJobIdentity } from './identity.ts';

/** Set by the Job controller on a Job's Pods; unlike the Job name it differs between retries. */
export const JOB_UID_LABEL = 'batch.kubernetes.io/controller-uid';

/** The Job controller's terminal conditions that hold (Complete or Failed, status True), in order. */
export function finishedConditions(job: V1Job): V1JobCondition[] {
  return (job.status?.conditions ?? []).filter(isFinishedCondition);
}

/** Whether the Job controller says the Job is complete or failed; asked of every cached Job on every pass, so without a copy. */
export function jobFinished(job: V1Job): boolean {
  return job.status?.conditions?.some(isFinishedCondition) ?? false;
}

function isFinishedCondition(condition: V1JobCondition): boolean {
  return (condition.type === 'Complete' || condition.type === 'Failed') && condition.status === 'True';
}

function jobPhase(job: V1Job): { phase: ObservedJob['phase']; finishedAt?: string; reason?: string } {
  const condition = finishedConditions(job)[0];
  if (!condition) return { phase: 'running' };
  const at = job.status?.completionTime ?? condition.lastTransitionTime;
  const finishedAt = at ? new Date(at).toISOString() : undefined;
  if (condition.type === 'Complete') return { phase: 'succeeded', ...(finishedAt ? { finishedAt } : {}) };
  const reason = [condition.reason, condition.message].filter(Boolean).join(': ');
  return { phase: 'failed', ...(finishedAt ? { finishedAt } : {}), reason: reason || 'Job failed' };
}

/** The installer's result: the termination message of the Job's most recent finished Pod. */
function terminationMessage(pods: readonly V1Pod[]): string | undefined {
  const finished = pods
    .map((pod) => ({ pod, terminated: pod.status?.containerStatuses?.find((s) => s.state?.terminated)?.state?.terminated }))
    .filter((entry) => entry.terminated?.message)
    .sort((a, b) => timeOf(a.terminated?.finishedAt) - timeOf(b.terminated?.finishedAt));
  return finished.at(-1)?.terminated?.message;
}

/** Listed objects carry Date objects, watched ones RFC 3339 strings: accept both. */
function timeOf(value: Date | string | undefined): number {
  return value === undefined ? 0 : new Date(value).getTime();
}

/**
 * How long a finished Job whose Pod result is not in the cache yet counts as still running. Jobs
 * and Pods come through separate watches, so the Job's Complete can arrive before its Pod's
 * termination message; deciding "no result" then would fail a node that succeeded.
 */
export const RESULT_GRACE_MS = 30_000;

/** `podsOfJob`: the Pods whose controller-uid label is this Job's uid. */
export function observeJob(job: V1Job, podsOfJob: readonly V1Pod[], now: Date = new Date()): ObservedJob | null {
  const identity = installerJobIdentity(job);
  // The Pod's nodeName is what the Job really runs on; the annotation says what it was made for.
  const node = job.spec?.template?.spec?.nodeName ?? identity?.node;
  if (!identity || !node) return null;
  const { phase, finishedAt, reason } = jobPhase(job);
  const observed: ObservedJob = { name: job.metadata?.name ?? '', node, action: identity.action, revision: identity.revision, phase };
  if (job.metadata?.uid) observed.uid = job.metadata.uid;
  if (job.metadata?.creationTimestamp) observed.createdAt = new Date(job.metadata.creationTimestamp).toISOString();
  if (finishedAt) observed.finishedAt = finishedAt;
  if (job.metadata?.deletionTimestamp) observed.deleting = true;
  if (phase === 'running') {
    const stuck = stuckReason(podsOfJob);
    if (stuck) observed.stuck = stuck;
  }
  if (phase !== 'running') {
    const message = terminationMessage(podsOfJob);
    const finishedMs = finishedAt ? new Date(finishedAt).getTime() : now.getTime();
    if (message === undefined && now.getTime() - finishedMs < RESULT_GRACE_MS) {
      return { ...observed, phase: 'running', awaitingResult: true };
    }
    observed.result = parseInstallerResult(message);
    if (!observed.result && reason) observed.error = reason;
  }
  return observed;
}

/**
 * Waiting reasons of the installer container that will not clear by themselves within seconds:
 * the Job would sit "in progress" until its deadline. A registry may come back, so the Job is
 * left alone; the node and the Shim say what is wrong at once.
 */
const STUCK_WAITING_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

/** Why the newest Pod of a running Job cannot get going, as `Reason: message`, or undefined. */
function stuckReason(pods: readonly V1Pod[]): string | undefined {
  const newest = [...pods].sort((a, b) => timeOf(a.metadata?.creationTimestamp) - timeOf(b.metadata?.creationTimestamp)).at(-1);
  if (!newest) return undefined;
  const waiting = newest.status?.containerStatuses?.find((s) => s.state?.waiting && STUCK_WAITING_REASONS.has(s.state.waiting.reason ?? ''))?.state?.waiting;
  if (waiting) return [waiting.reason, waiting.message].filter(Boolean).join(': ');
  // The kubelet refused to admit the Pod (no room it can free, a missing device, a node affinity): the Job retries it.
  if (newest.status?.phase === 'Failed' && newest.status.reason && !newest.status.containerStatuses?.some((s) => s.state?.terminated)) {
    return [newest.status.reason, newest.status.message].filter(Boolean).join(': ');
  }
  return undefined;
}

/**
 * What observeJob reads of a Job: a change to anything else (the Job controller's active, ready
 * and interim conditions, three or four updates per Job) cannot change a plan, so it wakes no Shim.
 * Nor does a finished Job going away (jobDeletionMatters).
 */
function jobView(job: V1Job): string {
  const { uid, labels, annotations, deletionTimestamp } = job.metadata ?? {};
  const finished = finishedConditions(job);
  const going = finished.length === 0 ? deletionTimestamp : undefined;
  return JSON.stringify([uid, labels, annotations, going, job.spec?.template?.spec?.nodeName, job.status?.completionTime, finished]);
}

/**
 * Whether a Job's deletion can change a plan: a running Job's frees its node. A finished Job's
 * result was read when it finished (the finish woke its Shim; a restarted controller lists what is
 * left), so its deletion (its TTL, the controller's own) changes no plan. A plan that waits for
 * its name to be free looks again by itself (NAME_CONFLICT_RETRY_MS).
 */
export function jobDeletionMatters(job: V1Job): boolean {
  return !jobFinished(job);
}

/** What observeJob reads of a Pod: a start under way, Running and the Job controller's finalizer removal are not among it. */
function podView(pod: V1Pod): string {
  const { uid, labels, creationTimestamp, deletionTimestamp } = pod.metadata ?? {};
  const status = pod.status;
  const containers = (status?.containerStatuses ?? [])
    .filter(({ state }) => STUCK_WAITING_REASONS.has(state?.waiting?.reason ?? '') || state?.terminated)
    .map(({ state }) => [state?.waiting?.reason, state?.waiting?.message, Boolean(state?.terminated), state?.terminated?.message, state?.terminated?.finishedAt]);
  const failed = status?.phase === 'Failed' ? [status.reason, status.message] : null;
  return JSON.stringify([uid, labels, creationTimestamp, deletionTimestamp, failed, containers]);
}

/** Whether a Job's update can change what the planner observes (a Job first seen always can). */
export function jobChangeMatters(before: V1Job | undefined, after: V1Job): boolean {
  return !before || viewOfJob(before) !== viewOfJob(after);
}

/** Whether a Pod's update can change what the planner observes of its Job (a Pod first seen always can). */
export function podChangeMatters(before: V1Pod | undefined, after: V1Pod): boolean {
  return !before || viewOfPod(before) !== viewOfPod(after);
}

// A cached object's view, worked out when it arrived and asked again as `before` of the next update.
const viewOfJob = memoizeByObject(jobView);
const viewOfPod = memoizeByObject(podView);
