import { glob } from 'node:fs/promises';
import path from 'node:path';
import { InstallerError } from '../errors.ts';
import type { Host } from '../host.ts';
import { criRuntimesPath, configVersionOf, lookUp, parseConfig } from './config-edit.ts';
import type { ConfigSnapshot } from './config-file.ts';
import type { ContainerdTarget } from './detect.ts';
import { containerdMinor } from './runtime-type.ts';

// Files containerd imports can make a stanza in the main config dead, and that is found out before
// anything on the node changes:
// - containerd 1.x replaces a whole plugin table with an import's: a drop-in that sets anything of
//   the CRI plugin (registry mirrors, say) drops every runtime the main file defines;
// - on every release, an import that defines the same handler wins over the main file (2.x merges
//   imports field by field; 1.x replaces the table).
// The loaded config is checked again after the restart (verify.ts), which also catches what this
// cannot see (imports of imports, files that change meanwhile).

/** The CRI plugin's table in a config of this schema version. */
function criPluginPath(configVersion: number): string[] {
  return criRuntimesPath(configVersion).slice(0, 2);
}

export async function checkImports(host: Host, target: ContainerdTarget, before: ConfigSnapshot, handler: string, containerdVersion: string | null): Promise<void> {
  if (target.format !== 'toml' || before.text === null) return;
  const imports = parseConfig(before.text, target.configPath)['imports'];
  if (!Array.isArray(imports)) return;
  // Unknown (containerd not answering) counts as 1.x for a version 1 or 2 config: refusing is safer than a dead stanza.
  const major = containerdMinor(containerdVersion)?.[0] ?? (target.configVersion >= 3 ? 2 : 1);
  for (const file of await importedFiles(host, target.configPath, imports)) {
    if (file === target.configPath) continue;
    const text = await host.readText(file).catch(() => null);
    if (text === null) continue;
    let parsed: Record<string, unknown>;
    try {
      parsed = parseConfig(text, file);
    } catch {
      continue; // containerd itself refuses such a file; the health check reports that
    }
    const version = safeVersion(parsed, target.configVersion);
    if (lookUp(parsed, [...criRuntimesPath(version), handler]) !== undefined) {
      throw new InstallerError(
        'HandlerOverridden',
        `${file}, imported by ${target.configPath}, already defines runtime '${handler}', and containerd would use that definition instead of shimkeeper's; remove it there or give the Shim another handler. Nothing was changed`,
      );
    }
    if (major < 2 && lookUp(parsed, criPluginPath(version)) !== undefined) {
      throw new InstallerError(
        'ConfigOverriddenByImport',
        `${file}, imported by ${target.configPath}, sets the CRI plugin's settings, and containerd ${containerdVersion ?? '1.x'} replaces the whole ` +
          `[${criPluginPath(version).join('.')}] table with an import's, so a runtime added to ${target.configPath} would be ignored. ` +
          `Move those settings into ${target.configPath} (or upgrade to containerd 2.x, which merges imports). Nothing was changed`,
      );
    }
  }
}

function safeVersion(parsed: Record<string, unknown>, fallback: number): number {
  try {
    return parsed['version'] === undefined ? fallback : configVersionOf(parsed);
  } catch {
    return fallback;
  }
}

/** Host paths of the files `imports` names: absolute, or relative to the main config's directory; globs expanded. */
async function importedFiles(host: Host, configPath: string, imports: unknown[]): Promise<string[]> {
  const files: string[] = [];
  const rootHere = await host.path('/');
  for (const entry of imports) {
    if (typeof entry !== 'string' || entry === '') continue;
    const pattern = path.posix.isAbsolute(entry) ? entry : path.posix.join(path.posix.dirname(configPath), entry);
    for await (const match of glob(await host.path(pattern))) {
      files.push(`/${path.relative(rootHere, match).split(path.sep).join('/')}`);
    }
  }
  return files;
}
