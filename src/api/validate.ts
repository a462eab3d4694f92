// Pure validation of a Shim: the rules the CRD schema enforces (patterns, limits, CEL rules), in
// JavaScript, so the controller never acts on a spec the API server would have rejected (old
// objects, servers without CEL) and tests can check rules without an API server.

import { normalizeArch } from './artifact.ts';
import { FETCH_STRATEGY_ANONYMOUS_HTTP, FETCH_STRATEGY_TYPES, LIMITS, NODE_DEFAULT_HANDLERS, PATTERNS } from './shim.ts';

/** Messages the CRD's CEL rules also use, so users read the same words from kubectl and from status. */
export const MESSAGES = {
  fetchSource: 'fetchStrategy needs anonHttp.location or at least one entry in fetchStrategy.platforms',
  // Say how to get the digest: runtime-class-manager made it optional, so migrated Shims lack it.
  anonHttpSha256:
    "fetchStrategy.anonHttp.sha256 is required: use the sha256 the shim's release publishes, or compute it with 'shimkeeper-installer checksum --url LOCATION' (prints the fetchStrategy to paste) or 'curl -fsSL LOCATION | sha256sum'; only fetchStrategy.insecureSkipChecksum: true installs without verification",
  platformSha256:
    "every fetchStrategy.platforms entry needs a sha256: use the ones the shim's release publishes, or compute them with 'shimkeeper-installer checksum --url LOCATION --platform OS/ARCH' (once per entry, or both flags repeated; prints the platforms to paste); only fetchStrategy.insecureSkipChecksum: true installs without verification",
  runtimeOptionsAlias:
    'spec.runtimeOptions is the deprecated name of spec.containerdRuntimeOptions: set only one of them (or both to the same options)',
  uniquePlatforms: 'fetchStrategy.platforms must not list the same os/arch twice (x86_64 = amd64, aarch64 = arm64)',
  shimName: `metadata.name must be a DNS label (lowercase letters, digits and '-', no dots) of at most ${LIMITS.shimName} characters: it becomes a label value, part of node label keys and a file name on nodes`,
  defaultHandler: `spec.runtimeClass.handler names a node's default runtime (${NODE_DEFAULT_HANDLERS.join(', ')}): set spec.runtimeClass.takeOverExistingHandler: true to replace it deliberately`,
  intOrPercent: 'must be an integer of at least 1 or a percentage from 1% to 100%',
} as const;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const compiled = Object.fromEntries(
  Object.entries(PATTERNS).map(([name, pattern]) => [name, new RegExp(pattern)]),
) as Record<keyof typeof PATTERNS, RegExp>;

/** Checks a string field; returns messages (empty when fine). */
function checkString(
  path: string,
  value: unknown,
  rule: { pattern?: keyof typeof PATTERNS; maxLength: number; describe?: string },
): string[] {
  if (typeof value !== 'string') return [`${path} must be a string`];
  if (value.length === 0) return [`${path} must not be empty`];
  if (value.length > rule.maxLength) return [`${path} must be at most ${rule.maxLength} characters`];
  if (rule.pattern && !compiled[rule.pattern].test(value)) {
    return [`${path} ${rule.describe ?? `must match ${PATTERNS[rule.pattern]}`} (got ${JSON.stringify(value)})`];
  }
  return [];
}

function checkIntOrPercent(path: string, value: unknown): string[] {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 1 ? [] : [`${path} ${MESSAGES.intOrPercent}`];
  if (typeof value === 'string') return compiled.percent.test(value) ? [] : [`${path} ${MESSAGES.intOrPercent}`];
  return [`${path} ${MESSAGES.intOrPercent}`];
}

function checkStringMap(
  path: string,
  value: unknown,
  maxEntries: number,
  key: { pattern: keyof typeof PATTERNS; maxLength: number; describe: string },
  val: { pattern?: keyof typeof PATTERNS; maxLength: number; describe?: string; allowEmpty?: boolean },
): string[] {
  if (value === undefined) return [];
  if (!isObject(value)) return [`${path} must be a map of strings`];
  const entries = Object.entries(value);
  const errors: string[] = [];
  if (entries.length > maxEntries) errors.push(`${path} must have at most ${maxEntries} entries`);
  for (const [k, v] of entries) {
    errors.push(...checkString(`${path} key`, k, key));
    if (val.allowEmpty && v === '') continue;
    errors.push(...checkString(`${path}[${JSON.stringify(k)}]`, v, val));
  }
  return errors;
}

function sameStringMap(a: unknown, b: unknown): boolean {
  if (!isObject(a) || !isObject(b)) return false;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && a[key] === b[key]);
}

function validateFetchStrategy(fetch: unknown): string[] {
  const path = 'spec.fetchStrategy';
  if (!isObject(fetch)) return [`${path} is required`];
  const errors: string[] = [];
  if (fetch.type !== undefined && !(FETCH_STRATEGY_TYPES as readonly unknown[]).includes(fetch.type)) {
    errors.push(`${path}.type must be "${FETCH_STRATEGY_ANONYMOUS_HTTP}" (got ${JSON.stringify(fetch.type)})`);
  }
  if (fetch.insecureSkipChecksum !== undefined && typeof fetch.insecureSkipChecksum !== 'boolean') {
    errors.push(`${path}.insecureSkipChecksum must be a boolean`);
  }
  const skipChecksum = fetch.insecureSkipChecksum === true;

  const anon = fetch.anonHttp;
  if (anon !== undefined) {
    if (!isObject(anon)) {
      errors.push(`${path}.anonHttp must be an object`);
    } else {
      errors.push(...checkLocation(`${path}.anonHttp.location`, anon.location));
      if (anon.sha256 !== undefined) errors.push(...checkSha256(`${path}.anonHttp.sha256`, anon.sha256));
    }
  }

  const platforms = fetch.platforms;
  let platformCount = 0;
  if (platforms !== undefined) {
    if (!Array.isArray(platforms)) {
      errors.push(`${path}.platforms must be a list`);
    } else {
      platformCount = platforms.length;
      if (platforms.length > LIMITS.platforms) errors.push(`${path}.platforms must have at most ${LIMITS.platforms} entries`);
      const seen = new Set<string>();
      let duplicate = false;
      platforms.forEach((entry: unknown, index) => {
        const at = `${path}.platforms[${index}]`;
        if (!isObject(entry)) {
          errors.push(`${at} must be an object`);
          return;
        }
        const part = { pattern: 'platformPart', maxLength: LIMITS.platformPart, describe: 'must be lowercase letters, digits or _' } as const;
        errors.push(...checkString(`${at}.os`, entry.os, part));
        errors.push(...checkString(`${at}.arch`, entry.arch, part));
        errors.push(...checkLocation(`${at}.location`, entry.location));
        if (entry.sha256 !== undefined) errors.push(...checkSha256(`${at}.sha256`, entry.sha256));
        if (typeof entry.os === 'string' && typeof entry.arch === 'string') {
          const key = `${entry.os}/${normalizeArch(entry.arch)}`;
          if (seen.has(key)) duplicate = true;
          seen.add(key);
        }
      });
      if (duplicate) errors.push(MESSAGES.uniquePlatforms);
      if (!skipChecksum && platforms.some((p: unknown) => isObject(p) && p.sha256 === undefined)) {
        errors.push(MESSAGES.platformSha256);
      }
    }
  }

  if (anon === undefined && platformCount === 0) errors.push(MESSAGES.fetchSource);
  // anonHttp is ignored when platforms are given, so only then does its sha256 matter.
  if (!skipChecksum && platformCount === 0 && isObject(anon) && anon.sha256 === undefined) {
    errors.push(MESSAGES.anonHttpSha256);
  }
  return errors;
}

function checkLocation(path: string, value: unknown): string[] {
  return checkString(path, value, {
    pattern: 'location',
    maxLength: LIMITS.location,
    describe: 'must be an http://, https:// or file:// URL',
  });
}

function checkSha256(path: string, value: unknown): string[] {
  return checkString(path, value, { pattern: 'sha256', maxLength: 64, describe: 'must be 64 lowercase hex digits' });
}

function validateRollout(rollout: unknown): string[] {
  const path = 'spec.rolloutStrategy';
  if (rollout === undefined) return [];
  if (!isObject(rollout)) return [`${path} must be an object`];
  const errors: string[] = [];
  if (rollout.type !== 'rolling' && rollout.type !== 'recreate') {
    errors.push(`${path}.type must be "rolling" or "recreate" (got ${JSON.stringify(rollout.type)})`);
  }
  if (rollout.rolling !== undefined) {
    if (!isObject(rollout.rolling)) errors.push(`${path}.rolling must be an object`);
    else if (rollout.rolling.maxUpdate !== undefined) {
      errors.push(...checkIntOrPercent(`${path}.rolling.maxUpdate`, rollout.rolling.maxUpdate));
    }
  }
  if (rollout.maxFailedNodes !== undefined) {
    errors.push(...checkIntOrPercent(`${path}.maxFailedNodes`, rollout.maxFailedNodes));
  }
  return errors;
}

/**
 * Every reason the given object is not a valid Shim, as messages naming the field. Empty when valid.
 * Takes `unknown` because objects come from the API server or from tests and may be anything.
 */
export function validateShim(shim: unknown): string[] {
  if (!isObject(shim)) return ['a Shim must be an object'];
  const errors: string[] = [];
  const metadata = shim.metadata;
  if (!isObject(metadata)) {
    errors.push('metadata is required');
  } else {
    const name = metadata.name;
    if (typeof name !== 'string' || name.length === 0) errors.push('metadata.name must not be empty');
    else if (name.length > LIMITS.shimName || !compiled.dnsLabel.test(name)) errors.push(MESSAGES.shimName);
  }

  const spec = shim.spec;
  if (!isObject(spec)) return [...errors, 'spec is required'];

  errors.push(
    ...checkStringMap(
      'spec.nodeSelector',
      spec.nodeSelector,
      LIMITS.nodeSelector,
      { pattern: 'labelKey', maxLength: LIMITS.labelKey, describe: 'must be a valid label key' },
      { pattern: 'labelValue', maxLength: LIMITS.labelValue, describe: 'must be a valid label value', allowEmpty: true },
    ),
  );
  if (spec.version !== undefined) {
    errors.push(...checkString('spec.version', spec.version, { pattern: 'semver', maxLength: LIMITS.version, describe: 'must be a semantic version such as 0.19.0' }));
  }
  errors.push(...validateFetchStrategy(spec.fetchStrategy));

  const runtimeClass = spec.runtimeClass;
  if (!isObject(runtimeClass)) {
    errors.push('spec.runtimeClass is required');
  } else {
    errors.push(...checkString('spec.runtimeClass.name', runtimeClass.name, { pattern: 'dnsSubdomain', maxLength: LIMITS.dnsSubdomain, describe: 'must be a lowercase RFC 1123 subdomain' }));
    errors.push(...checkString('spec.runtimeClass.handler', runtimeClass.handler, { pattern: 'dnsLabel', maxLength: LIMITS.dnsLabel, describe: 'must be a lowercase RFC 1123 label (letters, digits, -)' }));
    const takeOver = runtimeClass.takeOverExistingHandler;
    if (takeOver !== undefined && typeof takeOver !== 'boolean') errors.push('spec.runtimeClass.takeOverExistingHandler must be a boolean');
    if (NODE_DEFAULT_HANDLERS.includes(runtimeClass.handler as string) && takeOver !== true) errors.push(MESSAGES.defaultHandler);
    if (runtimeClass.adoptExisting !== undefined && typeof runtimeClass.adoptExisting !== 'boolean') errors.push('spec.runtimeClass.adoptExisting must be a boolean');
  }

  errors.push(...validateRollout(spec.rolloutStrategy));
  for (const field of ['containerdRuntimeOptions', 'runtimeOptions'] as const) {
    errors.push(
      ...checkStringMap(
        `spec.${field}`,
        spec[field],
        LIMITS.runtimeOptions,
        { pattern: 'runtimeOptionKey', maxLength: LIMITS.runtimeOptionKey, describe: 'must be letters, digits, _ or -' },
        { maxLength: LIMITS.runtimeOptionValue, allowEmpty: true },
      ),
    );
  }
  if (spec.containerdRuntimeOptions !== undefined && spec.runtimeOptions !== undefined && !sameStringMap(spec.containerdRuntimeOptions, spec.runtimeOptions)) {
    errors.push(MESSAGES.runtimeOptionsAlias);
  }
  if (spec.shimBinary !== undefined) {
    errors.push(...checkString('spec.shimBinary', spec.shimBinary, { pattern: 'shimBinary', maxLength: LIMITS.shimBinary, describe: 'must be a file name like containerd-shim-spin-v2 or containerd-shim-wasmtime-v1' }));
  }
  return errors;
}
