import { describe, expect, it } from 'vitest';
import { statusAnnotationKey } from '../../src/api/names.ts';
import { FakeCluster, makeNode, makeShim, ofType } from './planner-fixtures.ts';

// A successful install Job is recorded on its node (the record holds the Job's uid) and left for
// Kubernetes to delete after its ttlSecondsAfterFinished: a rollout costs no deletion per node.
// Whatever comes next for the node deletes it first, so a node never has two Jobs.

function installedCluster(): FakeCluster {
  const cluster = new FakeCluster(makeShim(), [makeNode('node-a', { bootID: 'boot-1' })]);
  cluster.settle();
  return cluster;
}

const nodeWork = (cluster: FakeCluster) => (actions: ReturnType<FakeCluster['step']>['actions']) =>
  actions.filter((a) => 'node' in a && a.node === 'node-a' && a.type !== 'emitEvent').map((a) => (a.type === 'createJob' ? `create ${a.jobName}` : a.type === 'deleteJob' ? `delete ${a.name} ${a.uid}` : a.type));

describe('a recorded install Job left for its TTL', () => {
  it('is deleted, then recreated under the same name, in one pass when the node is checked again', () => {
    const cluster = installedCluster();
    const [held] = [...cluster.jobs.values()];
    expect(cluster.record('node-a')?.job).toBe(held!.uid);

    cluster.nodes.get('node-a')!.bootID = 'boot-2';
    const repair = cluster.step();
    expect(nodeWork(cluster)(repair.actions)).toEqual(['patchNode', `delete ${held!.name} ${held!.uid}`, `create ${held!.name}`]);
    const again = cluster.jobs.get(held!.name)!;
    expect(again.uid).not.toBe(held!.uid);

    cluster.finishJob(again.name);
    cluster.step();
    expect(cluster.record('node-a')).toMatchObject({ state: 'installed', bootID: 'boot-2', job: again.uid });
    expect(cluster.ready('node-a')).toBe(true);
  });

  it('is not recorded again while the node is suspected, nor needed once its TTL removed it', () => {
    const cluster = installedCluster();
    const [held] = [...cluster.jobs.values()];
    cluster.nodes.get('node-a')!.bootID = 'boot-2';
    // Only the node's mark lands (the Job writes fail): the held Job's success must not clear the suspicion.
    cluster.apply(ofType(cluster.plan().actions, 'patchNode'));
    expect(cluster.record('node-a')).toMatchObject({ suspect: expect.stringMatching(/rebooted/), job: held!.uid });
    const retry = cluster.plan();
    expect(retry.outcomes).toEqual([]);
    expect(nodeWork(cluster)(retry.actions)).toEqual([`delete ${held!.name} ${held!.uid}`, `create ${held!.name}`]);

    cluster.jobs.clear();
    expect(nodeWork(cluster)(cluster.plan().actions)).toEqual([`create ${held!.name}`]);
  });

  it('is deleted before an uninstall Job, which is itself deleted once recorded', () => {
    const cluster = installedCluster();
    const [held] = [...cluster.jobs.values()];
    cluster.nodes.get('node-a')!.labels = {}; // its ready label too
    const start = cluster.step();
    const uninstall = ofType(start.actions, 'createJob')[0]!;
    expect(uninstall.action).toBe('uninstall');
    expect(nodeWork(cluster)(start.actions)).toEqual([`delete ${held!.name} ${held!.uid}`, `create ${uninstall.jobName}`]);

    cluster.finishJob(uninstall.jobName);
    const done = cluster.step();
    expect(cluster.record('node-a')).toBeNull();
    expect(ofType(done.actions, 'deleteJob').map((a) => a.name)).toEqual([uninstall.jobName]);
    expect(cluster.jobs.size).toBe(0);
  });

  it('of two finished install Jobs of a node (left by an earlier version), keeps the later and deletes the other, each recorded once', () => {
    const cluster = new FakeCluster(makeShim(), [makeNode('node-a')]);
    cluster.step();
    const first = cluster.running()[0]!;
    cluster.finishJob(first.name);
    const second = { ...first, name: `${first.name}-again`, uid: 'uid-later', finishedAt: '2099-01-01T00:00:00Z' };
    cluster.jobs.set(second.name, second);

    const both = cluster.step();
    expect(both.outcomes.map((o) => o.job)).toEqual([first.name, second.name]);
    expect(ofType(both.actions, 'deleteJob').map((a) => a.name)).toEqual([first.name]);
    expect(cluster.record('node-a')).toMatchObject({ state: 'installed', job: 'uid-later' });
    const next = cluster.step();
    expect(next.actions).toEqual([]);
    expect(next.outcomes).toEqual([]);
  });

  it('a failed Job is deleted once recorded, so removing the annotation retries the node', () => {
    const shim = makeShim({ rolloutStrategy: { type: 'rolling', maxFailedNodes: 2 } });
    const cluster = new FakeCluster(shim, [makeNode('node-a')]);
    cluster.step();
    const failed = cluster.running()[0]!;
    cluster.finishJob(failed.name, { ok: false });
    const recorded = cluster.step();
    expect(cluster.record('node-a')).toMatchObject({ state: 'failed' });
    expect(cluster.record('node-a')).not.toHaveProperty('job');
    expect(ofType(recorded.actions, 'deleteJob').map((a) => a.name)).toEqual([failed.name]);
    delete cluster.nodes.get('node-a')!.annotations![statusAnnotationKey('spin')];
    expect(ofType(cluster.step().actions, 'createJob').map((j) => j.jobName)).toEqual([failed.name]);
  });
});
