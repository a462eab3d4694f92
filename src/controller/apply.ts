import {
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  NodeV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1RuntimeClass,
} from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { API_GROUP, API_VERSION, SHIM_KIND, SHIM_PLURAL } from '../api/names.ts';
import { SHIM_API_VERSION, type Shim } from '../api/shim.ts';
import { apiStatus } from '../kube/api-errors.ts';
import { installerJob, type JobContext } from './job-spec.ts';
import { serializeNodeShimStatus } from './node-status.ts';
import type { PlannedAction } from './planner.ts';

// Carries out the planner's actions, one API call each. Every call is idempotent in effect
// (AlreadyExists and NotFound where they mean "done" are success), and every write that returns
// an object reports its resourceVersion so the controller can wait until its caches have seen it.

export const FIELD_MANAGER = 'shimkeeper-controller';
const EVENT_NAMESPACE = 'default';

export interface Written {
  kind: 'shim' | 'node' | 'job' | 'runtimeclass';
  name: string;
  /** resourceVersion after a write, or null after a delete. */
  resourceVersion: string | null;
}

export interface ApplyContext {
  shim: Shim;
  job: JobContext;
  reportingInstance: string;
  /** Counts API calls by verb and resource, for metrics. */
  count: (verb: string, resource: string) => void;
}

export class ActionApplier {
  private readonly core: CoreV1Api;
  private readonly batch: BatchV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly nodeApi: NodeV1Api;

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.batch = kc.makeApiClient(BatchV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.nodeApi = kc.makeApiClient(NodeV1Api);
  }

  /** Applies one action; returns what it wrote (for read-your-writes), or null. */
  async apply(action: PlannedAction, ctx: ApplyContext): Promise<Written | null> {
    const shimName = ctx.shim.metadata.name;
    switch (action.type) {
      case 'addFinalizer':
      case 'removeFinalizer': {
        const current = ctx.shim.metadata.finalizers ?? [];
        const finalizers = action.type === 'addFinalizer' ? [...current.filter((f) => f !== action.finalizer), action.finalizer] : current.filter((f) => f !== action.finalizer);
        ctx.count('patch', 'shims');
        // resourceVersion makes this a compare-and-swap: a concurrent change fails with Conflict.
        const patched = (await this.custom.patchClusterCustomObject(
          { group: API_GROUP, version: API_VERSION, plural: SHIM_PLURAL, name: shimName, body: { metadata: { finalizers, resourceVersion: ctx.shim.metadata.resourceVersion } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        )) as Shim;
        return { kind: 'shim', name: shimName, resourceVersion: action.type === 'removeFinalizer' ? null : (patched.metadata.resourceVersion ?? null) };
      }
      case 'updateStatus': {
        ctx.count('update', 'shims/status');
        const updated = (await this.custom.replaceClusterCustomObjectStatus({
          group: API_GROUP,
          version: API_VERSION,
          plural: SHIM_PLURAL,
          name: shimName,
          body: { apiVersion: SHIM_API_VERSION, kind: SHIM_KIND, metadata: { name: shimName, resourceVersion: ctx.shim.metadata.resourceVersion }, status: action.status },
        })) as Shim;
        return { kind: 'shim', name: shimName, resourceVersion: updated.metadata.resourceVersion ?? null };
      }
      case 'applyRuntimeClass': {
        const desired = action.runtimeClass;
        const body: V1RuntimeClass = {
          apiVersion: 'node.k8s.io/v1',
          kind: 'RuntimeClass',
          metadata: { name: desired.name, labels: desired.labels, ownerReferences: [shimOwnerReference(ctx.shim)] },
          handler: desired.handler,
          scheduling: { nodeSelector: desired.nodeSelector },
        };
        ctx.count('apply', 'runtimeclasses');
        const applied = await this.nodeApi.patchRuntimeClass(
          { name: desired.name, body, fieldManager: FIELD_MANAGER, force: true },
          setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
        );
        return { kind: 'runtimeclass', name: desired.name, resourceVersion: applied.metadata?.resourceVersion ?? null };
      }
      case 'deleteRuntimeClass':
        ctx.count('delete', 'runtimeclasses');
        await ignoreStatus(404, () => this.nodeApi.deleteRuntimeClass({ name: action.name }));
        return { kind: 'runtimeclass', name: action.name, resourceVersion: null };
      case 'createJob': {
        ctx.count('create', 'jobs');
        const job = installerJob(action, { ...ctx.job, shimUid: ctx.shim.metadata.uid ?? '' });
        const created = await ignoreStatus(409, () => this.batch.createNamespacedJob({ namespace: ctx.job.namespace, body: job }));
        return created ? { kind: 'job', name: action.jobName, resourceVersion: created.metadata?.resourceVersion ?? null } : null;
      }
      case 'deleteJob':
        ctx.count('delete', 'jobs');
        await ignoreStatus(404, () => this.batch.deleteNamespacedJob({ name: action.name, namespace: ctx.job.namespace, propagationPolicy: 'Background' }));
        return { kind: 'job', name: action.name, resourceVersion: null };
      case 'patchNode': {
        ctx.count('patch', 'nodes');
        const body = {
          metadata: {
            labels: { [action.readyLabelKey]: action.readyLabel ? 'true' : null },
            annotations: { [action.statusAnnotationKey]: action.statusAnnotation ? serializeNodeShimStatus(action.statusAnnotation) : null },
          },
        };
        const patched = await this.core.patchNode({ name: action.node, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
        return { kind: 'node', name: action.node, resourceVersion: patched.metadata?.resourceVersion ?? null };
      }
      case 'emitEvent': {
        ctx.count('create', 'events');
        const regarding = action.node
          ? { kind: 'Node', name: action.node, apiVersion: 'v1', uid: action.node }
          : { kind: SHIM_KIND, name: shimName, apiVersion: SHIM_API_VERSION, uid: ctx.shim.metadata.uid };
        const now = new Date();
        await this.core.createNamespacedEvent({
          namespace: EVENT_NAMESPACE,
          body: {
            metadata: { name: `${(action.node ?? shimName).slice(0, 200)}.${randomBytes(8).toString('hex')}`, namespace: EVENT_NAMESPACE },
            involvedObject: regarding,
            reason: action.reason,
            message: action.node ? `${shimName}: ${action.message}` : action.message,
            type: action.eventType,
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
            source: { component: FIELD_MANAGER },
            reportingComponent: `${API_GROUP}/controller`,
            reportingInstance: ctx.reportingInstance,
          },
        });
        return null;
      }
      case 'requeueAfter':
        return null;
    }
  }
}

export function shimOwnerReference(shim: Shim) {
  return { apiVersion: SHIM_API_VERSION, kind: SHIM_KIND, name: shim.metadata.name, uid: shim.metadata.uid ?? '', controller: true, blockOwnerDeletion: false };
}

async function ignoreStatus<T>(status: number, call: () => Promise<T>): Promise<T | null> {
  try {
    return await call();
  } catch (error) {
    if (apiStatus(error) === status) return null;
    throw error;
  }
}
