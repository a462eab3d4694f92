// The nodes' phase of a planning pass: the Jobs of gone nodes, and for each node its observed
// state with its finished Jobs recorded on it and its running Job reflected (plan.ts runs the
// phases in order).

import { platformKey } from '../../api/artifact.ts';
import { redactSecrets } from '../../api/redact.ts';
import { byName, deleteJobAction, type JobOutcomeCount, type ObservedJob, type ObservedNode } from './model.ts';
import { containerdVersion, desiredReady, finishedJobOutcome, inProgressRecord, nodeUnsupported, runningJobDetails } from './node-plan.ts';
import { parseNodeShimStatus, redactRecord, type NodeShimRecord } from './node-status.ts';
import { writeMarks, type NodeState, type NodeWorkBook, type PassContext } from './pass.ts';
import { isTarget } from './targeting.ts';
import { nodeFingerprint } from './drift.ts';
import type { EventDigest } from './event-digest.ts';

/**
 * Deletes the Jobs of nodes that are gone, in name order; groups the rest by node (Jobs being
 * deleted are ignored). Not sorted as a whole: the finished Jobs left for their TTL (one per
 * installed node) make this the longest list a pass reads.
 */
export function deleteJobsOfGoneNodes(jobs: readonly ObservedJob[], liveNodes: readonly ObservedNode[], book: NodeWorkBook): Map<string, ObservedJob[]> {
  const jobsByNode = new Map<string, ObservedJob[]>();
  for (const job of jobs) {
    if (job.deleting) continue;
    const ofNode = jobsByNode.get(job.node);
    if (ofNode) ofNode.push(job);
    else jobsByNode.set(job.node, [job]);
  }
  let nodesWithJobs = 0;
  for (const node of liveNodes) if (jobsByNode.has(node.name)) nodesWithJobs++;
  // Every node with a Job is live, as on nearly every pass: nothing to look for.
  if (nodesWithJobs === jobsByNode.size) return jobsByNode;
  const liveNames = new Set(liveNodes.map((n) => n.name));
  const ofGoneNodes: ObservedJob[] = [];
  for (const [node, ofNode] of jobsByNode) {
    if (liveNames.has(node)) continue;
    ofGoneNodes.push(...ofNode);
    jobsByNode.delete(node);
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
  return byName(a.finishedAt ?? '', b.finishedAt ?? '') || byName(a.name, b.name);
}

/**
 * The record a finished Job leaves. An installation also holds the node's fingerprint and the
 * Job's uid, which marks the Job as recorded: it is not folded in twice while it stays.
 */
function recordOfJob(node: ObservedNode, job: ObservedJob, record: NodeShimRecord | null): NodeShimRecord | null {
  if (record?.state !== 'installed') return record;
  return { ...record, ...nodeFingerprint(node, record.containerd), ...(job.uid ? { job: job.uid } : {}) };
}

/** The installation the node's record holds came from this Job. */
function holdsJob(record: NodeShimRecord | null, job: ObservedJob): boolean {
  return record?.state === 'installed' && job.uid !== undefined && record.job === job.uid;
}

/**
 * A node's state after its Jobs' phase, kept while nothing it depends on changes: the node and its
 * Jobs (the controller observes each cached object once, so an unchanged one is the same object
 * pass after pass) and the Shim (PassContext.nodeViewKey). Kept only for a node that is settled: no
 * Job runs on it and the phase had nothing to write or tell about it, which is most of a fleet on
 * every pass of a rollout. The state is frozen and shared: a later phase that changes a node's
 * state copies it first (pass.ts, ownState), so a pass makes no object for a node it leaves alone.
 */
interface SettledNode {
  nodeViewKey: string;
  jobs: readonly ObservedJob[];
  state: Readonly<NodeState>;
}
const settledNodes = new WeakMap<ObservedNode, Map<string, SettledNode>>();

function sameJobs(a: readonly ObservedJob[], b: readonly ObservedJob[]): boolean {
  return a.length === b.length && a.every((job, i) => job === b[i]);
}

/** recordFinishedJobs, answered from the node's last pass when it was settled and nothing changed since. */
export function nodeState(ctx: PassContext, node: ObservedNode, jobs: ObservedJob[], book: NodeWorkBook, digest: EventDigest, outcomes: JobOutcomeCount[]): NodeState {
  const ofShims = settledNodes.get(node);
  const settled = ofShims?.get(ctx.shimName);
  if (settled && settled.nodeViewKey === ctx.nodeViewKey && sameJobs(settled.jobs, jobs)) return settled.state as NodeState;
  const outcomesBefore = outcomes.length;
  const state = recordFinishedJobs(ctx, node, jobs, book, digest, outcomes);
  if (state.busy || outcomes.length !== outcomesBefore || book.has(node.name)) {
    ofShims?.delete(ctx.shimName);
    return state;
  }
  const entry: SettledNode = { nodeViewKey: ctx.nodeViewKey, jobs, state: Object.freeze(state) };
  if (ofShims) ofShims.set(ctx.shimName, entry);
  else settledNodes.set(node, new Map([[ctx.shimName, entry]]));
  return state;
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
