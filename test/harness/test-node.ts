// The test plays the node. The controller's integration tests run a real kube-apiserver but no
// kube-controller-manager and no kubelet, so nothing would ever run an installer Job. This agent
// does, through the API, exactly what those two would: it creates the Job's Pod, reports it running
// and then terminated with the installer's result as termination message (the kubelet's part), and
// moves the Job's status through the same steps and conditions as the Job controller of
// Kubernetes 1.34 (pkg/controller/job), so the apiserver's Job status validation accepts every
// write. It also plays the garbage collector for deleted Jobs (their Pods go away) and the
// TTL-after-finished controller (a finished Job is deleted, in the foreground, ttlSecondsAfterFinished later).
//
// What a test chooses per Job (and per attempt): succeed, fail (exit code 1 fails the Job at once
// through the Job's podFailurePolicy; other codes are retried up to backoffLimit), hang (the Pod
// runs until the Job is deleted) or deadline (activeDeadlineSeconds elapses after delayMs).
import {
  ApiException,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type V1Job,
  type V1JobCondition,
  type V1JobStatus,
  type V1Pod,
} from '@kubernetes/client-node';
import { INSTALLER_JOB_SELECTOR, installerJobIdentity } from '../../src/controller/installer-job/identity.ts';
import { INSTALLER_CONTAINER } from '../../src/controller/installer-job/spec.ts';
import { installerResultFor, runningPodStatus, terminatedPodStatus } from './fake-kubelet.ts';
export { installerResultFor } from './fake-kubelet.ts';
export { createNodes, type TestNodeOptions } from './test-nodes.ts';

export interface NodeBehaviour {
  outcome: 'succeed' | 'fail' | 'hang' | 'deadline';
  /** The termination message, JSON-encoded. Default: the installer's result for this Job (ok:false
   * for 'fail'). `null`: no message at all (a crash before reporting). */
  result?: object | null;
  /** Milliseconds between the Pod running and its end. Default 20. */
  delayMs?: number;
  /** 'fail' only: the container's exit code (default 1, which the Job's podFailurePolicy makes fatal). */
  exitCode?: number;
  /** The container's terminated reason (default Completed / Error; e.g. OOMKilled). */
  reason?: string;
}

export type Behaviour = (job: V1Job, attempt: number) => NodeBehaviour | Promise<NodeBehaviour>;

export interface TimelineEntry {
  job: string;
  node: string;
  action: string;
  revision: string;
  /** Epoch ms when the first Pod was reported running. */
  startedAt: number;
  /** Epoch ms when the Job got Complete or Failed; absent while it runs (or hangs). */
  finishedAt?: number;
  outcome?: 'succeeded' | 'failed';
}

export interface TestNodeAgent {
  timeline: TimelineEntry[];
  /** Unexpected errors (an apiserver refusing a write, ...); tests should expect it empty. */
  errors: Error[];
  /** Jobs whose flow is still running (including hanging ones). */
  active(): number;
  /** With `holdTtl`: from now on, finished Jobs go TTL after they finished, and those already due at once. */
  releaseTtl(): void;
  /** Starts no further TTL deletion (those under way finish) until releaseTtl(). */
  holdTtl(): void;
  /** Installer Jobs seen deleted so far. */
  deletedJobs(): number;
  stop(): Promise<void>;
}

export const JOB_TRACKING_FINALIZER = 'batch.kubernetes.io/job-tracking';
/** kube-controller-manager's --concurrent-ttl-after-finished-syncs and --concurrent-gc-syncs defaults. */
const TTL_WORKERS = 5;
const GC_WORKERS = 20;
const DEFAULT_CONTAINERD = '1.7.24';

export const succeedAlways: Behaviour = () => ({ outcome: 'succeed' });

/** Most Jobs that ran at the same time, among the entries `filter` keeps. */
export function maxConcurrent(timeline: readonly TimelineEntry[], filter: (e: TimelineEntry) => boolean = () => true): number {
  const edges = timeline
    .filter(filter)
    .flatMap((e) => [[e.startedAt, 1] as const, [e.finishedAt ?? Number.POSITIVE_INFINITY, -1] as const])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]); // an end before a start at the same instant
  let current = 0;
  let max = 0;
  for (const [, delta] of edges) max = Math.max(max, (current += delta));
  return max;
}

function second(): Date {
  return new Date(Math.floor(Date.now() / 1000) * 1000); // what the apiserver would store anyway
}

function condition(type: string, reason: string, message: string): V1JobCondition {
  const now = second();
  return { type, status: 'True', reason, message, lastProbeTime: now, lastTransitionTime: now };
}

function isGone(error: unknown): boolean {
  return error instanceof ApiException && error.code === 404;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/** Does the Job's podFailurePolicy fail the Job for this exit code (a FailJob onExitCodes rule)? */
function failJobRule(job: V1Job, exitCode: number): number {
  return (job.spec?.podFailurePolicy?.rules ?? []).findIndex((rule) => {
    const codes = rule.onExitCodes;
    if (rule.action !== 'FailJob' || !codes || exitCode === 0) return false;
    if (codes.containerName && codes.containerName !== INSTALLER_CONTAINER) return false;
    return codes.operator === 'In' ? codes.values.includes(exitCode) : !codes.values.includes(exitCode);
  });
}

export interface TestNodeAgentOptions {
  /**
   * Delete no finished Job until releaseTtl(), as if every TTL outlasted what the caller measures
   * (a benchmark's rollout), which then measures the clean-up apart.
   */
  holdTtl?: boolean;
}

export async function startTestNodeAgent(kubeconfigPath: string, namespace: string, behaviour: Behaviour = succeedAlways, options: TestNodeAgentOptions = {}): Promise<TestNodeAgent> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const batch = kc.makeApiClient(BatchV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const timeline: TimelineEntry[] = [];
  const errors: Error[] = [];
  const flows = new Map<string, AbortController>();
  const seen = new Set<string>();
  const orphaned = new Set<string>();
  const expiring = new Map<string, NodeJS.Timeout>();
  const ttlDue: V1Job[] = [];
  let ttlWorkers = 0;
  const collectQueue = new Map<string, V1Job>();
  const collecting = new Set<string>();
  let gcWorkers = 0;
  let deleted = 0;
  /** Finished Jobs and when they finished (ms), while TTLs are held. */
  const held = new Map<string, { job: V1Job; finishedMs: number }>();
  let holdTtl = options.holdTtl === true;
  let stopped = false;
  let podSerial = 0;

  /** PUT /status with the Job's current object, as the Job controller's UpdateStatus does. */
  async function writeJobStatus(name: string, change: (status: V1JobStatus) => void): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const current = await batch.readNamespacedJob({ name, namespace });
      const status: V1JobStatus = { ...current.status };
      change(status);
      try {
        await batch.replaceNamespacedJobStatus({ name, namespace, body: { ...current, status } });
        return;
      } catch (error) {
        if (!(error instanceof ApiException && error.code === 409) || attempt > 5) throw error;
      }
    }
  }

  async function removeTrackingFinalizer(pod: V1Pod): Promise<void> {
    const finalizers = (pod.metadata?.finalizers ?? []).filter((f) => f !== JOB_TRACKING_FINALIZER);
    await core.patchNamespacedPod({ name: pod.metadata!.name!, namespace, body: { metadata: { finalizers: finalizers.length ? finalizers : null } } }, merge);
  }

  async function containerdOf(node: string): Promise<string> {
    const version = await core.readNode({ name: node }).then((n) => n.status?.nodeInfo?.containerRuntimeVersion, () => undefined);
    return version?.startsWith('containerd://') ? version.slice('containerd://'.length) : DEFAULT_CONTAINERD;
  }

  async function createPod(job: V1Job): Promise<V1Pod> {
    const template = job.spec!.template;
    return core.createNamespacedPod({
      namespace,
      body: {
        metadata: {
          generateName: `${job.metadata!.name}-`, // the Job controller's naming: <job>-<5 random>
          labels: template.metadata?.labels ?? {}, // holds job-name and controller-uid (apiserver defaulting)
          annotations: template.metadata?.annotations ?? {},
          finalizers: [JOB_TRACKING_FINALIZER],
          ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: job.metadata!.name!, uid: job.metadata!.uid!, controller: true, blockOwnerDeletion: true }],
        },
        spec: template.spec!,
      },
    });
  }

  async function reportPodStatus(pod: V1Pod, status: object): Promise<void> {
    await core.patchNamespacedPodStatus({ name: pod.metadata!.name!, namespace, body: { status } }, merge);
  }

  /** One Job, start to finish, in the Job controller's order of status writes. */
  async function runJob(job: V1Job, signal: AbortSignal): Promise<void> {
    const name = job.metadata!.name!;
    const identity = installerJobIdentity(job);
    const node = job.spec?.template.spec?.nodeName ?? '';
    const entry: TimelineEntry = { job: name, node, action: identity?.action ?? '', revision: identity?.revision ?? '', startedAt: 0 };
    const backoffLimit = job.spec?.backoffLimit ?? 6;
    const finish = async (type: 'Complete' | 'Failed', interim: V1JobCondition, pod: V1Pod, counter: 'succeeded' | 'failed') => {
      const podUid = pod.metadata!.uid!;
      // 1. the pod is "uncounted" and the interim condition (SuccessCriteriaMet / FailureTarget) is set;
      await writeJobStatus(name, (s) => {
        Object.assign(s, { active: 0, ready: 0, terminating: 0, uncountedTerminatedPods: { [counter]: [podUid] } });
        s.conditions = [...(s.conditions ?? []), interim];
      });
      // 2. the Pod's tracking finalizer goes; 3. the Pod is counted, and the terminal condition set.
      await removeTrackingFinalizer(pod);
      await writeJobStatus(name, (s) => {
        s[counter] = (s[counter] ?? 0) + 1;
        s.uncountedTerminatedPods = {};
        s.conditions = [...(s.conditions ?? []), { ...interim, type, lastTransitionTime: second(), lastProbeTime: second() }];
        if (type === 'Complete') s.completionTime = second();
      });
      entry.finishedAt = Date.now();
      entry.outcome = type === 'Complete' ? 'succeeded' : 'failed';
    };

    for (let attempt = 0; !signal.aborted; attempt++) {
      const decision = await behaviour(job, attempt);
      const pod = await createPod(job);
      if (attempt === 0) await writeJobStatus(name, (s) => Object.assign(s, { startTime: second(), active: 1, ready: 0, terminating: 0, uncountedTerminatedPods: {} }));
      else await writeJobStatus(name, (s) => Object.assign(s, { active: 1, ready: 0 }));
      const running = runningPodStatus(pod, ++podSerial, second());
      await reportPodStatus(pod, running.status);
      await writeJobStatus(name, (s) => Object.assign(s, { ready: 1 }));
      if (attempt === 0) {
        entry.startedAt = Date.now();
        timeline.push(entry);
      }
      if (decision.outcome === 'hang') return sleep(2 ** 31 - 1, signal);
      await sleep(decision.delayMs ?? 20, signal);
      if (signal.aborted) return;
      const podUid = pod.metadata!.uid!;

      if (decision.outcome === 'deadline') {
        // The Job controller marks the failure, deletes the Pod; the kubelet kills it (SIGTERM) and
        // removes it; only when nothing terminates any more does the Job get Failed.
        const interim = condition('FailureTarget', 'DeadlineExceeded', 'Job was active longer than specified deadline');
        await core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace });
        await writeJobStatus(name, (s) => {
          Object.assign(s, { active: 0, ready: 0, terminating: 1, uncountedTerminatedPods: { failed: [podUid] } });
          s.conditions = [...(s.conditions ?? []), interim];
        });
        await reportPodStatus(pod, terminatedPodStatus(pod, running, { exitCode: 143, reason: decision.reason ?? 'Error', message: null }, second()));
        await removeTrackingFinalizer(pod);
        await writeJobStatus(name, (s) => Object.assign(s, { failed: (s.failed ?? 0) + 1, uncountedTerminatedPods: {} }));
        await core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace, gracePeriodSeconds: 0 }).catch((e: unknown) => { if (!isGone(e)) throw e; });
        await writeJobStatus(name, (s) => {
          s.terminating = 0;
          s.conditions = [...(s.conditions ?? []), { ...interim, type: 'Failed', lastTransitionTime: second(), lastProbeTime: second() }];
        });
        entry.finishedAt = Date.now();
        entry.outcome = 'failed';
        return;
      }

      const ok = decision.outcome === 'succeed';
      const exitCode = ok ? 0 : (decision.exitCode ?? 1);
      const result = decision.result === undefined ? installerResultFor(job, ok, await containerdOf(node)) : decision.result;
      const message = result === null ? null : JSON.stringify(result);
      await reportPodStatus(pod, terminatedPodStatus(pod, running, { exitCode, reason: decision.reason ?? (ok ? 'Completed' : 'Error'), message }, second()));

      if (ok) {
        const interim = condition('SuccessCriteriaMet', 'CompletionsReached', 'Reached expected number of succeeded pods');
        await finish('Complete', interim, pod, 'succeeded');
        return;
      }
      const rule = failJobRule(job, exitCode);
      const failedSoFar = (await batch.readNamespacedJob({ name, namespace })).status?.failed ?? 0;
      if (rule >= 0 || failedSoFar + 1 > backoffLimit) {
        const interim = rule >= 0
          ? condition('FailureTarget', 'PodFailurePolicy', `Container ${INSTALLER_CONTAINER} for pod ${namespace}/${pod.metadata!.name} failed with exit code ${exitCode} matching FailJob rule at index ${rule}`)
          : condition('FailureTarget', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
        await finish('Failed', interim, pod, 'failed');
        return;
      }
      // Counted towards backoffLimit; the Job controller creates a replacement Pod (after a backoff
      // of 10 s doubling, which this agent skips).
      await writeJobStatus(name, (s) => Object.assign(s, { active: 0, ready: 0, uncountedTerminatedPods: { failed: [podUid] } }));
      await removeTrackingFinalizer(pod);
      await writeJobStatus(name, (s) => Object.assign(s, { failed: (s.failed ?? 0) + 1, uncountedTerminatedPods: {} }));
    }
  }

  /**
   * The garbage collector's (and the kubelet's) part when a Job goes: its Pods are deleted, or with
   * propagationPolicy Orphan (batch/v1's default!) only lose their owner reference and stay.
   */
  async function collect(job: V1Job): Promise<void> {
    const uid = job.metadata!.uid!;
    flows.get(uid)?.abort();
    const finalizers = job.metadata?.finalizers ?? [];
    if (finalizers.includes('orphan')) orphaned.add(uid);
    const pods = await core.listNamespacedPod({ namespace, labelSelector: `batch.kubernetes.io/controller-uid=${uid}` });
    for (const pod of pods.items) {
      const ignoreGone = (e: unknown) => { if (!isGone(e)) throw e; };
      if (orphaned.has(uid)) {
        const owners = (pod.metadata?.ownerReferences ?? []).filter((o) => o.uid !== uid);
        await core.patchNamespacedPod({ name: pod.metadata!.name!, namespace, body: { metadata: { ownerReferences: owners.length ? owners : null } } }, merge).catch(ignoreGone);
        continue;
      }
      if (pod.metadata?.finalizers?.length) await removeTrackingFinalizer(pod).catch(ignoreGone);
      await core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace, gracePeriodSeconds: 0 }).catch(ignoreGone);
    }
    const gcFinalizers: string[] = finalizers.filter((f) => f === 'orphan' || f === 'foregroundDeletion');
    if (gcFinalizers.length > 0) {
      const rest = finalizers.filter((f) => !gcFinalizers.includes(f));
      await batch.patchNamespacedJob({ name: job.metadata!.name!, namespace, body: { metadata: { finalizers: rest.length ? rest : null } } }, merge)
        .catch((e: unknown) => { if (!isGone(e)) throw e; });
    }
  }

  function record(error: unknown, signal?: AbortSignal): void {
    if (stopped || signal?.aborted) return; // the Job went away under the flow: expected
    errors.push(error instanceof Error ? error : new Error(String(error)));
  }

  /**
   * Collects a deleted Job's Pods, GC_WORKERS Jobs at a time and each Job once at a time (its
   * updates while it goes ask again), as the garbage collector's workers do: thousands of Jobs
   * going at once must not put thousands of requests in flight.
   */
  function collectLater(job: V1Job): void {
    const uid = job.metadata!.uid!;
    if (!collectQueue.has(uid)) collectQueue.set(uid, job);
    collectNext();
  }

  function collectNext(): void {
    for (const [uid, job] of collectQueue) {
      if (gcWorkers >= GC_WORKERS || stopped) return;
      if (collecting.has(uid)) continue;
      collectQueue.delete(uid);
      collecting.add(uid);
      gcWorkers++;
      void collect(job)
        .catch((e: unknown) => record(e))
        .finally(() => {
          collecting.delete(uid);
          gcWorkers--;
          collectNext();
        });
    }
  }

  /** The TTL-after-finished controller's part: a finished Job goes ttlSecondsAfterFinished later, that very Job only. */
  function expireAfterTtl(job: V1Job, finishedMs = Date.now()): void {
    const uid = job.metadata!.uid!;
    const ttl = job.spec?.ttlSecondsAfterFinished;
    if (ttl === undefined || expiring.has(uid)) return;
    if (holdTtl) {
      if (!held.has(uid)) held.set(uid, { job, finishedMs });
      return;
    }
    const timer = setTimeout(() => {
      ttlDue.push(job);
      deleteDueJobs();
    }, Math.max(0, finishedMs + ttl * 1000 - Date.now()));
    expiring.set(uid, timer);
  }

  /** Deletes the Jobs whose TTL is up, TTL_WORKERS at a time, as the TTL controller's workers do. */
  function deleteDueJobs(): void {
    while (ttlWorkers < TTL_WORKERS && ttlDue.length > 0 && !stopped && !holdTtl) {
      const job = ttlDue.shift()!;
      ttlWorkers++;
      void batch
        .deleteNamespacedJob({ name: job.metadata!.name!, namespace, propagationPolicy: 'Foreground', body: { preconditions: { uid: job.metadata!.uid! } } })
        .catch((e: unknown) => { if (!(e instanceof ApiException && (e.code === 404 || e.code === 409))) record(e); })
        .finally(() => {
          ttlWorkers--;
          deleteDueJobs();
        });
    }
  }

  function onJob(job: V1Job): void {
    const uid = job.metadata?.uid;
    if (!uid || stopped) return;
    if (job.metadata?.deletionTimestamp) {
      collectLater(job);
      return;
    }
    const finished = job.status?.conditions?.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
    if (finished) expireAfterTtl(job);
    if (seen.has(uid) || finished) return;
    seen.add(uid);
    const abort = new AbortController();
    flows.set(uid, abort);
    void runJob(job, abort.signal)
      .catch(async (e: unknown) => {
        // A Job deleted under its flow makes the flow's writes fail: that is no error.
        const current = await batch.readNamespacedJob({ name: job.metadata!.name!, namespace }).catch(() => null);
        if (current?.metadata?.uid === uid && !current.metadata.deletionTimestamp) record(e, abort.signal);
      })
      .finally(() => flows.delete(uid));
  }

  const path = `/apis/batch/v1/namespaces/${namespace}/jobs`;
  const informer = makeInformer<V1Job>(kc, path, () => batch.listNamespacedJob({ namespace, labelSelector: INSTALLER_JOB_SELECTOR }), INSTALLER_JOB_SELECTOR);
  informer.on('add', onJob);
  informer.on('update', onJob);
  informer.on('delete', (job) => {
    if (!job.metadata?.uid) return;
    clearTimeout(expiring.get(job.metadata.uid));
    expiring.delete(job.metadata.uid);
    held.delete(job.metadata.uid);
    deleted++;
    collectLater(job);
  });
  informer.on('error', () => {
    // The informer stops on errors (a watch the apiserver closed, ...): start it again.
    if (!stopped) setTimeout(() => void informer.start().catch((e: unknown) => record(e)), 200);
  });
  await informer.start();

  return {
    timeline,
    errors,
    active: () => flows.size,
    releaseTtl() {
      holdTtl = false;
      for (const { job, finishedMs } of held.values()) expireAfterTtl(job, finishedMs);
      held.clear();
      deleteDueJobs();
    },
    holdTtl() {
      holdTtl = true;
    },
    deletedJobs: () => deleted,
    async stop() {
      stopped = true;
      for (const abort of flows.values()) abort.abort();
      for (const timer of expiring.values()) clearTimeout(timer);
      await informer.stop();
    },
  };
}
