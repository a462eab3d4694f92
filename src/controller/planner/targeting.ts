// Which nodes a Shim targets.

import { OPT_IN_ANNOTATION } from '../../api/names.ts';
import type { Shim } from '../../api/shim.ts';

export interface TargetableNode {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** The Shim names a node opts into through its `runtime.shimkeeper.dev/shims` annotation (`*` = all). */
export function optedInShims(node: TargetableNode): string[] {
  const value = node.annotations?.[OPT_IN_ANNOTATION];
  if (!value) return [];
  return value
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

/**
 * A node is a target of the Shim when it carries every `spec.nodeSelector` label with the same
 * value, or when its opt-in annotation names the Shim or is `*`.
 *
 * An absent or empty nodeSelector selects nothing (unlike Kubernetes label selectors, where empty
 * selects everything): installing a containerd shim on every node of a cluster, restarting
 * containerd on each, must never happen because a field was left out. Such a Shim reaches only
 * nodes that opt in by annotation.
 */
export function isTarget(shim: Pick<Shim, 'metadata' | 'spec'>, node: TargetableNode): boolean {
  const selector = shim.spec.nodeSelector ?? {};
  const selectorKeys = Object.keys(selector);
  const labels = node.labels ?? {};
  if (selectorKeys.length > 0 && selectorKeys.every((key) => labels[key] === selector[key])) return true;
  const optIns = optedInShims(node);
  return optIns.includes('*') || optIns.includes(shim.metadata.name);
}

/** What the status says when a Shim targets no node, and whether that is a mistake to flag (Degraded). */
export interface NoTargetsExplanation {
  message: string;
  /** No nodeSelector: the Shim can only ever reach nodes that opt in — runtime-class-manager's "every node" trap. */
  selectorEmpty: boolean;
}

/**
 * Why the Shim has no target node, and how to give it some. An absent nodeSelector is the case to
 * explain most: runtime-class-manager took it as every node, so a migrated Shim silently reaches
 * none here. `kubernetes.io/os: linux` (set by every kubelet) is the selector for "every node" that
 * can run a containerd shim at all.
 */
export function describeNoTargets(shim: Pick<Shim, 'metadata' | 'spec'>): NoTargetsExplanation {
  const optIn = `or opts in with the annotation ${OPT_IN_ANNOTATION}=${shim.metadata.name}`;
  const selector = Object.entries(shim.spec.nodeSelector ?? {});
  if (selector.length > 0) {
    const labels = selector.map(([key, value]) => `${key}=${value}`).join(',');
    return { selectorEmpty: false, message: `no node has the labels of spec.nodeSelector (${labels}) ${optIn}` };
  }
  return {
    selectorEmpty: true,
    message:
      `the Shim targets no node: spec.nodeSelector is empty, so only nodes that opt in with the annotation ${OPT_IN_ANNOTATION}=${shim.metadata.name} are targets, and none does. ` +
      'An absent nodeSelector selects no node (runtime-class-manager took it as every node): to target every Linux node set spec.nodeSelector to {kubernetes.io/os: linux}, or select a label you put on the nodes that should run the shim',
  };
}
