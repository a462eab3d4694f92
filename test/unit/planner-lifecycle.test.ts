// Planner tests, part two: other writers, invalid specs, deletion, the RuntimeClass and status.
import type { InstallerErrorCode } from '../../src/api/installer-contract.ts';
import { describe, expect, it } from 'vitest';
import { readyLabelKey, statusAnnotationKey } from '../../src/api/names.ts';
import { FINALIZER, type ObservedRuntimeClass } from '../../src/controller/planner/model.ts';
import { parseNodeShimStatus } from '../../src/controller/planner/node-status.ts';
import { RUNTIME_CLASS_SHIM_LABEL } from '../../src/controller/planner/runtime-class.ts';
import { FakeCluster, SHA_A, SHA_B, T0, URL_B, condition, expectIdle, makeNode, makeShim, nodeNames, ofType, planFlat } from './planner-fixtures.ts';


describe('labels and annotations written by others', () => {
  it('removes a stray ready label from a node without the shim, once', () => {
    const cluster = new FakeCluster(makeShim({ nodeSelector: {} }), [makeNode('node-a', { labels: { [readyLabelKey('spin')]: 'true' } })]);
    const { actions } = cluster.step();
    expect(ofType(actions, 'patchNode')).toEqual([expect.objectContaining({ node: 'node-a', readyLabel: null, statusAnnotation: null })]);
    expectIdle(cluster.plan());
  });

  it('treats a garbled status annotation as an unknown installation: reinstalls a target, uninstalls elsewhere', () => {
    const garbled = { [statusAnnotationKey('spin')]: 'not json' };
    const cluster = new FakeCluster(makeShim({ rolloutStrategy: { type: 'recreate' } }), [
      makeNode('target', { annotations: garbled }),
      makeNode('other', { labels: { spin: 'no' }, annotations: garbled }),
    ]);
    const jobs = ofType(cluster.step().actions, 'createJob');
    expect(jobs.map((j) => [j.node, j.action])).toEqual([['other', 'uninstall'], ['target', 'install']]);
    cluster.settle();
    expect(cluster.record('other')).toBeNull();
    expect(cluster.record('target')).toMatchObject({ state: 'installed' });
  });

  it('ignores nodes marked as no longer existing', () => {
    const { actions } = planFlat({ shim: makeShim(), nodes: [makeNode('node-a', { exists: false })], jobs: [], runtimeClasses: [], now: T0 });
    expect(ofType(actions, 'createJob')).toEqual([]);
  });

  it('passes runtime options, version and shimBinary to the Job', () => {
    const shim = makeShim({ containerdRuntimeOptions: { SystemdCgroup: 'true' }, shimBinary: 'containerd-shim-spin-v2' });
    const [job] = ofType(planFlat({ shim, nodes: [makeNode('node-a')], jobs: [], runtimeClasses: [], now: T0 }).actions, 'createJob');
    expect(job).toMatchObject({ runtimeOptions: { SystemdCgroup: 'true' }, shimBinary: 'containerd-shim-spin-v2', version: '0.19.0' });
  });
});

describe('invalid spec', () => {
  it('starts nothing, reports InvalidSpec, but still records finished Jobs', () => {
    const cluster = new FakeCluster(makeShim(), [makeNode('node-a'), makeNode('node-b')]);
    cluster.step();
    const job = cluster.running()[0]!;
    cluster.shim!.spec.fetchStrategy.anonHttp = { location: URL_B }; // sha256 missing
    cluster.finishJob(job.name);
    const { actions } = cluster.step();
    expect(ofType(actions, 'createJob')).toEqual([]);
    expect(ofType(actions, 'applyRuntimeClass')).toEqual([]);
    // Recorded and left for its TTL, as in any rollout.
    expect(ofType(actions, 'deleteJob')).toEqual([]);
    expect(cluster.record('node-a')).toMatchObject({ state: 'installed', job: job.uid });
    expect(condition(cluster, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(condition(cluster, 'Ready')?.message).toContain('sha256 is required');
    expect(condition(cluster, 'Degraded')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    expectIdle(cluster.plan());
  });
});

describe('deletion', () => {
  it('uninstalls everywhere within maxUpdate, deletes the RuntimeClass, then removes the finalizer', () => {
    const names = nodeNames(3);
    const cluster = new FakeCluster(makeShim(), [...names.map((n) => makeNode(n)), makeNode('never', { labels: { spin: 'no' } })]);
    cluster.settle();
    expect(cluster.runtimeClasses.has('wasmtime-spin-v2')).toBe(true);
    cluster.shim!.metadata.deletionTimestamp = '2026-01-01T01:00:00Z';
    const uid = cluster.runtimeClasses.get('wasmtime-spin-v2')!.uid;

    const first = cluster.step();
    expect(ofType(first.actions, 'deleteRuntimeClass')).toEqual([{ type: 'deleteRuntimeClass', name: 'wasmtime-spin-v2', uid }]);
    expect(ofType(first.actions, 'createJob')).toMatchObject([{ node: 'node-a', action: 'uninstall' }]);
    for (const name of names) expect(cluster.ready(name)).toBe(false); // no new pods anywhere
    expect(condition(cluster, 'Ready')).toMatchObject({ reason: 'Deleting' });

    let rounds = 0;
    while (cluster.shim && rounds++ < 20) {
      expect(cluster.inFlight()).toBeLessThanOrEqual(1);
      cluster.advance(1_000);
      for (const job of cluster.running()) cluster.finishJob(job.name);
      const result = cluster.step();
      if (!cluster.shim) {
        expect(result.actions.at(-1)).toEqual({ type: 'removeFinalizer', finalizer: FINALIZER });
        expect(ofType(result.actions, 'updateStatus')).toEqual([]);
      }
    }
    expect(cluster.shim).toBeNull();
    for (const name of names) expect(cluster.record(name)).toBeNull();
    expect(cluster.jobs.size).toBe(0);
    expect(cluster.runtimeClasses.size).toBe(0);
  });

  it('keeps the finalizer while an uninstall fails, retrying with backoff', () => {
    const cluster = new FakeCluster(makeShim(), [makeNode('node-a')]);
    cluster.settle();
    cluster.shim!.metadata.deletionTimestamp = '2026-01-01T01:00:00Z';
    cluster.step();
    cluster.finishJob(cluster.running()[0]!.name, { ok: false, error: 'config locked' });
    const failed = cluster.step();
    expect(cluster.record('node-a')).toMatchObject({ state: 'failed', message: 'uninstall failed: config locked' });
    expect(ofType(failed.actions, 'removeFinalizer')).toEqual([]);
    expect(failed.requeueAfterMs).toBe(10_000);
    cluster.advance(10_000);
    expect(ofType(cluster.step().actions, 'createJob')).toMatchObject([{ action: 'uninstall' }]);
  });

  it('removes the finalizer when the nodes holding the shim are gone', () => {
    const cluster = new FakeCluster(makeShim(), nodeNames(2).map((n) => makeNode(n)));
    cluster.settle();
    cluster.shim!.metadata.deletionTimestamp = '2026-01-01T01:00:00Z';
    cluster.step();
    cluster.nodes.clear();
    // The uninstall Job of one node (maxUpdate 1) and the other's install Job, left for its TTL.
    expect([...cluster.jobs.values()].map((j) => j.action).sort()).toEqual(['install', 'uninstall']);
    const { actions } = cluster.step();
    expect(ofType(actions, 'deleteJob')).toHaveLength(2);
    expect(cluster.jobs.size).toBe(0);
    expect(actions.at(-1)).toEqual({ type: 'removeFinalizer', finalizer: FINALIZER });
  });

  it('does nothing for a deleted Shim without our finalizer', () => {
    const shim = makeShim({}, { finalizers: ['other'], deletionTimestamp: '2026-01-01T01:00:00Z' });
    expectIdle(planFlat({ shim, nodes: [makeNode('node-a')], jobs: [], runtimeClasses: [], now: T0 }));
  });
});

describe('runtime class', () => {
  const base = { handler: 'spin', nodeSelector: { [readyLabelKey('spin')]: 'true' }, labels: { [RUNTIME_CLASS_SHIM_LABEL]: 'spin', 'app.kubernetes.io/managed-by': 'shimkeeper' }, ownerUids: ['uid-spin'] };
  const run = (runtimeClasses: ObservedRuntimeClass[]) =>
    planFlat({ shim: makeShim({ nodeSelector: {} }), nodes: [], jobs: [], runtimeClasses, now: T0 }).actions.filter((a) => a.type.endsWith('RuntimeClass'));

  it('leaves a matching class alone', () => {
    expect(run([{ name: 'wasmtime-spin-v2', ...base }])).toEqual([]);
  });
  it('deletes and recreates on a handler change (handler is immutable)', () => {
    expect(run([{ name: 'wasmtime-spin-v2', ...base, handler: 'old' }]).map((a) => a.type)).toEqual(['deleteRuntimeClass', 'applyRuntimeClass']);
  });
  it('deletes its class under an old name', () => {
    expect(run([{ name: 'wasmtime-spin-v2', ...base }, { name: 'old-name', uid: 'u-old', ...base }])).toEqual([{ type: 'deleteRuntimeClass', name: 'old-name', uid: 'u-old' }]);
  });
  it('writes to its own class only with its uid as a precondition, and creates a new one without', () => {
    expect(run([{ name: 'wasmtime-spin-v2', uid: 'u1', ...base, nodeSelector: {} }])).toEqual([
      expect.objectContaining({ type: 'applyRuntimeClass', uid: 'u1' }),
    ]);
    expect(run([])).toEqual([{ type: 'applyRuntimeClass', runtimeClass: expect.objectContaining({ name: 'wasmtime-spin-v2' }) }]);
  });
  it.each<[string, ObservedRuntimeClass]>([
    ['an unlabelled class (an admin\'s, or an upstream leftover)', { name: 'wasmtime-spin-v2', uid: 'u', handler: 'runsc' }],
    ['a class with our label but no owner reference to this Shim', { name: 'wasmtime-spin-v2', uid: 'u', ...base, ownerUids: [] }],
    ['a class owned by an earlier Shim of the same name', { name: 'wasmtime-spin-v2', uid: 'u', ...base, ownerUids: ['uid-of-a-deleted-spin'] }],
    ['a class with an owner reference to this Shim but no label', { name: 'wasmtime-spin-v2', uid: 'u', handler: 'spin', ownerUids: ['uid-spin'] }],
  ])('never adopts, changes or deletes %s: reports it', (_name, foreign) => {
    const live = planFlat({ shim: makeShim(), nodes: [], jobs: [], runtimeClasses: [foreign], now: T0 });
    expect(live.actions.filter((a) => a.type.endsWith('RuntimeClass'))).toEqual([]);
    expect(live.status.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'RuntimeClassConflict' });
    expect(ofType(live.actions, 'emitEvent')).toEqual([expect.objectContaining({ eventType: 'Warning', reason: 'RuntimeClassConflict' })]);
    const deleting = planFlat({ shim: makeShim({}, { deletionTimestamp: '2026-01-01T00:00:00Z' }), nodes: [], jobs: [], runtimeClasses: [foreign], now: T0 });
    expect(deleting.actions.filter((a) => a.type.endsWith('RuntimeClass'))).toEqual([]);
  });
  it('reports a class owned by another Shim and leaves it alone', () => {
    const other = { name: 'wasmtime-spin-v2', ...base, labels: { [RUNTIME_CLASS_SHIM_LABEL]: 'other' } };
    const result = planFlat({ shim: makeShim(), nodes: [], jobs: [], runtimeClasses: [other], now: T0 });
    expect(result.actions.filter((a) => a.type.endsWith('RuntimeClass'))).toEqual([]);
    expect(result.status.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'RuntimeClassConflict' });
  });
});

describe('status', () => {
  it('keeps lastTransitionTime while a condition keeps its status', () => {
    const cluster = new FakeCluster(makeShim(), nodeNames(3).map((n) => makeNode(n)));
    cluster.step();
    const progressingSince = condition(cluster, 'Progressing')?.lastTransitionTime;
    cluster.advance(60_000);
    cluster.settle();
    const ready = condition(cluster, 'Ready');
    expect(ready?.status).toBe('True');
    expect(ready?.lastTransitionTime).not.toBe('2026-01-01T00:00:00Z');
    expect(condition(cluster, 'Degraded')?.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(progressingSince).toBe('2026-01-01T00:00:00Z');
    expect(ready?.lastTransitionTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('caps failingNodes at 10 and counts all', () => {
    const shim = makeShim({ rolloutStrategy: { type: 'recreate', maxFailedNodes: '100%' } });
    const names = Array.from({ length: 12 }, (_, i) => `n${String(i).padStart(2, '0')}`);
    const cluster = new FakeCluster(shim, names.map((n) => makeNode(n)));
    cluster.step();
    for (const job of cluster.running()) cluster.finishJob(job.name, { ok: false });
    cluster.step();
    expect(cluster.shim?.status?.nodesFailed).toBe(12);
    expect(cluster.shim?.status?.failingNodes).toHaveLength(10);
    expect(condition(cluster, 'Degraded')?.message).toContain('and 2 more');
  });

  it('reports one revision per platform', () => {
    const shim = makeShim({
      fetchStrategy: {
        platforms: [
          { os: 'linux', arch: 'amd64', location: 'https://example.com/amd64.tgz', sha256: SHA_A },
          { os: 'linux', arch: 'aarch64', location: 'https://example.com/arm64.tgz', sha256: SHA_B },
        ],
      },
    });
    const nodes = [makeNode('a'), makeNode('b', { labels: { 'kubernetes.io/arch': 'arm64' } })];
    const { status } = planFlat({ shim, nodes, jobs: [], runtimeClasses: [], now: T0 });
    expect(status.revisions?.map((r) => r.platform)).toEqual(['linux/amd64', 'linux/arm64']);
    expect(status.revisions?.[0]?.revision).not.toBe(status.revisions?.[1]?.revision);
  });
});

describe('a failed upgrade and the ready label', () => {
  function upgradeThatFails(code: InstallerErrorCode) {
    const cluster = new FakeCluster(makeShim(), [makeNode('node-a')]);
    cluster.settle();
    const installed = cluster.record('node-a')!;
    cluster.shim!.spec.fetchStrategy.anonHttp = { location: URL_B, sha256: SHA_B };
    cluster.shim!.metadata.generation = 2;
    const started = cluster.step();
    // The upgrade runs without a node write: the annotation still shows the working install.
    expect(ofType(started.actions, 'createJob')).toHaveLength(1);
    expect(ofType(started.actions, 'patchNode')).toEqual([]);
    expect(cluster.record('node-a')).toEqual(installed);
    expect(cluster.ready('node-a')).toBe(true);
    cluster.finishJob(cluster.running()[0]!.name, { ok: false, code, error: 'it went wrong' });
    cluster.step();
    return { cluster, installed };
  }

  it('stays on when the installer left the previous version in place (a refused artifact, a rolled-back restart)', () => {
    const { cluster, installed } = upgradeThatFails('ChecksumMismatch');
    expect(cluster.record('node-a')).toMatchObject({ state: 'failed', workingRevision: installed.revision });
    expect(cluster.ready('node-a')).toBe(true);
    expect(cluster.plan().actions.filter((a) => a.type !== 'emitEvent' && a.type !== 'updateStatus')).toEqual([]);
  });

  it('goes off when what is left on the node is unknown (the rollback failed)', () => {
    const { cluster } = upgradeThatFails('RollbackFailed');
    expect(cluster.record('node-a')).toMatchObject({ state: 'failed' });
    expect(cluster.record('node-a')?.workingRevision).toBeUndefined();
    expect(cluster.ready('node-a')).toBe(false);
  });
});

describe('a failed attempt, without an in-progress record on the node', () => {
  it('records the version, sha256 and containerd it was attempted with', () => {
    const cluster = new FakeCluster(makeShim(), [makeNode('node-a')]);
    cluster.step();
    const job = cluster.running()[0]!;
    expect(parseNodeShimStatus(cluster.nodes.get('node-a')!.annotations?.[statusAnnotationKey('spin')])).toBeNull();
    cluster.finishJob(job.name, { ok: false, error: 'download failed', code: 'DownloadFailed' });
    cluster.step();
    expect(parseNodeShimStatus(cluster.nodes.get('node-a')!.annotations?.[statusAnnotationKey('spin')])).toMatchObject({
      state: 'failed',
      version: '0.19.0',
      revision: job.revision,
      sha256: SHA_A,
      containerd: '1.7.24',
      failures: 1,
    });
  });
});
