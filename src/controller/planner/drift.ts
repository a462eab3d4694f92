// Drift: a node recorded as installed whose shim may no longer work, found from signals the API
// already carries, and repaired by the ordinary install path (the same revision again: the
// installer puts back a removed stanza, restarts containerd and proves the handler with a pod
// sandbox; when all is in place it changes nothing). All rollout rules hold for these Jobs.
//
// Suspicion (the ready label goes off until the node is proven again):
// - the node rebooted (its boot ID changed): an OS whose /etc or /opt does not persist loses both;
// - its container runtime changed: a containerd package upgrade may replace config.toml (what the
//   kubelet reports while containerd restarts, `containerd://Unknown`, is no change);
// - the kubelet reported a pod sandbox it could not create through this Shim's handler since the
//   node was last proven (FailedCreatePodSandBox naming the handler or the shim's binary; the
//   installer reports when its sandbox proved the handler, node-plan.ts).
// Re-check without suspicion (the label stays): the Shim's version changed while the revision did
// not (the node then reports the version it really runs), and a periodic re-verification.

import type { Shim } from '../../api/shim.ts';
import type { ObservedNode } from './model.ts';
import { knownRuntime } from './node-plan.ts';
import { memoizeByObject, memoizeByString } from './memo.ts';
import type { NodeShimRecord } from './node-status.ts';
import type { NodeState, PassContext, WakeUp } from './pass.ts';

export interface DriftSignals {
  /** Why the node may be broken: its label goes off and it is repaired first. */
  suspect?: string;
  /** Why the node is checked again although nothing suggests it is broken. */
  recheck?: string;
}

/**
 * The node's identity as far as drift goes, recorded when an install is proven. While the kubelet
 * cannot tell the runtime (it reports `containerd://Unknown` during a restart), the containerd the
 * installer proved the install on stands in: the kubelet reports the same CRI version once it can.
 */
export function nodeFingerprint(node: ObservedNode, provenContainerd?: string): Pick<NodeShimRecord, 'bootID' | 'runtime'> {
  const runtime = knownRuntime(node.containerRuntimeVersion) ?? (provenContainerd ? `containerd://${provenContainerd}` : undefined);
  return { ...(node.bootID ? { bootID: node.bootID } : {}), ...(runtime ? { runtime } : {}) };
}

const NO_SIGNALS: DriftSignals = Object.freeze({});

/** What, if anything, calls a node installed at the desired revision into question (every pass asks it of every node). */
export function driftSignals(ctx: PassContext, state: NodeState, reverifyAfterMs: number, wake: WakeUp): DriftSignals {
  const record = state.current;
  if (!state.target || !state.artifact || record?.state !== 'installed' || record.revision !== state.artifact.revision) return NO_SIGNALS;
  const suspect = record.suspect ?? suspicion(ctx, state.node, record);
  if (suspect) return { suspect };
  const version = ctx.shim.spec.version;
  if (version !== undefined && version !== (record.version ?? '')) return { recheck: `the Shim's version is now ${version}` };
  if (reverifyAfterMs > 0) {
    const due = recordTime(record) + reverifyAfterMs * spreadFactor(state.node.name);
    if (Number.isNaN(due) || due <= ctx.nowMs) return { recheck: 'periodic re-verification' };
    wake.noLaterThan(due);
  }
  return NO_SIGNALS;
}

function suspicion(ctx: PassContext, node: ObservedNode, record: NodeShimRecord): string | undefined {
  if (record.bootID && node.bootID && node.bootID !== record.bootID) return `node ${node.name} rebooted since the shim was proven (boot ID changed)`;
  const recorded = knownRuntime(record.runtime);
  const reported = knownRuntime(node.containerRuntimeVersion);
  if (recorded && reported && reported !== recorded) return `the container runtime on node ${node.name} changed from ${recorded} to ${reported}`;
  if (!node.sandboxFailures?.length) return undefined;
  // The kubelet's Events carry whole seconds: a failure in the second the node was proven may have
  // come after the proof, and counts (at worst the node is proven once more).
  const since = Math.floor(recordTime(record) / 1000) * 1000;
  const failure = node.sandboxFailures.find((f) => Date.parse(f.time) >= since && sandboxFailureConcerns(f.message, ctx.shim));
  return failure ? `a pod sandbox could not be created on node ${node.name}: ${failure.message}` : undefined;
}

/**
 * A kubelet sandbox failure names the handler (`no runtime for "h" is configured`) or the shim's
 * installed binary path. The shell wakes Shims by the same test, so they agree on what concerns whom.
 */
export function sandboxFailureConcerns(message: string, shim: Pick<Shim, 'metadata' | 'spec'>): boolean {
  const handler = shim.spec?.runtimeClass?.handler;
  return (handler !== undefined && message.includes(`"${handler}"`)) || message.includes(`/${shim.metadata.name}/`);
}

/**
 * When the record was written (ms), NaN when unreadable. Every pass asks it of every installed
 * node, whose records are shared between passes (node-status.ts): each is read once.
 */
const recordTime = memoizeByObject((record: NodeShimRecord) => Date.parse(record.time));

/**
 * Between 0.75 and 1, fixed per node: nodes installed in one rollout are re-verified over a quarter
 * of the interval instead of all at once. Every pass asks it of every installed node.
 */
const spreadFactor = memoizeByString((node) => {
  let hash = 2166136261;
  for (const char of node) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619) >>> 0;
  return 1 - (hash % 1000) / 4000;
}, 50_000);
