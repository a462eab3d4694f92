// Status writes during a rollout (planner/status.ts, STATUS_PROGRESS_INTERVAL_MS): a status that
// only moves the progress on (ready and updated counts, versions, the messages saying them) is
// written at most every 5 s; anything else (a failure, a condition's reason, a milestone Event,
// the rollout's end) at once, and a deferred one is written when its time comes.
import { describe, expect, it } from 'vitest';
import type { ShimStatus } from '../../src/api/shim.ts';
import { progressOnly, STATUS_PROGRESS_INTERVAL_MS } from '../../src/controller/planner/status.ts';
import { FakeCluster, makeNode, makeShim, nodeNames, ofType } from './planner-fixtures.ts';

function rollout(nodes: number, maxUpdate: number): FakeCluster {
  const cluster = new FakeCluster(makeShim({ rolloutStrategy: { type: 'rolling', rolling: { maxUpdate } } }), nodeNames(nodes).map((name) => makeNode(name)));
  cluster.tellsStatusWrites = true;
  return cluster;
}

const condition = (status: ShimStatus | undefined, type: string) => status?.conditions?.find((c) => c.type === type);

describe('status writes during a rollout', () => {
  it('writes progress at most every 5 s, milestones and the end at once, and catches up when due', () => {
    const cluster = rollout(40, 4);
    const writes: Array<{ at: number; status: ShimStatus; before: ShimStatus | undefined }> = [];
    const milestones: string[] = [];
    for (let round = 0; round < 200; round++) {
      const before = cluster.shim!.status;
      const result = cluster.step();
      for (const write of ofType(result.actions, 'updateStatus')) writes.push({ at: cluster.now.getTime(), status: write.status, before });
      milestones.push(...ofType(result.actions, 'emitEvent').filter((e) => e.reason.startsWith('Rollout')).map((e) => e.message));
      if (ofType(result.actions, 'updateStatus').length === 0 && result.requeueAfterMs !== undefined) {
        // A deferred status asks to be planned again no later than when it is due.
        expect(result.requeueAfterMs).toBeLessThanOrEqual(STATUS_PROGRESS_INTERVAL_MS);
      }
      if (condition(cluster.shim!.status, 'Ready')?.status === 'True' && cluster.running().length === 0 && result.actions.length === 0) break;
      cluster.advance(700);
      // One Job finishes per round: most rounds move the progress on by one node.
      const job = cluster.running()[0];
      if (job) cluster.finishJob(job.name);
    }
    expect(condition(cluster.shim!.status, 'Ready')?.status).toBe('True');
    expect(cluster.shim!.status?.nodesUpdated).toBe(40);
    // Each milestone is told once.
    expect(new Set(milestones).size).toBe(milestones.length);
    expect(milestones.filter((m) => m.includes('(25%)') || m.includes('(50%)') || m.includes('(75%)'))).toHaveLength(3);
    // Progress-only writes are 5 s apart; fewer writes than rounds that moved the progress on.
    for (const [i, write] of writes.entries()) {
      if (i > 0 && progressOnly(write.before, write.status)) {
        const gap = write.at - writes[i - 1]!.at;
        if (gap < STATUS_PROGRESS_INTERVAL_MS) {
          // Only a milestone may come sooner: its Event is decided on the written counts.
          const crossed = [25, 50, 75].some((p) => (write.before?.nodesUpdated ?? 0) * 100 < p * 40 && (write.status.nodesUpdated ?? 0) * 100 >= p * 40);
          expect(crossed, `progress written ${gap} ms after the last status write`).toBe(true);
        }
      }
    }
    expect(writes.length).toBeLessThan(40);
  });

  it('writes a failure at once, however recent the last write', () => {
    const cluster = rollout(10, 2);
    cluster.step();
    cluster.advance(1_000);
    cluster.finishJob(cluster.running()[0]!.name);
    cluster.step();
    cluster.advance(1_000);
    cluster.finishJob(cluster.running()[0]!.name, { ok: false, error: 'containerd did not come back' });
    const result = cluster.step();
    const [write] = ofType(result.actions, 'updateStatus');
    expect(write?.status.nodesFailed).toBe(1);
  });

  it('writes every change when the last write is not known (a fresh start), as without pacing', () => {
    const cluster = rollout(10, 2);
    cluster.tellsStatusWrites = false;
    cluster.step();
    for (let i = 0; i < 4; i++) {
      cluster.advance(500);
      cluster.finishJob(cluster.running()[0]!.name);
      expect(ofType(cluster.step().actions, 'updateStatus')).toHaveLength(1);
    }
  });

  it('tells progress from change', () => {
    const base: ShimStatus = {
      observedGeneration: 1,
      nodes: 10,
      nodesReady: 2,
      nodesUpdated: 2,
      nodesFailed: 0,
      conditions: [{ type: 'Ready', status: 'False', reason: 'NodesNotUpdated', message: '2 of 10 target nodes run the desired revision', lastTransitionTime: 't' }],
      versions: [{ revision: 'r', version: '1', nodes: 2 }],
    };
    const moved: ShimStatus = { ...base, nodesReady: 3, nodesUpdated: 3, conditions: [{ ...base.conditions![0]!, message: '3 of 10 target nodes run the desired revision' }], versions: [{ revision: 'r', version: '1', nodes: 3 }] };
    expect(progressOnly(base, moved)).toBe(true);
    expect(progressOnly(undefined, moved)).toBe(false);
    expect(progressOnly(base, { ...moved, nodesFailed: 1 })).toBe(false);
    expect(progressOnly(base, { ...moved, nodes: 11 })).toBe(false);
    expect(progressOnly(base, { ...moved, observedGeneration: 2 })).toBe(false);
    expect(progressOnly(base, { ...moved, conditions: [{ ...moved.conditions![0]!, status: 'True', reason: 'AllNodesUpdated' }] })).toBe(false);
  });
});
