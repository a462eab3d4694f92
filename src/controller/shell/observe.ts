// Turns cached API objects into the planner's input. Pure: the controller shell passes what its
// informers hold (no LIST per reconcile), and these functions are tested without any API.

import type { CoreV1Event, V1Job, V1Node, V1Pod, V1RuntimeClass } from '@kubernetes/client-node';
import type { ArtifactLocationPrefix } from '../../api/artifact-policy.ts';
import type { Shim } from '../../api/shim.ts';
import type { CachedKind } from '../../kube/informer.ts';
import { installerJobIdentity } from '../installer-job/identity.ts';
import { jobFinished, JOB_UID_LABEL, observeJob } from '../installer-job/observe.ts';
import type { ObservedJob, ObservedNode, ObservedRuntimeClass, PlannerInput, SandboxFailure } from '../planner/model.ts';
import { memoizeByObject } from '../planner/memo.ts';
import { RUNTIME_CLASS_SHIM_LABEL } from '../planner/runtime-class.ts';

/** Cached objects are replaced, never changed: each is observed once, not once per reconcile. */
export const observeNode = memoizeByObject((node: V1Node): ObservedNode => Object.freeze(observeNodeOnce(node)));

function observeNodeOnce(node: V1Node): ObservedNode {
  const observed: ObservedNode = { name: node.metadata?.name ?? '' };
  if (node.metadata?.labels) observed.labels = node.metadata.labels;
  if (node.metadata?.annotations) observed.annotations = node.metadata.annotations;
  const info = node.status?.nodeInfo;
  if (info?.operatingSystem) observed.os = info.operatingSystem;
  if (info?.architecture) observed.arch = info.architecture;
  if (info?.containerRuntimeVersion) observed.containerRuntimeVersion = info.containerRuntimeVersion;
  if (info?.bootID) observed.bootID = info.bootID;
  if (node.metadata?.deletionTimestamp) observed.exists = false;
  return observed;
}

/**
 * Whether what the planner observes of a Node changed: heartbeats and other status churn do not
 * wake Shims. (Observing here also readies the observation the next plan reads.)
 */
export function nodeChangeMatters(before: V1Node | undefined, after: V1Node): boolean {
  return !before || JSON.stringify(observeNode(before)) !== JSON.stringify(observeNode(after));
}

export function observeRuntimeClass(rc: V1RuntimeClass): ObservedRuntimeClass {
  const observed: ObservedRuntimeClass = { name: rc.metadata?.name ?? '', handler: rc.handler };
  if (rc.metadata?.uid) observed.uid = rc.metadata.uid;
  if (rc.scheduling?.nodeSelector) observed.nodeSelector = rc.scheduling.nodeSelector;
  if (rc.metadata?.labels) observed.labels = rc.metadata.labels;
  const ownerUids = (rc.metadata?.ownerReferences ?? []).map((ref) => ref.uid).filter((uid) => uid);
  if (ownerUids.length > 0) observed.ownerUids = ownerUids;
  const controller = rc.metadata?.ownerReferences?.find((ref) => ref.controller === true);
  if (controller) observed.controller = { apiVersion: controller.apiVersion, kind: controller.kind, name: controller.name };
  return observed;
}

/** The caches the planner input is read from (watches.ts's Caches, minus the Shims). */
export interface ObservedCaches {
  nodes: Pick<CachedKind<V1Node>, 'list'>;
  jobs: Pick<CachedKind<V1Job>, 'list'>;
  pods: Pick<CachedKind<V1Pod>, 'list'>;
  runtimeclasses: Pick<CachedKind<V1RuntimeClass>, 'list'>;
  /** The kubelets' FailedCreatePodSandBox Events; absent: none seen. */
  sandboxfailures?: Pick<CachedKind<CoreV1Event>, 'list'>;
}

/** The sandbox failures a kubelet reported, by node (Events name their node as source.host). */
export function sandboxFailuresByNode(events: readonly CoreV1Event[]): Map<string, SandboxFailure[]> {
  const byNode = new Map<string, SandboxFailure[]>();
  for (const event of events) {
    const node = event.source?.host ?? event.reportingInstance;
    const at = event.lastTimestamp ?? event.eventTime ?? event.firstTimestamp ?? event.metadata?.creationTimestamp;
    if (!node || !at || !event.message) continue;
    byNode.set(node, [...(byNode.get(node) ?? []), { time: new Date(at).toISOString(), message: event.message }]);
  }
  return byNode;
}

/** What the planner takes from beyond the Shim's own objects: the other Shims, the controller's policy. */
export interface PlannerContext {
  /** Every Shim in the cache (this one included; it is left out here). */
  shims?: readonly Shim[];
  allowedArtifactLocations?: readonly ArtifactLocationPrefix[];
  /** SHIMKEEPER_REVERIFY_INTERVAL in ms (0: never). */
  reverifyAfterMs?: number;
  /** SHIMKEEPER_MAX_CONCURRENT_JOBS: installer Jobs running at once, all Shims together (0 or absent: no cap). */
  maxConcurrentJobs?: number;
  /** When this controller last wrote the Shim's status (PlannerInput.statusWrittenAt). */
  statusWrittenAt?: Date;
}

/**
 * A Job's observation, kept while the Job and its Pods are the same cached objects: a finished Job
 * left for its TTL is read by every reconcile until it goes, and its result parsed once. Not while
 * its result is awaited: that observation depends on the time.
 */
const jobObservations = new WeakMap<V1Job, { pods: readonly V1Pod[]; observed: ObservedJob | null }>();

function observeJobOnce(job: V1Job, pods: readonly V1Pod[], now: Date): ObservedJob | null {
  const known = jobObservations.get(job);
  if (known && known.pods.length === pods.length && known.pods.every((pod, i) => pod === pods[i])) return known.observed;
  const observed = observeJob(job, pods, now);
  if (!observed?.awaitingResult) jobObservations.set(job, { pods, observed: observed && Object.freeze(observed) });
  return observed;
}

const NO_PODS: readonly V1Pod[] = Object.freeze([]);

/** A Job neither complete nor failed, nor being deleted, holds a slot of the cluster-wide cap. */
function jobRunning(job: V1Job): boolean {
  if (job.metadata?.deletionTimestamp) return false;
  return !jobFinished(job);
}

/** Everything the planner needs about one Shim, from the caches. */
export function plannerInput(caches: ObservedCaches, shim: Shim, namespace: string, now: Date, context: PlannerContext = {}): PlannerInput {
  const name = shim.metadata.name;
  const podsByJobUid = new Map<string, V1Pod[]>();
  for (const pod of caches.pods.list(namespace)) {
    const uid = pod.metadata?.labels?.[JOB_UID_LABEL];
    if (!uid) continue;
    const ofJob = podsByJobUid.get(uid);
    if (ofJob) ofJob.push(pod);
    else podsByJobUid.set(uid, [pod]);
  }
  const allJobs = caches.jobs.list(namespace);
  const jobs: ObservedJob[] = [];
  let runningForOtherShims = 0;
  for (const job of allJobs) {
    if (installerJobIdentity(job)?.shim !== name) {
      if (jobRunning(job)) runningForOtherShims++;
      continue;
    }
    const observed = observeJobOnce(job, podsByJobUid.get(job.metadata?.uid ?? '') ?? NO_PODS, now);
    if (observed) jobs.push(observed);
  }
  const runtimeClasses = caches.runtimeclasses
    .list()
    .filter((rc) => rc.metadata?.labels?.[RUNTIME_CLASS_SHIM_LABEL] === name || rc.metadata?.name === shim.spec.runtimeClass?.name)
    .map(observeRuntimeClass);
  const failures = sandboxFailuresByNode(caches.sandboxfailures?.list() ?? []);
  const nodes = caches.nodes.list().map((node) => {
    const observed = observeNode(node);
    const sandboxFailures = failures.get(observed.name);
    return sandboxFailures ? { ...observed, sandboxFailures } : observed;
  });
  const input: PlannerInput = { shim, nodes, jobs, runtimeClasses, now };
  if (context.reverifyAfterMs) input.reverifyAfterMs = context.reverifyAfterMs;
  if (context.statusWrittenAt) input.statusWrittenAt = context.statusWrittenAt;
  if (context.shims) input.otherShims = context.shims.filter((other) => other.metadata.name !== name);
  if (context.allowedArtifactLocations?.length) input.allowedArtifactLocations = context.allowedArtifactLocations;
  if (context.maxConcurrentJobs) input.clusterJobs = { limit: context.maxConcurrentJobs, runningForOtherShims };
  return input;
}
