import type { V1Job, V1Node, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { jobChangeMatters, jobDeletionMatters, observeJob, podChangeMatters } from '../../src/controller/installer-job/observe.ts';
import { nodeChangeMatters, observeNode, observeRuntimeClass, plannerInput } from '../../src/controller/shell/observe.ts';
import { parseAllowedArtifactLocations } from '../../src/api/artifact-policy.ts';
import { runningPodStatus, terminatedPodStatus } from '../harness/fake-kubelet.ts';
import { slimJob, slimPod } from '../../src/controller/shell/slim.ts';
import { makeShim, T0 } from './planner-fixtures.ts';

const job = (conditions: V1Job['status'] = {}): V1Job => ({
  metadata: {
    name: 'spin-node-a-install-12345678',
    labels: { 'runtime.shimkeeper.dev/action': 'install' },
    annotations: { 'runtime.shimkeeper.dev/shim': 'spin', 'runtime.shimkeeper.dev/node': 'node-a', 'runtime.shimkeeper.dev/revision': 'abc' },
  },
  spec: { template: { spec: { nodeName: 'node-a', containers: [] } } },
  status: conditions,
});

const pod = (message: string, finishedAt: string): V1Pod => ({
  metadata: { name: `p-${finishedAt}`, labels: { 'batch.kubernetes.io/job-name': 'spin-node-a-install-12345678' } },
  status: { containerStatuses: [{ name: 'installer', image: 'x', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, message, finishedAt: finishedAt as unknown as Date } } }] },
});

describe('observed state from API objects', () => {
  it('a Job without a finished condition is running', () => {
    expect(observeJob(job(), [])).toMatchObject({ node: 'node-a', action: 'install', revision: 'abc', phase: 'running' });
  });

  it('a complete Job carries the result of its latest Pod, whatever the timestamp type', () => {
    const done = job({ completionTime: new Date('2026-01-01T00:00:10Z'), conditions: [{ type: 'Complete', status: 'True' }] });
    const observed = observeJob(done, [
      pod('{"ok":false,"action":"install","error":"first try"}', '2026-01-01T00:00:05Z'),
      pod('{"ok":true,"action":"install","shim":"spin","revision":"abc"}', '2026-01-01T00:00:09Z'),
    ], new Date('2026-01-01T00:00:11Z'));
    expect(observed).toMatchObject({ phase: 'succeeded', finishedAt: '2026-01-01T00:00:10.000Z', result: { ok: true, revision: 'abc' } });
  });

  it('a failed Job without any result reports the Job condition once the grace period is over', () => {
    const failed = job({ conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline', lastTransitionTime: new Date('2026-01-01T00:10:00Z') }] });
    expect(observeJob(failed, [], new Date('2026-01-01T00:11:00Z'))).toMatchObject({ phase: 'failed', result: null, error: 'DeadlineExceeded: Job was active longer than specified deadline' });
  });

  it('a Job finished moments ago whose Pod result has not arrived yet still counts as running', () => {
    const done = job({ completionTime: new Date('2026-01-01T00:00:10Z'), conditions: [{ type: 'Complete', status: 'True' }] });
    expect(observeJob(done, [], new Date('2026-01-01T00:00:12Z'))).toMatchObject({ phase: 'running', awaitingResult: true });
    expect(observeJob(done, [], new Date('2026-01-01T00:01:00Z'))).toMatchObject({ phase: 'succeeded', result: null });
  });

  it('ignores Jobs that are not installer Jobs', () => {
    expect(observeJob({ metadata: { name: 'x', labels: {} }, spec: { template: { spec: { containers: [] } } } }, [])).toBeNull();
  });

  it('nodes: platform and runtime from nodeInfo; only planner-relevant changes matter', () => {
    const node: V1Node = {
      metadata: { name: 'n', labels: { a: 'b' } },
      status: { nodeInfo: { operatingSystem: 'linux', architecture: 'arm64', containerRuntimeVersion: 'containerd://1.7.1', kubeletVersion: '', kubeProxyVersion: '', kernelVersion: '', osImage: '', machineID: '', systemUUID: '', bootID: '' } },
    };
    expect(observeNode(node)).toMatchObject({ name: 'n', os: 'linux', arch: 'arm64', containerRuntimeVersion: 'containerd://1.7.1', labels: { a: 'b' } });
    const heartbeat: V1Node = { ...node, status: { ...node.status, conditions: [{ type: 'Ready', status: 'True' }] } };
    expect(nodeChangeMatters(node, heartbeat)).toBe(false);
    expect(nodeChangeMatters(node, { ...node, metadata: { ...node.metadata, labels: { a: 'c' } } })).toBe(true);
    expect(nodeChangeMatters(undefined, node)).toBe(true);
  });

  it('RuntimeClasses: uid and owner uids, which decide whether a class is the Shim\'s own', () => {
    const rc = { handler: 'spin', metadata: { name: 'x', uid: 'u1', labels: { a: 'b' }, ownerReferences: [{ apiVersion: 'v', kind: 'Shim', name: 'spin', uid: 'uid-spin' }] } };
    expect(observeRuntimeClass(rc)).toEqual({ name: 'x', uid: 'u1', handler: 'spin', labels: { a: 'b' }, ownerUids: ['uid-spin'] });
    expect(observeRuntimeClass({ handler: 'runsc', metadata: { name: 'gvisor' } })).toEqual({ name: 'gvisor', handler: 'runsc' });
    // runtime-class-manager's class: its Shim is the controller, which the conflict message and the adoption Event name.
    const rcm = { handler: 'spin-v2', metadata: { name: 'wasmtime-spin-v2', uid: 'u2', ownerReferences: [{ apiVersion: 'runtime.spinkube.dev/v1alpha1', kind: 'Shim', name: 'spin-v2', uid: 'rcm', controller: true }] } };
    expect(observeRuntimeClass(rcm).controller).toEqual({ apiVersion: 'runtime.spinkube.dev/v1alpha1', kind: 'Shim', name: 'spin-v2' });
  });

  it('planner input: a Job is observed again only when it or its Pods change, or while its result is awaited', () => {
    const done = { ...job({ completionTime: new Date('2026-01-01T00:00:10Z'), conditions: [{ type: 'Complete', status: 'True' }] }), metadata: { ...job().metadata, uid: 'j1', namespace: 'ns' } };
    const result = pod('{"ok":true,"action":"install","shim":"spin","revision":"abc"}', '2026-01-01T00:00:09Z');
    const withUid = (p: V1Pod): V1Pod => ({ ...p, metadata: { ...p.metadata, labels: { 'batch.kubernetes.io/controller-uid': 'j1' } } });
    let pods: V1Pod[] = [];
    const caches = { nodes: { list: () => [] }, jobs: { list: () => [done] }, pods: { list: () => pods }, runtimeclasses: { list: () => [] } };
    const observe = (now: string) => plannerInput(caches, makeShim(), 'ns', new Date(now)).jobs[0];

    // No result yet, within the grace period: depends on the time, so it is not kept.
    expect(observe('2026-01-01T00:00:11Z')).toMatchObject({ awaitingResult: true });
    expect(observe('2026-01-01T00:01:00Z')).toMatchObject({ phase: 'succeeded', result: null });
    pods = [withUid(result)];
    const first = observe('2026-01-01T00:01:00Z');
    expect(first).toMatchObject({ phase: 'succeeded', result: { ok: true } });
    expect(observe('2026-01-01T00:02:00Z')).toBe(first);
    pods = [withUid(pod('{"ok":true,"action":"install","shim":"spin","revision":"abd"}', '2026-01-01T00:00:09Z'))];
    expect(observe('2026-01-01T00:02:00Z')).toMatchObject({ result: { revision: 'abd' } });
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('planner input: every other Shim, and the allow-list', () => {
    const empty = { list: () => [] };
    const caches = { nodes: empty, jobs: empty, pods: empty, runtimeclasses: empty };
    const shims = [makeShim(), makeShim({}, { name: 'other' })];
    const allowed = parseAllowedArtifactLocations('https://example.com');
    const input = plannerInput(caches, shims[0]!, 'ns', T0, { shims, allowedArtifactLocations: allowed });
    expect(input.otherShims?.map((s) => s.metadata.name)).toEqual(['other']);
    expect(input.allowedArtifactLocations).toBe(allowed);
    expect(plannerInput(caches, shims[0]!, 'ns', T0).allowedArtifactLocations).toBeUndefined();
  });
});

describe('drift signals from the API', () => {
  it('reads the boot ID, and a reboot is a node change that matters', async () => {
    const { observeNode, nodeChangeMatters } = await import('../../src/controller/shell/observe.ts');
    const node = { metadata: { name: 'n' }, status: { nodeInfo: { bootID: 'b1' } } } as never;
    expect(observeNode(node)).toMatchObject({ bootID: 'b1' });
    expect(nodeChangeMatters(node, { metadata: { name: 'n' }, status: { nodeInfo: { bootID: 'b2' } } } as never)).toBe(true);
  });

  it('groups the kubelets\' sandbox failures by node, with their latest time', async () => {
    const { sandboxFailuresByNode } = await import('../../src/controller/shell/observe.ts');
    const failures = sandboxFailuresByNode([
      { metadata: { name: 'e1' }, involvedObject: {}, source: { host: 'node-a' }, lastTimestamp: new Date('2026-01-01T00:00:05Z'), message: 'no runtime for "spin" is configured' },
      { metadata: { name: 'e2' }, involvedObject: {}, reportingInstance: 'node-b', eventTime: '2026-01-01T00:00:06.000000Z' as never, message: 'x' },
      { metadata: { name: 'e3' }, involvedObject: {}, message: 'no node named' },
    ] as never);
    expect(failures.get('node-a')).toEqual([{ time: '2026-01-01T00:00:05.000Z', message: 'no runtime for "spin" is configured' }]);
    expect(failures.get('node-b')).toHaveLength(1);
    expect(failures.size).toBe(2);
  });

  it('parses the re-verification interval', async () => {
    const { parseDuration } = await import('../../src/controller/duration.ts');
    expect(parseDuration('X', '24h')).toBe(86_400_000);
    expect(parseDuration('X', '90m')).toBe(5_400_000);
    expect(parseDuration('X', '0')).toBe(0);
    expect(() => parseDuration('X', '1d')).toThrow(/duration such as 24h/);
  });
});

describe('which Job and Pod updates wake a Shim', () => {
  const at = (s: number) => new Date(T0.getTime() + s * 1000);
  const podBase: V1Pod = {
    metadata: { name: 'p1', uid: 'pod-1', creationTimestamp: at(1), labels: { 'batch.kubernetes.io/job-name': job().metadata!.name!, 'batch.kubernetes.io/controller-uid': 'job-uid' }, finalizers: ['batch.kubernetes.io/job-tracking'] },
    spec: { nodeName: 'node-a', containers: [{ name: 'installer', image: 'installer:dev' }] },
  };
  const running = runningPodStatus(podBase, 1, at(2));
  const waiting = (reason: string): V1Pod['status'] => ({ phase: 'Pending', containerStatuses: [{ name: 'installer', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason, message: `${reason} happened` } } }] });
  const condition = (type: string, s: number) => ({ type, status: 'True', lastTransitionTime: at(s) });
  const complete = { succeeded: 1, completionTime: at(5), conditions: [condition('SuccessCriteriaMet', 4), condition('Complete', 5)] };
  // One Job's life as the Job controller writes it, and its Pod's as the kubelet and the Job controller do.
  const jobs: V1Job[] = [
    job(),
    job({ startTime: at(1), active: 1, ready: 0 }),
    job({ startTime: at(1), active: 1, ready: 1 }),
    job({ startTime: at(1), active: 0, ready: 0, uncountedTerminatedPods: { succeeded: ['pod-1'] }, conditions: [condition('SuccessCriteriaMet', 4)] }),
    job({ startTime: at(1), ...complete }),
    { ...job({ startTime: at(1), ...complete }), metadata: { ...job().metadata, deletionTimestamp: at(6) } },
    { ...job({ startTime: at(1), active: 1, ready: 1 }), metadata: { ...job().metadata, deletionTimestamp: at(6) } },
  ];
  const pods: V1Pod[] = [
    podBase,
    { ...podBase, status: waiting('ContainerCreating') },
    { ...podBase, status: waiting('ImagePullBackOff') },
    { ...podBase, status: running.status as V1Pod['status'] },
    { ...podBase, status: terminatedPodStatus(podBase, running, { exitCode: 0, reason: 'Completed', message: '{"ok":true,"action":"install"}' }, at(4)) as V1Pod['status'] },
    { ...podBase, metadata: { ...podBase.metadata, finalizers: [] }, status: terminatedPodStatus(podBase, running, { exitCode: 0, reason: 'Completed', message: '{"ok":true,"action":"install"}' }, at(4)) as V1Pod['status'] },
    { ...podBase, status: { phase: 'Failed', reason: 'NodeAffinity', message: 'Pod was rejected' } },
  ];
  // What a plan reads of a Job: a finished Job going away changes none (jobDeletionMatters).
  const observed = (j: V1Job, p: V1Pod) => {
    const { deleting, ...rest } = observeJob(j, [p], at(100))!;
    return JSON.stringify(rest.phase === 'running' ? { ...rest, deleting } : rest);
  };

  it('skips the Job controller’s progress counts and interim conditions, and a finished Job going away; not a finish or a running Job going away', () => {
    expect(jobs.slice(1).map((after, i) => jobChangeMatters(jobs[i], after))).toEqual([false, false, false, true, false, true]);
    expect(jobChangeMatters(jobs[2], jobs[6]!)).toBe(true);
    expect(jobChangeMatters(undefined, jobs[0]!)).toBe(true);
    expect(jobs.map(jobDeletionMatters)).toEqual([true, true, true, true, false, false, true]);
  });

  it('skips a Pod that is starting, starts running or loses its tracking finalizer, not a stuck start, a result or a rejection', () => {
    expect(pods.slice(1).map((after, i) => podChangeMatters(pods[i], after))).toEqual([false, true, true, true, false, true]);
    expect(podChangeMatters(pods[2]!, pods[3]!)).toBe(true);
    expect(podChangeMatters(pods[1]!, pods[3]!)).toBe(false);
    expect(podChangeMatters(undefined, podBase)).toBe(true);
  });

  it('observes and filters the slim objects the caches keep as it would the whole ones', () => {
    for (const j of jobs) for (const p of pods) expect(observed(slimJob(j), slimPod(p))).toBe(observed(j, p));
    for (const j1 of jobs) for (const j2 of jobs) expect(jobChangeMatters(slimJob(j1), slimJob(j2))).toBe(jobChangeMatters(j1, j2));
    for (const p1 of pods) for (const p2 of pods) expect(podChangeMatters(slimPod(p1), slimPod(p2))).toBe(podChangeMatters(p1, p2));
  });

  it('never skips an update that changes what the planner observes of the Job', () => {
    for (const j1 of jobs) for (const j2 of jobs) for (const p1 of pods) for (const p2 of pods) {
      if (jobChangeMatters(j1, j2) || podChangeMatters(p1, p2)) continue;
      expect(observed(j2, p2)).toBe(observed(j1, p1));
    }
  });
});
