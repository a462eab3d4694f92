// What the controller's caches keep of each watched object (kube/informer.ts drops the rest before
// caching): only the fields the planner and the watch filters read. A Node as a kubelet keeps it
// is 10-15 KB of JSON (images, conditions, managedFields); its slim copy is a few hundred bytes,
// which is what lets 10,000 nodes fit in the controller's memory budget (bench/controller.bench.ts).

import type { V1ContainerStatus, V1Job, V1JobStatus, V1Node, V1ObjectMeta, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { finishedConditions } from '../installer-job/observe.ts';
import { API_GROUP } from '../../api/names.ts';
import type { PartialRead } from '../../kube/partial-event.ts';

/** Annotations in shimkeeper's domain: the opt-in list and the per-Shim status records. */
function isShimkeeperKey(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash < 0) return false;
  const prefix = key.slice(0, slash);
  return prefix === API_GROUP || prefix.endsWith(`.${API_GROUP}`);
}

function shimkeeperAnnotations(annotations: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!annotations) return undefined;
  let kept: Record<string, string> | undefined;
  for (const key in annotations) if (isShimkeeperKey(key)) (kept ??= {})[key] = annotations[key]!;
  return kept;
}

/** The identity fields every slim object keeps (the read-your-writes check needs resourceVersion). */
function slimMetadata(metadata: V1ObjectMeta | undefined, keep: Partial<V1ObjectMeta>): V1ObjectMeta {
  const slim: V1ObjectMeta = { name: metadata?.name ?? '' };
  if (metadata?.namespace) slim.namespace = metadata.namespace;
  if (metadata?.uid) slim.uid = metadata.uid;
  if (metadata?.resourceVersion) slim.resourceVersion = metadata.resourceVersion;
  if (metadata?.creationTimestamp) slim.creationTimestamp = metadata.creationTimestamp;
  if (metadata?.deletionTimestamp) slim.deletionTimestamp = metadata.deletionTimestamp;
  for (const [key, value] of Object.entries(keep)) if (value !== undefined) (slim as Record<string, unknown>)[key] = value;
  return slim;
}

/** Labels (any may be selected on), shimkeeper's annotations, and the platform in nodeInfo. */
export function slimNode(node: V1Node): V1Node {
  const info = node.status?.nodeInfo;
  const slim: V1Node = { metadata: slimMetadata(node.metadata, { labels: node.metadata?.labels, annotations: shimkeeperAnnotations(node.metadata?.annotations) }) };
  if (info) {
    slim.status = {
      nodeInfo: {
        operatingSystem: info.operatingSystem,
        architecture: info.architecture,
        containerRuntimeVersion: info.containerRuntimeVersion,
        bootID: info.bootID,
      } as NonNullable<V1Node['status']>['nodeInfo'],
    };
  }
  return slim;
}

/**
 * What slimNode reads beyond the metadata, for watch events read from their bytes
 * (kube/partial-event.ts): nodeInfo, the first member of that name after the metadata (no member
 * of a Node's spec, nor of its status before nodeInfo, is named so; node-fingerprint.ts reads it alike).
 */
export const NODE_READS: PartialRead = { statusMember: 'nodeInfo' };

/**
 * An installer Job: its identity (labels, annotations), the node it is pinned to, and of its status
 * how it ended (terminal conditions, completion time), not the Job controller's counts: a finished
 * Job stays cached until its TTL, one per node after a rollout.
 */
export function slimJob(job: V1Job): V1Job {
  const slim: V1Job = { metadata: slimMetadata(job.metadata, { labels: job.metadata?.labels, annotations: job.metadata?.annotations }) };
  const nodeName = job.spec?.template?.spec?.nodeName;
  if (nodeName) slim.spec = { template: { spec: { nodeName, containers: [] } } };
  if (job.status) {
    const status: V1JobStatus = {};
    const ended = finishedConditions(job).map(({ type, status, reason, message, lastTransitionTime }) => ({ type, status, reason, message, lastTransitionTime }));
    if (ended.length > 0) status.conditions = ended;
    if (job.status.completionTime) status.completionTime = job.status.completionTime;
    slim.status = status;
  }
  return slim;
}

/** What slimJob reads beyond the metadata: the status, and the node from a Pod template that cannot change. */
export const JOB_READS: PartialRead = { immutableSpec: true };

/**
 * An installer Pod: its identity and Job (labels, annotations) and of its status what observeJob
 * reads: the phase and why (a rejection), and each container's waiting reason or how it ended (the
 * installer's result is its termination message). Not its spec, conditions, addresses, images.
 */
export function slimPod(pod: V1Pod): V1Pod {
  const slim: V1Pod = { metadata: slimMetadata(pod.metadata, { labels: pod.metadata?.labels, annotations: pod.metadata?.annotations }) };
  if (pod.status) {
    const { phase, reason, message, containerStatuses } = pod.status;
    const status: V1PodStatus = {};
    if (phase !== undefined) status.phase = phase;
    if (reason !== undefined) status.reason = reason;
    if (message !== undefined) status.message = message;
    if (containerStatuses) status.containerStatuses = containerStatuses.map(slimContainerStatus);
    slim.status = status;
  }
  return slim;
}

function slimContainerStatus({ name, state }: V1ContainerStatus): V1ContainerStatus {
  const slim = { name, state: {} } as V1ContainerStatus;
  if (state?.waiting) slim.state!.waiting = { reason: state.waiting.reason, message: state.waiting.message };
  if (state?.terminated) {
    const { exitCode, reason, message, finishedAt } = state.terminated;
    slim.state!.terminated = { exitCode, reason, message, finishedAt };
  }
  return slim;
}

/** What slimPod reads beyond the metadata: the whole status. */
export const POD_READS: PartialRead = {};
