// Redaction of secrets in artifact locations, shared by the controller and the installer.
//
// An artifact URL may carry credentials: `https://user:password@host/…` or a pre-signed link whose
// query holds the signature or token (S3, GCS, Azure SAS). Whatever shimkeeper reports — Events,
// the node status annotation (readable by every kubelet), the Shim status, logs, the installer's
// result — shows a location as scheme, host and path only: userinfo, query and fragment are
// replaced by a marker, so a reader still sees that there was one. The real URL exists only in the
// Shim spec and in the installer Job's environment (in the controller's namespace).

/** What stands in for removed userinfo, query or fragment. */
export const REDACTED = 'REDACTED';

/**
 * A URL-looking run of text: a scheme, `://`, then everything up to whitespace. Quotes and brackets
 * do not end it, since an unencoded password may hold them; what trails the URL in a sentence is
 * put back by {@link TRAILING_PUNCTUATION}, and anything else swallowed is at worst redacted too.
 */
const URL_IN_TEXT = /\b[A-Za-z][A-Za-z0-9+.-]*:\/\/\S+/g;
/** Punctuation that ends a sentence or a quote rather than a URL ("failed to fetch https://h/x: 403"). */
const TRAILING_PUNCTUATION = /[.,;:!)\]}"'>]+$/;

/**
 * `url` with its userinfo, query and fragment replaced by {@link REDACTED}; scheme, host, port and
 * path kept as written. Text that does not parse as a URL (an unencoded `/`, `?` or `#` in a
 * password) is cut harder: everything up to its last `@` goes, then everything from the first `?`
 * or `#` after it. Idempotent.
 */
export function redactUrl(url: string): string {
  const schemeEnd = url.indexOf('://');
  if (schemeEnd < 0) return url;
  const scheme = url.slice(0, schemeEnd + 3);
  const rest = url.slice(schemeEnd + 3);
  const marks = `${rest.includes('?') ? `?${REDACTED}` : ''}${rest.includes('#') ? `#${REDACTED}` : ''}`;
  const parses = URL.canParse(url);
  // Parsed, the authority ends at the first `/`, `?` or `#` (a `@` after that is part of the path);
  // unparsed, anything up to the last `@` may be a password.
  const authorityEnd = parses ? endOf(rest, /[/?#\\]/) : rest.lastIndexOf('@') + 1 + endOf(rest.slice(rest.lastIndexOf('@') + 1), /[/?#]/);
  const authority = rest.slice(0, authorityEnd);
  const at = authority.lastIndexOf('@');
  const userinfo = at >= 0 ? `${REDACTED}@` : '';
  const host = authority.slice(at + 1);
  const afterAuthority = rest.slice(authorityEnd);
  const path = afterAuthority.slice(0, endOf(afterAuthority, /[?#]/));
  return `${scheme}${userinfo}${host}${path}${marks}`;
}

/** Index of the first match of `pattern` in `text`, or its length. */
function endOf(text: string, pattern: RegExp): number {
  const index = text.search(pattern);
  return index < 0 ? text.length : index;
}

/** `text` with every URL in it passed through {@link redactUrl}. Idempotent. */
export function redactSecrets(text: string): string {
  return text.replace(URL_IN_TEXT, (match) => {
    const trailing = TRAILING_PUNCTUATION.exec(match)?.[0] ?? '';
    const url = trailing ? match.slice(0, -trailing.length) : match;
    return `${redactUrl(url)}${trailing}`;
  });
}
