// What the controller watches, declared as data (kube/watch.ts starts them): for each kind, where
// it lives, how it is selected, which Shims a change wakes, and which changes matter at all.

import type { CoreV1Event, KubernetesObject, V1Job, V1Node, V1Pod, V1RuntimeClass } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION, SHIM_PLURAL } from '../../api/names.ts';
import type { Shim } from '../../api/shim.ts';
import type { CachedKind } from '../../kube/informer.ts';
import type { WatchDeclaration } from '../../kube/watch.ts';
import { INSTALLER_JOB_SELECTOR, installerJobIdentity } from '../installer-job/identity.ts';
import { JOB_UID_LABEL, jobChangeMatters, jobDeletionMatters, podChangeMatters } from '../installer-job/observe.ts';
import { sandboxFailureConcerns } from '../planner/drift.ts';
import { RUNTIME_CLASS_SHIM_LABEL } from '../planner/runtime-class.ts';
import { nodeChangeMatters } from './observe.ts';
import { nodeFingerprints } from './node-fingerprint.ts';
import { JOB_READS, NODE_READS, POD_READS, slimJob, slimNode, slimPod } from './slim.ts';

/** The controller's caches, one per watched kind. Custom objects (Shims) come back as plain JSON. */
export interface Caches {
  shims: CachedKind<KubernetesObject>;
  nodes: CachedKind<V1Node>;
  jobs: CachedKind<V1Job>;
  pods: CachedKind<V1Pod>;
  runtimeclasses: CachedKind<V1RuntimeClass>;
  /** The kubelets' FailedCreatePodSandBox Events, cluster-wide: the drift signal (planner/drift.ts). */
  sandboxfailures: CachedKind<CoreV1Event>;
}

/** Selects the Events a kubelet writes when it cannot create a pod sandbox. */
export const SANDBOX_FAILURE_SELECTOR = 'reason=FailedCreatePodSandBox';

type ObjectOf<C> = C extends CachedKind<infer T> ? T : never;
export type Watches = { [K in keyof Caches]: WatchDeclaration<ObjectOf<Caches[K]>> };

/** An installer Job or Pod wakes the Shim it works for. */
function shimOfInstallerObject(obj: KubernetesObject): string[] {
  const shim = installerJobIdentity(obj)?.shim;
  return shim ? [shim] : [];
}

/**
 * A Pod wakes its Shim while its Job is cached and not being deleted: the planner reads a Pod only
 * for its Job (the result, a stuck start), and ignores a Job going away. The Pods of Jobs deleted
 * after a rollout (recorded, then their TTL) go away at thousands of nodes for minutes, and must
 * not replan every node each time.
 */
function shimOfInstallerPod(pod: KubernetesObject, jobLive: (name: string, uid: string) => boolean): string[] {
  const labels = pod.metadata?.labels ?? {};
  const jobUid = labels[JOB_UID_LABEL];
  const jobName = labels[JOB_NAME_LABEL];
  return jobUid && jobName && !jobLive(jobName, jobUid) ? [] : shimOfInstallerObject(pod);
}

/**
 * How often the Node watch is read at most: a kubelet's change waits at most this long, and the
 * controller wakes twice a second instead of once per heartbeat (kube/coalesced-reads.ts). The
 * controller's own Node patches are read at once (ShimController catches the caches up).
 */
export const NODE_WATCH_COALESCE_MS = 500;

/**
 * How often the installer Job and Pod watches are read at most. During a rollout they deliver
 * about eleven events per node, each its own wake-up when read as it comes; read in bursts, a
 * finished Job is seen at most this much later, against the seconds an installer runs.
 */
export const INSTALLER_WATCH_COALESCE_MS = 100;

/** Set by the Job controller on a Job's Pods, with the Job's uid (JOB_UID_LABEL). */
const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';

/**
 * @param namespace the controller's own, where the installer Jobs and Pods run
 * @param shims the cached Shims, for events that concern Shims by what their spec names
 * @param jobLive whether the installer Job of this name and uid is in the cache and not being deleted
 */
export function controllerWatches(namespace: string, shims: () => Shim[], jobLive: (name: string, uid: string) => boolean = () => true): Watches {
  return {
    shims: {
      kind: 'shims',
      path: `/apis/${API_GROUP}/${API_VERSION}/${SHIM_PLURAL}`,
      // The Shim, and the Shims whose handler ownership it may change: those naming the same
      // handler, and those waiting on a conflict (the owner may have moved to another handler).
      wakes: (obj) => {
        const shim = obj as unknown as Shim;
        const name = shim.metadata?.name ?? '';
        const handler = shim.spec?.runtimeClass?.handler;
        const waiting = shims().filter(
          (other) =>
            other.metadata.name !== name &&
            ((handler !== undefined && other.spec?.runtimeClass?.handler === handler) ||
              other.status?.conditions?.some((c) => c.type === 'Ready' && c.reason === 'HandlerConflict')),
        );
        return [name, ...waiting.map((other) => other.metadata.name)];
      },
    },
    nodes: {
      kind: 'nodes',
      path: '/api/v1/nodes',
      slim: slimNode,
      reads: NODE_READS,
      fingerprints: nodeFingerprints,
      coalesceMs: NODE_WATCH_COALESCE_MS,
      // Any Shim may target any node.
      wakes: () => 'all',
      // Heartbeats and other status churn wake nothing.
      filter: nodeChangeMatters,
    },
    jobs: {
      kind: 'jobs',
      path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
      slim: slimJob,
      reads: JOB_READS,
      labelSelector: INSTALLER_JOB_SELECTOR,
      wakes: shimOfInstallerObject,
      // The Job controller's progress counts wake nothing; a finish does, and a running Job's deletion.
      filter: jobChangeMatters,
      deletionMatters: jobDeletionMatters,
      coalesceMs: INSTALLER_WATCH_COALESCE_MS,
    },
    pods: {
      kind: 'pods',
      path: `/api/v1/namespaces/${namespace}/pods`,
      slim: slimPod,
      reads: POD_READS,
      labelSelector: INSTALLER_JOB_SELECTOR,
      wakes: (pod) => shimOfInstallerPod(pod, jobLive),
      // A result, a stuck start or a rejection wakes the Shim; a Pod that starts running does not.
      filter: podChangeMatters,
      coalesceMs: INSTALLER_WATCH_COALESCE_MS,
    },
    sandboxfailures: {
      kind: 'events',
      path: '/api/v1/events',
      fieldSelector: SANDBOX_FAILURE_SELECTOR,
      // The Shims whose handler or name the message mentions (the planner decides whether it is drift).
      wakes: (event) => shims().filter((shim) => sandboxFailureConcerns(event.message ?? '', shim)).map((shim) => shim.metadata.name),
    },
    runtimeclasses: {
      kind: 'runtimeclasses',
      path: '/apis/node.k8s.io/v1/runtimeclasses',
      // The Shim that owns it, and any Shim that wants its name (a conflict, or one to adopt).
      wakes: (rc) => {
        const owner = rc.metadata?.labels?.[RUNTIME_CLASS_SHIM_LABEL];
        const wanting = shims().filter((shim) => shim.spec.runtimeClass?.name === rc.metadata?.name).map((shim) => shim.metadata.name);
        return owner ? [owner, ...wanting] : wanting;
      },
    },
  };
}

