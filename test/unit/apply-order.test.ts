import { describe, expect, it } from 'vitest';
import { applyOrder } from '../../src/controller/apply-order.ts';
import type { PlannedAction } from '../../src/controller/planner.ts';
import { FakeCluster, makeNode, makeShim, nodeNames } from './planner-fixtures.ts';

describe('the order in which a plan is applied', () => {
  it("keeps Shim-level steps around the nodes and each node's own order", () => {
    const patch = (node: string): PlannedAction => ({ type: 'patchNode', node, readyLabelKey: 'k', readyLabel: true, statusAnnotationKey: 'a', statusAnnotation: null });
    const actions: PlannedAction[] = [
      { type: 'addFinalizer', finalizer: 'f' },
      patch('a'),
      { type: 'deleteJob', name: 'job-a', node: 'a' },
      patch('b'),
      { type: 'emitEvent', eventType: 'Normal', reason: 'Installed', message: 'm', node: 'a' },
      { type: 'emitEvent', eventType: 'Warning', reason: 'RolloutPaused', message: 'm' },
      { type: 'updateStatus', status: {} },
    ];
    const order = applyOrder(actions);
    expect(order.head.map((a) => a.type)).toEqual(['addFinalizer']);
    expect(order.perNode.map((group) => group.map((a) => a.type))).toEqual([['patchNode', 'deleteJob', 'emitEvent'], ['patchNode']]);
    expect(order.tail.map((a) => a.type)).toEqual(['emitEvent', 'updateStatus']);
  });

  it('loses no action of a real plan', () => {
    const cluster = new FakeCluster(makeShim({ rolloutStrategy: { type: 'recreate' } }), nodeNames(6).map((name) => makeNode(name)));
    const { actions } = cluster.plan();
    const order = applyOrder(actions);
    expect(order.head.length + order.perNode.flat().length + order.tail.length).toBe(actions.length);
    expect(order.perNode).toHaveLength(6);
  });
});
