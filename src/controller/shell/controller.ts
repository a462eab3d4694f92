// The imperative shell around the planner, in the controller-runtime pattern: the watches
// (watches.ts) keep caches of Shims, Nodes, installer Jobs and Pods and RuntimeClasses and wake the
// Shims a change concerns; a worker takes a Shim from the queue, waits until the caches show its
// own previous writes (Expectations), plans from the caches (never a LIST) and applies the plan
// (apply.ts), retrying failures with per-Shim backoff.

import type { KubernetesObject } from '@kubernetes/client-node';
import type { ArtifactLocationPrefix } from '../../api/artifact-policy.ts';
import { redactSecrets } from '../../api/redact.ts';
import type { Shim } from '../../api/shim.ts';
import { apiStatus, describeApiError } from '../../kube/api-errors.ts';
import type { KubeClient } from '../../kube/rest.ts';
import { Expectations } from '../../kube/expectations.ts';
import type { CachedKind } from '../../kube/informer.ts';
import { startWatch, type WatchHooks } from '../../kube/watch.ts';
import { WorkQueue } from '../../kube/workqueue.ts';
import type { Logger } from '../../log.ts';
import type { InstallerJobSettings } from '../installer-job/spec.ts';
import { shimOwnerReference } from '../owner-reference.ts';
import type { Plan, PlannedAction } from '../planner/model.ts';
import { plan } from '../planner/plan.ts';
import { applyAction, applyPlan, type ApplyContext, type ControllerWrite, type WrittenKind } from './apply.ts';
import { CONTROLLER_NAME, type ControllerMetrics } from './metrics.ts';
import { plannerInput } from './observe.ts';
import { reconcileHold, typicalJobMs, type PlanningCost } from './pacing.ts';
import { controllerWatches, type Caches } from './watches.ts';

/** How long a reconcile waits for the caches to show this controller's own last writes. */
const READ_YOUR_WRITES_TIMEOUT_MS = 5_000;
/** How soon a Shim whose own writes are not in the caches yet is looked at again. */
const CACHE_CATCH_UP_POLL_MS = 50;
/** The Pod event normally wakes a Shim with a Job awaiting its result; this covers a Pod that never shows up. */
const AWAITING_RESULT_POLL_MS = 2_000;

export interface ControllerOptions {
  client: KubeClient;
  /** Namespace of the installer Jobs (the controller's own). */
  namespace: string;
  job: Omit<InstallerJobSettings, 'namespace'>;
  identity: string;
  log: Logger;
  metrics: ControllerMetrics;
  workers?: number;
  now?: () => Date;
  /** SHIMKEEPER_ALLOWED_ARTIFACT_URLS, parsed; empty allows any location. */
  allowedArtifactLocations?: readonly ArtifactLocationPrefix[];
  /** Re-verify installed nodes this long after they were last proven (0: never). */
  reverifyAfterMs?: number;
  /** Installer Jobs running at once, all Shims together (0: no cap). */
  maxConcurrentJobs?: number;
}

export class ShimController {
  private readonly options: ControllerOptions;
  private readonly queue: WorkQueue<string>;
  private readonly expectations: Expectations<WrittenKind>;
  private caches?: Caches;
  /** When each Shim's status was last written by this process (progress-only updates are spaced: planner/status.ts). */
  private readonly statusWrittenAt = new Map<string, Date>();
  private workers: Promise<void>[] = [];
  private running = false;

  constructor(options: ControllerOptions) {
    this.options = options;
    this.queue = new WorkQueue<string>({ hooks: options.metrics.queueHooks() });
    this.expectations = new Expectations<WrittenKind>((kind, name, namespace) => this.cached(kind, name, namespace), { timeoutMs: READ_YOUR_WRITES_TIMEOUT_MS });
  }

  /** Starts the watches, waits for their first LIST, then the workers. */
  async start(): Promise<void> {
    const { client, namespace, log, metrics } = this.options;
    const hooks: WatchHooks = {
      wake: (keys) => (keys === 'all' ? this.enqueueAllShims() : keys.forEach((key) => this.queue.add(key))),
      countRequest: (verb, resource) => metrics.countRequest(verb, resource),
      log,
    };
    const jobLive = (name: string, uid: string) => {
      const job = this.caches?.jobs.get(name, namespace);
      return job?.metadata?.uid === uid && !job.metadata.deletionTimestamp;
    };
    const watches = controllerWatches(namespace, () => this.shimList(), jobLive);
    const caches: Caches = {
      shims: startWatch(client, watches.shims, hooks),
      nodes: startWatch(client, watches.nodes, hooks),
      jobs: startWatch(client, watches.jobs, hooks),
      pods: startWatch(client, watches.pods, hooks),
      runtimeclasses: startWatch(client, watches.runtimeclasses, hooks),
      sandboxfailures: startWatch(client, watches.sandboxfailures, hooks),
    };
    this.caches = caches;
    await Promise.all(Object.values(caches).map((cache: CachedKind<KubernetesObject>) => cache.synced));
    log.info('caches synced', { shims: caches.shims.list().length, nodes: caches.nodes.list().length, jobs: caches.jobs.list().length });
    this.running = true;
    this.enqueueAllShims();
    const workers = this.options.workers ?? 2;
    metrics.runtimeMaxConcurrent.set({ controller: CONTROLLER_NAME }, workers);
    this.workers = Array.from({ length: workers }, () => this.work());
  }

  isReady(): boolean {
    return this.running;
  }

  queueDepth(): number {
    return this.queue.length;
  }

  async stop(): Promise<void> {
    this.running = false;
    this.queue.shutDown();
    await Promise.all(this.workers);
    await Promise.all(Object.values(this.caches ?? {}).map((cache: CachedKind<KubernetesObject>) => cache.stop()));
  }

  private enqueueAllShims(): void {
    if (!this.caches?.shims.isSynced()) return;
    for (const shim of this.shimList()) this.queue.add(shim.metadata.name);
  }

  private shimList(): Shim[] {
    return (this.caches?.shims.list() ?? []) as unknown as Shim[];
  }

  private cached(kind: WrittenKind, name: string, namespace?: string): KubernetesObject | undefined {
    const caches = this.caches!;
    const byKind: Record<WrittenKind, CachedKind<KubernetesObject>> = { shim: caches.shims, node: caches.nodes, job: caches.jobs, runtimeclass: caches.runtimeclasses };
    return byKind[kind].get(name, namespace);
  }

  private async work(): Promise<void> {
    const { log, metrics } = this.options;
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const started = performance.now();
      const seconds = () => (performance.now() - started) / 1000;
      metrics.runtimeActiveWorkers.inc({ controller: CONTROLLER_NAME });
      let hold = 0;
      try {
        const outcome = await this.reconcile(key);
        hold = reconcileHold(outcome);
        this.queue.forget(key);
        metrics.observeReconcile(outcome.requeued ? 'requeue_after' : 'success', seconds());
        if (log.enabled('debug')) log.debug('reconciled', { shim: key, ms: Math.round(seconds() * 1000), ...debugFields(outcome), holdMs: Math.round(hold) });
      } catch (error) {
        const retryIn = this.queue.addRateLimited(key);
        metrics.observeReconcile(apiStatus(error) === 409 ? 'conflict' : 'error', seconds());
        // An API error may echo what was sent (a Job's environment holds the artifact URL).
        log.warn('reconcile failed', { shim: key, error: redactSecrets(describeApiError(error)), retryInMs: retryIn });
      } finally {
        metrics.runtimeActiveWorkers.dec({ controller: CONTROLLER_NAME });
        this.queue.done(key, hold);
      }
    }
  }

  /** Returns how long planning took (ms), not counting the writes, over how many nodes, and whether the Shim is looked at again later. */
  private async reconcile(name: string): Promise<ReconcileOutcome> {
    const { log, metrics, namespace } = this.options;
    const shim = this.caches!.shims.get(name) as unknown as Shim | undefined;
    if (!shim) {
      this.expectations.forget(name);
      this.statusWrittenAt.delete(name);
      return { planningMs: 0, nodesPlanned: 0, requeued: false };
    }
    if (!this.expectations.satisfied(name)) {
      // A coalescing watch may hold back the event of this controller's own write.
      for (const cache of Object.values(this.caches!)) (cache as CachedKind<KubernetesObject>).catchUp();
      this.queue.addAfter(name, CACHE_CATCH_UP_POLL_MS);
      return { planningMs: 0, nodesPlanned: 0, requeued: true, waitedForOwnWrites: true };
    }
    const planningStart = performance.now();
    const planningCpu = process.cpuUsage();

    const now = () => this.options.now?.() ?? new Date();
    const statusWrittenAt = this.statusWrittenAt.get(name);
    const input = plannerInput(this.caches!, shim, namespace, now(), {
      shims: this.shimList(),
      allowedArtifactLocations: this.options.allowedArtifactLocations ?? [],
      reverifyAfterMs: this.options.reverifyAfterMs ?? 0,
      maxConcurrentJobs: this.options.maxConcurrentJobs ?? 0,
      ...(statusWrittenAt ? { statusWrittenAt } : {}),
    });
    if (input.jobs.some((job) => job.awaitingResult)) this.queue.addAfter(name, AWAITING_RESULT_POLL_MS);
    const result = plan(input);
    const planningMs = performance.now() - planningStart;
    const cpu = process.cpuUsage(planningCpu);
    metrics.planningSeconds.inc((cpu.user + cpu.system) / 1e6);
    this.recordNodeMetrics(name, result.status);

    const ctx = this.applyContext(shim);
    const writes: ControllerWrite[] = [];
    const apply = async (action: PlannedAction): Promise<void> => {
      const written = await applyAction(this.options.client, action, ctx);
      if (written) writes.push(written);
      if (action.type === 'updateStatus') this.statusWrittenAt.set(name, now());
      if (action.type !== 'emitEvent') log.info('applied', { shim: name, action: action.type, ...describe(action as unknown as Record<string, unknown>) });
    };
    try {
      await applyPlan(result, { apply, recorded: ({ action, outcome }) => metrics.jobs.inc({ action, outcome }) });
    } finally {
      this.expectations.expect(name, writes);
    }
    if (result.requeueAfterMs !== undefined) this.queue.addAfter(name, result.requeueAfterMs);
    return { planningMs, nodesPlanned: input.nodes.length, typicalJobMs: typicalJobMs(input.jobs), requeued: result.requeueAfterMs !== undefined, ...(log.enabled('debug') ? { actions: actionCounts(result) } : {}) };
  }

  /** The Shim's identity, bound once for the reconcile: its owner reference goes on its Jobs and RuntimeClass. */
  private applyContext(shim: Shim): ApplyContext {
    const owner = shimOwnerReference(shim);
    return {
      shim,
      owner,
      jobs: { ...this.options.job, namespace: this.options.namespace, owner },
      reportingInstance: this.options.identity,
      count: (verb, resource) => this.options.metrics.countRequest(verb, resource),
    };
  }

  private recordNodeMetrics(shim: string, status: Shim['status']): void {
    const gauge = this.options.metrics.nodes;
    gauge.set({ shim, state: 'targeted' }, status?.nodes ?? 0);
    gauge.set({ shim, state: 'ready' }, status?.nodesReady ?? 0);
    gauge.set({ shim, state: 'updated' }, status?.nodesUpdated ?? 0);
    gauge.set({ shim, state: 'failed' }, status?.nodesFailed ?? 0);
  }
}

interface ReconcileOutcome extends PlanningCost {
  requeued: boolean;
  /** Not planned: the caches did not show this controller's last writes to the Shim's objects yet. */
  waitedForOwnWrites?: boolean;
  /** What the plan did, by action type (LOG_LEVEL=debug). */
  actions?: Record<string, number>;
}

function actionCounts(plan: Plan): Record<string, number> {
  const counts: Record<string, number> = {};
  const count = (action: PlannedAction) => (counts[action.type] = (counts[action.type] ?? 0) + 1);
  plan.before.forEach(count);
  for (const work of plan.nodes) work.actions.forEach(count);
  plan.after.forEach(count);
  return counts;
}

/** A reconcile as LOG_LEVEL=debug tells it: what was planned, over how many nodes, in how long. */
function debugFields(outcome: ReconcileOutcome): Record<string, unknown> {
  if (outcome.waitedForOwnWrites) return { waitedForOwnWrites: true };
  return { nodes: outcome.nodesPlanned, planningMs: Math.round(outcome.planningMs * 10) / 10, actions: outcome.actions, ...(outcome.requeued ? { requeued: true } : {}) };
}

function describe(action: Record<string, unknown>): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const key of ['node', 'jobName', 'name', 'revision', 'action']) if (typeof action[key] === 'string') fields[key] = action[key];
  return fields;
}
