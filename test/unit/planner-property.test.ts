// Randomised runs of the planner against the in-memory cluster: whatever happens (Jobs succeeding or
// failing, nodes joining, leaving and changing labels, spec edits, time passing, deletion), the
// planner keeps its promises after every step.

import { describe, expect, it } from 'vitest';
import { readyLabelKey, statusAnnotationKey } from '../../src/api/names.ts';
import type { PlannedAction } from '../../src/controller/planner/model.ts';
import { resolveIntOrPercent } from '../../src/controller/planner/rollout.ts';
import { pick, random } from './random.ts';
import { FakeCluster, SHA_A, SHA_B, URL_A, URL_B, makeNode, makeShim, nodeNames, ofType } from './planner-fixtures.ts';

function maxInFlight(cluster: FakeCluster): number {
  const strategy = cluster.shim!.spec.rolloutStrategy;
  if (strategy?.type === 'recreate') return Number.POSITIVE_INFINITY;
  const managed = [...cluster.nodes.values()].filter((n) => n.labels?.spin === 'true' || n.annotations?.[statusAnnotationKey('spin')]).length;
  return resolveIntOrPercent(strategy?.rolling?.maxUpdate ?? 1, Math.max(managed, cluster.nodes.size));
}

function mutateWorld(cluster: FakeCluster, rand: () => number, counter: { next: number }): void {
  const shim = cluster.shim!;
  const nodes = [...cluster.nodes.keys()];
  switch (Math.floor(rand() * 10)) {
    case 0:
    case 1:
    case 2: {
      const running = cluster.running();
      if (running.length > 0) {
        const job = pick(rand, running);
        cluster.finishJob(job.name, rand() < 0.25 ? { ok: false, error: `boom ${counter.next++}` } : { ok: true });
      }
      break;
    }
    case 3: {
      if (nodes.length === 0) break;
      const node = cluster.nodes.get(pick(rand, nodes))!;
      if (node.labels!.spin === 'true') delete node.labels!.spin;
      else node.labels!.spin = 'true';
      break;
    }
    case 4:
      if (rand() < 0.5 && nodes.length > 1) cluster.nodes.delete(pick(rand, nodes));
      else cluster.nodes.set(`extra-${counter.next}`, makeNode(`extra-${counter.next++}`, rand() < 0.2 ? { labels: { 'kubernetes.io/os': 'windows' } } : {}));
      break;
    case 5: {
      const useB = shim.spec.fetchStrategy.anonHttp?.location === URL_A;
      shim.spec.fetchStrategy.anonHttp = useB ? { location: URL_B, sha256: SHA_B } : { location: URL_A, sha256: SHA_A };
      shim.metadata.generation = (shim.metadata.generation ?? 1) + 1;
      break;
    }
    case 6:
      shim.spec.rolloutStrategy = {
        type: rand() < 0.2 ? 'recreate' : 'rolling',
        rolling: { maxUpdate: pick(rand, [1, 2, '50%'] as const) },
        maxFailedNodes: pick(rand, [1, 2, '30%'] as const),
      };
      shim.metadata.generation = (shim.metadata.generation ?? 1) + 1;
      break;
    case 7:
      // An older Shim takes this Shim's handler, or lets it go again.
      cluster.otherShims = cluster.otherShims.length > 0 ? [] : [{ metadata: { name: 'older', creationTimestamp: '2025-01-01T00:00:00Z' }, spec: { runtimeClass: { handler: 'spin' } } }];
      break;
    default:
      cluster.advance(Math.floor(rand() * 120_000));
  }
}

function checkInvariants(cluster: FakeCluster, before: number, limit: number, actions: PlannedAction[]): void {
  // Never two Jobs on one node.
  const perNode = new Map<string, number>();
  for (const job of cluster.jobs.values()) if (!job.deleting) perNode.set(job.node, (perNode.get(job.node) ?? 0) + 1);
  for (const [node, count] of perNode) expect(count, `jobs on ${node}`).toBeLessThanOrEqual(1);
  // A Shim whose handler another Shim owns installs nothing and creates no RuntimeClass.
  if (cluster.otherShims.length > 0 && !cluster.shim?.metadata.deletionTimestamp) {
    expect(ofType(actions, 'createJob').filter((job) => job.action === 'install')).toEqual([]);
    expect(ofType(actions, 'applyRuntimeClass')).toEqual([]);
  }
  // The rollout budget is never exceeded by the planner's own doing.
  if (ofType(actions, 'createJob').length > 0) expect(cluster.inFlight()).toBeLessThanOrEqual(Math.max(limit, before));
  if (!cluster.shim) return;
  // The ready label only where a working version is installed (or being upgraded) on a target.
  for (const node of cluster.nodes.values()) {
    if (node.labels?.[readyLabelKey('spin')] !== 'true') continue;
    expect(cluster.shim.metadata.deletionTimestamp).toBeUndefined();
    expect(['installed', 'installing']).toContain(cluster.record(node.name)?.state);
  }
  const status = cluster.shim.status!;
  expect(status.nodesUpdated! + status.nodesUnsupported!).toBeLessThanOrEqual(status.nodes!);
  expect(status.failingNodes!.length).toBe(Math.min(10, status.nodesFailed!));
}

describe('planner under random histories', () => {
  it.each(Array.from({ length: 40 }, (_, i) => i + 1))('seed %i keeps every promise', (seed) => {
    const rand = random(seed);
    const counter = { next: 0 };
    const cluster = new FakeCluster(makeShim(), nodeNames(5).map((n) => makeNode(n)));
    for (let step = 0; step < 150; step++) {
      if (step === 120) cluster.shim!.metadata.deletionTimestamp = '2026-01-02T00:00:00Z';
      else if (step > 0) mutateWorld(cluster, rand, counter);
      const before = cluster.inFlight();
      const limit = maxInFlight(cluster);
      const result = cluster.step();
      checkInvariants(cluster, before, limit, result.actions);
      if (!cluster.shim) break;

      // Idempotence: replanning right away changes nothing, except creating a Job whose namesake
      // the previous pass deleted (the planner waits for that deletion before reusing the name).
      const deleted = new Set(ofType(result.actions, 'deleteJob').map((a) => a.name));
      const again = cluster.plan().actions;
      const unexpected = again.filter(
        (a) => !(a.type === 'createJob' && deleted.has(a.jobName)) && a.type !== 'patchNode' && a.type !== 'emitEvent' && a.type !== 'updateStatus',
      );
      expect(unexpected).toEqual([]);
      if (ofType(again, 'createJob').length === 0) expect(again).toEqual([]);
    }
    // Let the deletion finish: every Job succeeds from now on.
    if (cluster.shim) cluster.settle({ maxRounds: 200 });
    expect(cluster.shim).toBeNull();
    for (const node of cluster.nodes.values()) {
      expect(node.annotations?.[statusAnnotationKey('spin')]).toBeUndefined();
      expect(node.labels?.[readyLabelKey('spin')]).toBeUndefined();
    }
  });

  it('converges to a settled cluster with zero writes once the world stops changing', () => {
    for (let seed = 100; seed < 120; seed++) {
      const rand = random(seed);
      const counter = { next: 0 };
      const cluster = new FakeCluster(makeShim(), nodeNames(6).map((n) => makeNode(n)));
      for (let step = 0; step < 60; step++) {
        mutateWorld(cluster, rand, counter);
        cluster.step();
      }
      // Give failures a fresh revision so a pause cannot hold the rollout forever, and free the handler.
      cluster.otherShims = [];
      cluster.shim!.spec.fetchStrategy.anonHttp = { location: 'https://example.com/final.tgz', sha256: 'c'.repeat(64) };
      cluster.shim!.spec.rolloutStrategy = { type: 'rolling', rolling: { maxUpdate: 2 } };
      for (let round = 0; round < 200; round++) {
        cluster.advance(1_000);
        for (const job of cluster.running()) cluster.finishJob(job.name);
        const result = cluster.step();
        if (result.actions.length === 0 && cluster.running().length === 0) {
          // Only a retry timer left (a failed uninstall backing off): let it fire, as the controller would.
          if (result.requeueAfterMs === undefined) break;
          cluster.advance(result.requeueAfterMs);
        }
      }
      expect(cluster.plan().actions).toEqual([]);
      const status = cluster.shim!.status!;
      expect(status.nodesUpdated, `seed ${seed}`).toBe(status.nodes! - status.nodesUnsupported!);
      expect(status.nodesFailed).toBe(0);
    }
  });
});
