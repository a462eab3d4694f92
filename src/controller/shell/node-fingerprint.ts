// A Node's fingerprint (kube/informer.ts skips parsing a watch event whose fingerprint equals the
// cached Node's). Every kubelet updates its Node's status every few minutes (and its conditions'
// heartbeat times with it): 11 KB of JSON that changes nothing slimNode keeps. The digest covers a
// superset of what slimNode keeps, the resourceVersion aside: the uid, deletionTimestamp, labels,
// all annotations and status.nodeInfo, so equal digests mean equal slim Nodes. It is computed from
// an event's bytes as the API server wrote them, or from a listed Node re-serialized the same way;
// where the two serializations differ (escapes), the digests differ and the event is parsed, which
// is only slower. An event it cannot read with certainty has no fingerprint and is parsed.

import type { V1Node } from '@kubernetes/client-node';
import { hash } from 'node:crypto';
import type { EventFingerprint, Fingerprints } from '../../kube/informer.ts';
import { memberToken, memberValue } from '../../kube/raw-json.ts';

const EVENT_PREFIXES = ['ADDED', 'MODIFIED'].map((type) => Buffer.from(`{"type":"${type}","object":{"kind":"Node","apiVersion":"v1","metadata":{"name":"`));
const NAME = memberToken('name', 'string');
const RESOURCE_VERSION = memberToken('resourceVersion', 'string');

/** The digested members: each one's first occurrence in a Node's JSON is the one named here. */
const SECTIONS: ReadonlyArray<{ token: Buffer; of: (node: V1Node) => unknown }> = [
  { token: memberToken('uid', 'string'), of: (node) => node.metadata?.uid },
  { token: memberToken('deletionTimestamp', 'string'), of: (node) => node.metadata?.deletionTimestamp },
  { token: memberToken('labels', 'object'), of: (node) => node.metadata?.labels },
  { token: memberToken('annotations', 'object'), of: (node) => node.metadata?.annotations },
  { token: memberToken('nodeInfo', 'object'), of: (node) => node.status?.nodeInfo },
];
const SEPARATOR = Buffer.from([0]);
const ABSENT = Buffer.from([1]);

const digest = (parts: Buffer[]) => hash('sha256', Buffer.concat(parts), 'base64');

function ofEvent(event: Buffer): EventFingerprint | undefined {
  const prefix = EVENT_PREFIXES.find((candidate) => event.subarray(0, candidate.length).equals(candidate));
  if (!prefix) return undefined;
  const name = memberValue(event, NAME, prefix.length - NAME.length);
  const resourceVersion = memberValue(event, RESOURCE_VERSION);
  if (!name || !resourceVersion) return undefined;
  const parts: Buffer[] = [];
  for (const { token } of SECTIONS) {
    const value = memberValue(event, token);
    if (value === undefined) return undefined;
    parts.push(value ?? ABSENT, SEPARATOR);
  }
  return { name: name.toString(), resourceVersion: resourceVersion.toString(), digest: digest(parts) };
}

function ofObject(node: V1Node): string {
  const parts: Buffer[] = [];
  for (const { of } of SECTIONS) {
    const value = of(node);
    // A string member's bytes are its contents; an object's, its JSON.
    parts.push(value === undefined ? ABSENT : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)), SEPARATOR);
  }
  return digest(parts);
}

export const nodeFingerprints: Fingerprints<V1Node> = { ofEvent, ofObject };
