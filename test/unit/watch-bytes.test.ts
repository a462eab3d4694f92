// Reading watch events from their bytes: lines cut from chunks (watch-stream.ts), members read
// without parsing (raw-json.ts), a Node event's fingerprint (node-fingerprint.ts) and the read
// coalescer's pause/resume rhythm (coalesced-reads.ts).
import type { V1Node } from '@kubernetes/client-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { nodeFingerprints } from '../../src/controller/shell/node-fingerprint.ts';
import { slimNode } from '../../src/controller/shell/slim.ts';
import { ReadCoalescer, type Pausable } from '../../src/kube/coalesced-reads.ts';
import { memberToken, memberValue } from '../../src/kube/raw-json.ts';
import { lineSplitter } from '../../src/kube/watch-stream.ts';
import { kubeletConditions, kubeletNodeObject, kubeletNodeStatus } from '../harness/kubelet-like-node.ts';

/** A small seeded generator, so a failing case can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Strings with JSON's awkward characters: quotes, backslashes, braces, brackets, escapes, non-ASCII. */
function awkwardString(next: () => number): string {
  const alphabet = ['a', 'Z', '0', '"', '\\', '{', '}', '[', ']', ':', ',', '\n', '\u2028', 'é', '😀', '<', '&', ' ', '"labels":{', '\\"'];
  return Array.from({ length: Math.floor(next() * 12) }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
}

describe('lineSplitter', () => {
  it('yields each non-empty line whole, however the chunks cut the bytes', () => {
    const text = '{"a":1}\n\n{"b":"é😀"}\n{"c":[1,2,3]}\n';
    const bytes = Buffer.from(text);
    for (let cut = 1; cut < bytes.length; cut++) {
      for (const size of [1, 3, 7]) {
        const lines: string[] = [];
        const split = lineSplitter((line) => lines.push(line.toString('utf8')));
        split(bytes.subarray(0, cut));
        for (let at = cut; at < bytes.length; at += size) split(bytes.subarray(at, Math.min(bytes.length, at + size)));
        expect(lines).toEqual(['{"a":1}', '{"b":"é😀"}', '{"c":[1,2,3]}']);
      }
    }
  });
});

describe('memberValue', () => {
  const labels = memberToken('labels', 'object');
  const name = memberToken('name', 'string');

  it('reads an object with braces and quotes inside its strings, and a plain string', () => {
    const json = Buffer.from(JSON.stringify({ metadata: { name: 'n1', labels: { a: 'x}"{\\', b: '}' } }, rest: 1 }));
    expect(JSON.parse(memberValue(json, labels)!.toString())).toEqual({ a: 'x}"{\\', b: '}' });
    expect(memberValue(json, name)!.toString()).toBe('n1');
  });

  it('does not take text inside a string for a member', () => {
    const json = Buffer.from(JSON.stringify({ annotations: { note: '"labels":{"x":"y"}' } }));
    expect(memberValue(json, labels)).toBeNull();
  });

  it('says it cannot tell for an unterminated object or a string with escapes', () => {
    expect(memberValue(Buffer.from('{"labels":{"a":"b"'), labels)).toBeUndefined();
    expect(memberValue(Buffer.from('{"name":"a\\"b"}'), name)).toBeUndefined();
  });

  it('finds, for random objects, exactly what JSON.parse finds', () => {
    const next = random(7);
    for (let i = 0; i < 500; i++) {
      const value = Object.fromEntries(Array.from({ length: Math.floor(next() * 4) }, () => [awkwardString(next), awkwardString(next)]));
      const json = Buffer.from(JSON.stringify({ before: awkwardString(next), labels: value, after: { labels: 'not this one' } }));
      expect(JSON.parse(memberValue(json, labels)!.toString('utf8'))).toEqual(value);
    }
  });
});

function node(overrides: { labels?: Record<string, string>; annotations?: Record<string, string>; bootID?: string; deleting?: boolean; heartbeat?: string; resourceVersion?: string } = {}): V1Node {
  const base = kubeletNodeObject('worker-7', 7, overrides.labels ?? { pool: 'wasm' });
  const status = kubeletNodeStatus('worker-7', 7)!;
  if (overrides.heartbeat) status.conditions = kubeletConditions(overrides.heartbeat, '2026-12-01T00:00:00Z');
  if (overrides.bootID) status.nodeInfo = { ...status.nodeInfo!, bootID: overrides.bootID };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    ...base,
    metadata: {
      name: 'worker-7',
      uid: 'uid-7',
      resourceVersion: overrides.resourceVersion ?? '100',
      creationTimestamp: new Date('2026-12-01T00:00:00Z'),
      ...(overrides.deleting ? { deletionTimestamp: new Date('2026-12-01T01:00:00Z') } : {}),
      labels: base.metadata!.labels!,
      annotations: overrides.annotations ?? { 'node.alpha.kubernetes.io/ttl': '0' },
      managedFields: [{ manager: 'kubelet', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:pool': {} } } }, time: new Date() }],
    },
    status,
  } as V1Node;
}

/** The bytes of a watch event, serialized as the API server does: kind, apiVersion, then metadata. */
const eventBytes = (type: string, obj: V1Node) => Buffer.from(JSON.stringify({ type, object: { kind: 'Node', apiVersion: 'v1', ...JSON.parse(JSON.stringify(obj)) } }));
const listed = (obj: V1Node) => JSON.parse(JSON.stringify(obj)) as V1Node;

describe('nodeFingerprints', () => {
  it('gives an event the digest of the listed Node it carries, with its key and resourceVersion', () => {
    const fingerprint = nodeFingerprints.ofEvent(eventBytes('MODIFIED', node()));
    expect(fingerprint).toEqual({ name: 'worker-7', resourceVersion: '100', digest: nodeFingerprints.ofObject(listed(node())) });
    expect(nodeFingerprints.ofEvent(eventBytes('ADDED', node()))?.digest).toBe(fingerprint?.digest);
  });

  it('is the same across heartbeats, new resourceVersions and managedFields, which slimNode drops', () => {
    const before = nodeFingerprints.ofEvent(eventBytes('MODIFIED', node()))!;
    const heartbeat = nodeFingerprints.ofEvent(eventBytes('MODIFIED', node({ heartbeat: '2026-12-01T05:00:00Z', resourceVersion: '101' })))!;
    expect(heartbeat.digest).toBe(before.digest);
    expect(heartbeat.resourceVersion).toBe('101');
  });

  it('changes with everything slimNode keeps', () => {
    const digest = (n: V1Node) => nodeFingerprints.ofEvent(eventBytes('MODIFIED', n))!.digest;
    const original = digest(node());
    const changed = [
      node({ labels: { pool: 'other' } }),
      node({ annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'runtime.shimkeeper.dev/shims': 'spin' } }),
      node({ bootID: 'rebooted' }),
      node({ deleting: true }),
      { ...node(), metadata: { ...node().metadata, uid: 'uid-8' } },
      { ...node(), status: { ...node().status, nodeInfo: { ...node().status!.nodeInfo!, containerRuntimeVersion: 'containerd://2.2.0' } } },
    ];
    for (const variant of changed) expect(digest(variant)).not.toBe(original);
  });

  it('matches a listed Node for random labels and annotations, and never equal digests for different slim Nodes', () => {
    const next = random(11);
    const digests = new Map<string, string>();
    for (let i = 0; i < 300; i++) {
      const annotations = Object.fromEntries(Array.from({ length: Math.floor(next() * 4) }, () => [`runtime.shimkeeper.dev/${awkwardString(next)}`, awkwardString(next)]));
      const variant = node({ annotations, labels: { pool: String(Math.floor(next() * 3)) } });
      const fingerprint = nodeFingerprints.ofEvent(eventBytes('MODIFIED', variant));
      expect(fingerprint?.digest).toBe(nodeFingerprints.ofObject(listed(variant)));
      const slim = JSON.stringify(slimNode(listed(variant)));
      const seen = digests.get(fingerprint!.digest);
      if (seen !== undefined) expect(slim).toBe(seen);
      digests.set(fingerprint!.digest, slim);
    }
  });

  it('gives no fingerprint to what it cannot read with certainty', () => {
    expect(nodeFingerprints.ofEvent(eventBytes('DELETED', node()))).toBeUndefined();
    expect(nodeFingerprints.ofEvent(Buffer.from('{"type":"BOOKMARK","object":{"kind":"Node","apiVersion":"v1","metadata":{"resourceVersion":"5"}}}'))).toBeUndefined();
    expect(nodeFingerprints.ofEvent(Buffer.from('{"type":"MODIFIED","object":{"kind":"Node","apiVersion":"v1","metadata":{"name":"a","resourceVersion":"5","labels":{"x":"y"'))).toBeUndefined();
    // Pretty-printed JSON is not what the server sends: parsed as usual.
    expect(nodeFingerprints.ofEvent(Buffer.from(JSON.stringify({ type: 'MODIFIED', object: { kind: 'Node', apiVersion: 'v1', metadata: { name: 'a' } } }, null, 1)))).toBeUndefined();
  });
});

describe('ReadCoalescer', () => {
  afterEach(() => vi.useRealTimers());

  function controller(): Pausable & { log: string[] } {
    const log: string[] = [];
    let paused = false;
    return {
      log,
      get paused() {
        return paused;
      },
      pause: () => {
        paused = true;
        log.push('pause');
      },
      resume: () => {
        paused = false;
        log.push('resume');
      },
    };
  }

  it('handles the first event at once, then pauses reading for the interval, and drains after resuming', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'performance'] });
    const coalescer = new ReadCoalescer(500);
    const reads = controller();
    coalescer.handled(reads);
    coalescer.handled(reads); // a second event of the same read
    expect(reads.log).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(reads.log).toEqual(['pause']);
    await vi.advanceTimersByTimeAsync(498);
    expect(reads.log).toEqual(['pause']);
    await vi.advanceTimersByTimeAsync(1);
    expect(reads.log).toEqual(['pause', 'resume']);
    // What queued up during the pause is read without pausing again.
    coalescer.handled(reads);
    await vi.advanceTimersByTimeAsync(5);
    expect(reads.log).toEqual(['pause', 'resume']);
    // The next event after the drain starts the next round.
    await vi.advanceTimersByTimeAsync(100);
    coalescer.handled(reads);
    await vi.advanceTimersByTimeAsync(1);
    expect(reads.log).toEqual(['pause', 'resume', 'pause']);
    coalescer.stop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(reads.log).toEqual(['pause', 'resume', 'pause']);
  });

  it('reads at once when asked to catch up, and not again when the interval ends', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'performance'] });
    const coalescer = new ReadCoalescer(500);
    const reads = controller();
    coalescer.resumeNow(); // not paused: nothing to do
    coalescer.handled(reads);
    await vi.advanceTimersByTimeAsync(1);
    coalescer.resumeNow();
    expect(reads.log).toEqual(['pause', 'resume']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(reads.log).toEqual(['pause', 'resume']);
  });

  it('resumes reads paused within the same beat together', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'performance'] });
    await vi.advanceTimersByTimeAsync(50 - (performance.now() % 50)); // on a beat
    const [first, second] = [new ReadCoalescer(100), new ReadCoalescer(100)];
    const [job, pod] = [controller(), controller()];
    await vi.advanceTimersByTimeAsync(5);
    first.handled(job);
    await vi.advanceTimersByTimeAsync(30);
    second.handled(pod);
    await vi.advanceTimersByTimeAsync(1);
    expect([job.log, pod.log]).toEqual([['pause'], ['pause']]);
    // Paused 5 and 35 ms past a beat: both resume on the first beat at least 100 ms after the later pause.
    await vi.advanceTimersByTimeAsync(113);
    expect([job.log, pod.log]).toEqual([['pause'], ['pause']]);
    await vi.advanceTimersByTimeAsync(1);
    expect([job.log, pod.log]).toEqual([['pause', 'resume'], ['pause', 'resume']]);
  });

  it('never pauses with no interval', async () => {
    const coalescer = new ReadCoalescer(0);
    const reads = controller();
    coalescer.handled(reads);
    await new Promise((resolve) => setImmediate(resolve));
    expect(reads.log).toEqual([]);
  });
});
