// What one planning pass hands from phase to phase (plan.ts runs the phases): the facts about the
// Shim fixed for the pass, each node's state as the phases move it, the per-node actions collected
// so far, and the earliest time worth planning again.

import { platformKey, resolveArtifact, type ArtifactResolution, type NodePlatform, type ResolvedArtifact } from '../../api/artifact.ts';
import { readyLabelKey, statusAnnotationKey, versionLabelKey } from '../../api/names.ts';
import { redactSecrets } from '../../api/redact.ts';
import type { Shim } from '../../api/shim.ts';
import { validateShim } from '../../api/validate.ts';
import { shimBlock, type Block } from './gates.ts';
import { FINALIZER, type EmitEventAction, type NodeAction, type NodeWork, type ObservedJob, type ObservedNode, type PatchNodeAction, type PlannerInput } from './model.ts';
import { sameNodeShimStatus, type NodeShimRecord } from './node-status.ts';
import { memoizeByString } from './memo.ts';
import { toKubeTime } from './status.ts';

export interface PassContext {
  shim: Shim;
  shimName: string;
  /** The Shim's label and annotation keys on nodes, made once per pass. */
  keys: NodeKeys;
  nowIso: string;
  nowMs: number;
  deleting: boolean;
  hasFinalizer: boolean;
  specErrors: string[];
  valid: boolean;
  /** An invalid live spec starts nothing; deletion proceeds whatever the spec says. */
  actionable: boolean;
  /** Why a valid live Shim starts no install (gates.ts); undefined while deleting or invalid. */
  blocked?: Block;
  /** The artifact for a platform, resolved once per pass (every node of a platform gets the same). */
  artifactFor: (platform: NodePlatform) => ArtifactResolution;
  /**
   * Everything about the Shim that a node's observed state depends on (node-jobs.ts): two passes
   * with the same key see a node they observe alike in the same state.
   */
  nodeViewKey: string;
}

export function passContext(input: Pick<PlannerInput, 'shim' | 'now' | 'otherShims' | 'allowedArtifactLocations'>): PassContext {
  const { shim, now } = input;
  const deleting = Boolean(shim.metadata.deletionTimestamp);
  // Messages quote the offending values, locations included: never their credentials.
  const specErrors = validateShim(shim).map(redactSecrets);
  const valid = specErrors.length === 0;
  const blocked = valid && !deleting ? shimBlock(shim, input.otherShims ?? [], input.allowedArtifactLocations ?? []) : undefined;
  const artifacts = new Map<string, ArtifactResolution>();
  return {
    artifactFor: (platform) => {
      const key = platformKey(platform);
      let resolution = artifacts.get(key);
      if (!resolution) artifacts.set(key, (resolution = resolveArtifact(shim, platform)));
      return resolution;
    },
    ...(blocked ? { blocked } : {}),
    shim,
    shimName: shim.metadata.name,
    keys: nodeKeys(shim.metadata.name),
    nowIso: toKubeTime(now),
    nowMs: now.getTime(),
    deleting,
    hasFinalizer: shim.metadata.finalizers?.includes(FINALIZER) ?? false,
    specErrors,
    valid,
    actionable: valid || deleting,
    nodeViewKey: JSON.stringify([shim.metadata.name, deleting, valid, shim.spec]),
  };
}

/** A Shim's keys on a node: its ready label, version label and status annotation. */
export interface NodeKeys {
  ready: string;
  version: string;
  status: string;
}

export function nodeKeys(shimName: string): NodeKeys {
  return { ready: readyLabelKey(shimName), version: versionLabelKey(shimName), status: statusAnnotationKey(shimName) };
}

/** One existing node while planning: what it is, and its record and ready label as planned so far. */
export interface NodeState {
  node: ObservedNode;
  target: boolean;
  platform: string;
  artifact?: ResolvedArtifact;
  unsupported?: string;
  current: NodeShimRecord | null;
  ready: boolean;
  /** An installer Job runs, or is created by this plan, for the node. */
  busy: boolean;
  /** The finished Job whose outcome the node's record holds, left for its TTL; deleted before the node's next Job. */
  heldJob?: ObservedJob;
  /** Why an installed node is checked again (drift.ts); set by the drift phase. */
  recheck?: string;
  /** The version label once this pass's writes so far are applied (absent: as observed). */
  versionLabel?: string | null;
}

/**
 * The node's state to change in this pass. A settled node's state is shared, frozen, between
 * passes (node-jobs.ts): it is copied into the pass's list of nodes first.
 */
export function ownState(nodes: NodeState[], index: number): NodeState {
  const state = nodes[index]!;
  return Object.isFrozen(state) ? (nodes[index] = { ...state }) : state;
}

/** A node's record and labels as planned so far, to plan the next write from. */
export function plannedMarks(state: NodeState): NodeMarks {
  return { record: state.current, ready: state.ready, ...(state.versionLabel !== undefined ? { versionLabel: state.versionLabel } : {}) };
}

/** Books a node write (if any is needed) and remembers the version label it leaves. */
export function writeMarks(ctx: { keys: NodeKeys }, state: NodeState, before: NodeMarks, book: NodeWorkBook): void {
  const patch = patchIfChanged(ctx.keys, state.node, before, { record: state.current, ready: state.ready });
  if (!patch) return;
  state.versionLabel = patch.versionLabel;
  book.write(state.node.name, patch);
}

/** A node's record and ready label, before or after a step. */
export interface NodeMarks {
  record: NodeShimRecord | null;
  ready: boolean;
  /** The version label as planned so far in this pass; absent: as observed on the node. */
  versionLabel?: string | null;
}

/**
 * The node write that takes the node's labels and annotation from `before` to `after`, if any is
 * needed. The version label follows: the installed version while it works, the one the node had
 * while an upgrade runs or after one failed and left it working, none otherwise.
 */
export function patchIfChanged(keys: NodeKeys, node: ObservedNode, before: NodeMarks, after: NodeMarks): PatchNodeAction | null {
  const observedVersion = before.versionLabel !== undefined ? before.versionLabel : (node.labels?.[keys.version] ?? null);
  const versionLabel = desiredVersionLabel(after, observedVersion);
  const record = recordToWrite(before.record, after.record);
  if (sameNodeShimStatus(before.record, record) && before.ready === after.ready && versionLabel === observedVersion) return null;
  return {
    type: 'patchNode',
    node: node.name,
    readyLabelKey: keys.ready,
    readyLabel: after.ready ? true : null,
    statusAnnotationKey: keys.status,
    statusAnnotation: record,
    versionLabelKey: keys.version,
    versionLabel,
  };
}

function inMotion(record: NodeShimRecord | null): boolean {
  return record?.state === 'installing' || record?.state === 'uninstalling';
}

/**
 * The record the annotation gets. Work in progress is not written by itself: its running Job says
 * so already, and not writing it keeps a rollout at three writes per node (create the Job, record
 * its result, delete it). It is written when it has something to tell (a stuck installer Pod), and
 * kept current once the annotation shows it (so a cleared `stuck` goes away).
 */
function recordToWrite(before: NodeShimRecord | null, after: NodeShimRecord | null): NodeShimRecord | null {
  if (inMotion(after) && !after?.stuck && !inMotion(before)) return before;
  return after;
}

function desiredVersionLabel(after: NodeMarks, observed: string | null): string | null {
  if (after.record?.state === 'installed' && after.ready) return after.record.version ? versionLabelValue(after.record.version) : null;
  return after.ready ? observed : null;
}

/**
 * A version as a label value: at most 63 of [A-Za-z0-9._-], starting and ending alphanumeric
 * (`1.0.0+build.1` → `1.0.0_build.1`). Every plan asks this of every installed node, for a handful
 * of distinct versions.
 */
export const versionLabelValue = memoizeByString(labelValueOf, 1_000);

function labelValueOf(version: string): string | null {
  const value = version.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return value === '' ? null : value;
}

/**
 * Each node's actions in the order they are planned, its events after all of its writes (as a
 * Job's result is on the node before anything is said about it). Nodes come in the order they were
 * first written to.
 */
export class NodeWorkBook {
  private readonly byNode = new Map<string, { writes: NodeAction[]; events: EmitEventAction[] }>();

  private entry(node: string): { writes: NodeAction[]; events: EmitEventAction[] } {
    let entry = this.byNode.get(node);
    if (!entry) this.byNode.set(node, (entry = { writes: [], events: [] }));
    return entry;
  }

  /** Whether anything was booked for the node so far. */
  has(node: string): boolean {
    return this.byNode.has(node);
  }

  write(node: string, action: NodeAction | null): void {
    if (action) this.entry(node).writes.push(action);
  }

  event(node: string, event: Omit<EmitEventAction, 'type' | 'node'>): void {
    this.entry(node).events.push({ type: 'emitEvent', ...event, node });
  }

  work(): NodeWork[] {
    return [...this.byNode.entries()].map(([node, { writes, events }]) => ({ node, actions: [...writes, ...events] }));
  }
}

/** The earliest moment (epoch ms) at which planning again would start something that waits now. */
export class WakeUp {
  private at = Number.POSITIVE_INFINITY;

  noLaterThan(ms: number): void {
    this.at = Math.min(this.at, ms);
  }

  /** The delay from `nowMs`, at least a second; undefined when nothing waits. */
  delayFrom(nowMs: number): number | undefined {
    return Number.isFinite(this.at) ? Math.max(1_000, Math.ceil(this.at - nowMs)) : undefined;
  }
}
