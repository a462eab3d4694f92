import { describe, expect, it } from 'vitest';
import { byName, type NodeAction, type Plan } from '../../src/controller/planner/model.ts';
import { applyPlan, NODE_WRITE_CONCURRENCY } from '../../src/controller/shell/apply.ts';
import { FakeCluster, makeNode, makeShim, nodeNames } from './planner-fixtures.ts';
import { between, random, stringOf } from './random.ts';

const patch = (node: string): NodeAction => ({ type: 'patchNode', node, readyLabelKey: 'k', readyLabel: true, statusAnnotationKey: 'a', statusAnnotation: null, versionLabelKey: 'v', versionLabel: null });

describe('the shape of a plan', () => {
  it("puts Shim work before and after the nodes, and keeps each node's own order", () => {
    const cluster = new FakeCluster(makeShim({}, { finalizers: [] }), nodeNames(2).map((name) => makeNode(name)));
    const first = cluster.step();
    expect(first.before.map((a) => a.type)).toEqual(['addFinalizer', 'applyRuntimeClass']);
    // Starting an install writes only its Job: the running Job says the node is in progress.
    expect(first.nodes).toEqual([{ node: 'node-a', actions: [expect.objectContaining({ type: 'createJob' })] }]);
    // The rollout's start is told on the Shim, then its status.
    expect(first.after).toEqual([expect.objectContaining({ type: 'emitEvent', reason: 'RolloutStarted', message: expect.stringMatching(/^rolling out revision \w+ \(version 0\.19\.0\): 0 of 2 updated, 1 in progress$/) }), expect.objectContaining({ type: 'updateStatus' })]);
    expect(first.outcomes).toEqual([]);

    cluster.advance(1_000);
    const job = cluster.running()[0]!;
    cluster.finishJob(job.name);
    const second = cluster.plan();
    expect(second.nodes.map((work) => [work.node, work.actions.map((a) => a.type)])).toEqual([
      ['node-a', ['patchNode']],
      ['node-b', ['createJob']],
    ]);
    // Half the nodes updated is a milestone; the single installs are not told one by one.
    expect(second.after.filter((a) => a.type === 'emitEvent').map((a) => a.type === 'emitEvent' && a.reason)).toEqual(['RolloutProgress']);
    expect(second.outcomes).toEqual([{ job: job.name, node: 'node-a', action: 'install', outcome: 'succeeded' }]);
  });
});

describe('applying a plan', () => {
  const shapeOf = (nodes: number): Plan => ({
    before: [{ type: 'addFinalizer', finalizer: 'f' }],
    nodes: Array.from({ length: nodes }, (_, i) => ({
      node: `n${i}`,
      actions: [patch(`n${i}`), { type: 'deleteJob', name: `job-${i}`, node: `n${i}` }],
    })),
    after: [{ type: 'updateStatus', status: {} }],
    status: {},
    outcomes: Array.from({ length: nodes }, (_, i) => ({ job: `job-${i}`, node: `n${i}`, action: 'install' as const, outcome: 'succeeded' as const })),
  });

  it("applies before, then every node in its order with bounded parallelism, then after; counts a Job once its node's work is done", async () => {
    const applied: string[] = [];
    const counted: string[] = [];
    let inFlight = 0;
    let peak = 0;
    await applyPlan(shapeOf(40), {
      apply: async (action) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 1));
        inFlight--;
        applied.push(action.type === 'deleteJob' ? `delete ${action.name}` : action.type === 'patchNode' ? `patch ${action.node}` : action.type);
      },
      recorded: (outcome) => counted.push(outcome.job),
    });
    expect(applied[0]).toBe('addFinalizer');
    expect(applied.at(-1)).toBe('updateStatus');
    for (let i = 0; i < 40; i++) expect(applied.indexOf(`patch n${i}`)).toBeLessThan(applied.indexOf(`delete job-${i}`));
    expect(peak).toBe(NODE_WRITE_CONCURRENCY);
    expect(counted.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `job-${i}`).sort());
  });

  it("stops a failing node's work, finishes the others, and skips the work after the nodes", async () => {
    const applied: string[] = [];
    const counted: string[] = [];
    const run = applyPlan(shapeOf(3), {
      apply: async (action) => {
        if (action.type === 'patchNode' && action.node === 'n1') throw new Error('boom');
        applied.push(action.type === 'deleteJob' ? `delete ${action.name}` : action.type);
      },
      recorded: (outcome) => counted.push(outcome.job),
    });
    await expect(run).rejects.toThrow('boom');
    expect(applied).not.toContain('delete job-1');
    expect(applied).not.toContain('updateStatus');
    expect(counted.sort()).toEqual(['job-0', 'job-2']);
  });

  it('counts a Job once its node record is written, even when a later write of the node fails', async () => {
    const counted: string[] = [];
    const run = applyPlan(shapeOf(2), {
      apply: async (action) => {
        if (action.type === 'deleteJob' && action.name === 'job-1') throw new Error('boom');
      },
      recorded: (outcome) => counted.push(outcome.job),
    });
    await expect(run).rejects.toThrow('boom');
    expect(counted.sort()).toEqual(['job-0', 'job-1']);
  });
});

describe('rollout Events on the Shim', () => {
  it('one Event per step and revision per pass, naming at most ten nodes; failures also on the node, with the installer code on the Shim', async () => {
    const { EventDigest } = await import('../../src/controller/planner/event-digest.ts');
    const digest = new EventDigest();
    for (const node of nodeNames(12)) digest.add('Normal', 'Installed', 'installed revision r1', node);
    digest.add('Warning', 'ChecksumMismatch', 'install of revision r1 failed', 'node-z');
    const events = digest.events();
    expect(events).toHaveLength(2);
    expect(events[0]!.message).toBe('installed revision r1 on 12 nodes: node-a, node-b, node-c, node-d, node-e, node-f, node-g, node-h, node-i, node-j and 2 more');
    expect(events[1]).toMatchObject({ eventType: 'Warning', reason: 'ChecksumMismatch', message: 'install of revision r1 failed on node node-z' });

    const cluster = new FakeCluster(makeShim(), [makeNode('node-a')]);
    cluster.step();
    cluster.finishJob(cluster.running()[0]!.name, { ok: false, code: 'ShimDoesNotStart', error: 'no sandbox' });
    const { nodes, after } = cluster.step();
    expect(nodes[0]!.actions).toContainEqual(expect.objectContaining({ type: 'emitEvent', reason: 'InstallFailed', node: 'node-a' }));
    expect(after).toContainEqual(expect.objectContaining({ type: 'emitEvent', reason: 'ShimDoesNotStart' }));
  });
});

describe("the rollout's history on the Shim", () => {
  it('tells its start, each quarter and its end once, however many passes it takes, and not at rest', () => {
    const cluster = new FakeCluster(makeShim({ rolloutStrategy: { type: 'rolling', rolling: { maxUpdate: 1 } } }), nodeNames(8).map((name) => makeNode(name)));
    const told: string[] = [];
    for (let pass = 0; pass < 40; pass++) {
      const result = cluster.step();
      for (const action of result.after) if (action.type === 'emitEvent') told.push(`${action.reason}: ${action.message.replace(/revision \w+/, 'revision R')}`);
      for (const job of cluster.running()) cluster.finishJob(job.name);
      cluster.advance(1_000);
    }
    expect(told).toEqual([
      'RolloutStarted: rolling out revision R (version 0.19.0): 0 of 8 updated, 1 in progress',
      'RolloutProgress: revision R (version 0.19.0) on 2 of 8 target nodes (25%)',
      'RolloutProgress: revision R (version 0.19.0) on 4 of 8 target nodes (50%)',
      'RolloutProgress: revision R (version 0.19.0) on 6 of 8 target nodes (75%)',
      'RolloutComplete: revision R (version 0.19.0) on all 8 target nodes',
    ]);
  });
});

describe('byName', () => {
  it('orders DNS names as localeCompare does', () => {
    const next = random(5);
    const names = Array.from({ length: 5_000 }, () => stringOf(next, 'ab09-.', between(next, 1, 8)));
    expect([...names].sort(byName)).toEqual([...names].sort((a, b) => a.localeCompare(b)));
  });
});
