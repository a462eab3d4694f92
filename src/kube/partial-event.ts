// A watch event read for only the members a cache keeps (informer.ts, InformerSpec.reads). An
// installer Job or Pod is 5-7 KB of JSON and a Node 10-15 KB, most of it managedFields, the spec
// and (for a Node) its images, none of which the controller keeps; JSON.parse builds all of it,
// and the garbage collector then takes it apart again. Here the kept pieces are found with
// Buffer.indexOf (native, a small fraction of JSON.parse's cost per byte; a JavaScript loop over
// the bytes costs a third of it here) and only they are parsed: the metadata before its
// managedFields, and the status, whole or one of its members.
//
// It relies on how the API server writes objects, as Go encodes its structs: compact JSON, the
// event's type before its object, metadata first with managedFields its last member (Go declares
// it last in ObjectMeta), and status the object's last member. Each piece is cut so that a wrong
// guess about its bounds leaves text JSON.parse refuses (an object closed early, or one closing
// more than it opens): the event is then parsed whole, never read wrong.

import { memberToken, memberValue } from './raw-json.ts';
import type { WatchEventLine } from './watch-stream.ts';

export interface PartialRead {
  /**
   * The one status member the cache keeps, found as the first member of that name after the
   * metadata (so it must be one no spec member or earlier status member can be named); absent:
   * the whole status.
   */
  statusMember?: string;
  /**
   * The spec cannot change once created (a Job's Pod template): the informer takes it from the
   * cached version with the same uid, and parses an object it has not cached whole.
   */
  immutableSpec?: boolean;
}

const EVENT_START = Buffer.from('{"type":"');
const OBJECT_START = Buffer.from('","object":{');
const METADATA = memberToken('metadata', 'object');
const MANAGED_FIELDS = Buffer.from(',"managedFields":[');
const STATUS = Buffer.from(',"status":{');
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
/** The events that carry an object of the watched kind (an ERROR carries a Status, a BOOKMARK only a version). */
const OBJECT_EVENTS = new Set(['ADDED', 'MODIFIED', 'DELETED']);
const statusTokens = new Map<string, Buffer>();

/**
 * The event with an object of metadata (without managedFields) and status (as `read` asks), or
 * undefined when the bytes are not what this reads: the caller parses them whole.
 */
export function readPartialEvent(line: Buffer, read: PartialRead): WatchEventLine | undefined {
  if (!startsWith(line, EVENT_START, 0)) return undefined;
  const typeEnd = line.indexOf(QUOTE, EVENT_START.length);
  const type = line.toString('latin1', EVENT_START.length, typeEnd);
  if (!OBJECT_EVENTS.has(type) || !startsWith(line, OBJECT_START, typeEnd)) return undefined;
  try {
    // The object's first member holding an object is its metadata (after kind and apiVersion).
    const metadataOpen = line.indexOf(OPEN_BRACE, typeEnd + OBJECT_START.length);
    if (!startsWith(line, METADATA, metadataOpen - METADATA.length + 1)) return undefined;
    const cut = line.indexOf(MANAGED_FIELDS, metadataOpen);
    if (cut < 0) return undefined;
    // Closed where managedFields starts; were that another object's managedFields, the metadata
    // would close before it and the text would not be one object.
    const metadata = JSON.parse(`${line.toString('utf8', metadataOpen, cut)}}`) as Record<string, unknown>;
    const status = read.statusMember ? statusMember(line, read.statusMember, cut) : wholeStatus(line);
    return status === undefined ? undefined : { type, object: { metadata, status } as WatchEventLine['object'] };
  } catch {
    return undefined;
  }
}

function startsWith(line: Buffer, bytes: Buffer, at: number): boolean {
  return at + bytes.length <= line.length && line.compare(bytes, 0, bytes.length, at, at + bytes.length) === 0;
}

/** `{member: value}`, or `{}` without one; undefined when its value does not end. */
function statusMember(line: Buffer, member: string, from: number): Record<string, unknown> | undefined {
  let token = statusTokens.get(member);
  if (!token) statusTokens.set(member, (token = memberToken(member, 'object')));
  const value = memberValue(line, token, from);
  if (value === undefined) return undefined;
  return value === null ? {} : { [member]: JSON.parse(value.toString('utf8')) };
}

/** The object's status, its last member: from the last `,"status":{` to the end of the event. */
function wholeStatus(line: Buffer): unknown {
  const at = line.lastIndexOf(STATUS);
  const end = line.length - 2;
  if (at < 0 || line[end] !== CLOSE_BRACE || line[end + 1] !== CLOSE_BRACE) return undefined;
  // Were this a `"status"` nested in another member, the piece would close more than it opens and
  // JSON.parse would throw; it parses exactly when it is the object's own status.
  return JSON.parse(line.toString('utf8', at + STATUS.length - 1, end));
}
