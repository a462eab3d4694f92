import { describe, expect, it } from 'vitest';
import { readyLabelKey, statusAnnotationKey } from '../../src/api/names.ts';
import { FINALIZER } from '../../src/controller/planner/model.ts';
import { backoffMs } from '../../src/controller/planner/node-plan.ts';
import type { NodeShimRecord } from '../../src/controller/planner/node-status.ts';
import { resolveIntOrPercent } from '../../src/controller/planner/rollout.ts';
import { RUNTIME_CLASS_SHIM_LABEL } from '../../src/controller/planner/runtime-class.ts';
import {
  FakeCluster,
  SHA_A,
  SHA_B,
  URL_B,
  annotatedNode,
  condition,
  makeNode,
  makeShim,
  nodeNames,
  ofType,
  revisionA,
  expectIdle,
} from './planner-fixtures.ts';


describe('resolveIntOrPercent', () => {
  it.each([
    [1, 5, 1],
    [3, 5, 3],
    ['40%', 5, 2],
    ['10%', 5, 1],
    ['100%', 7, 7],
    ['50%', 0, 1],
    ['33%', 10, 3],
  ] as const)('%s of %i → %i', (value, total, expected) => {
    expect(resolveIntOrPercent(value, total)).toBe(expected);
  });
});

describe('backoff', () => {
  it.each([
    [1, 10_000],
    [2, 20_000],
    [3, 40_000],
    [5, 160_000],
    [6, 300_000],
    [50, 300_000],
  ])('after %i failures waits %i ms', (failures, ms) => {
    expect(backoffMs(failures)).toBe(ms);
  });
});

describe('first reconcile of a new Shim', () => {
  it('adds the finalizer, creates the RuntimeClass and starts one install under maxUpdate 1', () => {
    const shim = makeShim({}, { finalizers: [] });
    const cluster = new FakeCluster(shim, nodeNames(3).map((n) => makeNode(n)));
    const { actions, status } = cluster.plan();
    expect(actions[0]).toEqual({ type: 'addFinalizer', finalizer: FINALIZER });
    expect(ofType(actions, 'applyRuntimeClass')).toEqual([
      {
        type: 'applyRuntimeClass',
        runtimeClass: {
          name: 'wasmtime-spin-v2',
          handler: 'spin',
          nodeSelector: { [readyLabelKey('spin')]: 'true' },
          labels: { [RUNTIME_CLASS_SHIM_LABEL]: 'spin', 'app.kubernetes.io/managed-by': 'shimkeeper' },
        },
      },
    ]);
    const jobs = ofType(actions, 'createJob');
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({
      node: 'node-a',
      action: 'install',
      revision: revisionA(),
      shim: 'spin',
      handler: 'spin',
      version: '0.19.0',
      artifact: { url: expect.stringContaining('v0.19.0'), sha256: SHA_A, revision: revisionA() },
    });
    // The running Job says the install is in progress: its node's labels do not change, so the
    // node is not written.
    expect(ofType(actions, 'patchNode')).toEqual([]);
    expect(cluster.nodes.get('node-a')!.annotations).toEqual({});
    expect(status).toMatchObject({ observedGeneration: 1, nodes: 3, nodesReady: 0, nodesUpdated: 0, nodesFailed: 0 });
    expect(status.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut', message: '0 of 3 updated, 1 in progress' });
    expect(status.revisions).toEqual([{ platform: 'linux/amd64', revision: revisionA() }]);
    expect(ofType(actions, 'updateStatus')).toHaveLength(1);
  });

  it('is idempotent: replanning after its own effects writes nothing', () => {
    const cluster = new FakeCluster(makeShim({}, { finalizers: [] }), nodeNames(3).map((n) => makeNode(n)));
    cluster.step();
    cluster.advance(5_000);
    expectIdle(cluster.plan());
  });
});

describe('writes per node', () => {
  it('a first install writes twice: Job create, result; the Job stays for its TTL, recorded once', () => {
    const names = nodeNames(2);
    const cluster = new FakeCluster(makeShim(), names.map((n) => makeNode(n)));
    const writes = new Map<string, string[]>(names.map((n) => [n, []]));
    for (let round = 0; ; round++) {
      expect(round).toBeLessThan(20);
      const { actions } = cluster.step();
      for (const action of actions) {
        if (action.type === 'createJob' || action.type === 'patchNode' || action.type === 'deleteJob') writes.get(action.node)!.push(action.type);
      }
      if (actions.length === 0 && cluster.running().length === 0) break;
      cluster.advance(1_000);
      for (const job of cluster.running()) cluster.finishJob(job.name);
    }
    for (const name of names) {
      expect(writes.get(name), name).toEqual(['createJob', 'patchNode']);
      const [job, ...others] = [...cluster.jobs.values()].filter((j) => j.node === name);
      expect(others).toEqual([]);
      expect(job).toMatchObject({ phase: 'succeeded' });
      expect(cluster.record(name)).toMatchObject({ state: 'installed', revision: revisionA(), job: job!.uid });
      expect(cluster.ready(name)).toBe(true);
    }
    expect(cluster.shim?.status).toMatchObject({ nodesReady: 2, nodesUpdated: 2 });
    // Settled with the Jobs still there: they are not recorded again, and their TTL removing them changes nothing.
    cluster.advance(3_600_000);
    expect(cluster.step().actions).toEqual([]);
    cluster.jobs.clear();
    expect(cluster.step().actions).toEqual([]);
  });

  it("writes a stuck Job's record with stuck, and drops stuck from it once the Pod moves", () => {
    const cluster = new FakeCluster(makeShim(), [makeNode('node-a')]);
    expect(ofType(cluster.step().actions, 'patchNode')).toEqual([]);
    const running = cluster.running()[0]!;
    running.stuck = 'ImagePullBackOff: Back-off pulling image "registry.example.com/shimkeeper-installer:v1"';
    cluster.advance(30_000);

    const stuck = cluster.step();
    expect(ofType(stuck.actions, 'patchNode')).toEqual([
      expect.objectContaining({
        node: 'node-a',
        readyLabel: null,
        versionLabel: null,
        statusAnnotation: expect.objectContaining({ state: 'installing', revision: running.revision, stuck: running.stuck }),
      }),
    ]);
    const stuckRecord = cluster.record('node-a')!;
    expect(stuckRecord).toMatchObject({ state: 'installing', revision: running.revision, stuck: running.stuck });
    // Written once: replanning while it stays stuck writes nothing more to the node.
    cluster.advance(30_000);
    expect(ofType(cluster.step().actions, 'patchNode')).toEqual([]);

    delete running.stuck;
    cluster.advance(30_000);
    const moving = cluster.step();
    const { stuck: _dropped, ...unstuck } = stuckRecord;
    expect(ofType(moving.actions, 'patchNode')).toEqual([expect.objectContaining({ node: 'node-a', readyLabel: null, statusAnnotation: unstuck })]);
    expect(cluster.record('node-a')).toEqual(unstuck);
    expect(ofType(cluster.step().actions, 'patchNode')).toEqual([]);

    cluster.finishJob(running.name);
    cluster.step();
    expect(cluster.record('node-a')).toMatchObject({ state: 'installed', revision: running.revision });
    expect(cluster.record('node-a')).not.toHaveProperty('stuck');
  });
});

describe('rolling rollout', () => {
  it.each([
    [1, 5, 1],
    [2, 5, 2],
    ['40%', 5, 2],
    ['10%', 5, 1],
    ['100%', 4, 4],
  ] as const)('maxUpdate %s over %i nodes keeps at most %i in flight and completes', (maxUpdate, count, limit) => {
    const cluster = new FakeCluster(
      makeShim({ rolloutStrategy: { type: 'rolling', rolling: { maxUpdate } } }),
      nodeNames(count).map((n) => makeNode(n)),
    );
    let peak = 0;
    cluster.settle({
      invariant: (c) => {
        peak = Math.max(peak, c.inFlight());
        expect(c.inFlight()).toBeLessThanOrEqual(limit);
      },
    });
    expect(peak).toBe(limit);
    for (const name of nodeNames(count)) {
      expect(cluster.record(name)).toMatchObject({ state: 'installed', revision: revisionA(), version: '0.19.0', containerd: '1.7.24' });
      expect(cluster.ready(name)).toBe(true);
    }
    expect(cluster.shim?.status).toMatchObject({ nodes: count, nodesReady: count, nodesUpdated: count, nodesFailed: 0 });
    expect(condition(cluster, 'Ready')).toMatchObject({ status: 'True', reason: 'AllNodesUpdated' });
    expect(condition(cluster, 'Progressing')).toMatchObject({ status: 'False', reason: 'RolloutComplete' });
    expect(condition(cluster, 'Degraded')).toMatchObject({ status: 'False' });
    // Settled: zero writes, however much later.
    cluster.advance(3_600_000);
    expectIdle(cluster.plan());
  });

  it('recreate starts every node at once', () => {
    const cluster = new FakeCluster(makeShim({ rolloutStrategy: { type: 'recreate' } }), nodeNames(6).map((n) => makeNode(n)));
    const { actions } = cluster.step();
    expect(ofType(actions, 'createJob')).toHaveLength(6);
    cluster.settle();
    expect(cluster.shim?.status?.nodesUpdated).toBe(6);
  });

  it('defaults to rolling one node at a time when rolloutStrategy is absent', () => {
    const cluster = new FakeCluster(makeShim({ rolloutStrategy: undefined }), nodeNames(3).map((n) => makeNode(n)));
    expect(ofType(cluster.step().actions, 'createJob')).toHaveLength(1);
  });

  it('upgrades node by node on a new revision, keeping the ready label during the upgrade', () => {
    const names = nodeNames(4);
    const cluster = new FakeCluster(makeShim(), names.map((n) => makeNode(n)));
    cluster.settle();
    const oldRevision = revisionA();
    cluster.shim!.spec.fetchStrategy.anonHttp = { location: URL_B, sha256: SHA_B };
    cluster.shim!.spec.version = '0.20.0';
    cluster.shim!.metadata.generation = 2;

    const installedBefore = cluster.record('node-a');
    const first = cluster.step();
    const jobs = ofType(first.actions, 'createJob');
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.node).toBe('node-a');
    expect(jobs[0]!.revision).not.toBe(oldRevision);
    // Nothing writes node-a while its upgrade runs: the ready label stays, the annotation still
    // shows the working install, and the status counts the node in progress.
    expect(ofType(first.actions, 'patchNode')).toEqual([]);
    expect(cluster.ready('node-a')).toBe(true);
    expect(cluster.record('node-a')).toEqual(installedBefore);
    expect(cluster.record('node-a')).toMatchObject({ state: 'installed', version: '0.19.0', revision: oldRevision });
    expect(cluster.shim?.status).toMatchObject({ observedGeneration: 2, nodesReady: 4, nodesUpdated: 0 });
    expect(condition(cluster, 'Ready')).toMatchObject({ status: 'False', reason: 'NodesNotUpdated' });
    expect(condition(cluster, 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut', message: '0 of 4 updated, 1 in progress' });

    // Every node keeps its label through its own upgrade and everyone else's.
    cluster.settle({
      invariant: (c) => {
        expect(c.inFlight()).toBeLessThanOrEqual(1);
        for (const name of names) expect(c.ready(name), name).toBe(true);
      },
    });
    for (const name of names) expect(cluster.record(name)).toMatchObject({ state: 'installed', version: '0.20.0', revision: jobs[0]!.revision });
    expect(condition(cluster, 'Ready')).toMatchObject({ status: 'True' });
  });

  it('a version-only change keeps the revision: nodes re-check (no new artifact, no restart) and then report the new version', () => {
    const cluster = new FakeCluster(makeShim(), nodeNames(2).map((n) => makeNode(n)));
    cluster.settle();
    const revision = cluster.record('node-a')!.revision;
    cluster.shim!.spec.version = '0.19.1';
    cluster.shim!.metadata.generation = 2;
    const { actions, status } = cluster.step();
    const jobs = ofType(actions, 'createJob');
    expect(jobs.length).toBeGreaterThan(0);
    for (const job of jobs) expect(job).toMatchObject({ revision, verify: true, version: '0.19.1' });
    // Until a node reports the version, it is not up to date; its label stays (it still works).
    expect(status.nodesUpdated).toBe(0);
    expect(cluster.ready('node-a')).toBe(true);
    cluster.settle();
    expect(cluster.record('node-a')).toMatchObject({ state: 'installed', revision, version: '0.19.1' });
    expect(cluster.shim!.status).toMatchObject({ nodesUpdated: 2, nodesReady: 2 });
  });

  it('a finished Job of an old revision is recorded and the new revision starts in the same pass', () => {
    const cluster = new FakeCluster(makeShim(), [makeNode('node-a')]);
    cluster.step();
    const job = cluster.running()[0]!;
    cluster.shim!.spec.fetchStrategy.anonHttp = { location: URL_B, sha256: SHA_B };
    cluster.finishJob(job.name);
    const { actions } = cluster.step();
    expect(ofType(actions, 'deleteJob')).toEqual([{ type: 'deleteJob', name: job.name, uid: job.uid, node: job.node }]);
    const created = ofType(actions, 'createJob');
    expect(created).toHaveLength(1);
    expect(created[0]!.revision).not.toBe(job.revision);
    // The result of the old Job is the node's only patch; the new Job says the install runs.
    expect(ofType(actions, 'patchNode').map((p) => p.statusAnnotation?.state)).toEqual(['installed']);
    expect(actions.filter((a) => 'node' in a && a.node === 'node-a' && a.type !== 'emitEvent').map((a) => a.type)).toEqual(['patchNode', 'deleteJob', 'createJob']);
    expect(cluster.record('node-a')).toMatchObject({ state: 'installed', revision: job.revision });
    expect(cluster.ready('node-a')).toBe(true);
  });
});

describe('failures, pause and backoff', () => {
  it('pauses after maxFailedNodes failures, names the nodes, and stays quiet while paused', () => {
    const cluster = new FakeCluster(makeShim(), nodeNames(5).map((n) => makeNode(n)));
    cluster.settle({ failNodes: new Set(['node-b']) });
    expect(cluster.record('node-a')).toMatchObject({ state: 'installed' });
    expect(cluster.record('node-b')).toMatchObject({ state: 'failed', failures: 1, message: 'containerd did not come back' });
    expect(cluster.ready('node-b')).toBe(false);
    for (const name of ['node-c', 'node-d', 'node-e']) expect(cluster.record(name)).toBeNull();
    const progressing = condition(cluster, 'Progressing');
    expect(progressing).toMatchObject({ status: 'False', reason: 'RolloutPaused' });
    expect(progressing?.message).toContain('node-b: containerd did not come back');
    expect(condition(cluster, 'Degraded')).toMatchObject({ status: 'True', reason: 'NodesFailed' });
    expect(cluster.shim?.status).toMatchObject({ nodesFailed: 1, failingNodes: [{ node: 'node-b', message: 'containerd did not come back' }] });
    expect(cluster.events.filter((e) => e.reason === 'RolloutPaused')).toHaveLength(1);
    expect(cluster.events.filter((e) => e.reason === 'InstallFailed')).toHaveLength(1);
    // Paused: no retry and no requeue, however long we wait.
    cluster.advance(3_600_000);
    expectIdle(cluster.plan());
  });

  it('resumes on a spec change that changes the revision, retrying the failed node at once', () => {
    const cluster = new FakeCluster(makeShim(), nodeNames(3).map((n) => makeNode(n)));
    cluster.settle({ failNodes: new Set(['node-a']) });
    expect(condition(cluster, 'Progressing')?.reason).toBe('RolloutPaused');
    const failedBefore = cluster.record('node-a');
    cluster.shim!.spec.fetchStrategy.anonHttp = { location: URL_B, sha256: SHA_B };
    cluster.shim!.metadata.generation = 2;
    const { actions, status } = cluster.step();
    expect(ofType(actions, 'createJob').map((j) => j.node)).toEqual(['node-a']);
    // The node is not written while its retry runs: the annotation keeps the old revision's
    // failure, which no longer counts (the node is in progress at the new revision).
    expect(ofType(actions, 'patchNode')).toEqual([]);
    expect(cluster.record('node-a')).toEqual(failedBefore);
    expect(status).toMatchObject({ nodesFailed: 0, failingNodes: [] });
    expect(status.conditions?.find((c) => c.type === 'Degraded')?.status).toBe('False');
    expect(status.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut', message: expect.stringContaining('1 in progress') });
    expect(cluster.events.some((e) => e.reason === 'RolloutResumed')).toBe(true);
    cluster.settle();
    expect(cluster.shim?.status).toMatchObject({ nodesUpdated: 3, nodesFailed: 0 });
    expect(condition(cluster, 'Degraded')?.status).toBe('False');
  });

  it('counts the failures of a new revision from one again', () => {
    const shim = makeShim({ rolloutStrategy: { type: 'rolling', rolling: { maxUpdate: 1 }, maxFailedNodes: 2 } });
    const cluster = new FakeCluster(shim, [makeNode('node-a')]);
    cluster.step();
    cluster.finishJob(cluster.running()[0]!.name, { ok: false });
    cluster.step();
    cluster.advance(backoffMs(1));
    cluster.step();
    cluster.finishJob(cluster.running()[0]!.name, { ok: false });
    cluster.step();
    expect(cluster.record('node-a')).toMatchObject({ state: 'failed', revision: revisionA(), failures: 2 });

    cluster.shim!.spec.fetchStrategy.anonHttp = { location: URL_B, sha256: SHA_B };
    const [job] = ofType(cluster.step().actions, 'createJob');
    expect(job!.revision).not.toBe(revisionA());
    cluster.finishJob(job!.jobName, { ok: false });
    cluster.step();
    expect(cluster.record('node-a')).toMatchObject({ state: 'failed', revision: job!.revision, failures: 1 });
  });

  it('resumes when maxFailedNodes is raised, and removing a failed node annotation retries it', () => {
    const cluster = new FakeCluster(makeShim(), nodeNames(3).map((n) => makeNode(n)));
    cluster.settle({ failNodes: new Set(['node-a']) });
    cluster.shim!.spec.rolloutStrategy = { type: 'rolling', rolling: { maxUpdate: 1 }, maxFailedNodes: 2 };
    cluster.shim!.metadata.generation = 2;
    cluster.settle({ failNodes: new Set(['node-a']), waitForRetries: false });
    expect(cluster.record('node-b')).toMatchObject({ state: 'installed' });
    expect(cluster.record('node-c')).toMatchObject({ state: 'installed' });

    const fresh = new FakeCluster(makeShim(), nodeNames(2).map((n) => makeNode(n)));
    fresh.settle({ failNodes: new Set(['node-a']) });
    delete fresh.nodes.get('node-a')!.annotations![statusAnnotationKey('spin')];
    expect(ofType(fresh.step().actions, 'createJob').map((j) => j.node)).toEqual(['node-a']);
  });

  it('retries with exponential backoff while under the failure budget', () => {
    const shim = makeShim({ rolloutStrategy: { type: 'rolling', rolling: { maxUpdate: 1 }, maxFailedNodes: 2 } });
    const cluster = new FakeCluster(shim, [makeNode('node-a')]);
    cluster.step();
    const jobName = cluster.running()[0]!.name;
    cluster.finishJob(jobName, { ok: false, error: 'download failed' });

    const consumed = cluster.step();
    expect(cluster.record('node-a')).toMatchObject({ state: 'failed', failures: 1, message: 'download failed' });
    expect(consumed.requeueAfterMs).toBe(10_000);
    expect(condition(cluster, 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut' });

    cluster.advance(9_000);
    expect(cluster.plan().actions).toEqual([]);
    expect(cluster.plan().requeueAfterMs).toBe(1_000);
    cluster.advance(1_000);
    const retry = cluster.step();
    expect(ofType(retry.actions, 'createJob').map((j) => j.jobName)).toEqual([jobName]); // same deterministic name
    // The retry is not written to the node: the annotation keeps the failure (and its count) the
    // retry's result builds on; the status counts the node in progress.
    expect(ofType(retry.actions, 'patchNode')).toEqual([]);
    expect(cluster.record('node-a')).toMatchObject({ state: 'failed', failures: 1, message: 'download failed' });
    expect(retry.status).toMatchObject({ nodesFailed: 0 });
    expect(condition(cluster, 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut', message: '0 of 1 updated, 1 in progress' });

    cluster.finishJob(jobName, { ok: false, error: 'download failed again' });
    const second = cluster.step();
    expect(cluster.record('node-a')).toMatchObject({ state: 'failed', failures: 2 });
    expect(second.requeueAfterMs).toBe(20_000);

    cluster.advance(20_000);
    cluster.step();
    cluster.finishJob(jobName);
    cluster.step();
    expect(cluster.record('node-a')).toMatchObject({ state: 'installed' });
    expect(cluster.record('node-a')?.failures).toBeUndefined();
    expect(cluster.ready('node-a')).toBe(true);
  });

  it('does not count a replayed failed Job twice (crash between annotation write and Job deletion)', () => {
    const shim = makeShim({ rolloutStrategy: { type: 'rolling', maxFailedNodes: 3 } });
    const cluster = new FakeCluster(shim, [makeNode('node-a')]);
    cluster.step();
    const jobName = cluster.running()[0]!.name;
    cluster.finishJob(jobName, { ok: false });
    const first = cluster.plan();
    // Apply everything up to, not including, the Job deletion.
    cluster.apply(first.actions.slice(0, first.actions.findIndex((a) => a.type === 'deleteJob')));
    expect(cluster.record('node-a')?.failures).toBe(1);
    const replay = cluster.step();
    expect(cluster.record('node-a')?.failures).toBe(1);
    expect(ofType(replay.actions, 'patchNode')).toEqual([]);
    expect(ofType(replay.actions, 'deleteJob')).toEqual([{ type: 'deleteJob', name: jobName, uid: expect.any(String), node: 'node-a' }]);
  });

  it.each([
    ['reports no result', { phase: 'failed' as const, result: null, error: 'BackoffLimitExceeded' }, 'BackoffLimitExceeded'],
    ['succeeds without a result', { phase: 'succeeded' as const, result: null }, 'without reporting a result'],
    ['reports another revision', { phase: 'succeeded' as const, result: { ok: true as const, action: 'install' as const, shim: 'spin', revision: 'ffffffffff' } }, 'reported revision ffffffffff'],
  ])('a Job that %s counts as failed', (_label, job, message) => {
    const cluster = new FakeCluster(makeShim(), [makeNode('node-a')]);
    cluster.step();
    const running = cluster.running()[0]!;
    Object.assign(running, job, { finishedAt: '2026-01-01T00:00:05Z' });
    cluster.step();
    expect(cluster.record('node-a')).toMatchObject({ state: 'failed' });
    expect(cluster.record('node-a')?.message).toContain(message);
  });
});

describe('unsupported nodes', () => {
  it('never attempts Windows, non-containerd or platform-less nodes, and reports them', () => {
    const shim = makeShim({
      fetchStrategy: { platforms: [{ os: 'linux', arch: 'x86_64', location: 'https://example.com/amd64.tgz', sha256: SHA_A }] },
    });
    const nodes = [
      makeNode('linux-amd64'),
      makeNode('windows', { labels: { 'kubernetes.io/os': 'windows' } }),
      makeNode('crio', { containerRuntimeVersion: 'cri-o://1.29.1' }),
      makeNode('arm', { labels: { 'kubernetes.io/arch': 'arm64' } }),
    ];
    const cluster = new FakeCluster(shim, nodes);
    cluster.settle();
    expect(cluster.created.every((name) => name.includes('linux-amd64'))).toBe(true);
    expect(cluster.shim?.status).toMatchObject({ nodes: 4, nodesUpdated: 1, nodesUnsupported: 3, nodesFailed: 0 });
    expect(condition(cluster, 'Ready')).toMatchObject({ status: 'True' });
    const degraded = condition(cluster, 'Degraded');
    expect(degraded).toMatchObject({ status: 'True', reason: 'UnsupportedNodes' });
    expect(degraded?.message).toContain('windows: Windows nodes are not supported');
    expect(degraded?.message).toContain('crio: container runtime cri-o://1.29.1 is not containerd');
    expect(degraded?.message).toContain('arm: fetchStrategy.platforms has no artifact for linux/arm64');
    expectIdle(cluster.plan());
  });

  it('reports NoTargetNodes when nothing is targeted', () => {
    const cluster = new FakeCluster(makeShim({ nodeSelector: {} }), [makeNode('node-a')]);
    cluster.settle();
    expect(cluster.created).toEqual([]);
    expect(condition(cluster, 'Ready')).toMatchObject({ status: 'False', reason: 'NoTargetNodes' });
  });
});

describe('targets coming and going', () => {
  it('uninstalls from a node that stops being a target, removing the label at once', () => {
    const cluster = new FakeCluster(makeShim(), nodeNames(2).map((n) => makeNode(n)));
    cluster.settle();
    const installed = cluster.record('node-b');
    delete cluster.nodes.get('node-b')!.labels!.spin;
    const { actions } = cluster.step();
    expect(ofType(actions, 'createJob')).toMatchObject([{ node: 'node-b', action: 'uninstall', revision: revisionA() }]);
    // One patch takes the labels off before the uninstall Job is created; it carries the
    // annotation as observed (the running Job says the uninstall is in progress).
    expect(ofType(actions, 'patchNode')).toEqual([
      expect.objectContaining({ node: 'node-b', readyLabel: null, versionLabel: null, statusAnnotation: installed }),
    ]);
    expect(actions.findIndex((a) => a.type === 'patchNode')).toBeLessThan(actions.findIndex((a) => a.type === 'createJob'));
    expect(cluster.ready('node-b')).toBe(false);
    expect(cluster.record('node-b')).toEqual(installed);
    cluster.settle();
    expect(cluster.record('node-b')).toBeNull();
    expect(cluster.shim?.status).toMatchObject({ nodes: 1, nodesUpdated: 1 });
    expectIdle(cluster.plan());
  });

  it('lets a running install finish on a node that stopped being a target, then uninstalls', () => {
    const cluster = new FakeCluster(makeShim(), [makeNode('node-a')]);
    cluster.step();
    delete cluster.nodes.get('node-a')!.labels!.spin;
    const during = cluster.step();
    expect(ofType(during.actions, 'createJob')).toEqual([]);
    expect(ofType(during.actions, 'deleteJob')).toEqual([]);
    cluster.finishJob(cluster.running()[0]!.name);
    const after = cluster.step();
    expect(ofType(after.actions, 'createJob')).toMatchObject([{ action: 'uninstall' }]);
    expect(cluster.ready('node-a')).toBe(false);
  });

  it('targets nodes that opt in by annotation, by name or with *', () => {
    const nodes = [
      makeNode('by-name', { labels: { spin: 'no' }, annotations: { 'runtime.shimkeeper.dev/shims': 'other, spin' } }),
      makeNode('star', { labels: { spin: 'no' }, annotations: { 'runtime.shimkeeper.dev/shims': '*' } }),
      makeNode('neither', { labels: { spin: 'no' } }),
    ];
    const cluster = new FakeCluster(makeShim({ rolloutStrategy: { type: 'recreate' } }), nodes);
    expect(ofType(cluster.step().actions, 'createJob').map((j) => j.node).sort()).toEqual(['by-name', 'star']);
  });

  it('re-creates the Job of a node marked installing whose Job was lost, without a new slot', () => {
    const installing: NodeShimRecord = { state: 'installing', revision: revisionA(), time: '2026-01-01T00:00:00Z' };
    const cluster = new FakeCluster(makeShim(), [annotatedNode('node-a', installing, false), makeNode('node-b')]);
    const { actions } = cluster.step();
    expect(ofType(actions, 'createJob').map((j) => j.node)).toEqual(['node-a']);
    expect(ofType(actions, 'patchNode')).toEqual([]);
  });

  it('does not let a node stuck installing, now unsupported, hold a rollout slot', () => {
    const installing: NodeShimRecord = { state: 'installing', revision: 'old', time: '2026-01-01T00:00:00Z' };
    const cluster = new FakeCluster(makeShim(), [
      annotatedNode('node-a', installing, false, { containerRuntimeVersion: 'cri-o://1.29.1' }),
      makeNode('node-b'),
    ]);
    expect(ofType(cluster.step().actions, 'createJob').map((j) => j.node)).toEqual(['node-b']);
  });

  it('deletes the Jobs of nodes that are gone and does not count them', () => {
    const cluster = new FakeCluster(makeShim(), nodeNames(2).map((n) => makeNode(n)));
    cluster.step();
    const job = cluster.running()[0]!;
    cluster.nodes.delete(job.node);
    const { actions } = cluster.step();
    expect(ofType(actions, 'deleteJob')).toEqual([{ type: 'deleteJob', name: job.name, uid: job.uid, node: job.node }]);
    expect(ofType(actions, 'createJob').map((j) => j.node)).toEqual(['node-b']);
  });

  it('waits while a Job of the wanted name is still being deleted', () => {
    const shim = makeShim({ rolloutStrategy: { type: 'rolling', maxFailedNodes: 2 } });
    const cluster = new FakeCluster(shim, [makeNode('node-a')]);
    cluster.step();
    const job = cluster.running()[0]!;
    cluster.finishJob(job.name, { ok: false });
    cluster.step();
    cluster.jobs.set(job.name, { ...job, deleting: true });
    cluster.advance(60_000);
    const { actions, requeueAfterMs } = cluster.plan();
    expect(ofType(actions, 'createJob')).toEqual([]);
    expect(requeueAfterMs).toBe(2_000);
  });
});
