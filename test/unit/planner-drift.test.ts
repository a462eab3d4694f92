import { describe, expect, it } from 'vitest';
import { condition, FakeCluster, makeNode, makeShim, nodeNames, ofType } from './planner-fixtures.ts';

// Drift (planner/drift.ts): a node recorded as installed is suspected, loses its ready label and is
// repaired through the ordinary install path, within the rollout rules.

function settledCluster(count = 1, extra: Parameters<typeof makeNode>[1] = { bootID: 'boot-1' }): FakeCluster {
  const cluster = new FakeCluster(makeShim(), nodeNames(count).map((n) => makeNode(n, extra)));
  cluster.settle();
  return cluster;
}

describe('drift', () => {
  it('records the boot ID and container runtime a node had when the shim was proven', () => {
    const cluster = settledCluster();
    expect(cluster.record('node-a')).toMatchObject({ state: 'installed', bootID: 'boot-1', runtime: 'containerd://1.7.24' });
  });

  it.each([
    ['a reboot (boot ID changed)', (c: FakeCluster) => (c.nodes.get('node-a')!.bootID = 'boot-2'), /rebooted/],
    ['a containerd upgrade', (c: FakeCluster) => (c.nodes.get('node-a')!.containerRuntimeVersion = 'containerd://2.0.1'), /changed from containerd:\/\/1\.7\.24 to containerd:\/\/2\.0\.1/],
    [
      'a sandbox the kubelet could not create through the handler',
      (c: FakeCluster) => {
        c.advance(60_000);
        c.nodes.get('node-a')!.sandboxFailures = [{ time: c.now.toISOString(), message: 'failed to get sandbox runtime: no runtime for "spin" is configured' }];
      },
      /no runtime for "spin"/,
    ],
  ])('after %s: the label goes off at once, an Event says why, and a re-install repairs it', (_case, drift, reason) => {
    const cluster = settledCluster();
    drift(cluster);
    const { actions } = cluster.step();
    expect(cluster.ready('node-a')).toBe(false);
    expect(cluster.events.find((e) => e.reason === 'DriftSuspected')?.message).toMatch(reason);
    expect(condition(cluster, 'Degraded')).toMatchObject({ status: 'True', reason: 'DriftSuspected', message: expect.stringMatching(reason) });
    const job = ofType(actions, 'createJob')[0]!;
    expect(job).toMatchObject({ action: 'install', verify: true, revision: cluster.record('node-a')!.revision });
    // The repair takes a few seconds (failures in the second of the proof count, drift.ts).
    cluster.advance(5_000);
    cluster.finishJob(job.jobName);
    cluster.step();
    expect(cluster.ready('node-a')).toBe(true);
    expect(cluster.record('node-a')).not.toHaveProperty('suspect');
    // Proven again on what the node is now: the same signal does not fire twice.
    cluster.settle();
    expect(cluster.events.filter((e) => e.reason === 'DriftSuspected')).toHaveLength(1);
    expect(condition(cluster, 'Ready')?.status).toBe('True');
  });

  it('a containerd restart is no drift: the kubelet reports containerd://Unknown while it cannot reach containerd', () => {
    const cluster = settledCluster();
    const node = cluster.nodes.get('node-a')!;
    for (const reported of ['containerd://Unknown', 'containerd://1.7.24']) {
      node.containerRuntimeVersion = reported;
      expect(ofType(cluster.step().actions, 'createJob')).toEqual([]);
      expect(cluster.ready('node-a')).toBe(true);
    }
    expect(cluster.events.filter((e) => e.reason === 'DriftSuspected')).toEqual([]);
    expect(cluster.record('node-a')).toMatchObject({ runtime: 'containerd://1.7.24' });
  });

  it('an install proven while the kubelet reports containerd://Unknown records the containerd the installer proved it on', () => {
    const cluster = new FakeCluster(makeShim(), [makeNode('node-a', { bootID: 'boot-1', containerRuntimeVersion: 'containerd://Unknown' })]);
    cluster.settle();
    expect(cluster.record('node-a')).toMatchObject({ state: 'installed', containerd: '1.7.24', runtime: 'containerd://1.7.24' });
    // The kubelet reaches containerd again and reports the same version: nothing changed.
    cluster.nodes.get('node-a')!.containerRuntimeVersion = 'containerd://1.7.24';
    expect(ofType(cluster.step().actions, 'createJob')).toEqual([]);
    expect(cluster.ready('node-a')).toBe(true);
    // A real upgrade still is drift.
    cluster.nodes.get('node-a')!.containerRuntimeVersion = 'containerd://2.0.1';
    expect(ofType(cluster.step().actions, 'createJob')).toHaveLength(1);
    expect(cluster.ready('node-a')).toBe(false);
  });

  it('a record that holds containerd://Unknown (written before it was ignored) is no reason to suspect the node', () => {
    const cluster = settledCluster();
    const node = cluster.nodes.get('node-a')!;
    const key = Object.keys(node.annotations ?? {}).find((k) => k.endsWith('/status'))!;
    node.annotations = { ...node.annotations, [key]: JSON.stringify({ ...JSON.parse(node.annotations![key]!), runtime: 'containerd://Unknown' }) };
    expect(ofType(cluster.step().actions, 'createJob')).toEqual([]);
    expect(cluster.ready('node-a')).toBe(true);
  });

  it('a sandbox failure from before the node was last proven, or for another handler, is not drift', () => {
    const cluster = settledCluster();
    cluster.nodes.get('node-a')!.sandboxFailures = [
      { time: '2000-01-01T00:00:00Z', message: 'no runtime for "spin" is configured' },
      { time: new Date(cluster.now.getTime() + 60_000).toISOString(), message: 'no runtime for "gvisor" is configured' },
    ];
    cluster.advance(120_000);
    expect(ofType(cluster.step().actions, 'createJob')).toEqual([]);
    expect(cluster.ready('node-a')).toBe(true);
  });

  it('a sandbox failure after the installer proved the handler is drift, even before its Job completed', () => {
    const cluster = new FakeCluster(makeShim(), [makeNode('node-a', { bootID: 'boot-1' })]);
    const job = ofType(cluster.step().actions, 'createJob')[0]!;
    cluster.advance(10_500);
    // The installer's sandbox proved the handler 2.4 s before the Job completed; the node broke 0.3 s
    // after the proof, and the kubelet's Event says so in whole seconds.
    const provenAt = new Date(cluster.now.getTime() - 2_400);
    cluster.finishJob(job.jobName);
    const result = cluster.jobs.get(job.jobName)!.result as { verification?: unknown };
    result.verification = { sandbox: 'started', ms: 900, provenAt: provenAt.toISOString() };
    cluster.step();
    expect(cluster.record('node-a')).toMatchObject({ state: 'installed', time: provenAt.toISOString() });
    expect(cluster.ready('node-a')).toBe(true);
    const brokeAt = new Date(Math.floor((provenAt.getTime() + 300) / 1000) * 1000);
    cluster.nodes.get('node-a')!.sandboxFailures = [{ time: brokeAt.toISOString(), message: 'failed to get sandbox runtime: no runtime for "spin" is configured' }];
    expect(ofType(cluster.step().actions, 'createJob')).toHaveLength(1);
    expect(cluster.ready('node-a')).toBe(false);
    expect(cluster.events.find((e) => e.reason === 'DriftSuspected')?.message).toMatch(/no runtime for "spin"/);
  });

  it('repairs go through the rollout budget: at most maxUpdate suspected nodes at once', () => {
    const shim = makeShim();
    shim.spec.rolloutStrategy = { type: 'rolling', rolling: { maxUpdate: 1 } };
    const cluster = new FakeCluster(shim, nodeNames(3).map((n) => makeNode(n, { bootID: 'boot-1' })));
    cluster.settle();
    for (const node of cluster.nodes.values()) node.bootID = 'boot-2';
    cluster.step();
    // Every suspected node loses its label at once; only one is repaired at a time.
    expect(nodeNames(3).map((n) => cluster.ready(n))).toEqual([false, false, false]);
    expect(cluster.running()).toHaveLength(1);
    cluster.settle({ invariant: (c) => expect(c.inFlight()).toBeLessThanOrEqual(1) });
    expect(nodeNames(3).map((n) => cluster.ready(n))).toEqual([true, true, true]);
  });

  it('a failed repair keeps the label off and counts against the failure budget', () => {
    const cluster = settledCluster();
    cluster.nodes.get('node-a')!.bootID = 'boot-2';
    const job = ofType(cluster.step().actions, 'createJob')[0]!;
    cluster.finishJob(job.jobName, { ok: false, code: 'ShimDoesNotStart', error: 'no sandbox' });
    cluster.step();
    expect(cluster.ready('node-a')).toBe(false);
    expect(cluster.record('node-a')).toMatchObject({ state: 'failed' });
  });

  it('periodic re-verification re-checks installed nodes without taking their label off', () => {
    const cluster = settledCluster();
    cluster.reverifyAfterMs = 3_600_000;
    const idle = cluster.step();
    expect(ofType(idle.actions, 'createJob')).toEqual([]);
    expect(idle.requeueAfterMs).toBeGreaterThan(0.75 * 3_600_000);
    expect(idle.requeueAfterMs).toBeLessThanOrEqual(3_600_000);
    cluster.advance(3_600_001);
    const { actions } = cluster.step();
    expect(ofType(actions, 'createJob')[0]).toMatchObject({ verify: true });
    expect(cluster.ready('node-a')).toBe(true);
    cluster.settle({ maxRounds: 3, waitForRetries: false });
    expect(cluster.ready('node-a')).toBe(true);
  });

  it('a re-verification that fails takes the label off: the installed revision itself does not work', () => {
    const cluster = settledCluster();
    cluster.reverifyAfterMs = 3_600_000;
    cluster.advance(3_600_001);
    const job = ofType(cluster.step().actions, 'createJob')[0]!;
    expect(cluster.ready('node-a')).toBe(true);
    cluster.finishJob(job.jobName, { ok: false, code: 'ShimDoesNotStart', error: 'no sandbox could start' });
    cluster.step();
    expect(cluster.ready('node-a')).toBe(false);
    expect(cluster.record('node-a')).toMatchObject({ state: 'failed', message: expect.stringContaining('no sandbox') });
  });
});

describe('a handler change', () => {
  /** The invariant: no node carries the ready label for a RuntimeClass whose handler its install lacks. */
  function labelMatchesHandler(cluster: FakeCluster): void {
    const rc = [...cluster.runtimeClasses.values()][0];
    for (const name of cluster.nodes.keys()) {
      if (!cluster.ready(name)) continue;
      expect(rc, 'a ready node needs a RuntimeClass').toBeDefined();
      expect(cluster.record(name)?.handler ?? rc!.handler, `node ${name}`).toBe(rc!.handler);
    }
  }

  it('rolls out like any revision, and at no moment is a node ready for a handler it does not have', () => {
    const shim = makeShim();
    shim.spec.rolloutStrategy = { type: 'rolling', rolling: { maxUpdate: 1 } };
    const cluster = new FakeCluster(shim, nodeNames(3).map((n) => makeNode(n)));
    cluster.settle({ invariant: labelMatchesHandler });
    expect(cluster.record('node-a')?.handler).toBe('spin');

    cluster.shim!.spec.runtimeClass = { ...cluster.shim!.spec.runtimeClass, handler: 'spin-two' };
    cluster.shim!.metadata.generation = 2;
    cluster.step();
    labelMatchesHandler(cluster);
    expect([...cluster.runtimeClasses.values()][0]?.handler).toBe('spin-two');
    expect(cluster.running()).toHaveLength(1);
    cluster.settle({ invariant: (c) => {
      labelMatchesHandler(c);
      expect(c.inFlight()).toBeLessThanOrEqual(1);
    } });
    expect(nodeNames(3).map((n) => [cluster.ready(n), cluster.record(n)?.handler])).toEqual([[true, 'spin-two'], [true, 'spin-two'], [true, 'spin-two']]);
  });
});
