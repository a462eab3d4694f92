// Watch events read for only what the caches keep (kube/partial-event.ts): for Nodes, installer
// Jobs and Pods serialized as the API server writes them, the slim object from a partial read is
// the slim object of the whole event; bytes it cannot read with certainty are left to JSON.parse
// (undefined), never read wrong. The real API server's own bytes: test/integration/informer.test.ts.
import type { KubernetesObject, V1Job, V1Node, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { installerJob } from '../../src/controller/installer-job/spec.ts';
import { shimOwnerReference } from '../../src/controller/owner-reference.ts';
import { JOB_READS, NODE_READS, POD_READS, slimJob, slimNode, slimPod } from '../../src/controller/shell/slim.ts';
import { readPartialEvent, type PartialRead } from '../../src/kube/partial-event.ts';
import { kubeletNodeObject, kubeletNodeStatus } from '../harness/kubelet-like-node.ts';
import { pick, random } from './random.ts';

/** ObjectMeta's members in the order Go declares (and the API server writes) them. */
const METADATA_ORDER = ['name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields'];

function ordered<T extends KubernetesObject>(kind: string, apiVersion: string, obj: T & { spec?: unknown; status?: unknown }): Record<string, unknown> {
  const metadata = Object.fromEntries(METADATA_ORDER.filter((key) => (obj.metadata as Record<string, unknown>)?.[key] !== undefined).map((key) => [key, (obj.metadata as Record<string, unknown>)[key]]));
  return { kind, apiVersion, metadata, ...(obj.spec !== undefined ? { spec: obj.spec } : {}), status: obj.status ?? {} };
}

const line = (type: string, object: unknown) => Buffer.from(JSON.stringify({ type, object }));

function managedFields(manager: string, subresource?: string) {
  return [
    { manager, operation: 'Update', apiVersion: 'v1', time: '2026-12-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:template': {} }, 'f:status': { 'f:conditions': {} } }, ...(subresource ? { subresource } : {}) },
  ];
}

function nodeObject(note = 'n'): Record<string, unknown> {
  const base = kubeletNodeObject('worker-3', 3, { pool: 'wasm' });
  return ordered('Node', 'v1', {
    ...base,
    metadata: { ...base.metadata, uid: 'u-3', resourceVersion: '42', creationTimestamp: '2026-12-01T00:00:00Z' as unknown as Date, annotations: { ...base.metadata!.annotations, 'spin.shim.runtime.shimkeeper.dev/status': JSON.stringify({ state: 'installed', message: note }) }, managedFields: managedFields('kubelet') as never },
    status: kubeletNodeStatus('worker-3', 3),
  } as V1Node);
}

function jobObject(message = 'done'): Record<string, unknown> {
  const job = installerJob(
    { type: 'createJob', node: 'worker-3', jobName: 'spin-install-abc', action: 'install', revision: 'r1', shim: 'spin', handler: 'spin', runtimeOptions: {}, artifact: { url: 'https://example.com/shim.tar.gz', sha256: 'a'.repeat(64) } } as never,
    { namespace: 'shimkeeper-system', image: 'installer:dev', owner: shimOwnerReference({ metadata: { name: 'spin', uid: 'uid-1' } }) },
  );
  return ordered('Job', 'batch/v1', {
    ...job,
    metadata: { ...job.metadata, uid: 'j-1', resourceVersion: '77', generation: 1, creationTimestamp: '2026-12-01T00:00:01Z' as unknown as Date, managedFields: managedFields('shimkeeper') as never },
    status: { conditions: [{ type: 'Complete', status: 'True', lastProbeTime: '2026-12-01T00:00:09Z', lastTransitionTime: '2026-12-01T00:00:09Z', message }], startTime: '2026-12-01T00:00:01Z', completionTime: '2026-12-01T00:00:09Z', succeeded: 1, ready: 0, terminating: 0, uncountedTerminatedPods: {} } as never,
  } as V1Job);
}

function podObject(message = '{"ok":true}'): Record<string, unknown> {
  const job = jobObject() as unknown as V1Job;
  return ordered('Pod', 'v1', {
    metadata: { name: 'spin-install-abc-x1', generateName: 'spin-install-abc-', namespace: 'shimkeeper-system', uid: 'p-1', resourceVersion: '80', creationTimestamp: '2026-12-01T00:00:01Z' as unknown as Date, labels: { ...job.spec!.template.metadata!.labels, 'batch.kubernetes.io/controller-uid': 'j-1', 'batch.kubernetes.io/job-name': 'spin-install-abc' }, annotations: job.spec!.template.metadata!.annotations ?? {}, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'spin-install-abc', uid: 'j-1', controller: true, blockOwnerDeletion: true }], finalizers: ['batch.kubernetes.io/job-tracking'], managedFields: [...managedFields('kube-controller-manager'), ...managedFields('kubelet', 'status')] as never },
    spec: { ...job.spec!.template.spec, nodeName: 'worker-3' },
    status: {
      phase: 'Succeeded',
      conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: '2026-12-01T00:00:08Z', reason: 'PodCompleted' }],
      hostIP: '10.1.0.3',
      startTime: '2026-12-01T00:00:02Z',
      containerStatuses: [{ name: 'installer', state: { terminated: { exitCode: 0, reason: 'Completed', message, startedAt: '2026-12-01T00:00:03Z', finishedAt: '2026-12-01T00:00:08Z', containerID: 'containerd://abc' } }, lastState: {}, ready: false, restartCount: 0, image: 'installer:dev', imageID: 'sha256:abc', started: false }],
      qosClass: 'BestEffort',
    },
  } as unknown as V1Pod);
}

const KINDS: Array<{ kind: string; make: (text?: string) => Record<string, unknown>; read: PartialRead; slim: (obj: never) => unknown }> = [
  { kind: 'Node', make: nodeObject, read: NODE_READS, slim: slimNode as (obj: never) => unknown },
  { kind: 'Job', make: jobObject, read: JOB_READS, slim: slimJob as (obj: never) => unknown },
  { kind: 'Pod', make: podObject, read: POD_READS, slim: slimPod as (obj: never) => unknown },
];

/**
 * The slim object a partial read gives, and the one parsing the whole event gives. A spec that
 * cannot change comes from the cached version (kube/informer.ts): here, the whole event's.
 */
function bothWays(bytes: Buffer, read: PartialRead, slim: (obj: never) => unknown): { partial: unknown; whole: unknown; type?: string } {
  const event = readPartialEvent(bytes, read);
  const whole = JSON.parse(bytes.toString('utf8')) as { type: string; object: { spec?: unknown } };
  const cachedSpec = read.immutableSpec ? { spec: (slim(whole.object as never) as { spec?: unknown }).spec } : {};
  return { partial: event ? slim({ ...event.object, ...cachedSpec } as never) : undefined, whole: slim(whole.object as never), ...(event ? { type: event.type } : {}) };
}

/** Strings with JSON's awkward characters and pieces of the tokens the reader looks for. */
function awkward(next: () => number): string {
  const pieces = ['a', '"', '\\', '{', '}', '[', ']', ':', ',', '\n', 'é', '😀', '"status":{', ',"status":{"x":1}}', '"managedFields":[', '}}', '"nodeName":"evil"', '\\"'];
  return Array.from({ length: Math.floor(next() * 10) }, () => pick(next, pieces)).join('');
}

describe('readPartialEvent', () => {
  for (const { kind, make, read, slim } of KINDS) {
    it(`reads a ${kind} event to the same slim object as JSON.parse, for every event type`, () => {
      for (const type of ['ADDED', 'MODIFIED', 'DELETED']) {
        const { partial, whole, type: readType } = bothWays(line(type, make()), read, slim);
        expect(partial).toBeDefined();
        expect(partial).toEqual(whole);
        expect(readType).toBe(type);
      }
    });

    it(`reads a ${kind} with awkward strings in its labels, annotations, managedFields and status right, or not at all`, () => {
      const next = random(kind.length * 31);
      let read_ = 0;
      for (let i = 0; i < 300; i++) {
        const object = make(awkward(next)) as { metadata: Record<string, unknown> & { labels?: Record<string, string>; annotations?: Record<string, string>; managedFields?: unknown[] } };
        object.metadata.labels = { ...object.metadata.labels, [awkward(next)]: awkward(next) };
        object.metadata.annotations = { ...object.metadata.annotations, [awkward(next)]: awkward(next) };
        object.metadata.managedFields = [...(object.metadata.managedFields ?? []), { manager: awkward(next), fieldsV1: { [`f:${awkward(next)}`]: {} } }];
        const { partial, whole } = bothWays(line('MODIFIED', object), read, slim);
        if (partial !== undefined) {
          read_++;
          expect(partial).toEqual(whole);
        }
      }
      expect(read_).toBeGreaterThan(250);
    });
  }

  it('reads keys and values with escapes in the metadata', () => {
    const bytes = Buffer.from(line('MODIFIED', podObject()).toString().replace('"uid"', '"u\\u0069d"').replace('"p-1"', '"p\\u002d1"'));
    const { partial, whole } = bothWays(bytes, POD_READS, slimPod as (obj: never) => unknown);
    expect((partial as V1Pod).metadata?.uid).toBe('p-1');
    expect(partial).toEqual(whole);
  });

  it('leaves to JSON.parse what it cannot read with certainty', () => {
    const pod = podObject();
    const { status, ...withoutStatus } = pod;
    const { spec, ...withoutSpecOrStatus } = withoutStatus;
    const cases: Array<[string, Buffer]> = [
      ['indented JSON', Buffer.from(JSON.stringify({ type: 'MODIFIED', object: pod }, null, 1))],
      ['an ERROR event', line('ERROR', { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code: 410 })],
      ['a BOOKMARK', line('BOOKMARK', { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: '9' } })],
      ['a status before the spec', line('MODIFIED', { ...withoutSpecOrStatus, status, spec })],
      ['no status', line('MODIFIED', withoutStatus)],
      ['a status whose own member is named status', line('MODIFIED', { ...pod, status: { ...(status as object), extra: { first: 1, status: { phase: 'x' } } } })],
      ['a cut-off event', line('MODIFIED', pod).subarray(0, 400)],
      ['metadata without managedFields', line('MODIFIED', { ...pod, metadata: { name: 'p' } })],
      ['metadata with only managedFields', line('MODIFIED', { ...pod, metadata: { managedFields: [] } })],
      ['no metadata', line('MODIFIED', { kind: 'Pod', status })],
      ['metadata only in the spec', line('MODIFIED', { kind: 'Job', spec: { template: { metadata: (pod as { metadata: unknown }).metadata } }, status })],
      ['a few bytes', Buffer.from('{"ty')],
      ['only a type', Buffer.from('{"type":"MODIFIED"')],
      ['the type after the object', Buffer.from(JSON.stringify({ object: pod, type: 'MODIFIED' }))],
    ];
    for (const [what, bytes] of cases) expect(readPartialEvent(bytes, POD_READS), what).toBeUndefined();
  });

});
