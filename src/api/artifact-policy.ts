// The controller's allow-list of artifact locations (SHIMKEEPER_ALLOWED_ARTIFACT_URLS): a Shim is
// root on every node it targets, so a cluster may pin where shim binaries come from. Matching is on
// the parsed URL — scheme, host and port exactly, then the path by whole segments — never on the
// raw string, so `https://good.example.com.evil.net/` does not pass for `https://good.example.com`,
// nor `https://good.example.com/shims-evil/` for `https://good.example.com/shims`, nor
// `https://good.example.com/shims/../other/` (the parser resolves dot segments, as the installer's
// fetch does). Credentials and query in the Shim's location do not matter for the match.

import { redactUrl } from './redact.ts';

export interface ArtifactLocationPrefix {
  /** e.g. `https:`, `file:` */
  protocol: string;
  /** Host and port as the URL parser normalises them (lowercase, default port dropped); '' for file: */
  host: string;
  /** Path prefix; ends with `/` unless it is a whole file path. */
  path: string;
  /** The entry as written, for messages. */
  text: string;
}

function parse(url: string): URL | null {
  try {
    return new URL(url);
  } catch {
    return null;
  }
}

/**
 * Parses the comma-separated allow-list. Empty (or only blanks) means any location is allowed.
 * Throws on an entry that is not a plain URL prefix (no credentials, query or fragment), so a typo
 * stops the controller at start instead of silently allowing or refusing everything.
 */
export function parseAllowedArtifactLocations(value: string | undefined): ArtifactLocationPrefix[] {
  const entries = (value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  return entries.map((text) => {
    const url = parse(text);
    if (!url || !text.includes('://')) throw new Error(`allowed artifact location ${JSON.stringify(redactUrl(text))} is not a URL`);
    if (url.username || url.password || url.search || url.hash || text.includes('?') || text.includes('#')) {
      throw new Error(`allowed artifact location ${JSON.stringify(redactUrl(text))} must be scheme://host[:port][/path] without credentials, query or fragment`);
    }
    if (url.host === '' && url.protocol !== 'file:') throw new Error(`allowed artifact location ${JSON.stringify(text)} has no host`);
    return { protocol: url.protocol, host: url.host, path: url.pathname === '' ? '/' : url.pathname, text };
  });
}

/** Whether `location` lies under one of the prefixes; with no prefixes, every location does. */
export function artifactLocationAllowed(location: string, allowed: readonly ArtifactLocationPrefix[]): boolean {
  if (allowed.length === 0) return true;
  const url = parse(location);
  if (!url) return false;
  return allowed.some((prefix) => {
    if (url.protocol !== prefix.protocol || url.host !== prefix.host) return false;
    if (prefix.path.endsWith('/')) return url.pathname.startsWith(prefix.path);
    return url.pathname === prefix.path || url.pathname.startsWith(`${prefix.path}/`);
  });
}
