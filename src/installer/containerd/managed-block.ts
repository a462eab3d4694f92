import { InstallerError } from '../errors.ts';

// The marked block shimkeeper owns in containerd's config:
//
//   # shimkeeper:begin <shim> (managed by shimkeeper; edits inside are replaced)
//   # shimkeeper:undo <base64 of {"separator", "displaced", "created"}>
//   [...runtimes.<handler>] …
//   # shimkeeper:end <shim>
//
// The undo line makes the block self-describing: it carries what the edit displaced (a
// hand-written stanza for the handler, or the separator put before an appended block) in the very
// write that puts the block in, so the file always knows how to undo itself, whatever happened to
// the installer (a kill at any instant) or to state.json.

/** What an install replaced, so that uninstall can restore the original bytes. */
export interface SpliceRecord {
  /** Text inserted before the block when it was appended (a newline or a blank line). */
  separator: string;
  /** The user's own stanza for this handler that the block replaced, verbatim ('' when none). */
  displaced: string;
}

/** The record a block carries: the splice, and whether shimkeeper created the file. */
export interface BlockRecord extends SpliceRecord {
  created: boolean;
}

export interface BlockLocation {
  start: number;
  end: number;
}

export const beginMarker = (shim: string) => `# shimkeeper:begin ${shim} (managed by shimkeeper; edits inside are replaced)`;
export const endMarker = (shim: string) => `# shimkeeper:end ${shim}`;
const UNDO_PREFIX = '# shimkeeper:undo ';

export function undoLine(record: BlockRecord): string {
  const json = JSON.stringify({ separator: record.separator, displaced: record.displaced, created: record.created });
  return `${UNDO_PREFIX}${Buffer.from(json, 'utf8').toString('base64')}`;
}

/** The undo record inside the block at `block`, or null for a block written before it existed. */
export function readBlockRecord(text: string, block: BlockLocation, shim: string): BlockRecord | null {
  const inside = text.slice(block.start, block.end);
  const line = inside.split('\n').find((l) => l.startsWith(UNDO_PREFIX));
  if (line === undefined) return null;
  try {
    const value = JSON.parse(Buffer.from(line.slice(UNDO_PREFIX.length).trim(), 'base64').toString('utf8')) as Record<string, unknown>;
    if (typeof value['separator'] === 'string' && typeof value['displaced'] === 'string' && typeof value['created'] === 'boolean') {
      return { separator: value['separator'], displaced: value['displaced'], created: value['created'] };
    }
  } catch {
    // reported below
  }
  throw new InstallerError('ConfigCorrupt', `the undo line of the shimkeeper block for ${shim} was altered and cannot be read; restore it from a backup in the install dir's backups/, or remove the block by hand`);
}

export function findManagedBlock(text: string, shim: string): BlockLocation | null {
  const begin = locateMarkerLine(text, beginMarker(shim), 0);
  if (!begin) return null;
  const end = locateMarkerLine(text, endMarker(shim), begin.end);
  if (!end) {
    throw new InstallerError('ConfigCorrupt', `the shimkeeper block for ${shim} has a begin marker but no end marker; fix the file by hand`);
  }
  return { start: begin.start, end: end.end };
}

/** Every shimkeeper block in the file, by shim name. */
export function listManagedBlocks(text: string): Array<{ shim: string; location: BlockLocation }> {
  const blocks: Array<{ shim: string; location: BlockLocation }> = [];
  for (const match of text.matchAll(/^# shimkeeper:begin (\S+) \(managed by shimkeeper/gm)) {
    const shim = match[1]!;
    const location = findManagedBlock(text.slice(match.index), shim);
    if (location) blocks.push({ shim, location: { start: location.start + match.index, end: location.end + match.index } });
  }
  return blocks;
}

function locateMarkerLine(text: string, marker: string, from: number): BlockLocation | null {
  let index = text.indexOf(marker, from);
  while (index !== -1) {
    const atLineStart = index === 0 || text[index - 1] === '\n';
    const lineBreak = text.indexOf('\n', index);
    const lineEnd = lineBreak === -1 ? text.length : lineBreak + 1;
    const restOfLine = text.slice(index + marker.length, lineEnd).trim();
    if (atLineStart && restOfLine === '') return { start: index, end: lineEnd };
    index = text.indexOf(marker, index + 1);
  }
  return null;
}
