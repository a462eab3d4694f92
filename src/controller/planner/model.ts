// The planner's vocabulary: what it observes, the actions it plans, and the shape of a plan. Every
// other planner file and the shell take their types from here; it holds no logic.

import type { ResolvedArtifact } from '../../api/artifact.ts';
import type { ArtifactLocationPrefix } from '../../api/artifact-policy.ts';
import { API_GROUP } from '../../api/names.ts';
import type { Shim, ShimStatus } from '../../api/shim.ts';
import type { JobAction, JobResult } from '../../api/installer-contract.ts';
import type { NodeShimRecord } from './node-status.ts';

export const FINALIZER = `${API_GROUP}/finalizer`;

/**
 * Orders object names (DNS subdomains: lowercase letters, digits, `-` and `.`) as localeCompare
 * does for them, by code unit: plans list nodes and Jobs in this order, and every pass sorts them.
 * The planner orders its other keys (platforms, revisions, RFC 3339 times) this way too: no
 * localeCompare, which costs more and pages ICU's collation data (2 MB) into the controller.
 */
export function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---- Observed state ----

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
  /** status.nodeInfo.bootID: changes when the node reboots. */
  bootID?: string;
  /** The kubelet's recent FailedCreatePodSandBox Events on this node (drift.ts reads them). */
  sandboxFailures?: SandboxFailure[];
  /** `false` for a node known to be deleted. Nodes missing from the input are gone as well. */
  exists?: boolean;
}

/** A pod sandbox the kubelet could not create on a node: a sign that a handler may be gone. */
export interface SandboxFailure {
  /** RFC 3339 time of the latest occurrence. */
  time: string;
  message: string;
}

export interface ObservedJob {
  name: string;
  /** metadata.uid: which Job a node's record holds the outcome of (NodeShimRecord.job). */
  uid?: string;
  node: string;
  action: JobAction;
  /** The revision the Job installs, or for an uninstall the one it removes. */
  revision: string;
  phase: 'running' | 'succeeded' | 'failed';
  /** Parsed termination message of a finished Job (see parseInstallerResult). */
  result?: JobResult | null;
  /** Why a finished Job failed when it left no result (e.g. `DeadlineExceeded: ...`). */
  error?: string;
  /** RFC 3339 creation time (how long Jobs take paces the reconciles, shell/pacing.ts). */
  createdAt?: string;
  /** RFC 3339 completion time of a finished Job. */
  finishedAt?: string;
  /** metadata.deletionTimestamp is set: the Job is going away and is ignored, but its name is taken. */
  deleting?: boolean;
  /** Finished, but its Pod's result has not reached the cache yet: treated as running meanwhile. */
  awaitingResult?: boolean;
  /** Running, but its Pod cannot get going (image pull back-off, a rejected Pod): the kubelet's reason and message. */
  stuck?: string;
}

export interface ObservedRuntimeClass {
  name: string;
  /** metadata.uid: the precondition of every write to a class the Shim owns. */
  uid?: string;
  handler: string;
  nodeSelector?: Record<string, string>;
  labels?: Record<string, string>;
  /** The uids in metadata.ownerReferences: with the owner label, what makes a class the Shim's own. */
  ownerUids?: string[];
  /** The owner reference with `controller: true`, if any (runtime-class-manager sets its Shim's). */
  controller?: { apiVersion: string; kind: string; name: string };
}

/** Another Shim as far as handler ownership needs it (from the Shim cache). */
export interface OtherShim {
  metadata: Pick<Shim['metadata'], 'name' | 'creationTimestamp'>;
  spec?: { runtimeClass?: { handler?: string } };
}

export interface PlannerInput {
  shim: Shim;
  nodes: ObservedNode[];
  /** This Shim's installer Jobs. */
  jobs: ObservedJob[];
  /** RuntimeClasses labelled as this Shim's, plus the one named spec.runtimeClass.name if it exists. */
  runtimeClasses: ObservedRuntimeClass[];
  /** Every other Shim in the cluster: one handler belongs to one Shim (gates.ts). Absent: none. */
  otherShims?: readonly OtherShim[];
  /** The controller's SHIMKEEPER_ALLOWED_ARTIFACT_URLS, parsed; empty or absent allows any location. */
  allowedArtifactLocations?: readonly ArtifactLocationPrefix[];
  /** Re-verify an installed node this long after its last verification (0 or absent: never). */
  reverifyAfterMs?: number;
  /**
   * The cluster-wide cap on installer Jobs running at once (SHIMKEEPER_MAX_CONCURRENT_JOBS), and how
   * many other Shims' Jobs run now. Absent: no cap.
   */
  clusterJobs?: { limit: number; runningForOtherShims: number };
  /**
   * When this controller last wrote the Shim's status; absent: not known (a fresh start, a test).
   * A status that only moves the rollout's progress on is then written at most every
   * STATUS_PROGRESS_INTERVAL_MS (status.ts), not after every reconcile.
   */
  statusWrittenAt?: Date;
  now: Date;
}

// ---- Actions ----

export interface DesiredRuntimeClass {
  name: string;
  handler: string;
  /** scheduling.nodeSelector: pods using the class land only where the shim works. */
  nodeSelector: Record<string, string>;
  labels: Record<string, string>;
}

/**
 * `uid` is the class this Shim owns, as observed: writes carry it as a precondition, so they never
 * land on a class someone else created under the same name in the meantime. An apply without `uid`
 * creates the class and fails if one exists by then.
 */
export type RuntimeClassAction =
  | { type: 'applyRuntimeClass'; runtimeClass: DesiredRuntimeClass; uid?: string }
  | AdoptRuntimeClassAction
  | { type: 'deleteRuntimeClass'; name: string; uid?: string };

/**
 * Take over a class shimkeeper did not create (spec.runtimeClass.adoptExisting): read it, check it
 * is still the object `uid` with the desired handler, and write it back (resourceVersion-checked)
 * with the desired labels added, scheduling.nodeSelector replaced, and the Shim as its only
 * controller owner. Everything else on it (other labels, tolerations, overhead) stays.
 */
export interface AdoptRuntimeClassAction {
  type: 'adoptRuntimeClass';
  runtimeClass: DesiredRuntimeClass;
  uid: string;
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
  /** spec.runtimeClass.takeOverExistingHandler: the installer may replace an existing runtime for the handler. */
  takeOverHandler?: boolean;
  /** A re-check of an installed node (drift.ts): the installer proves the handler even if nothing changed. */
  verify?: boolean;
}

export interface DeleteJobAction {
  type: 'deleteJob';
  name: string;
  /** The Job's uid, when known: a new Job of the same name created after it is not this one. */
  uid?: string;
  node: string;
}

export function deleteJobAction(job: ObservedJob): DeleteJobAction {
  return { type: 'deleteJob', name: job.name, ...(job.uid ? { uid: job.uid } : {}), node: job.node };
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
  versionLabelKey: string;
  /** The version the node runs, as a label value; `null` → remove the label. */
  versionLabel: string | null;
}

export interface EmitEventAction {
  type: 'emitEvent';
  eventType: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** The Node the event is about; absent for events about the Shim. */
  node?: string;
}

/** Work on the Shim and its RuntimeClass: before or after the nodes'. */
export type ShimAction =
  | { type: 'addFinalizer'; finalizer: string }
  | { type: 'removeFinalizer'; finalizer: string }
  | RuntimeClassAction
  | EmitEventAction
  /** Replace the whole status (PUT /status), so that fields which disappear do disappear. */
  | { type: 'updateStatus'; status: ShimStatus };

/** Work on one node: its installer Jobs, its label and annotation, events about it. */
export type NodeAction = CreateJobAction | DeleteJobAction | PatchNodeAction | EmitEventAction;

export type PlannedAction = ShimAction | NodeAction;

// ---- The plan ----

/** One node's actions, to be applied in this order. */
export interface NodeWork {
  node: string;
  actions: NodeAction[];
}

/** A finished installer Job whose result the plan records (what shimkeeper_jobs_total counts). */
export interface JobOutcomeCount {
  /** The Job: its result is on the node (which marks it recorded) once the node's work is applied. */
  job: string;
  node: string;
  action: JobAction;
  outcome: 'succeeded' | 'failed';
}

/**
 * What one reconcile does. `before` is applied in order first (the finalizer, the RuntimeClass);
 * then every node's work, nodes independently of each other (in parallel), each node's actions in
 * order; then `after` in order (events about the Shim, then the status or the finalizer's removal).
 * Within a node the order makes a crash between any two actions safe to replan from: a finished
 * Job's result is on the node before the Job is deleted, and a Job exists before its node is marked
 * as installing.
 */
export interface Plan {
  before: ShimAction[];
  nodes: NodeWork[];
  after: ShimAction[];
  /** The status the Shim should have; `updateStatus` is in `after` only when it differs. */
  status: ShimStatus;
  /** Plan again after this long even if nothing changes (a retry backoff or a name conflict ends). */
  requeueAfterMs?: number;
  outcomes: JobOutcomeCount[];
}
