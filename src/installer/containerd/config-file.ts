import path from 'node:path';
import { InstallerError } from '../errors.ts';
import { HostFileError, type Host } from '../host.ts';
import { applyStanza, criRuntimesPath, lookUp, managedBlockHandler, parseConfig, removeStanza, stanzaAsParsed, verifyEdit, type RuntimeStanza, type SpliceRecord } from './config-edit.ts';
import type { ContainerdTarget } from './detect.ts';
import { checkDefaultRuntime } from './handler-owner.ts';
import { findManagedBlock } from './managed-block.ts';

// Reads, plans and writes containerd's config file as a unit: the pure edit of config-edit.ts
// plus what depends on the file's form (a new file, a template, a drop-in that we own).

export interface ConfigSnapshot {
  /** The file's text, or null when it does not exist. */
  text: string | null;
}

export interface PlannedConfig {
  before: ConfigSnapshot;
  /** The file's new text, or null to delete it. */
  after: string | null;
  changed: boolean;
  splice: SpliceRecord;
  created: boolean;
}

export async function readConfig(host: Host, configPath: string): Promise<ConfigSnapshot> {
  return { text: await readConfigText(host, configPath) };
}

/**
 * containerd's config (or a file it imports) as text, null when absent. A symlink is followed
 * within the host root; a dangling one, a FIFO or device, or bytes that are not UTF-8 (containerd's
 * TOML must be UTF-8) are refused, naming the file, and nothing is changed.
 */
export async function readConfigText(host: Host, configPath: string): Promise<string | null> {
  try {
    return await host.readText(configPath);
  } catch (error) {
    if (error instanceof InstallerError) throw error;
    if (error instanceof HostFileError && /UTF-8/.test(error.message)) {
      throw new InstallerError('ConfigInvalid', `containerd config ${error.message}; containerd's TOML must be UTF-8, so shimkeeper refuses to edit it (the file is left untouched)`);
    }
    if (error instanceof HostFileError && /symlink/.test(error.message)) throw new InstallerError('HostPathUnresolvable', `containerd config ${error.message}. Nothing was changed`);
    throw new InstallerError('ConfigUnreadable', `cannot read containerd config ${configPath}: ${(error as Error).message}. Nothing was changed`);
  }
}

/** The text a file starts with when shimkeeper has to create it. */
function initialText(target: ContainerdTarget): string {
  if (target.format === 'template') return '{{ template "base" . }}\n';
  if (target.format === 'drop-in') return `# Written by shimkeeper; removed when the shim is uninstalled.\nversion = ${target.configVersion}\n`;
  return `version = ${target.configVersion}\n`;
}

export function planInstallConfig(
  target: ContainerdTarget,
  before: ConfigSnapshot,
  edit: { shim: string; stanza: RuntimeStanza; previous?: SpliceRecord | undefined; previousCreated?: boolean | undefined; takeOverHandler?: boolean },
): PlannedConfig {
  const created = before.text === null;
  const current = before.text ?? initialText(target);
  // A new handler for the same Shim: its old block goes first, exactly as an uninstall takes it
  // out (a stanza it displaced comes back), and the new one goes in as a first install would.
  const oldHandler = target.format === 'template' ? null : managedBlockHandler(current, edit.shim, target.configVersion);
  const handlerChanges = oldHandler !== null && oldHandler !== edit.stanza.handler;
  const withoutOld = handlerChanges ? removeStanza(current, edit.shim, edit.previous) : null;
  const original = withoutOld ? withoutOld.text : current;
  const parsed = target.format === 'template' ? null : parseConfig(original, target.configPath);
  if (!findManagedBlock(original, edit.shim)) {
    const criTable = parsed ? lookUp(parsed, criRuntimesPath(target.configVersion).slice(0, -1)) : null;
    checkDefaultRuntime(criTable, edit.stanza.handler, target.configPath, edit.takeOverHandler ?? false);
  }
  const result = applyStanza(original, {
    shim: edit.shim,
    configVersion: target.configVersion,
    stanza: edit.stanza,
    previous: withoutOld ? undefined : edit.previous,
    format: target.format,
    file: target.configPath,
    created: created || (withoutOld ? (withoutOld.created ?? edit.previousCreated ?? false) : (edit.previousCreated ?? false)),
    takeOverHandler: edit.takeOverHandler ?? false,
  });
  if (target.format !== 'template') {
    verifyEdit(original, result.text, {
      configVersion: target.configVersion,
      handler: edit.stanza.handler,
      expected: stanzaAsParsed(edit.stanza),
      file: target.configPath,
    });
  }
  return { before, after: result.text, changed: created || handlerChanges || result.changed, splice: result.record, created };
}

export function planUninstallConfig(target: ContainerdTarget, before: ConfigSnapshot, shim: string, splice: SpliceRecord | undefined, createdByUs: boolean): PlannedConfig {
  const noChange = { before, after: before.text, changed: false, splice: splice ?? { separator: '', displaced: '' }, created: false };
  if (before.text === null) return noChange;
  const result = removeStanza(before.text, shim, splice);
  if (!result.changed) return noChange;
  // A file we created (or a drop-in we own) that now holds only what we put there goes away. The
  // block's own record says whether we created it; state.json says so for older blocks.
  const deleteFile = target.format === 'drop-in' || ((result.created ?? createdByUs) && result.text === initialText(target));
  return { ...noChange, after: deleteFile ? null : result.text, changed: true };
}

/** Writes the config's new text, or deletes the file when the text is null. */
export async function writeConfig(host: Host, configPath: string, text: string | null): Promise<void> {
  if (text === null) await host.remove(configPath);
  else await host.writeAtomic(configPath, text);
}

const BACKUPS_KEPT = 10;

/**
 * Keeps a copy of the config as it was before shimkeeper changed it, in <install-dir>/backups, for
 * a person to look at or restore by hand; the newest ten are kept. (Uninstall itself restores from
 * the splice record, which survives other edits of the file.)
 */
export async function backUpConfig(host: Host, installDir: string, configPath: string, before: ConfigSnapshot, shim: string): Promise<string | null> {
  if (before.text === null) return null;
  const dir = path.posix.join(installDir, 'backups');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = path.posix.join(dir, `${path.posix.basename(configPath)}.${stamp}.${shim}.bak`);
  await host.writeAtomic(file, before.text, { mode: 0o600 });
  const backups = (await host.list(dir)).filter((name) => name.endsWith('.bak')).sort();
  for (const old of backups.slice(0, Math.max(0, backups.length - BACKUPS_KEPT))) await host.remove(path.posix.join(dir, old));
  return file;
}
