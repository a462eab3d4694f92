// `shimkeeper-installer checksum`: downloads artifacts the way the installer does (same fetch, size
// cap, retries, deadline, proxies) and prints their sha256 as the Shim's fetchStrategy, ready to
// paste. For people, not for the controller's Jobs: it writes no JSON result and touches no node.
// It exists because runtime-class-manager made sha256 optional and shimkeeper requires it, so every
// migrated Shim needs one; run it where the nodes' network is (`kubectl run` with the installer
// image) or anywhere the artifact can be reached.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { artifactLocationAllowed, parseAllowedArtifactLocations, type ArtifactLocationPrefix } from '../api/artifact-policy.ts';
import { INSTALLER_FLAGS } from '../api/installer-contract.ts';
import { redactSecrets, redactUrl } from '../api/redact.ts';
import { PATTERNS } from '../api/shim.ts';
import { describeError, InstallerError } from './errors.ts';
import { DEFAULT_FETCH, fetchArtifact, parseArtifactUrl } from './fetch.ts';
import { positiveNumber, UsageError } from './options.ts';

export const CHECKSUM_COMMAND = 'checksum';
/** The controller's allow-list variable: the same prefixes refuse the same locations here. */
export const ALLOWED_ARTIFACT_URLS_ENV = 'SHIMKEEPER_ALLOWED_ARTIFACT_URLS';

export const CHECKSUM_USAGE = `Usage: shimkeeper-installer checksum --url URL [--platform OS/ARCH] [--url URL --platform OS/ARCH ...]

Downloads each artifact as the installer would and prints its sha256 as a Shim fetchStrategy to
paste under spec: one --url gives anonHttp; one --platform per --url (in the same order) gives
platforms entries. Nothing on this machine changes; the downloads go to a temporary directory.

Flags (the limits are the installer's, also read from the same environment variables):
  --url URL                    artifact: https://, http:// or file:// (repeatable)
  --platform OS/ARCH           node platform of the --url at the same position, e.g. linux/amd64
  --allowed-artifact-urls LIST refuse locations outside these comma-separated URL prefixes, as the
                               controller does (default: ${ALLOWED_ARTIFACT_URLS_ENV})
  --max-artifact-bytes N       refuse larger downloads (default ${DEFAULT_FETCH.maxBytes})
  --download-attempts N        tries per download (default ${DEFAULT_FETCH.attempts})
  --download-timeout SECONDS   time for each whole download (default ${DEFAULT_FETCH.deadlineMs / 1000})
`;

export interface ChecksumRequest {
  url: string;
  /** Present for every request or for none: one anonHttp artifact, or platform entries. */
  platform?: { os: string; arch: string };
}

export interface ChecksumOptions {
  requests: ChecksumRequest[];
  allowed: ArtifactLocationPrefix[];
  maxBytes: number;
  attempts: number;
  deadlineMs: number;
}

export interface Checksum extends ChecksumRequest {
  sha256: string;
  bytes: number;
}

const PLATFORM_PART = new RegExp(PATTERNS.platformPart);

function parsePlatform(raw: string): { os: string; arch: string } {
  const [os, arch, extra] = raw.split('/');
  if (extra !== undefined || !os || !arch || !PLATFORM_PART.test(os) || !PLATFORM_PART.test(arch)) {
    throw new UsageError(`--platform must be OS/ARCH in lowercase, e.g. linux/amd64 or linux/aarch64, got ${JSON.stringify(raw)}`);
  }
  return { os, arch };
}

export function parseChecksumArgs(argv: string[], env: NodeJS.ProcessEnv): ChecksumOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        url: { type: 'string', multiple: true },
        platform: { type: 'string', multiple: true },
        'allowed-artifact-urls': { type: 'string' },
        'max-artifact-bytes': { type: 'string' },
        'download-attempts': { type: 'string' },
        'download-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${CHECKSUM_USAGE}`);
  }
  if (values.help) return 'help';
  const urls = values.url ?? [];
  const platforms = (values.platform ?? []).map(parsePlatform);
  if (urls.length === 0) throw new UsageError(`checksum needs --url\n\n${CHECKSUM_USAGE}`);
  if (platforms.length > 0 && platforms.length !== urls.length) {
    throw new UsageError(`give one --platform per --url (got ${urls.length} --url and ${platforms.length} --platform)`);
  }
  if (platforms.length === 0 && urls.length > 1) {
    throw new UsageError('several --url need a --platform each: a Shim has one anonHttp artifact, or one per platform');
  }
  const seen = new Set<string>();
  for (const { os, arch } of platforms) {
    if (seen.has(`${os}/${arch}`)) throw new UsageError(`--platform ${os}/${arch} is given twice`);
    seen.add(`${os}/${arch}`);
  }
  for (const url of urls) parseArtifactUrl(url);
  const fromEnv = (name: string) => (env[name] === '' ? undefined : env[name]);
  let allowed: ArtifactLocationPrefix[];
  try {
    allowed = parseAllowedArtifactLocations(values['allowed-artifact-urls'] ?? fromEnv(ALLOWED_ARTIFACT_URLS_ENV));
  } catch (error) {
    throw new UsageError(describeError(error));
  }
  return {
    requests: urls.map((url, index) => (platforms[index] ? { url, platform: platforms[index] } : { url })),
    allowed,
    maxBytes: positiveNumber('max-artifact-bytes', values['max-artifact-bytes'] ?? fromEnv(INSTALLER_FLAGS.maxArtifactBytes.env), DEFAULT_FETCH.maxBytes),
    attempts: Math.floor(positiveNumber('download-attempts', values['download-attempts'] ?? fromEnv(INSTALLER_FLAGS.downloadAttempts.env), DEFAULT_FETCH.attempts)),
    deadlineMs: positiveNumber('download-timeout', values['download-timeout'] ?? fromEnv(INSTALLER_FLAGS.downloadTimeout.env), DEFAULT_FETCH.deadlineMs / 1000) * 1000,
  };
}

/** Downloads each artifact into a temporary directory (removed afterwards) and hashes it. */
export async function computeChecksums(options: ChecksumOptions): Promise<Checksum[]> {
  for (const { url } of options.requests) {
    if (!artifactLocationAllowed(url, options.allowed)) {
      throw new InstallerError(
        'InvalidUrl',
        `${redactUrl(url)} is outside the allowed artifact locations (${options.allowed.map((p) => p.text).join(', ')}): the controller would refuse a Shim naming it (ArtifactNotAllowed)`,
      );
    }
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'shimkeeper-checksum-'));
  try {
    const results: Checksum[] = [];
    for (const [index, request] of options.requests.entries()) {
      const artifact = await fetchArtifact({
        url: request.url,
        destination: path.join(dir, `artifact-${index}`),
        maxBytes: options.maxBytes,
        connectTimeoutMs: DEFAULT_FETCH.connectTimeoutMs,
        readTimeoutMs: DEFAULT_FETCH.readTimeoutMs,
        attempts: options.attempts,
        initialBackoffMs: DEFAULT_FETCH.initialBackoffMs,
        deadlineMs: options.deadlineMs,
      });
      results.push({ ...request, sha256: artifact.sha256, bytes: artifact.bytes });
    }
    return results;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The fetchStrategy to paste under `spec:`. A location holding credentials or a signed query is
 * printed redacted (this output may end up in a Pod's log), with a comment to put it back.
 */
export function fetchStrategySnippet(checksums: readonly Checksum[]): string {
  const lines = ['# sha256 computed by shimkeeper-installer checksum; paste under spec: of the Shim'];
  const location = (url: string) => JSON.stringify(redactUrl(url));
  for (const { url, bytes } of checksums) {
    lines.push(`# ${redactUrl(url)}: ${bytes} bytes${redactUrl(url) !== url ? ' (location redacted here: write it with its credentials)' : ''}`);
  }
  lines.push('fetchStrategy:');
  const [single] = checksums;
  if (checksums.length === 1 && single && !single.platform) {
    lines.push('  anonHttp:', `    location: ${location(single.url)}`, `    sha256: "${single.sha256}"`);
  } else {
    lines.push('  platforms:');
    for (const { url, sha256, platform } of checksums) {
      lines.push(`    - os: ${platform!.os}`, `      arch: ${platform!.arch}`, `      location: ${location(url)}`, `      sha256: "${sha256}"`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The command: its exit code (0 done, 1 a download or policy failure, 2 bad usage). */
export async function runChecksumCommand(argv: string[], env: NodeJS.ProcessEnv, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  let options: ChecksumOptions | 'help';
  try {
    options = parseChecksumArgs(argv, env);
  } catch (error) {
    err.write(`shimkeeper-installer checksum: ${redactSecrets(describeError(error))}\n`);
    return 2;
  }
  if (options === 'help') {
    out.write(CHECKSUM_USAGE);
    return 0;
  }
  try {
    out.write(fetchStrategySnippet(await computeChecksums(options)));
    return 0;
  } catch (error) {
    const code = error instanceof InstallerError ? `${error.code}: ` : '';
    err.write(`shimkeeper-installer checksum: ${code}${redactSecrets(describeError(error))}\n`);
    return 1;
  }
}
