import { describe, expect, it } from 'vitest';
import { observeJob } from '../../src/controller/installer-job/observe.ts';
import { condition, FakeCluster, makeNode, makeShim } from './planner-fixtures.ts';

// A stuck installer Pod (image pull back-off, a Pod the kubelet refused) is reported within one
// reconcile on the node, the Shim's conditions and an Event, instead of "in progress" until the
// Job's deadline.

const job = {
  metadata: {
    name: 'spin-node-a-install-1',
    uid: 'job-uid',
    labels: { 'runtime.shimkeeper.dev/action': 'install' },
    annotations: { 'runtime.shimkeeper.dev/shim': 'spin', 'runtime.shimkeeper.dev/node': 'node-a', 'runtime.shimkeeper.dev/revision': 'r1' },
  },
  spec: { template: { spec: { nodeName: 'node-a', containers: [] } } },
  status: {},
};

function pod(status: object, created = '2026-01-01T00:00:00Z') {
  return { metadata: { name: 'p', creationTimestamp: created }, status };
}

describe('observing a stuck installer Pod', () => {
  it.each([
    ['an image pull back-off', { containerStatuses: [{ name: 'installer', state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "x"' } } }] }, 'ImagePullBackOff: Back-off pulling image "x"'],
    ['a bad config', { containerStatuses: [{ name: 'installer', state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret "s" not found' } } }] }, 'CreateContainerConfigError: secret "s" not found'],
    ['a Pod the kubelet refused', { phase: 'Failed', reason: 'OutOfcpu', message: 'Node didn\'t have enough resource: cpu' }, "OutOfcpu: Node didn't have enough resource: cpu"],
  ])('%s', (_case, status, expected) => {
    expect(observeJob(job as never, [pod(status)] as never)?.stuck).toBe(expected);
  });

  it('a Pod that is merely starting is not stuck; only the newest Pod counts', () => {
    expect(observeJob(job as never, [pod({ containerStatuses: [{ name: 'installer', state: { waiting: { reason: 'ContainerCreating' } } }] })] as never)?.stuck).toBeUndefined();
    const old = pod({ containerStatuses: [{ name: 'installer', state: { waiting: { reason: 'ErrImagePull' } } }] }, '2026-01-01T00:00:00Z');
    const fresh = pod({ containerStatuses: [{ name: 'installer', state: { running: {} } }] }, '2026-01-01T00:01:00Z');
    expect(observeJob(job as never, [old, fresh] as never)?.stuck).toBeUndefined();
  });
});

describe('planning with a stuck installer Pod', () => {
  it('says so on the node, in the Shim conditions and once in an Event, and forgets it when the Pod moves', () => {
    const cluster = new FakeCluster(makeShim(), [makeNode('node-a')]);
    cluster.step();
    const running = cluster.running()[0]!;
    running.stuck = 'ImagePullBackOff: Back-off pulling image "registry.example.com/shimkeeper-installer:v1"';
    cluster.step();
    cluster.step();
    expect(cluster.record('node-a')).toMatchObject({ state: 'installing', stuck: running.stuck });
    expect(cluster.events.filter((e) => e.reason === 'InstallerStuck')).toHaveLength(1);
    expect(condition(cluster, 'Degraded')).toMatchObject({ status: 'True', reason: 'InstallerStuck', message: expect.stringContaining('node-a: ImagePullBackOff') });
    expect(condition(cluster, 'Progressing')?.message).toMatch(/1 stuck/);

    delete running.stuck;
    cluster.step();
    expect(cluster.record('node-a')).not.toHaveProperty('stuck');
    cluster.finishJob(running.name);
    cluster.settle();
    expect(condition(cluster, 'Degraded')?.status).toBe('False');
    expect(condition(cluster, 'Ready')?.status).toBe('True');
  });
});
