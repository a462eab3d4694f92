import type { PlannedAction } from './planner.ts';

// The order in which the shell may apply a plan. The planner's order matters within one node (a
// Job's result is written to the node before the Job is deleted; a Job exists before its node is
// marked installing) and between the Shim-level steps and the rest (the status comes last), but
// not between nodes: their writes can go in parallel, which at thousands of nodes is the
// difference between seconds and minutes per reconcile (bench/controller.bench.ts).

export interface ApplyOrder {
  /** Shim-level actions before any node's (finalizer, RuntimeClass). */
  head: PlannedAction[];
  /** Each node's actions, in the planner's order. */
  perNode: PlannedAction[][];
  /** Shim-level actions after the nodes' (events on the Shim, status, finalizer removal, requeue). */
  tail: PlannedAction[];
}

function nodeOf(action: PlannedAction): string | undefined {
  switch (action.type) {
    case 'createJob':
    case 'patchNode':
    case 'deleteJob':
      return action.node;
    case 'emitEvent':
      return action.node;
    default:
      return undefined;
  }
}

export function applyOrder(actions: readonly PlannedAction[]): ApplyOrder {
  const head: PlannedAction[] = [];
  const tail: PlannedAction[] = [];
  const perNode = new Map<string, PlannedAction[]>();
  for (const action of actions) {
    const node = nodeOf(action);
    if (node === undefined) {
      (perNode.size === 0 ? head : tail).push(action);
    } else {
      perNode.set(node, [...(perNode.get(node) ?? []), action]);
    }
  }
  return { head, perNode: [...perNode.values()], tail };
}
