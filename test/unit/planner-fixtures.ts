// Builders and a small in-memory cluster that applies planner actions, for the planner tests.

import type { InstallerErrorCode } from '../../src/api/installer-contract.ts';
import { expect } from 'vitest';
import { resolveArtifact } from '../../src/api/artifact.ts';
import type { ArtifactLocationPrefix } from '../../src/api/artifact-policy.ts';
import type { Shim, ShimSpec } from '../../src/api/shim.ts';
import { readyLabelKey, statusAnnotationKey } from '../../src/api/names.ts';
import { parseNodeShimStatus, serializeNodeShimStatus, type NodeShimRecord } from '../../src/controller/planner/node-status.ts';
import {
  FINALIZER,
  type ObservedJob,
  type ObservedNode,
  type ObservedRuntimeClass,
  type OtherShim,
  type Plan,
  type PlannedAction,
  type PlannerInput,
} from '../../src/controller/planner/model.ts';
import { plan } from '../../src/controller/planner/plan.ts';

export const SHA_A = 'a'.repeat(64);
export const SHA_B = 'b'.repeat(64);
export const URL_A = 'https://example.com/containerd-shim-spin-v0.19.0.tar.gz';
export const URL_B = 'https://example.com/containerd-shim-spin-v0.20.0.tar.gz';
export const T0 = new Date('2026-01-01T00:00:00Z');

export function makeShim(spec: Partial<ShimSpec> = {}, meta: Partial<Shim['metadata']> = {}): Shim {
  return {
    apiVersion: 'runtime.shimkeeper.dev/v1alpha1',
    kind: 'Shim',
    metadata: { name: 'spin', uid: `uid-${meta.name ?? 'spin'}`, generation: 1, finalizers: [FINALIZER], ...meta },
    spec: {
      nodeSelector: { spin: 'true' },
      version: '0.19.0',
      fetchStrategy: { type: 'anonymousHttp', anonHttp: { location: URL_A, sha256: SHA_A } },
      runtimeClass: { name: 'wasmtime-spin-v2', handler: 'spin' },
      rolloutStrategy: { type: 'rolling', rolling: { maxUpdate: 1 } },
      ...spec,
    },
  };
}

export function makeNode(name: string, overrides: Partial<ObservedNode> = {}): ObservedNode {
  return {
    name,
    labels: { spin: 'true', 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', ...(overrides.labels ?? {}) },
    annotations: { ...(overrides.annotations ?? {}) },
    containerRuntimeVersion: 'containerd://1.7.24',
    ...Object.fromEntries(Object.entries(overrides).filter(([k]) => k !== 'labels' && k !== 'annotations')),
  };
}

/** A node carrying the given status annotation (and the ready label when `ready`). */
export function annotatedNode(name: string, record: NodeShimRecord, ready: boolean, extra: Partial<ObservedNode> = {}): ObservedNode {
  return makeNode(name, {
    ...extra,
    annotations: { [statusAnnotationKey('spin')]: serializeNodeShimStatus(record) },
    labels: ready ? { [readyLabelKey('spin')]: 'true', ...(extra.labels ?? {}) } : (extra.labels ?? {}),
  });
}

/** The revision the fixture Shim gives linux/amd64 nodes. */
export function revisionA(): string {
  const resolution = resolveArtifact(makeShim(), { os: 'linux', arch: 'amd64' });
  if (!resolution.supported) throw new Error(resolution.reason);
  return resolution.artifact.revision;
}

export function condition(cluster: FakeCluster, type: string) {
  return cluster.shim?.status?.conditions?.find((c) => c.type === type);
}

export function nodeNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `node-${String.fromCharCode(97 + i)}`);
}

export function ofType<T extends PlannedAction['type']>(actions: PlannedAction[], type: T): Extract<PlannedAction, { type: T }>[] {
  return actions.filter((a): a is Extract<PlannedAction, { type: T }> => a.type === type);
}

/** A plan with its actions also as one list, in the order a sequential applier takes them. */
export type FlatPlan = Plan & { actions: PlannedAction[] };

export function flatten(result: Plan): FlatPlan {
  return { ...result, actions: [...result.before, ...result.nodes.flatMap((work) => work.actions), ...result.after] };
}

/** plan(), flattened for assertions. */
export function planFlat(input: PlannerInput): FlatPlan {
  return flatten(plan(input));
}

/** A settled plan: no write, no Job result to record, and no timer to wake up for. */
export function expectIdle(result: FlatPlan): void {
  expect(result.actions).toEqual([]);
  expect(result.outcomes).toEqual([]);
  expect(result.requeueAfterMs).toBeUndefined();
}

const unchangedObjects = new Map<string, object>();

/** One frozen object per content, as an informer's cache keeps an object until it changes. */
function sameWhileUnchanged<T extends object>(object: T): T {
  const key = JSON.stringify(object);
  let same = unchangedObjects.get(key);
  if (!same) {
    if (unchangedObjects.size >= 100_000) unchangedObjects.clear();
    unchangedObjects.set(key, (same = deepFreeze(structuredClone(object))));
  }
  return same as T;
}

function deepFreeze<T extends object>(object: T): T {
  for (const value of Object.values(object)) if (value && typeof value === 'object') deepFreeze(value as object);
  return Object.freeze(object);
}

/** An in-memory cluster: the planner's world, changed only through its actions and the test's hand. */
export class FakeCluster {
  shim: Shim | null;
  nodes = new Map<string, ObservedNode>();
  jobs = new Map<string, ObservedJob>();
  runtimeClasses = new Map<string, ObservedRuntimeClass>();
  events: Array<Extract<PlannedAction, { type: 'emitEvent' }>> = [];
  now = new Date(T0);
  created: string[] = [];
  private jobsCreated = 0;
  /** The other Shims of the cluster, as the controller's Shim cache holds them. */
  otherShims: OtherShim[] = [];
  allowedArtifactLocations: ArtifactLocationPrefix[] = [];
  /** The controller's re-verification interval (0: never). */
  reverifyAfterMs = 0;
  /** When the status was last written, told to the planner as the controller does; absent: not told. */
  statusWrittenAt?: Date;
  tellsStatusWrites = false;

  constructor(shim: Shim, nodes: ObservedNode[]) {
    this.shim = structuredClone(shim);
    for (const node of nodes) this.nodes.set(node.name, structuredClone(node));
  }

  plan(): FlatPlan {
    if (!this.shim) throw new Error('the Shim is gone');
    const input: PlannerInput = {
      shim: structuredClone(this.shim),
      nodes: [...this.nodes.values()].map((n) => structuredClone(n)),
      jobs: [...this.jobs.values()].map((j) => structuredClone(j)),
      runtimeClasses: [...this.runtimeClasses.values()].map((r) => structuredClone(r)),
      otherShims: structuredClone(this.otherShims),
      allowedArtifactLocations: this.allowedArtifactLocations,
      reverifyAfterMs: this.reverifyAfterMs,
      ...(this.tellsStatusWrites && this.statusWrittenAt ? { statusWrittenAt: new Date(this.statusWrittenAt) } : {}),
      now: new Date(this.now),
    };
    const result = planFlat(input);
    // The controller hands the planner the very same objects for what did not change since the
    // last pass, and the planner remembers answers about them (node-jobs.ts): it must answer alike.
    expect(planFlat({ ...input, nodes: input.nodes.map(sameWhileUnchanged), jobs: input.jobs.map(sameWhileUnchanged) }), 'a plan from reused objects').toEqual(result);
    return result;
  }

  apply(actions: PlannedAction[]): void {
    for (const action of actions) {
      switch (action.type) {
        case 'addFinalizer':
          this.shim!.metadata.finalizers = [...(this.shim!.metadata.finalizers ?? []), action.finalizer];
          break;
        case 'removeFinalizer':
          this.shim!.metadata.finalizers = (this.shim!.metadata.finalizers ?? []).filter((f) => f !== action.finalizer);
          if (this.shim!.metadata.deletionTimestamp) this.shim = null;
          return;
        case 'applyRuntimeClass': {
          // As the API server: a create fails on a taken name, a write with a uid only hits that object.
          const existing = this.runtimeClasses.get(action.runtimeClass.name);
          expect(existing?.uid, `applyRuntimeClass ${action.runtimeClass.name}`).toBe(action.uid);
          const uid = existing?.uid ?? `rc-uid-${action.runtimeClass.name}-${this.now.getTime()}`;
          this.runtimeClasses.set(action.runtimeClass.name, { ...structuredClone(action.runtimeClass), uid, ownerUids: [this.shim!.metadata.uid!] });
          break;
        }
        case 'adoptRuntimeClass': {
          // As the shell's read-and-replace: only that very object with the desired handler; labels
          // are added, the selector replaced, this Shim becomes its controller.
          const existing = this.runtimeClasses.get(action.runtimeClass.name);
          expect(existing?.uid, `adoptRuntimeClass ${action.runtimeClass.name}`).toBe(action.uid);
          expect(existing?.handler).toBe(action.runtimeClass.handler);
          const shim = this.shim!;
          this.runtimeClasses.set(action.runtimeClass.name, {
            ...existing!,
            labels: { ...existing!.labels, ...action.runtimeClass.labels },
            nodeSelector: { ...action.runtimeClass.nodeSelector },
            ownerUids: [shim.metadata.uid!],
            controller: { apiVersion: shim.apiVersion, kind: shim.kind, name: shim.metadata.name },
          });
          break;
        }
        case 'deleteRuntimeClass':
          expect(this.runtimeClasses.get(action.name)?.uid, `deleteRuntimeClass ${action.name}`).toBe(action.uid);
          this.runtimeClasses.delete(action.name);
          break;
        case 'createJob':
          expect(this.jobs.has(action.jobName), `job ${action.jobName} already exists`).toBe(false);
          // One Job per node: a finished one left for its TTL is deleted before the next.
          expect([...this.jobs.values()].filter((j) => j.node === action.node && !j.deleting).map((j) => j.name), `Jobs of ${action.node}`).toEqual([]);
          this.jobs.set(action.jobName, { name: action.jobName, uid: `job-uid-${++this.jobsCreated}`, node: action.node, action: action.action, revision: action.revision, phase: 'running' });
          this.created.push(action.jobName);
          break;
        case 'deleteJob':
          this.jobs.delete(action.name);
          break;
        case 'patchNode': {
          const node = this.nodes.get(action.node)!;
          node.labels ??= {};
          node.annotations ??= {};
          if (action.readyLabel) node.labels[action.readyLabelKey] = 'true';
          else delete node.labels[action.readyLabelKey];
          if (action.versionLabel) node.labels[action.versionLabelKey] = action.versionLabel;
          else delete node.labels[action.versionLabelKey];
          if (action.statusAnnotation) node.annotations[action.statusAnnotationKey] = serializeNodeShimStatus(action.statusAnnotation);
          else delete node.annotations[action.statusAnnotationKey];
          break;
        }
        case 'emitEvent':
          this.events.push(action);
          break;
        case 'updateStatus':
          this.shim!.status = structuredClone(action.status);
          this.statusWrittenAt = new Date(this.now);
          break;
      }
    }
  }

  /** Plans and applies once; returns the plan. */
  step(): FlatPlan {
    const result = this.plan();
    this.apply(result.actions);
    return result;
  }

  finishJob(name: string, outcome: { ok: boolean; error?: string; code?: InstallerErrorCode; revision?: string; noResult?: string } = { ok: true }): void {
    const job = this.jobs.get(name)!;
    job.finishedAt = this.now.toISOString().replace(/\.\d+Z$/, 'Z');
    if (outcome.ok) {
      job.phase = 'succeeded';
      job.result = {
        ok: true,
        action: job.action,
        shim: this.shim?.metadata.name ?? 'spin',
        handler: this.shim?.spec.runtimeClass?.handler ?? 'spin',
        version: this.shim?.spec.version ?? '',
        revision: outcome.revision ?? job.revision,
        sha256: SHA_A,
        binaryPath: `/opt/shimkeeper/spin/${job.revision}/containerd-shim-spin-v2`,
        configPath: '/etc/containerd/config.toml',
        flavour: 'containerd',
        containerdVersion: '1.7.24',
        restarted: true,
        changed: true,
      };
    } else if (outcome.noResult !== undefined) {
      // The Job failed and its Pod left no result (deadline, eviction, the node gone).
      job.phase = 'failed';
      job.result = null;
      job.error = outcome.noResult;
    } else {
      job.phase = 'failed';
      // A failure without a code is one the installer could not explain: the node may have changed.
      job.result = { ok: false, action: job.action, shim: 'spin', error: outcome.error ?? 'containerd did not come back', code: outcome.code ?? 'InternalError' };
    }
  }

  running(): ObservedJob[] {
    return [...this.jobs.values()].filter((j) => j.phase === 'running');
  }

  record(node: string): NodeShimRecord | null {
    return parseNodeShimStatus(this.nodes.get(node)!.annotations?.[statusAnnotationKey(this.shim?.metadata.name ?? 'spin')]);
  }

  ready(node: string): boolean {
    return this.nodes.get(node)!.labels?.[readyLabelKey('spin')] === 'true';
  }

  /** Nodes in flight as the planner counts them: a running Job or marked installing/uninstalling. */
  inFlight(): number {
    const busy = new Set(this.running().map((j) => j.node));
    for (const name of this.nodes.keys()) {
      const state = this.record(name)?.state;
      if (state === 'installing' || state === 'uninstalling') busy.add(name);
    }
    return busy.size;
  }

  advance(ms: number): void {
    this.now = new Date(this.now.getTime() + ms);
  }

  /**
   * Runs plan/apply rounds; after each round every running Job finishes (failing on `failNodes`).
   * Checks `invariant` after every round. Stops when a plan makes no write and no Job runs, after
   * letting pending retry timers fire unless `waitForRetries` is false.
   */
  settle(
    options: { failNodes?: Set<string>; invariant?: (cluster: FakeCluster) => void; maxRounds?: number; waitForRetries?: boolean } = {},
  ): number {
    for (let round = 1; round <= (options.maxRounds ?? 100); round++) {
      const result = this.step();
      options.invariant?.(this);
      if (!this.shim) return round;
      if (result.actions.length === 0 && this.running().length === 0) {
        // Only a timer is left (retry backoff): let it fire, as the controller would.
        if (result.requeueAfterMs === undefined || options.waitForRetries === false) return round;
        this.advance(result.requeueAfterMs);
        continue;
      }
      this.advance(1_000);
      for (const job of this.running()) {
        this.finishJob(job.name, options.failNodes?.has(job.node) ? { ok: false } : { ok: true });
      }
    }
    throw new Error('did not settle');
  }
}
