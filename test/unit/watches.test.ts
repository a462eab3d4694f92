import type { V1Node } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { installerJobLabels } from '../../src/controller/installer-job/identity.ts';
import { controllerWatches } from '../../src/controller/shell/watches.ts';
import { makeShim } from './planner-fixtures.ts';

describe('the watch declarations', () => {
  const shims = [makeShim(), makeShim({ runtimeClass: { name: 'shared', handler: 'x' } }, { name: 'other' })];
  const watches = controllerWatches('shimkeeper-system', () => shims);

  it('select installer Jobs and Pods in the controller namespace, and wake the Shim they work for', () => {
    expect(watches.jobs.path).toBe('/apis/batch/v1/namespaces/shimkeeper-system/jobs');
    expect(watches.pods.labelSelector).toBe(watches.jobs.labelSelector);
    const labels = installerJobLabels({ shim: 'spin', node: 'n', action: 'install', revision: 'r' });
    const annotations = { 'runtime.shimkeeper.dev/shim': 'spin', 'runtime.shimkeeper.dev/node': 'n', 'runtime.shimkeeper.dev/revision': 'r' };
    expect(watches.jobs.wakes({ metadata: { labels, annotations } })).toEqual(['spin']);
    expect(watches.pods.wakes({ metadata: { labels: {} } })).toEqual([]);
  });

  it('wake a Shim by name, every Shim for a node change that matters, and no Shim for a heartbeat', () => {
    expect(watches.shims.wakes({ metadata: { name: 'spin' } })).toEqual(['spin']);
    const node: V1Node = { metadata: { name: 'a', labels: { spin: 'true' } }, status: { conditions: [] } };
    expect(watches.nodes.wakes(node)).toBe('all');
    expect(watches.nodes.filter!(undefined, node)).toBe(true);
    expect(watches.nodes.filter!(node, { ...node, status: { conditions: [{ type: 'Ready', status: 'True' }] } })).toBe(false);
    expect(watches.nodes.filter!(node, { ...node, metadata: { name: 'a', labels: {} } })).toBe(true);
  });

  it('wake, for a Shim change, the Shims naming the same handler and those waiting on a handler conflict', () => {
    const all = [
      makeShim({}, { name: 'a' }),
      makeShim({}, { name: 'b' }),
      makeShim({ runtimeClass: { name: 'c', handler: 'other' } }, { name: 'c' }),
      { ...makeShim({ runtimeClass: { name: 'd', handler: 'elsewhere' } }, { name: 'd' }), status: { conditions: [{ type: 'Ready', status: 'False' as const, reason: 'HandlerConflict', message: '', lastTransitionTime: '' }] } },
    ];
    const shimWatches = controllerWatches('ns', () => all);
    expect(shimWatches.shims.wakes(all[0] as never)).toEqual(['a', 'b', 'd']);
    expect(shimWatches.shims.wakes(all[2] as never)).toEqual(['c', 'd']);
  });

  it("wake a RuntimeClass's owner and every Shim that wants its name", () => {
    expect(watches.runtimeclasses.wakes({ handler: 'x', metadata: { name: 'shared', labels: { 'runtime.shimkeeper.dev/shim': 'spin' } } })).toEqual(['spin', 'other']);
    expect(watches.runtimeclasses.wakes({ handler: 'x', metadata: { name: 'unrelated' } })).toEqual([]);
  });

  it("wake a Pod's Shim only while its Job is cached and not being deleted: the Pods of a recorded, deleted Job wake nothing", () => {
    const labels = installerJobLabels({ shim: 'spin', node: 'n', action: 'install', revision: 'r' });
    const annotations = { 'runtime.shimkeeper.dev/shim': 'spin', 'runtime.shimkeeper.dev/node': 'n', 'runtime.shimkeeper.dev/revision': 'r' };
    const cached = new Map([['job-a', 'uid-a']]);
    const podWatches = controllerWatches('ns', () => shims, (name, uid) => cached.get(name) === uid);
    const pod = (job: string, uid: string) => ({ metadata: { labels: { ...labels, 'batch.kubernetes.io/job-name': job, 'batch.kubernetes.io/controller-uid': uid }, annotations } });
    expect(podWatches.pods.wakes(pod('job-a', 'uid-a'))).toEqual(['spin']);
    expect(podWatches.pods.wakes(pod('job-a', 'uid-old'))).toEqual([]);
    expect(podWatches.pods.wakes(pod('job-gone', 'uid-b'))).toEqual([]);
    // A finished Job going away wakes nothing (its result was read); a running one's frees its node.
    expect(watches.jobs.deletionMatters!({ metadata: { labels, annotations }, status: { conditions: [{ type: 'Complete', status: 'True' }] } })).toBe(false);
    expect(watches.jobs.deletionMatters!({ metadata: { labels, annotations }, status: { active: 1 } })).toBe(true);
    // A Pod without the Job controller's labels is judged by its own identity.
    expect(podWatches.pods.wakes({ metadata: { labels, annotations } })).toEqual(['spin']);
  });
});
