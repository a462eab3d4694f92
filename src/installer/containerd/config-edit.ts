import { isDeepStrictEqual } from 'node:util';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { InstallerError } from '../errors.ts';
import { checkOtherBlocks, refuseUserStanza } from './handler-owner.ts';
import { beginMarker, endMarker, findManagedBlock, readBlockRecord, undoLine, type BlockLocation, type BlockRecord, type SpliceRecord } from './managed-block.ts';
import { renderKeyPath, scanTableHeaders, startsWithPath, type TableHeader } from './toml-tables.ts';

// Edits containerd's config by splicing one clearly marked block of text. Every byte outside the
// block stays as the user wrote it, a re-run with the same inputs is byte-identical, and the
// splice record lets uninstall put back exactly what was there before.

/** How the file is interpreted: plain TOML, a Go template (k3s/rke2 `.tmpl`), or a drop-in we own. */
export type ConfigFormat = 'toml' | 'template' | 'drop-in';

export interface RuntimeStanza {
  handler: string;
  runtimeType: string;
  runtimePath: string;
  /** Raw `KEY=VALUE` strings from the CLI; typed as TOML booleans, integers, floats or strings. */
  options: Record<string, string>;
}

export type { SpliceRecord, BlockRecord } from './managed-block.ts';

export interface EditResult {
  text: string;
  changed: boolean;
  record: BlockRecord;
}

/** The CRI plugin's runtimes table for each containerd config schema version. */
export function criRuntimesPath(configVersion: number): string[] {
  if (configVersion <= 1) return ['plugins', 'cri', 'containerd', 'runtimes'];
  if (configVersion === 2) return ['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'runtimes'];
  return ['plugins', 'io.containerd.cri.v1.runtime', 'containerd', 'runtimes'];
}

export function configVersionOf(parsed: Record<string, unknown>): number {
  const version = parsed['version'];
  if (version === undefined) return 1;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || version > 4) {
    throw new InstallerError('ConfigUnsupported', `containerd config version ${String(version)} is not supported (expected 1, 2, 3 or 4)`);
  }
  return version;
}

/**
 * A runtime option's TOML value: `true`/`false` are booleans; a canonical decimal integer within
 * ±2^53 and a plain decimal fraction with at most 15 significant digits are numbers (both come
 * back from containerd's parser exactly as written); anything else that looks like a number
 * (`-0`, `007`, `+5`, `1e5`, `1_000`, an integer too large to keep exactly, a fraction with more
 * digits than a 64-bit float holds) is refused, naming the option, rather than silently changed
 * or turned into a string the shim would misread. Every other value is a string.
 */
export function typeRuntimeOption(raw: string, key = 'value'): boolean | number | string {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^-?(0|[1-9][0-9]*)$/.test(raw) && raw !== '-0' && Number.isSafeInteger(Number(raw))) return Number(raw);
  if (/^-?(0|[1-9][0-9]*)\.[0-9]+$/.test(raw) && significantDigits(raw) <= 15 && !Object.is(Number(raw), -0)) return Number(raw);
  if (/^[+-]?[0-9][0-9_]*(\.[0-9_]+)?([eE][+-]?[0-9_]+)?$/.test(raw)) {
    throw new InstallerError(
      'InvalidRuntimeOption',
      `runtime option ${key}=${raw} looks like a number that containerd's config cannot hold exactly as written; write it as a plain decimal ` +
        '(no sign other than a leading -, no leading zeros, no exponent or underscores, no -0, integers within ±9007199254740991, at most 15 significant digits)',
    );
  }
  return raw;
}

function significantDigits(decimal: string): number {
  return decimal.replace(/[-.]/g, '').replace(/^0+/, '').replace(/0+$/, '').length;
}

/** The stanza as containerd will see it once parsed: used to verify the edit semantically. */
export function stanzaAsParsed(stanza: RuntimeStanza): Record<string, unknown> {
  const parsed: Record<string, unknown> = { runtime_type: stanza.runtimeType, runtime_path: stanza.runtimePath };
  if (Object.keys(stanza.options).length > 0) {
    parsed['options'] = Object.fromEntries(Object.entries(stanza.options).map(([k, v]) => [k, typeRuntimeOption(v, k)]));
  }
  return parsed;
}

const NO_RECORD: BlockRecord = { separator: '', displaced: '', created: false };

export function renderManagedBlock(shim: string, configVersion: number, stanza: RuntimeStanza, record: BlockRecord = NO_RECORD, eol = '\n'): string {
  for (const key of Object.keys(stanza.options)) {
    if (!/^[A-Za-z0-9_-]+$/.test(key)) {
      throw new InstallerError('InvalidRuntimeOption', `runtime option key ${JSON.stringify(key)} is not a plain TOML key (letters, digits, '_' and '-' only)`);
    }
  }
  const tablePath = [...criRuntimesPath(configVersion), stanza.handler];
  const lines = [
    beginMarker(shim),
    undoLine(record),
    `[${renderKeyPath(tablePath)}]`,
    ...indent(stringifyToml({ runtime_type: stanza.runtimeType, runtime_path: stanza.runtimePath })),
  ];
  const options = stanzaAsParsed(stanza)['options'] as Record<string, unknown> | undefined;
  if (options) lines.push(`[${renderKeyPath([...tablePath, 'options'])}]`, ...indent(stringifyToml(options)));
  lines.push(endMarker(shim));
  return lines.join(eol) + eol;
}

function indent(toml: string): string[] {
  return toml.split('\n').filter((line) => line.trim() !== '').map((line) => `  ${line}`);
}

/**
 * Puts the managed block for `shim` into `text`: replaces an existing block in place, else
 * replaces the user's own stanza for the handler (only with `takeOverHandler`), else appends. The
 * block carries its undo record: an existing block keeps the one it has (or, written before
 * blocks carried one, `previous` from state.json), so uninstall still restores the state from
 * before the first install. A handler another Shim's block defines is refused.
 */
export function applyStanza(
  text: string,
  options: { shim: string; configVersion: number; stanza: RuntimeStanza; previous?: SpliceRecord | undefined; format: ConfigFormat; file: string; created?: boolean; takeOverHandler?: boolean },
): EditResult {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const handlerPath = [...criRuntimesPath(options.configVersion), options.stanza.handler];
  checkOtherBlocks(text, { shim: options.shim, handlerPath, file: options.file, headers: (t) => scanHeadersOrRefuse(t, options.file) });
  const created = options.created ?? false;
  const existing = findManagedBlock(text, options.shim);
  if (existing) {
    const record = readBlockRecord(text, existing, options.shim) ?? { ...(options.previous ?? { separator: '', displaced: '' }), created };
    const block = renderManagedBlock(options.shim, options.configVersion, options.stanza, record, eol);
    const edited = text.slice(0, existing.start) + block + text.slice(existing.end);
    return { text: edited, changed: edited !== text, record };
  }

  const userStanza = options.format === 'template' ? null : findUserStanza(text, handlerPath, options.file);
  if (userStanza) {
    if (!options.takeOverHandler) refuseUserStanza(options.file, options.stanza.handler, text, userStanza.start);
    const record = { separator: '', displaced: text.slice(userStanza.start, userStanza.end), created };
    const block = renderManagedBlock(options.shim, options.configVersion, options.stanza, record, eol);
    // The stanza's span stops before its last line break, so the block goes in without its own.
    const edited = text.slice(0, userStanza.start) + block.slice(0, block.length - eol.length) + text.slice(userStanza.end);
    return { text: edited, changed: true, record };
  }

  const separator = text === '' ? '' : text.endsWith(eol) ? eol : eol + eol;
  const record = { separator, displaced: '', created };
  return { text: text + separator + renderManagedBlock(options.shim, options.configVersion, options.stanza, record, eol), changed: true, record };
}

/**
 * Removes the managed block of `shim`, putting back what it replaced: as the block's own undo
 * record says, or (a block written before blocks carried one) as `fallback` from state.json says.
 */
export function removeStanza(text: string, shim: string, fallback?: SpliceRecord): { text: string; changed: boolean; created: boolean | null } {
  const block = findManagedBlock(text, shim);
  if (!block) return { text, changed: false, created: null };
  const own = readBlockRecord(text, block, shim);
  const record = own ?? fallback;
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  let start = block.start;
  let end = block.end;
  let replacement = '';
  if (record && record.displaced !== '') {
    // The block replaced a user stanza in place; the last newline of the block was the stanza's own.
    end = block.end - (text.slice(0, block.end).endsWith(eol) ? eol.length : 0);
    replacement = record.displaced;
  } else {
    const separator = record ? record.separator : eol;
    if (separator && text.slice(0, start).endsWith(separator)) start -= separator.length;
  }
  return { text: text.slice(0, start) + replacement + text.slice(end), changed: true, created: own ? own.created : null };
}

/**
 * The user's own tables for the handler (`[...runtimes.<h>]`, `[...runtimes.<h>.options]`, …).
 * They must be contiguous so one splice can replace them and one splice can restore them.
 */
function findUserStanza(text: string, handlerPath: string[], file: string): BlockLocation | null {
  const headers = scanHeadersOrRefuse(text, file);
  const matching = headers.map((header, index) => ({ header, index })).filter(({ header }) => startsWithPath(header.keyPath, handlerPath));
  if (matching.length === 0) return null;
  const first = matching[0]!;
  const last = matching[matching.length - 1]!;
  if (last.index - first.index + 1 !== matching.length) {
    throw new InstallerError(
      'ConfigUnsupported',
      `${file} defines runtime '${handlerPath.at(-1)}' in tables that are not next to each other; move them together or remove them, then retry`,
    );
  }
  return { start: first.header.lineStart, end: (last.header as TableHeader).contentEnd };
}

function scanHeadersOrRefuse(text: string, file: string): TableHeader[] {
  try {
    return scanTableHeaders(text);
  } catch (error) {
    throw new InstallerError('ConfigInvalid', `${file} is not valid TOML: ${(error as Error).message}`);
  }
}

/** smol-toml builds null-prototype objects; plain ones compare cleanly with isDeepStrictEqual. */
function parsePlain(text: string): Record<string, unknown> {
  const plain = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(plain);
    if (typeof value !== 'object' || value === null || value instanceof Date) return value;
    return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, plain(child)]));
  };
  return plain(parseToml(text)) as Record<string, unknown>;
}

export function parseConfig(text: string, file: string): Record<string, unknown> {
  try {
    return parsePlain(text);
  } catch (error) {
    const detail = (error as Error).message.split('\n')[0];
    throw new InstallerError('ConfigInvalid', `${file} is not valid TOML, refusing to edit it (the file is left untouched): ${detail}`);
  }
}

/**
 * Proves the edit did exactly what was meant: the handler's stanza is the intended one and every
 * other setting parses to the same value as before. Guards against any splicing mistake, and
 * against configs that define the runtime in a form a table header cannot replace (inline tables).
 */
export function verifyEdit(
  before: string,
  after: string,
  options: { configVersion: number; handler: string; expected: Record<string, unknown> | null; file: string },
): void {
  const parsedBefore = parseConfig(before, options.file);
  let parsedAfter: Record<string, unknown>;
  try {
    parsedAfter = parsePlain(after);
  } catch (error) {
    throw new InstallerError(
      'ConfigUnsupported',
      `${options.file}: adding runtime '${options.handler}' would make the file invalid (${(error as Error).message.split('\n')[0]}); ` +
        'the CRI runtimes are probably written as inline tables or dotted keys, which shimkeeper does not rewrite. Use table headers for them.',
    );
  }
  const path = criRuntimesPath(options.configVersion);
  const actual = takeRuntime(parsedAfter, path, options.handler);
  takeRuntime(parsedBefore, path, options.handler);
  if (!isDeepStrictEqual(actual, options.expected ?? undefined)) {
    throw new InstallerError('ConfigUnsupported', `${options.file}: after the edit, runtime '${options.handler}' does not read back as intended; nothing was written`);
  }
  if (!isDeepStrictEqual(pruneEmpty(parsedBefore), pruneEmpty(parsedAfter))) {
    throw new InstallerError('ConfigUnsupported', `${options.file}: the edit would change settings other than runtime '${options.handler}'; nothing was written`);
  }
}

/** The handler the managed block of `shim` defines, or null when there is no block (or it names none). */
export function managedBlockHandler(text: string, shim: string, configVersion: number): string | null {
  const block = findManagedBlock(text, shim);
  if (!block) return null;
  const runtimesPath = criRuntimesPath(configVersion);
  const header = scanHeadersOrRefuse(text.slice(block.start, block.end), 'the shimkeeper block').find((h) => startsWithPath(h.keyPath, runtimesPath) && h.keyPath.length > runtimesPath.length);
  return header ? header.keyPath[runtimesPath.length]! : null;
}

/** The value at `keys` in a parsed config, or undefined. */
export function lookUp(table: Record<string, unknown>, keys: string[]): unknown {
  let value: unknown = table;
  for (const key of keys) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Removes and returns `runtimes[handler]` from a parsed config. */
function takeRuntime(parsed: Record<string, unknown>, runtimesPath: string[], handler: string): unknown {
  let table: unknown = parsed;
  for (const key of runtimesPath) {
    if (typeof table !== 'object' || table === null) return undefined;
    table = (table as Record<string, unknown>)[key];
  }
  if (typeof table !== 'object' || table === null) return undefined;
  const runtimes = table as Record<string, unknown>;
  const value = runtimes[handler];
  delete runtimes[handler];
  return value;
}

/** Tables that only exist as parents of the handler's stanza are not user settings. */
function pruneEmpty(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date) return value;
  const entries = Object.entries(value as Record<string, unknown>)
    .map(([key, child]) => [key, pruneEmpty(child)] as const)
    .filter(([, child]) => !(typeof child === 'object' && child !== null && !Array.isArray(child) && !(child instanceof Date) && Object.keys(child).length === 0));
  return Object.fromEntries(entries);
}
