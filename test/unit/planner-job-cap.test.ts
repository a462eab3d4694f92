import type { V1Job } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { installerJobAnnotations, installerJobLabels } from '../../src/controller/installer-job/identity.ts';
import { plannerInput } from '../../src/controller/shell/observe.ts';
import { makeNode, makeShim, nodeNames, ofType, planFlat } from './planner-fixtures.ts';

const NOW = new Date('2026-01-01T00:00:00Z');

describe('the cluster-wide cap on installer Jobs', () => {
  const nodes = nodeNames(10).map((name) => makeNode(name));

  it('bounds recreate, which has no limit of its own', () => {
    const shim = makeShim({ rolloutStrategy: { type: 'recreate' } });
    expect(ofType(planFlat({ shim, nodes, jobs: [], runtimeClasses: [], now: NOW }).actions, 'createJob')).toHaveLength(10);
    const capped = planFlat({ shim, nodes, jobs: [], runtimeClasses: [], now: NOW, clusterJobs: { limit: 4, runningForOtherShims: 0 } });
    expect(ofType(capped.actions, 'createJob')).toHaveLength(4);
  });

  it('bounds rolling too, whichever of maxUpdate and the cap is smaller', () => {
    const shim = makeShim({ rolloutStrategy: { type: 'rolling', rolling: { maxUpdate: 5 } } });
    const under = planFlat({ shim, nodes, jobs: [], runtimeClasses: [], now: NOW, clusterJobs: { limit: 3, runningForOtherShims: 0 } });
    expect(ofType(under.actions, 'createJob')).toHaveLength(3);
    const over = planFlat({ shim, nodes, jobs: [], runtimeClasses: [], now: NOW, clusterJobs: { limit: 50, runningForOtherShims: 0 } });
    expect(ofType(over.actions, 'createJob')).toHaveLength(5);
  });

  it("leaves what other Shims' running Jobs use, and starts nothing when they use it all", () => {
    const shim = makeShim({ rolloutStrategy: { type: 'recreate' } });
    const shared = planFlat({ shim, nodes, jobs: [], runtimeClasses: [], now: NOW, clusterJobs: { limit: 6, runningForOtherShims: 4 } });
    expect(ofType(shared.actions, 'createJob')).toHaveLength(2);
    const full = planFlat({ shim, nodes, jobs: [], runtimeClasses: [], now: NOW, clusterJobs: { limit: 6, runningForOtherShims: 7 } });
    expect(ofType(full.actions, 'createJob')).toHaveLength(0);
    expect(full.status.conditions?.find((c) => c.type === 'Progressing')?.status).toBe('True');
  });

  it("counts other Shims' running Jobs from the cache, not finished or deleted ones, nor this Shim's", () => {
    const job = (shim: string, node: string, extra: Partial<V1Job> = {}): V1Job => {
      const identity = { shim, node, action: 'install' as const, revision: 'r1' };
      return { metadata: { name: `${shim}-${node}`, namespace: 'ns', uid: `${shim}-${node}`, labels: installerJobLabels(identity), annotations: installerJobAnnotations(identity as Parameters<typeof installerJobAnnotations>[0]), ...extra.metadata }, status: extra.status ?? {} };
    };
    const jobs = [
      job('other', 'n1'),
      job('other', 'n2'),
      job('other', 'n3', { status: { conditions: [{ type: 'Complete', status: 'True' }] } }),
      job('other', 'n4', { metadata: { deletionTimestamp: NOW } }),
      job('third', 'n5', { status: { conditions: [{ type: 'Failed', status: 'False' }] } }),
      job('spin', 'n6'),
    ];
    const caches = { nodes: { list: () => [] }, jobs: { list: () => jobs }, pods: { list: () => [] }, runtimeclasses: { list: () => [] } };
    expect(plannerInput(caches, makeShim(), 'ns', NOW, { maxConcurrentJobs: 10 }).clusterJobs).toEqual({ limit: 10, runningForOtherShims: 3 });
    expect(plannerInput(caches, makeShim(), 'ns', NOW, { maxConcurrentJobs: 0 }).clusterJobs).toBeUndefined();
  });
});
