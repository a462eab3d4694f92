// A line scanner for TOML table headers. Editing containerd's config must keep every byte the
// user wrote, so instead of re-serialising a parsed document we find the exact byte ranges of
// tables and splice text. A full parser (smol-toml) then checks the result semantically.

export interface TableHeader {
  /** The dotted key of the header, unquoted: `[plugins."a.b".c]` → ['plugins', 'a.b', 'c']. */
  keyPath: string[];
  isArrayTable: boolean;
  /** Offset of the first character of the header's line. */
  lineStart: number;
  /** Offset just past the end of the last line that holds a key, value or header of this table. */
  contentEnd: number;
  /** Offset of the next header's line (or the end of the text). */
  nextTableStart: number;
}

type MultilineDelimiter = '"""' | "'''";

/** Lists the table headers of a TOML document in order, skipping anything inside multi-line strings. */
export function scanTableHeaders(text: string): TableHeader[] {
  const headers: TableHeader[] = [];
  let openMultiline: MultilineDelimiter | null = null;
  let offset = 0;
  let lastContentEnd = 0;
  let current: TableHeader | null = null;

  const closeCurrent = (nextStart: number) => {
    if (current) {
      current.contentEnd = lastContentEnd;
      current.nextTableStart = nextStart;
      headers.push(current);
    }
  };

  while (offset < text.length) {
    const newline = text.indexOf('\n', offset);
    const lineEnd = newline === -1 ? text.length : newline + 1;
    const line = text.slice(offset, lineEnd);
    const contentEndOfLine = offset + line.replace(/\r?\n$/, '').length;

    if (openMultiline) {
      openMultiline = scanLine(line, openMultiline);
      lastContentEnd = contentEndOfLine;
    } else {
      const trimmed = line.trimStart();
      if (trimmed.startsWith('[')) {
        closeCurrent(offset);
        const { keyPath, isArrayTable } = parseHeader(trimmed, offset);
        current = { keyPath, isArrayTable, lineStart: offset, contentEnd: 0, nextTableStart: 0 };
        lastContentEnd = contentEndOfLine;
      } else if (trimmed !== '' && !trimmed.startsWith('#') && trimmed.trim() !== '') {
        openMultiline = scanLine(line, null);
        lastContentEnd = contentEndOfLine;
      }
    }
    offset = lineEnd;
  }
  closeCurrent(text.length);
  return headers;
}

/** Walks one line's strings and comments; returns the multi-line delimiter still open at its end. */
function scanLine(line: string, open: MultilineDelimiter | null): MultilineDelimiter | null {
  let i = 0;
  while (i < line.length) {
    if (open) {
      const close = findMultilineClose(line, i, open);
      if (close === -1) return open;
      i = close;
      open = null;
      continue;
    }
    const ch = line[i];
    if (ch === '#') return null;
    if (line.startsWith('"""', i) || line.startsWith("'''", i)) {
      open = line.slice(i, i + 3) as MultilineDelimiter;
      i += 3;
      continue;
    }
    if (ch === '"' || ch === "'") {
      i = skipSingleLineString(line, i);
      continue;
    }
    i += 1;
  }
  return open;
}

function findMultilineClose(line: string, from: number, delimiter: MultilineDelimiter): number {
  let i = from;
  while (i < line.length) {
    if (delimiter === '"""' && line[i] === '\\') {
      i += 2;
      continue;
    }
    if (line.startsWith(delimiter, i)) {
      // Up to two extra quotes may close a multi-line string (`""""` ends with a quote in it).
      let end = i + 3;
      while (end < line.length && line[end] === delimiter[0] && end < i + 5) end += 1;
      return end;
    }
    i += 1;
  }
  return -1;
}

function skipSingleLineString(line: string, start: number): number {
  const quote = line[start];
  let i = start + 1;
  while (i < line.length && line[i] !== quote && line[i] !== '\n') {
    if (quote === '"' && line[i] === '\\') i += 1;
    i += 1;
  }
  return i + 1;
}

function parseHeader(trimmedLine: string, lineOffset: number): { keyPath: string[]; isArrayTable: boolean } {
  const isArrayTable = trimmedLine.startsWith('[[');
  let i = isArrayTable ? 2 : 1;
  const keyPath: string[] = [];
  const fail = (why: string): never => {
    throw new SyntaxError(`invalid table header at offset ${lineOffset} (${why}): ${trimmedLine.trim()}`);
  };
  for (;;) {
    while (trimmedLine[i] === ' ' || trimmedLine[i] === '\t') i += 1;
    const ch = trimmedLine[i];
    if (ch === '"') {
      const end = skipSingleLineString(trimmedLine, i);
      keyPath.push(decodeBasicString(trimmedLine.slice(i, end)));
      i = end;
    } else if (ch === "'") {
      const end = trimmedLine.indexOf("'", i + 1);
      if (end === -1) fail('unterminated literal key');
      keyPath.push(trimmedLine.slice(i + 1, end));
      i = end + 1;
    } else {
      const match = /^[A-Za-z0-9_-]+/.exec(trimmedLine.slice(i));
      if (!match) fail('expected a key');
      keyPath.push(match![0]);
      i += match![0].length;
    }
    while (trimmedLine[i] === ' ' || trimmedLine[i] === '\t') i += 1;
    if (trimmedLine[i] === '.') {
      i += 1;
      continue;
    }
    const closing = isArrayTable ? ']]' : ']';
    if (!trimmedLine.startsWith(closing, i)) fail(`expected ${closing}`);
    return { keyPath, isArrayTable };
  }
}

function decodeBasicString(quoted: string): string {
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return quoted.slice(1, -1);
  }
}

/** Renders a key path as a TOML dotted key, quoting the parts that are not bare keys. */
export function renderKeyPath(keyPath: readonly string[]): string {
  return keyPath.map((part) => (/^[A-Za-z0-9_-]+$/.test(part) ? part : JSON.stringify(part))).join('.');
}

export function startsWithPath(keyPath: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= keyPath.length && prefix.every((part, index) => keyPath[index] === part);
}
