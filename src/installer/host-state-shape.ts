import type { InstalledShim } from './host-state.ts';

// The full shape of state.json, checked field by field: a file someone edited by hand, a
// truncated write from an old version, or another tool's JSON is reported with the field that is
// wrong, never used half-understood.

type Check = (value: unknown) => boolean;

const isString: Check = (v) => typeof v === 'string';
const isAbsolutePath: Check = (v) => typeof v === 'string' && v.startsWith('/');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const SHIM_FIELDS: Record<keyof InstalledShim, [Check, string]> = {
  shim: [isString, 'a string'],
  handler: [isString, 'a string'],
  version: [isString, 'a string'],
  revision: [isString, 'a string'],
  sha256: [isString, 'a string'],
  binaryName: [(v) => typeof v === 'string' && v !== '' && !v.includes('/'), 'a file name'],
  binaryPath: [isAbsolutePath, 'an absolute host path'],
  configPath: [isAbsolutePath, 'an absolute host path'],
  configFormat: [(v) => v === 'toml' || v === 'template' || v === 'drop-in', "'toml', 'template' or 'drop-in'"],
  configVersion: [(v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 4, 'an integer from 1 to 4'],
  createdConfig: [(v) => typeof v === 'boolean', 'true or false'],
  splice: [(v) => isObject(v) && typeof v['separator'] === 'string' && typeof v['displaced'] === 'string', 'an object with string fields separator and displaced'],
  runtimeOptions: [(v) => isObject(v) && Object.values(v).every(isString), 'an object of strings'],
  installedAt: [isString, 'a string'],
};

/** The first thing wrong with `parsed` as a HostState, as `field: what it should be`; null when it is valid. */
export function hostStateProblem(parsed: unknown): string | null {
  if (!isObject(parsed)) return 'the file is not a JSON object';
  if (parsed['schema'] !== 1) return `schema: expected 1, got ${JSON.stringify(parsed['schema'])}`;
  const shims = parsed['shims'];
  if (!isObject(shims)) return `shims: expected an object, got ${JSON.stringify(shims)}`;
  for (const [name, entry] of Object.entries(shims)) {
    if (!isObject(entry)) return `shims.${name}: expected an object, got ${JSON.stringify(entry)}`;
    for (const [field, [check, expected]] of Object.entries(SHIM_FIELDS)) {
      if (!check(entry[field])) return `shims.${name}.${field}: expected ${expected}, got ${JSON.stringify(entry[field]) ?? 'nothing'}`;
    }
    if (entry['shim'] !== name) return `shims.${name}.shim: expected ${JSON.stringify(name)}, got ${JSON.stringify(entry['shim'])}`;
  }
  const dirs = parsed['revisionDirs'];
  if (dirs !== undefined) {
    if (!isObject(dirs)) return `revisionDirs: expected an object, got ${JSON.stringify(dirs)}`;
    for (const [name, list] of Object.entries(dirs)) {
      if (!Array.isArray(list) || !list.every(isAbsolutePath)) return `revisionDirs.${name}: expected a list of absolute host paths, got ${JSON.stringify(list)}`;
    }
  }
  return null;
}
