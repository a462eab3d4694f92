import path from 'node:path';
import type { Host } from '../host.ts';
import { configVersionOf, parseConfig, type ConfigFormat } from './config-edit.ts';
import { readConfigText } from './config-file.ts';

// Finds where this node's containerd keeps its config, in which form, and how to restart it.
// Paths in a ContainerdTarget are host paths (as containerd sees them).

export type ContainerdFlavour = 'default' | 'k3s' | 'rke2' | 'k0s' | 'microk8s';

export interface ContainerdTarget {
  flavour: ContainerdFlavour;
  /** The file shimkeeper edits (or, for drop-ins, owns). */
  configPath: string;
  format: ConfigFormat;
  configVersion: number;
  socketPath: string;
  /** systemd units that may run containerd on this flavour, most likely first. */
  systemdUnits: string[];
  /** k0s notices drop-in changes by itself; everyone else needs containerd restarted. */
  restartRequired: boolean;
}

export interface DetectOptions {
  host: Host;
  shim: string;
  configPath?: string | undefined;
  socketPath?: string | undefined;
}

const RANCHER_DIRS = {
  rke2: '/var/lib/rancher/rke2/agent/etc/containerd',
  k3s: '/var/lib/rancher/k3s/agent/etc/containerd',
} as const;
const MICROK8S_TEMPLATE = '/var/snap/microk8s/current/args/containerd-template.toml';

export async function detectContainerd(options: DetectOptions): Promise<ContainerdTarget> {
  const detected = await detectFlavour(options);
  if (!options.configPath) return { ...detected, socketPath: options.socketPath ?? detected.socketPath };
  const format: ConfigFormat = options.configPath.endsWith('.tmpl') ? 'template' : 'toml';
  const configVersion = format === 'toml' ? await versionOfFile(options.host, options.configPath, detected.configVersion) : detected.configVersion;
  return {
    ...detected,
    configPath: options.configPath,
    format,
    configVersion,
    socketPath: options.socketPath ?? detected.socketPath,
    restartRequired: true,
  };
}

async function detectFlavour(options: DetectOptions): Promise<ContainerdTarget> {
  const { host, shim } = options;

  if ((await host.exists('/etc/k0s')) || (await host.exists('/var/lib/k0s'))) {
    return {
      flavour: 'k0s',
      configPath: `/etc/k0s/containerd.d/shimkeeper-${shim}.toml`,
      format: 'drop-in',
      configVersion: 2,
      socketPath: '/run/k0s/containerd.sock',
      systemdUnits: ['k0sworker', 'k0scontroller'],
      restartRequired: false,
    };
  }
  for (const flavour of ['rke2', 'k3s'] as const) {
    if (await host.exists(RANCHER_DIRS[flavour])) return detectRancher(host, flavour, shim);
  }
  if (await host.exists(MICROK8S_TEMPLATE)) {
    return {
      flavour: 'microk8s',
      configPath: MICROK8S_TEMPLATE,
      format: 'toml',
      configVersion: await versionOfFile(host, MICROK8S_TEMPLATE, 2),
      socketPath: '/var/snap/microk8s/common/run/containerd.sock',
      systemdUnits: ['snap.microk8s.daemon-containerd'],
      restartRequired: true,
    };
  }
  const configPath = '/etc/containerd/config.toml';
  return {
    flavour: 'default',
    configPath,
    format: 'toml',
    configVersion: await versionOfFile(host, configPath, 2),
    socketPath: '/run/containerd/containerd.sock',
    systemdUnits: ['containerd'],
    restartRequired: true,
  };
}

/**
 * k3s and rke2 render config.toml from a template at every start, so an edit of config.toml would
 * be lost. Their template must start with `{{ template "base" . }}` so the distribution's own
 * settings are kept; with containerd 2 (config v3) the rendered file may import a drop-in directory.
 */
async function detectRancher(host: Host, flavour: 'k3s' | 'rke2', shim: string): Promise<ContainerdTarget> {
  const dir = RANCHER_DIRS[flavour];
  const base = {
    flavour,
    socketPath: '/run/k3s/containerd/containerd.sock',
    systemdUnits: flavour === 'k3s' ? ['k3s', 'k3s-agent'] : ['rke2-server', 'rke2-agent'],
    restartRequired: true,
  };
  const rendered = await readParsedIfPresent(host, `${dir}/config.toml`);
  const renderedVersion = rendered ? configVersionOf(rendered) : undefined;
  const importedDropInDir = rendered ? dropInDirectoryImported(rendered, dir) : undefined;
  if (importedDropInDir && (renderedVersion ?? 0) >= 3) {
    return { ...base, configPath: `${importedDropInDir}/shimkeeper-${shim}.toml`, format: 'drop-in', configVersion: renderedVersion! };
  }
  if (await host.exists(`${dir}/config-v3.toml.tmpl`)) {
    return { ...base, configPath: `${dir}/config-v3.toml.tmpl`, format: 'template', configVersion: 3 };
  }
  if (await host.exists(`${dir}/config.toml.tmpl`)) {
    return { ...base, configPath: `${dir}/config.toml.tmpl`, format: 'template', configVersion: renderedVersion ?? 2 };
  }
  const configVersion = renderedVersion ?? 2;
  const template = configVersion >= 3 ? 'config-v3.toml.tmpl' : 'config.toml.tmpl';
  return { ...base, configPath: `${dir}/${template}`, format: 'template', configVersion };
}

function dropInDirectoryImported(parsed: Record<string, unknown>, under: string): string | undefined {
  const imports = parsed['imports'];
  if (!Array.isArray(imports)) return undefined;
  for (const entry of imports) {
    if (typeof entry === 'string' && entry.startsWith(under) && /\.toml\.d\/\*\.toml$/.test(entry)) return path.posix.dirname(entry);
  }
  return undefined;
}

async function versionOfFile(host: Host, configPath: string, fallback: number): Promise<number> {
  const parsed = await readParsedIfPresent(host, configPath);
  return parsed ? configVersionOf(parsed) : fallback;
}

async function readParsedIfPresent(host: Host, configPath: string): Promise<Record<string, unknown> | undefined> {
  const text = await readConfigText(host, configPath);
  return text === null ? undefined : parseConfig(text, configPath);
}
