// Carries out a plan: one small function per action kind, one API call each, and the plan's order
// (model.ts: Plan) around them. Every call is idempotent in effect (AlreadyExists and NotFound
// where they mean "done" are success), and every write that returns an object reports its
// resourceVersion so the controller can wait until its caches have seen it (kube/expectations.ts).

import type { CoreV1Event, V1OwnerReference, V1RuntimeClass } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { API_GROUP, API_VERSION, SHIM_KIND, SHIM_PLURAL } from '../../api/names.ts';
import { redactSecrets } from '../../api/redact.ts';
import { SHIM_API_VERSION, type Shim } from '../../api/shim.ts';
import { apiStatus } from '../../kube/api-errors.ts';
import type { KubeClient } from '../../kube/rest.ts';
import type { Written } from '../../kube/expectations.ts';
import { installerJob, type InstallerJobContext } from '../installer-job/spec.ts';
import type { JobOutcomeCount, NodeWork, Plan, PlannedAction } from '../planner/model.ts';
import { redactRecord, serializeNodeShimStatus } from '../planner/node-status.ts';

export const FIELD_MANAGER = 'shimkeeper-controller';
const EVENT_NAMESPACE = 'default';
/** Nodes whose writes one reconcile sends at the same time. */
export const NODE_WRITE_CONCURRENCY = 16;

export type WrittenKind = 'shim' | 'node' | 'job' | 'runtimeclass';
export type ControllerWrite = Written<WrittenKind>;

/** One reconcile's view of its Shim, bound once. */
export interface ApplyContext {
  /** The Shim as this reconcile last wrote it: a write to it moves its resourceVersion on here. */
  shim: Shim;
  /** The Shim's owner reference, for the RuntimeClass (the installer Jobs carry it in `jobs`). */
  owner: V1OwnerReference;
  jobs: InstallerJobContext;
  reportingInstance: string;
  /** Counts API calls by verb and resource, for metrics. */
  count: (verb: string, resource: string) => void;
}

const RUNTIME_CLASSES = '/apis/node.k8s.io/v1/runtimeclasses';

function shimPath(name: string): string {
  return `/apis/${API_GROUP}/${API_VERSION}/${SHIM_PLURAL}/${name}`;
}

type Handler<A> = (api: KubeClient, action: A, ctx: ApplyContext) => Promise<ControllerWrite | null>;
type Handlers = { [T in PlannedAction['type']]: Handler<Extract<PlannedAction, { type: T }>> };

/** Merge-patches the finalizers, compare-and-swap on resourceVersion (a concurrent change fails with Conflict). */
async function writeFinalizers(api: KubeClient, ctx: ApplyContext, finalizers: string[], removesLast: boolean): Promise<ControllerWrite> {
  const name = ctx.shim.metadata.name;
  ctx.count('patch', 'shims');
  const patched = await api.call<Shim>('PATCH', shimPath(name), {
    body: { metadata: { finalizers, resourceVersion: ctx.shim.metadata.resourceVersion } },
    contentType: 'application/merge-patch+json',
  });
  // Removed only from a Shim being deleted, which then goes away: the cache is to show that.
  if (removesLast) return { kind: 'shim', name, resourceVersion: null };
  return shimWritten(ctx, patched);
}

/** Later writes to the Shim in this reconcile must carry its new resourceVersion. */
function shimWritten(ctx: ApplyContext, written: Shim): ControllerWrite {
  const resourceVersion = written.metadata.resourceVersion ?? null;
  if (resourceVersion) ctx.shim = { ...ctx.shim, metadata: { ...ctx.shim.metadata, resourceVersion } };
  return { kind: 'shim', name: ctx.shim.metadata.name, resourceVersion };
}

async function ignoreStatus<T>(status: number, call: () => Promise<T>): Promise<T | null> {
  try {
    return await call();
  } catch (error) {
    if (apiStatus(error) === status) return null;
    throw error;
  }
}

const HANDLERS: Handlers = {
  addFinalizer: (api, action, ctx) => {
    const current = ctx.shim.metadata.finalizers ?? [];
    return writeFinalizers(api, ctx, [...current.filter((f) => f !== action.finalizer), action.finalizer], false);
  },

  removeFinalizer: (api, action, ctx) =>
    writeFinalizers(api, ctx, (ctx.shim.metadata.finalizers ?? []).filter((f) => f !== action.finalizer), true),

  // PUT /status: the whole status, so that fields which disappear do disappear.
  updateStatus: async (api, action, ctx) => {
    const name = ctx.shim.metadata.name;
    ctx.count('update', 'shims/status');
    const updated = await api.call<Shim>('PUT', `${shimPath(name)}/status`, {
      body: { apiVersion: SHIM_API_VERSION, kind: SHIM_KIND, metadata: { name, resourceVersion: ctx.shim.metadata.resourceVersion }, status: action.status },
    });
    return shimWritten(ctx, updated);
  },

  // A class the Shim owns (the action names its uid) is server-side applied with that uid in the
  // body, which the API server checks: the write fails rather than land on a class created by
  // someone else in the meantime. A new class is created, never applied: if the name was taken
  // since the cache was read, the create fails (409) and the next pass reports the conflict.
  applyRuntimeClass: async (api, action, ctx) => {
    const desired = action.runtimeClass;
    const body: V1RuntimeClass = {
      apiVersion: 'node.k8s.io/v1',
      kind: 'RuntimeClass',
      metadata: { name: desired.name, labels: desired.labels, ownerReferences: [ctx.owner], ...(action.uid ? { uid: action.uid } : {}) },
      handler: desired.handler,
      scheduling: { nodeSelector: desired.nodeSelector },
    };
    if (!action.uid) {
      ctx.count('create', 'runtimeclasses');
      const created = await api.call<V1RuntimeClass>('POST', RUNTIME_CLASSES, { body, query: { fieldManager: FIELD_MANAGER } });
      return { kind: 'runtimeclass', name: desired.name, resourceVersion: created.metadata?.resourceVersion ?? null };
    }
    ctx.count('apply', 'runtimeclasses');
    const applied = await api.call<V1RuntimeClass>('PATCH', `${RUNTIME_CLASSES}/${desired.name}`, {
      body,
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: FIELD_MANAGER, force: 'true' },
    });
    return { kind: 'runtimeclass', name: desired.name, resourceVersion: applied.metadata?.resourceVersion ?? null };
  },

  // Adoption (spec.runtimeClass.adoptExisting) is a read and a replace, not an apply: the class's
  // controller owner reference (runtime-class-manager's Shim) and its scheduling.nodeSelector keys
  // belong to another field manager, which an apply would leave in place. The replace carries the
  // resourceVersion read, so it fails (409) if the class changed in between; the checks below
  // refuse a class that is no longer the one planned on.
  adoptRuntimeClass: async (api, action, ctx) => {
    const desired = action.runtimeClass;
    ctx.count('get', 'runtimeclasses');
    const current = await api.call<V1RuntimeClass>('GET', `${RUNTIME_CLASSES}/${desired.name}`);
    if (current.metadata?.uid !== action.uid || current.handler !== desired.handler) {
      throw new Error(`RuntimeClass ${desired.name} changed since it was observed (uid or handler); not adopted`);
    }
    const otherOwners = (current.metadata?.ownerReferences ?? []).filter((ref) => ref.controller !== true && ref.uid !== ctx.owner.uid);
    const body: V1RuntimeClass = {
      ...current,
      metadata: { ...current.metadata, labels: { ...current.metadata?.labels, ...desired.labels }, ownerReferences: [...otherOwners, ctx.owner] },
      scheduling: { ...current.scheduling, nodeSelector: desired.nodeSelector },
    };
    ctx.count('update', 'runtimeclasses');
    const replaced = await api.call<V1RuntimeClass>('PUT', `${RUNTIME_CLASSES}/${desired.name}`, { body, query: { fieldManager: FIELD_MANAGER } });
    return { kind: 'runtimeclass', name: desired.name, resourceVersion: replaced.metadata?.resourceVersion ?? null };
  },

  // Only ever a class the Shim owns, and only that very object (uid precondition).
  deleteRuntimeClass: async (api, action, ctx) => {
    ctx.count('delete', 'runtimeclasses');
    const body = action.uid ? { preconditions: { uid: action.uid } } : undefined;
    await ignoreStatus(404, () => api.call('DELETE', `${RUNTIME_CLASSES}/${action.name}`, body ? { body } : {}));
    return { kind: 'runtimeclass', name: action.name, resourceVersion: null };
  },

  // Job names are deterministic: AlreadyExists means an earlier pass created it.
  createJob: async (api, action, ctx) => {
    ctx.count('create', 'jobs');
    const namespace = ctx.jobs.namespace;
    const created = await ignoreStatus(409, async () => ({ resourceVersion: await api.write('POST', `/apis/batch/v1/namespaces/${namespace}/jobs`, { body: installerJob(action, ctx.jobs) }) }));
    return created ? { kind: 'job', name: action.jobName, namespace, resourceVersion: created.resourceVersion } : null;
  },

  deleteJob: async (api, action, ctx) => {
    ctx.count('delete', 'jobs');
    const namespace = ctx.jobs.namespace;
    // The policy goes in the query, not a body: undici closes the connection after a DELETE with a
    // body: a new TLS connection per deleted Job, nearly all of the handshakes of a rollout.
    await ignoreStatus(404, () => api.write('DELETE', `/apis/batch/v1/namespaces/${namespace}/jobs/${action.name}`, { query: { propagationPolicy: 'Background' } }));
    return { kind: 'job', name: action.name, namespace, resourceVersion: null, ...(action.uid ? { uid: action.uid } : {}) };
  },

  patchNode: async (api, action, ctx) => {
    ctx.count('patch', 'nodes');
    const body = {
      metadata: {
        labels: { [action.readyLabelKey]: action.readyLabel ? 'true' : null, [action.versionLabelKey]: action.versionLabel },
        annotations: { [action.statusAnnotationKey]: action.statusAnnotation ? serializeNodeShimStatus(redactRecord(action.statusAnnotation)) : null },
      },
    };
    const resourceVersion = await api.write('PATCH', `/api/v1/nodes/${action.node}`, { body, contentType: 'application/merge-patch+json' });
    return { kind: 'node', name: action.node, resourceVersion };
  },

  emitEvent: async (api, action, ctx) => {
    const shimName = ctx.shim.metadata.name;
    ctx.count('create', 'events');
    const regarding = action.node
      ? { kind: 'Node', name: action.node, apiVersion: 'v1', uid: action.node }
      : { kind: SHIM_KIND, name: shimName, apiVersion: SHIM_API_VERSION, uid: ctx.shim.metadata.uid };
    const now = new Date().toISOString();
    await api.call<CoreV1Event>('POST', `/api/v1/namespaces/${EVENT_NAMESPACE}/events`, {
      body: {
        metadata: { name: eventName(action.node ?? shimName), namespace: EVENT_NAMESPACE },
        involvedObject: regarding,
        reason: action.reason,
        message: redactSecrets(action.node ? `${shimName}: ${action.message}` : action.message),
        type: action.eventType,
        firstTimestamp: now as unknown as Date,
        lastTimestamp: now as unknown as Date,
        count: 1,
        source: { component: FIELD_MANAGER },
        reportingComponent: `${API_GROUP}/controller`,
        reportingInstance: ctx.reportingInstance,
      },
    });
    return null;
  },
};

/** A unique Event name about `subject` (a Node or Shim name): a DNS subdomain of at most 217 characters. */
export function eventName(subject: string): string {
  return `${subject.slice(0, 200).replace(/[.-]+$/, '')}.${randomBytes(8).toString('hex')}`;
}

/** Applies one action; returns what it wrote (for read-your-writes), or null. */
export function applyAction(api: KubeClient, action: PlannedAction, ctx: ApplyContext): Promise<ControllerWrite | null> {
  return (HANDLERS[action.type] as Handler<PlannedAction>)(api, action, ctx);
}

export interface PlanSteps {
  apply: (action: PlannedAction) => Promise<void>;
  /** A finished Job's result is recorded for good: the node's record holds it (or its Job is deleted), so it is not counted again. */
  recorded: (outcome: JobOutcomeCount) => void;
}

/**
 * Applies `before` in order, then the nodes' work, NODE_WRITE_CONCURRENCY nodes at a time, each
 * node's actions in order (nodes are independent: at thousands of nodes this is the difference
 * between seconds and minutes per reconcile, bench/controller.bench.ts), then `after` in order. A
 * failure stops its node's work and, once the other nodes are done, the reconcile.
 */
export async function applyPlan(plan: Plan, steps: PlanSteps): Promise<void> {
  for (const action of plan.before) await steps.apply(action);
  const outcomesOfNode = Map.groupBy(plan.outcomes, (outcome) => outcome.node);
  const failures: unknown[] = [];
  await forEachLimited(plan.nodes, NODE_WRITE_CONCURRENCY, async (work: NodeWork) => {
    // The node's outcomes are recorded once its record is written (its patch), or its work is done.
    let outcomes = outcomesOfNode.get(work.node) ?? [];
    const recorded = () => {
      for (const outcome of outcomes) steps.recorded(outcome);
      outcomes = [];
    };
    try {
      for (const action of work.actions) {
        await steps.apply(action);
        if (action.type === 'patchNode') recorded();
      }
      recorded();
    } catch (error) {
      failures.push(error);
    }
  });
  if (failures.length > 0) throw failures[0];
  for (const action of plan.after) await steps.apply(action);
}

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
