import { describe, expect, it } from 'vitest';
import { artifactLocationAllowed, parseAllowedArtifactLocations } from '../../src/api/artifact-policy.ts';
import { REDACTED, redactSecrets, redactUrl } from '../../src/api/redact.ts';
import { between, pick, random, stringOf } from './random.ts';

describe('redactUrl', () => {
  it.each([
    ['https://user:pass@example.com/a/b.tgz', `https://${REDACTED}@example.com/a/b.tgz`],
    ['https://example.com/a.tgz?X-Amz-Signature=abc&X-Amz-Credential=def', `https://example.com/a.tgz?${REDACTED}`],
    ['https://token@example.com:8443/a.tgz#frag', `https://${REDACTED}@example.com:8443/a.tgz#${REDACTED}`],
    ['https://example.com/a.tgz', 'https://example.com/a.tgz'],
    ['file:///opt/shims/a.tgz', 'file:///opt/shims/a.tgz'],
    // Not a valid URL (unencoded / and ? in the password): cut by hand, up to the last @.
    ['https://u:p/a?b@example.com/x.tgz?sig=1', `https://${REDACTED}@example.com/x.tgz?${REDACTED}`],
    ['s3://bucket/key?sig=1', `s3://bucket/key?${REDACTED}`],
  ])('%s → %s', (input, expected) => {
    expect(redactUrl(input)).toBe(expected);
    expect(redactUrl(expected)).toBe(expected);
  });
});

describe('redactSecrets', () => {
  it('redacts every URL in free text and keeps the sentence around it', () => {
    expect(redactSecrets('GET https://u:pw@h.example/a.tgz?sig=s3cr3t: HTTP 403 (see "https://h.example/b?t=1").')).toBe(
      `GET https://${REDACTED}@h.example/a.tgz?${REDACTED}: HTTP 403 (see "https://h.example/b?${REDACTED}").`,
    );
    expect(redactSecrets('no url here: user:pass')).toBe('no url here: user:pass');
  });

  // Whatever the URL and the text around it, no password, username or query value survives, the
  // host and path do, and redacting twice changes nothing.
  it.each(Array.from({ length: 40 }, (_, i) => i + 1))('seed %i: no credential or query survives', (seed) => {
    const rand = random(seed);
    const secretAlphabet = 'QWXZqwxz0123456789-_.~!$&\'()*+,;=:@/?#%';
    for (let round = 0; round < 50; round++) {
      const user = `U${stringOf(rand, 'QWXZ', between(rand, 6, 12))}`;
      const password = `P${stringOf(rand, secretAlphabet, between(rand, 8, 24))}`;
      const token = `T${stringOf(rand, secretAlphabet, between(rand, 8, 40))}`;
      const host = pick(rand, ['example.com', 'objects.s3.amazonaws.com', '10.0.0.1:8080', '[::1]:9000']);
      const path = `/${stringOf(rand, 'abcdefghijklmnop', between(rand, 1, 10))}/shim.tar.gz`;
      const userinfo = pick(rand, ['', `${encodeURIComponent(user)}@`, `${encodeURIComponent(user)}:${encodeURIComponent(password)}@`, `${user}:${password}@`]);
      const query = pick(rand, ['', `?X-Amz-Signature=${encodeURIComponent(token)}`, `?sig=${encodeURIComponent(token)}&se=2030`, `#${encodeURIComponent(token)}`]);
      const url = `${pick(rand, ['https', 'http'])}://${userinfo}${host}${path}${query}`;
      const text = `${pick(rand, ['download of ', 'GET ', '"', '(', ''])}${url}${pick(rand, ['', ': HTTP 403', '".', ').', ', retrying', '\nnext line'])}`;
      const redacted = redactSecrets(text);
      const secrets = [password, encodeURIComponent(password), token, encodeURIComponent(token), ...(userinfo ? [user, encodeURIComponent(user)] : [])];
      // Checked on the pieces long enough to mean something (a secret is at least 9 characters here).
      for (const secret of secrets) expect(redacted, `${text} → ${redacted}`).not.toContain(secret);
      if (!userinfo.includes('/') && !userinfo.includes('?') && !userinfo.includes('#')) expect(redacted).toContain(path);
      expect(redactSecrets(redacted)).toBe(redacted);
    }
  });
});

describe('the artifact allow-list', () => {
  const allowed = parseAllowedArtifactLocations(' https://good.example.com , https://github.com/spinkube/ , file:///opt/shims, http://mirror.local:8080/a ');

  it.each([
    ['https://good.example.com/x.tgz', true],
    ['https://GOOD.example.com/x.tgz', true],
    ['https://user:pw@good.example.com/x.tgz?sig=1', true],
    ['https://good.example.com:443/x.tgz', true],
    ['https://github.com/spinkube/containerd-shim-spin/releases/x.tgz', true],
    ['file:///opt/shims/spin.tgz', true],
    ['file:///opt/shims', true],
    ['http://mirror.local:8080/a/b.tgz', true],
    ['https://good.example.com.evil.net/x.tgz', false],
    ['https://evil.net/good.example.com/x.tgz', false],
    ['https://good.example.com@evil.net/x.tgz', false],
    ['http://good.example.com/x.tgz', false],
    ['https://good.example.com:8443/x.tgz', false],
    ['https://github.com/spinkube-evil/x.tgz', false],
    ['https://github.com/spinkube/../evil/x.tgz', false],
    ['https://github.com/spinkube/%2e%2e/evil/x.tgz', false],
    ['https://github.com/evil/x.tgz', false],
    ['file:///opt/shims-evil/x.tgz', false],
    ['file:///opt/shims/../../etc/shadow', false],
    ['http://mirror.local:8080/ab.tgz', false],
    ['http://mirror.local/a/b.tgz', false],
    ['not a url', false],
  ])('%s → %s', (location, expected) => {
    expect(artifactLocationAllowed(location, allowed)).toBe(expected);
  });

  it('allows anything when empty, and refuses entries that are not plain URL prefixes', () => {
    expect(parseAllowedArtifactLocations('')).toEqual([]);
    expect(parseAllowedArtifactLocations(undefined)).toEqual([]);
    expect(artifactLocationAllowed('https://anything.example/x', [])).toBe(true);
    for (const bad of ['good.example.com', 'https://u:p@good.example.com', 'https://good.example.com/?x=1', 'https://good.example.com/#x', 'https://']) {
      expect(() => parseAllowedArtifactLocations(bad), bad).toThrow(/allowed artifact location/);
    }
    expect(() => parseAllowedArtifactLocations('https://u:secret@good.example.com')).toThrow(/^(?!.*secret)/);
  });
});
