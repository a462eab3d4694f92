// Reads a few members straight from the bytes of compact JSON (what the API server sends), without
// parsing it: a watch event's fingerprint (informer.ts) must cost far less than JSON.parse.
//
// A member is found by its first `"name":` token. In JSON an unescaped quote always opens or closes
// a string, and a quote inside a string is escaped, so the token cannot match inside a string
// value; the caller knows which member comes first in its kind's serialization (Go encodes struct
// fields in declaration order, metadata first). An object's end is found by counting braces
// outside strings.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** `"name":{` or `"name":"` as bytes, made once per name. */
export function memberToken(name: string, value: 'object' | 'string'): Buffer {
  return Buffer.from(`"${name}":${value === 'object' ? '{' : '"'}`);
}

/** The index just past the brace closing the object whose `{` is at `open`, or -1. */
function endOfObject(bytes: Buffer, open: number, end: number): number {
  let depth = 0;
  let inString = false;
  for (let i = open; i < end; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE) depth++;
    else if (c === CLOSE_BRACE && --depth === 0) return i + 1;
  }
  return -1;
}

/**
 * The value of the first member matching `token` (from memberToken) in bytes[from, end): an
 * object with its braces, or a string's contents; `null` when there is no such member, undefined
 * when the value does not end (not compact JSON: the caller parses it instead).
 */
export function memberValue(bytes: Buffer, token: Buffer, from = 0, end = bytes.length): Buffer | null | undefined {
  const at = bytes.indexOf(token, from);
  if (at < 0 || at >= end) return null;
  const valueStart = at + token.length;
  if (token[token.length - 1] === OPEN_BRACE) {
    const close = endOfObject(bytes, valueStart - 1, end);
    return close < 0 ? undefined : bytes.subarray(valueStart - 1, close);
  }
  // A string: names, versions and timestamps hold no escapes; one that does is not read here.
  const close = bytes.indexOf(QUOTE, valueStart);
  if (close < 0 || close >= end || bytes.subarray(valueStart, close).includes(BACKSLASH)) return undefined;
  return bytes.subarray(valueStart, close);
}
