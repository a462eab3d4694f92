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
