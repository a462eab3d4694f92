import {
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  NodeV1Api,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1Job,
  type V1Node,
  type V1Pod,
  type V1RuntimeClass,
} from '@kubernetes/client-node';
import { API_GROUP, API_VERSION, SHIM_PLURAL } from '../api/names.ts';
import type { Shim } from '../api/shim.ts';
import { startInformer, type CachedKind } from '../kube/informer.ts';
import type { Logger } from '../kube/logger.ts';
import { WorkQueue } from '../kube/workqueue.ts';
import { apiStatus, describeApiError } from '../kube/api-errors.ts';
import { ActionApplier, type Written } from './apply.ts';
import type { JobContext } from './job-spec.ts';
import type { ControllerMetrics } from './metrics.ts';
import { INSTALLER_JOB_SELECTOR, installerJobIdentity } from './job-spec.ts';
import { JOB_UID_LABEL, nodeChangeMatters, observeJob, observeNode, observeRuntimeClass } from './observe.ts';
import { applyOrder } from './apply-order.ts';
import { plan, type ObservedJob, type PlannedAction } from './planner.ts';
import { RUNTIME_CLASS_SHIM_LABEL } from './runtime-class.ts';

// The imperative shell around the planner: informers keep a local cache of Shims, Nodes,
// installer Jobs and Pods and RuntimeClasses; any change enqueues the Shims it concerns; a worker
// plans a Shim from the caches (never a LIST) and applies the actions in order, stopping at the
// first error and retrying with per-Shim backoff.

/** Nodes whose writes one reconcile sends at the same time. */
const NODE_WRITE_CONCURRENCY = 16;
/** How long a reconcile waits for the caches to show this controller's own last writes. */
const READ_YOUR_WRITES_TIMEOUT_MS = 5_000;

export interface ControllerOptions {
  kc: KubeConfig;
  /** Namespace of the installer Jobs (the controller's own). */
  namespace: string;
  job: Omit<JobContext, 'shimUid' | 'namespace'>;
  identity: string;
  log: Logger;
  metrics: ControllerMetrics;
  workers?: number;
  now?: () => Date;
}

interface PendingWrites {
  writes: Written[];
  since: number;
}

export class ShimController {
  private readonly options: ControllerOptions;
  private readonly queue = new WorkQueue<string>();
  private readonly applier: ActionApplier;
  private readonly pending = new Map<string, PendingWrites>();
  private readonly nodeFingerprints = new Map<string, V1Node>();
  /** Custom objects come back as plain JSON: read them through shimList()/shimNamed(). */
  private shims!: CachedKind<KubernetesObject>;
  private nodes!: CachedKind<V1Node>;
  private jobs!: CachedKind<V1Job>;
  private pods!: CachedKind<V1Pod>;
  private runtimeClasses!: CachedKind<V1RuntimeClass>;
  private workers: Promise<void>[] = [];
  private running = false;

  constructor(options: ControllerOptions) {
    this.options = options;
    this.applier = new ActionApplier(options.kc);
  }

  /** Starts the informers, waits for their first LIST, then the workers. */
  async start(): Promise<void> {
    const { kc, namespace, log, metrics } = this.options;
    const core = kc.makeApiClient(CoreV1Api);
    const batch = kc.makeApiClient(BatchV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const nodeApi = kc.makeApiClient(NodeV1Api);
    const counted = <T extends KubernetesObject>(resource: string, list: () => Promise<KubernetesListObject<T>>) => ({
      list,
      onRequest: (verb: 'list' | 'watch') => metrics.countRequest(verb, resource),
    });
    const enqueueByName = (obj: KubernetesObject) => this.queue.add(obj.metadata?.name ?? '');
    const enqueueShimOf = (obj: KubernetesObject) => {
      const shim = installerJobIdentity(obj)?.shim;
      if (shim) this.queue.add(shim);
    };

    this.shims = startInformer<KubernetesObject>(kc, {
      name: 'shims',
      path: `/apis/${API_GROUP}/${API_VERSION}/${SHIM_PLURAL}`,
      ...counted('shims', () => custom.listClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural: SHIM_PLURAL }) as Promise<KubernetesListObject<KubernetesObject>>),
      handlers: { onAdd: enqueueByName, onUpdate: enqueueByName, onDelete: enqueueByName },
    }, log);
    const onNode = (node: V1Node) => {
      const name = node.metadata?.name ?? '';
      const before = this.nodeFingerprints.get(name);
      this.nodeFingerprints.set(name, node);
      if (nodeChangeMatters(before, node)) this.enqueueAllShims();
    };
    this.nodes = startInformer<V1Node>(kc, {
      name: 'nodes',
      path: '/api/v1/nodes',
      ...counted('nodes', () => core.listNode()),
      handlers: {
        onAdd: onNode,
        onUpdate: onNode,
        onDelete: (node) => {
          this.nodeFingerprints.delete(node.metadata?.name ?? '');
          this.enqueueAllShims();
        },
      },
    }, log);
    this.jobs = startInformer<V1Job>(kc, {
      name: 'jobs',
      path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
      labelSelector: INSTALLER_JOB_SELECTOR,
      ...counted('jobs', () => batch.listNamespacedJob({ namespace, labelSelector: INSTALLER_JOB_SELECTOR })),
      handlers: { onAdd: enqueueShimOf, onUpdate: enqueueShimOf, onDelete: enqueueShimOf },
    }, log);
    this.pods = startInformer<V1Pod>(kc, {
      name: 'pods',
      path: `/api/v1/namespaces/${namespace}/pods`,
      labelSelector: INSTALLER_JOB_SELECTOR,
      ...counted('pods', () => core.listNamespacedPod({ namespace, labelSelector: INSTALLER_JOB_SELECTOR })),
      handlers: { onAdd: enqueueShimOf, onUpdate: enqueueShimOf, onDelete: enqueueShimOf },
    }, log);
    const onRuntimeClass = (rc: V1RuntimeClass) => {
      const owner = rc.metadata?.labels?.[RUNTIME_CLASS_SHIM_LABEL];
      if (owner) this.queue.add(owner);
      for (const shim of this.shimList()) if (shim.spec.runtimeClass?.name === rc.metadata?.name) this.queue.add(shim.metadata.name);
    };
    this.runtimeClasses = startInformer<V1RuntimeClass>(kc, {
      name: 'runtimeclasses',
      path: '/apis/node.k8s.io/v1/runtimeclasses',
      ...counted('runtimeclasses', () => nodeApi.listRuntimeClass()),
      handlers: { onAdd: onRuntimeClass, onUpdate: onRuntimeClass, onDelete: onRuntimeClass },
    }, log);

    await Promise.all([this.shims, this.nodes, this.jobs, this.pods, this.runtimeClasses].map((informer) => informer.synced));
    log.info('caches synced', { shims: this.shims.list().length, nodes: this.nodes.list().length, jobs: this.jobs.list().length });
    this.running = true;
    this.enqueueAllShims();
    this.workers = Array.from({ length: this.options.workers ?? 2 }, () => this.work());
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
    await Promise.all([this.shims, this.nodes, this.jobs, this.pods, this.runtimeClasses].filter(Boolean).map((informer) => informer.stop()));
  }

  private enqueueAllShims(): void {
    if (!this.shims?.isSynced()) return;
    for (const shim of this.shimList()) this.queue.add(shim.metadata.name);
  }

  private shimList(): Shim[] {
    return this.shims.list() as unknown as Shim[];
  }

  private shimNamed(name: string): Shim | undefined {
    return this.shims.get(name) as unknown as Shim | undefined;
  }

  private async work(): Promise<void> {
    const { log, metrics } = this.options;
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      metrics.queueDepth.set(this.queue.length);
      const end = metrics.reconcileSeconds.startTimer();
      try {
        await this.reconcile(key);
        this.queue.forget(key);
        metrics.reconciles.inc({ result: 'success' });
      } catch (error) {
        const retryIn = this.queue.addRateLimited(key);
        metrics.reconciles.inc({ result: apiStatus(error) === 409 ? 'conflict' : 'error' });
        log.warn('reconcile failed', { shim: key, error: describeApiError(error), retryInMs: retryIn });
      } finally {
        end();
        this.queue.done(key);
      }
    }
  }

  private async reconcile(name: string): Promise<void> {
    const { log, metrics, namespace } = this.options;
    const cached = this.shimNamed(name);
    if (!cached) {
      this.pending.delete(name);
      return;
    }
    let shim: Shim = cached;
    if (!this.cachesCaughtUp(name)) {
      this.queue.addAfter(name, 50);
      return;
    }

    const now = this.options.now?.() ?? new Date();
    const podsByJobUid = new Map<string, V1Pod[]>();
    for (const pod of this.pods.list(namespace)) {
      const uid = pod.metadata?.labels?.[JOB_UID_LABEL];
      if (uid) podsByJobUid.set(uid, [...(podsByJobUid.get(uid) ?? []), pod]);
    }
    const jobs = this.jobs
      .list(namespace)
      .filter((job) => installerJobIdentity(job)?.shim === name)
      .map((job) => observeJob(job, podsByJobUid.get(job.metadata?.uid ?? '') ?? [], now))
      .filter((job): job is ObservedJob => job !== null);
    // The Pod event normally wakes us; this covers a Pod that never shows up.
    if (jobs.some((job) => job.awaitingResult)) this.queue.addAfter(name, 2_000);
    const runtimeClasses = this.runtimeClasses
      .list()
      .filter((rc) => rc.metadata?.labels?.[RUNTIME_CLASS_SHIM_LABEL] === name || rc.metadata?.name === shim.spec.runtimeClass?.name)
      .map(observeRuntimeClass);
    const result = plan({ shim, nodes: this.nodes.list().map(observeNode), jobs, runtimeClasses, now });
    this.recordNodeMetrics(name, result.status);

    const writes: Written[] = [];
    const applyOne = async (action: PlannedAction): Promise<void> => {
      if (action.type === 'requeueAfter') {
        this.queue.addAfter(name, action.ms);
        return;
      }
      if (action.type === 'emitEvent') this.countJobOutcome(action.reason);
      const written = await this.applier.apply(action, {
        shim,
        job: { ...this.options.job, namespace, shimUid: shim.metadata.uid ?? '' },
        reportingInstance: this.options.identity,
        count: (verb, resource) => metrics.countRequest(verb, resource),
      });
      if (written) writes.push(written);
      // Later writes to the Shim in this reconcile must carry its new resourceVersion.
      if (written?.kind === 'shim' && written.resourceVersion) shim = { ...shim, metadata: { ...shim.metadata, resourceVersion: written.resourceVersion } };
      if (action.type !== 'emitEvent') log.info('applied', { shim: name, action: action.type, ...describe(action as unknown as Record<string, unknown>) });
    };
    const order = applyOrder(result.actions);
    try {
      for (const action of order.head) await applyOne(action);
      // Nodes are independent: their writes go in parallel, each node's in the planner's order.
      const failures: unknown[] = [];
      await forEachLimited(order.perNode, NODE_WRITE_CONCURRENCY, async (group) => {
        try {
          for (const action of group) await applyOne(action);
        } catch (error) {
          failures.push(error);
        }
      });
      if (failures.length > 0) throw failures[0];
      for (const action of order.tail) await applyOne(action);
    } finally {
      if (writes.length > 0) this.pending.set(name, { writes, since: Date.now() });
    }
  }

  /**
   * The next plan must see this controller's own writes, or it would act on a stale picture
   * (record a Job's result twice, recreate a Job it just deleted). Writes are visible once the
   * cached object carries at least the resourceVersion the write returned, or is gone.
   */
  private cachesCaughtUp(shim: string): boolean {
    const pending = this.pending.get(shim);
    if (!pending) return true;
    const caches: Record<Written['kind'], CachedKind<KubernetesObject>> = {
      shim: this.shims,
      node: this.nodes as CachedKind<KubernetesObject>,
      job: this.jobs as CachedKind<KubernetesObject>,
      runtimeclass: this.runtimeClasses as CachedKind<KubernetesObject>,
    };
    const visible = pending.writes.every((write) => {
      const cached = caches[write.kind].get(write.name, write.kind === 'job' ? this.options.namespace : undefined);
      if (write.resourceVersion === null) return !cached || Boolean(cached.metadata?.deletionTimestamp);
      return cached !== undefined && resourceVersionAtLeast(cached.metadata?.resourceVersion, write.resourceVersion);
    });
    if (visible || Date.now() - pending.since > READ_YOUR_WRITES_TIMEOUT_MS) {
      this.pending.delete(shim);
      return true;
    }
    return false;
  }

  private recordNodeMetrics(shim: string, status: Shim['status']): void {
    const gauge = this.options.metrics.nodes;
    gauge.set({ shim, state: 'targeted' }, status?.nodes ?? 0);
    gauge.set({ shim, state: 'ready' }, status?.nodesReady ?? 0);
    gauge.set({ shim, state: 'updated' }, status?.nodesUpdated ?? 0);
    gauge.set({ shim, state: 'failed' }, status?.nodesFailed ?? 0);
  }

  private countJobOutcome(reason: string): void {
    const outcomes: Record<string, [string, string]> = {
      Installed: ['install', 'succeeded'],
      InstallFailed: ['install', 'failed'],
      Uninstalled: ['uninstall', 'succeeded'],
      UninstallFailed: ['uninstall', 'failed'],
    };
    const outcome = outcomes[reason];
    if (outcome) this.options.metrics.jobs.inc({ action: outcome[0], outcome: outcome[1] });
  }
}

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function resourceVersionAtLeast(actual: string | undefined, wanted: string): boolean {
  if (actual === undefined) return false;
  if (actual === wanted) return true;
  // etcd revisions are integers in practice; where they are not, only equality counts.
  return /^\d+$/.test(actual) && /^\d+$/.test(wanted) ? BigInt(actual) >= BigInt(wanted) : false;
}

function describe(action: Record<string, unknown>): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const key of ['node', 'jobName', 'name', 'revision', 'action']) if (typeof action[key] === 'string') fields[key] = action[key];
  return fields;
}
