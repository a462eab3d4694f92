import type { V1Job, V1Node, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { statusAnnotationKey } from '../../src/api/names.ts';
import { observeNode } from '../../src/controller/shell/observe.ts';
import { slimJob, slimNode, slimPod } from '../../src/controller/shell/slim.ts';
import { controllerWatches } from '../../src/controller/shell/watches.ts';
import { withoutManagedFields } from '../../src/kube/informer.ts';
import { kubeletConditions, kubeletNodeObject, kubeletNodeStatus } from '../harness/kubelet-like-node.ts';

function realisticNode(extraAnnotations: Record<string, string> = {}): V1Node {
  const node = kubeletNodeObject('worker-1', 1, { pool: 'wasm' });
  node.metadata!.annotations = { ...node.metadata!.annotations, ...extraAnnotations };
  node.metadata!.resourceVersion = '42';
  node.metadata!.uid = 'uid-1';
  node.metadata!.managedFields = [{ manager: 'kubelet', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:status': { 'f:images': {} } } }];
  return { ...node, status: kubeletNodeStatus('worker-1', 1) };
}

describe('what the caches keep of each object', () => {
  const record = JSON.stringify({ state: 'installed', revision: 'r1', time: '2026-12-01T00:00:00Z' });
  const node = realisticNode({ [statusAnnotationKey('spin')]: record, 'runtime.shimkeeper.dev/shims': 'spin', 'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(2000) });

  it('keeps of a kubelet-sized Node only what the planner reads, a small fraction of it', () => {
    const slim = slimNode(node);
    expect(observeNode(slim)).toEqual(observeNode({ ...node, metadata: { ...node.metadata, annotations: slim.metadata!.annotations! } }));
    expect(slim.metadata!.labels).toEqual(node.metadata!.labels);
    expect(slim.metadata!.annotations).toEqual({ [statusAnnotationKey('spin')]: record, 'runtime.shimkeeper.dev/shims': 'spin' });
    expect(slim.metadata!.resourceVersion).toBe('42');
    expect(slim.status!.nodeInfo).toMatchObject({ operatingSystem: 'linux', architecture: 'amd64', containerRuntimeVersion: 'containerd://2.1.4' });
    expect(JSON.stringify(slim).length * 10).toBeLessThan(JSON.stringify(node).length);
  });

  it('sees a heartbeat as no change, and a label, our annotation, a reboot or a deletion as one', () => {
    const filter = controllerWatches('ns', () => []).nodes.filter!;
    const before = slimNode(node);
    const heartbeat = slimNode({ ...node, metadata: { ...node.metadata, resourceVersion: '43' }, status: { ...node.status, conditions: kubeletConditions('2026-12-01T01:00:00Z', '2026-12-01T00:00:00Z') } });
    expect(filter(before, heartbeat)).toBe(false);
    expect(filter(before, slimNode({ ...node, metadata: { ...node.metadata, labels: { ...node.metadata!.labels, pool: 'other' } } }))).toBe(true);
    expect(filter(before, slimNode({ ...node, metadata: { ...node.metadata, annotations: { ...node.metadata!.annotations, [statusAnnotationKey('spin')]: '{}' } } }))).toBe(true);
    expect(filter(before, slimNode({ ...node, status: { ...node.status, nodeInfo: { ...node.status!.nodeInfo!, bootID: 'new' } } }))).toBe(true);
    expect(filter(before, slimNode({ ...node, metadata: { ...node.metadata, deletionTimestamp: new Date() } }))).toBe(true);
    // Someone else's annotation is not ours to watch.
    expect(filter(before, slimNode({ ...node, metadata: { ...node.metadata, annotations: { ...node.metadata!.annotations, 'example.com/x': 'y' } } }))).toBe(false);
  });

  it('keeps of installer Jobs and Pods their identity and how they ended, not their spec, counts or managedFields', () => {
    const job: V1Job = {
      metadata: { name: 'j', namespace: 'ns', uid: 'u', resourceVersion: '7', labels: { a: 'b' }, annotations: { c: 'd' }, managedFields: [{ manager: 'x' }] },
      spec: { template: { spec: { nodeName: 'worker-1', containers: [{ name: 'installer', env: [{ name: 'URL', value: 'https://secret@example.com' }] }] } } },
      status: { active: 1 },
    };
    const jobMeta = { name: 'j', namespace: 'ns', uid: 'u', resourceVersion: '7', labels: { a: 'b' }, annotations: { c: 'd' } };
    const pinned = { template: { spec: { nodeName: 'worker-1', containers: [] } } };
    expect(slimJob(job)).toEqual({ metadata: jobMeta, spec: pinned, status: {} });
    const ended = new Date('2026-01-01T00:00:05Z');
    const done: V1Job = {
      ...job,
      status: {
        succeeded: 1, startTime: ended, completionTime: ended,
        conditions: [
          { type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached', lastProbeTime: ended, lastTransitionTime: ended },
          { type: 'Complete', status: 'True', reason: 'CompletionsReached', message: 'done', lastProbeTime: ended, lastTransitionTime: ended },
        ],
      },
    };
    expect(slimJob(done).status).toEqual({ completionTime: ended, conditions: [{ type: 'Complete', status: 'True', reason: 'CompletionsReached', message: 'done', lastTransitionTime: ended }] });

    const pod: V1Pod = {
      metadata: { name: 'p', namespace: 'ns', labels: { a: 'b' }, managedFields: [{ manager: 'x' }] },
      spec: { containers: [{ name: 'c' }] },
      status: {
        phase: 'Succeeded', hostIP: '10.0.0.1', podIPs: [{ ip: '10.0.0.1' }], qosClass: 'Burstable', conditions: [{ type: 'Ready', status: 'False' }],
        containerStatuses: [{
          name: 'installer', image: 'installer:v1', imageID: 'sha256:x', ready: false, restartCount: 0, started: false,
          lastState: { terminated: { exitCode: 2, startedAt: ended } },
          state: { terminated: { exitCode: 0, reason: 'Completed', message: '{"ok":true}', startedAt: ended, finishedAt: ended, containerID: 'containerd://x' } },
        }],
      },
    };
    expect(slimPod(pod)).toEqual({
      metadata: { name: 'p', namespace: 'ns', labels: { a: 'b' } },
      status: { phase: 'Succeeded', containerStatuses: [{ name: 'installer', state: { terminated: { exitCode: 0, reason: 'Completed', message: '{"ok":true}', finishedAt: ended } } }] },
    });
    const waiting: V1Pod = { metadata: { name: 'p' }, status: { phase: 'Pending', containerStatuses: [{ name: 'installer', image: 'i', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off' } } }] } };
    expect(slimPod(waiting).status).toEqual({ phase: 'Pending', containerStatuses: [{ name: 'installer', state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off' } } }] });
    expect(withoutManagedFields({ metadata: { name: 'x', managedFields: [{ manager: 'y' }] } })).toEqual({ metadata: { name: 'x' } });
  });
});
