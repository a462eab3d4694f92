import { parseArgs, type ParseArgsConfig } from 'node:util';
import semver from 'semver';
import { InstallerError } from './errors.ts';
import { INSTALLER_COMMANDS, INSTALLER_DEFAULTS, INSTALLER_FLAGS, RESTART_STRATEGIES, type InstallerCommand, type InstallerFlag, type RestartStrategy } from '../api/installer-contract.ts';
import { DEFAULT_FETCH } from './fetch.ts';
import { UNPACK_RATIO } from './extract.ts';

// Parses the CLI contract (src/api/installer-contract.ts). Every flag can also come from its
// environment variable (`--host-root` ← HOST_ROOT), which is how the controller's Job passes them;
// a flag on the command line wins over the environment.

export type Command = InstallerCommand;

export interface InstallerOptions {
  command: Command;
  hostRoot: string;
  shim: string;
  handler: string;
  url: string;
  /** '' only with --insecure-skip-checksum. */
  sha256: string;
  insecureSkipChecksum: boolean;
  /** Replace a hand-written runtime or containerd's default runtime for the handler (containerd/handler-owner.ts). */
  takeOverHandler: boolean;
  /** Prove the handler with a pod sandbox even when nothing changed (the controller's re-checks). */
  verify: boolean;
  version: string;
  runtimeOptions: Record<string, string>;
  installDir: string;
  containerdConfig?: string | undefined;
  containerdSocket?: string | undefined;
  restart: RestartStrategy;
  shimBinary?: string | undefined;
  maxArtifactBytes: number;
  downloadAttempts: number;
  /** The whole download, every attempt included. */
  downloadTimeoutMs: number;
  healthTimeoutMs: number;
  lockWaitMs: number;
  terminationLog: string;
}

/** parseArgs' view of the contract's flags, plus --help. */
const PARSE_OPTIONS: NonNullable<ParseArgsConfig['options']> = {
  ...Object.fromEntries(Object.values(INSTALLER_FLAGS).map((spec) => [spec.flag, { type: spec.type, ...(spec.type === 'string' && 'multiple' in spec ? { multiple: true } : {}) }])),
  help: { type: 'boolean', short: 'h' },
};

export const USAGE = `Usage: shimkeeper-installer install|uninstall|status [flags]
       shimkeeper-installer checksum --url URL [--platform OS/ARCH]   (see checksum --help)

Installs a containerd shim on this node, wires it into containerd's config, restarts containerd
and checks that it came back; or undoes all of that. Prints one JSON result as its last line.

Flags (each also read from the environment variable in upper snake case, e.g. HOST_ROOT):
  --host-root DIR            the host's / as mounted in this container (default /host)
  --shim NAME                name of the Shim (required)
  --handler NAME             CRI runtime handler (default: the shim name)
  --url URL                  artifact: https://, http:// or file:// (install)
  --sha256 HEX               expected sha256 of the artifact (install, required)
  --insecure-skip-checksum   install without --sha256 (the Shim's insecureSkipChecksum)
  --version SEMVER           version of the shim, recorded and reported
  --runtime-option KEY=VALUE containerd runtime option (repeatable; env RUNTIME_OPTION takes
                             comma- or newline-separated pairs, or a JSON object of strings)
  --install-dir DIR          host directory for binaries and state (default /opt/shimkeeper)
  --containerd-config PATH   host path of the containerd config (default: detected)
  --containerd-socket PATH   host path of containerd's socket (default: detected)
  --restart MODE             auto|systemd|signal|none (default auto)
  --take-over-handler        replace a hand-written runtime for the handler, or containerd's
                             default runtime (put back on uninstall); never another Shim's
  --verify                   prove the handler with a pod sandbox even when nothing changed
  --shim-binary NAME         the shim's file name in the archive (default: the one
                             containerd-shim-*-v1|v2 file)
  --max-artifact-bytes N     refuse larger downloads (default ${DEFAULT_FETCH.maxBytes}); archives
                             may unpack to at most ${UNPACK_RATIO} times this
  --download-attempts N      tries per download, with exponential backoff (default ${DEFAULT_FETCH.attempts})
  --download-timeout SECONDS how long the whole download may take, retries included
                             (default ${DEFAULT_FETCH.deadlineMs / 1000})
  --health-timeout SECONDS   how long containerd may take to come back (default 60)
  --lock-wait SECONDS        how long to wait for another installer on this node (default 300)
  --termination-log PATH     where the result is also written (default /dev/termination-log)
`;

export class UsageError extends InstallerError {
  constructor(message: string) {
    super('InvalidArguments', message);
  }
}

export function parseInstallerArgs(argv: string[], env: NodeJS.ProcessEnv): InstallerOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: PARSE_OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${USAGE}`);
  }
  if (parsed.values.help) return 'help';
  const command = parsed.positionals[0];
  if (!INSTALLER_COMMANDS.includes(command as InstallerCommand)) {
    throw new UsageError(`expected a command install, uninstall or status, got ${JSON.stringify(command ?? '')}\n\n${USAGE}`);
  }
  const values = parsed.values as Record<string, string | string[] | boolean | undefined>;
  const read = (key: InstallerFlag): string | undefined => {
    const value = values[INSTALLER_FLAGS[key].flag];
    if (typeof value === 'string') return value;
    const fromEnv = env[INSTALLER_FLAGS[key].env];
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  };
  const shim = read('shim') ?? '';
  const options: InstallerOptions = {
    command: command as InstallerCommand,
    hostRoot: read('hostRoot') ?? INSTALLER_DEFAULTS.hostRoot,
    shim,
    handler: read('handler') ?? shim,
    url: read('url') ?? '',
    sha256: (read('sha256') ?? '').toLowerCase(),
    insecureSkipChecksum: values[INSTALLER_FLAGS.insecureSkipChecksum.flag] === true || env[INSTALLER_FLAGS.insecureSkipChecksum.env] === 'true',
    takeOverHandler: values[INSTALLER_FLAGS.takeOverHandler.flag] === true || env[INSTALLER_FLAGS.takeOverHandler.env] === 'true',
    verify: values[INSTALLER_FLAGS.verify.flag] === true || env[INSTALLER_FLAGS.verify.env] === 'true',
    version: read('version') ?? '',
    runtimeOptions: parseRuntimeOptions(values[INSTALLER_FLAGS.runtimeOption.flag] as string[] | undefined, env[INSTALLER_FLAGS.runtimeOption.env]),
    installDir: read('installDir') ?? INSTALLER_DEFAULTS.installDir,
    containerdConfig: read('containerdConfig'),
    containerdSocket: read('containerdSocket'),
    restart: parseRestart(read('restart') ?? INSTALLER_DEFAULTS.restart),
    shimBinary: read('shimBinary'),
    maxArtifactBytes: positiveNumber('max-artifact-bytes', read('maxArtifactBytes'), DEFAULT_FETCH.maxBytes),
    downloadAttempts: Math.floor(positiveNumber('download-attempts', read('downloadAttempts'), DEFAULT_FETCH.attempts)),
    downloadTimeoutMs: positiveNumber('download-timeout', read('downloadTimeout'), DEFAULT_FETCH.deadlineMs / 1000) * 1000,
    healthTimeoutMs: positiveNumber('health-timeout', read('healthTimeout'), 60) * 1000,
    lockWaitMs: positiveNumber('lock-wait', read('lockWait'), 300) * 1000,
    terminationLog: read('terminationLog') ?? INSTALLER_DEFAULTS.terminationLog,
  };
  validate(options);
  return options;
}

/**
 * --runtime-option KEY=VALUE (repeatable), or RUNTIME_OPTION: either a JSON object of strings (what
 * the controller's Job passes: option values are free text, and a comma or newline in one would
 * split a list in the wrong place) or, for people, comma- or newline-separated KEY=VALUE pairs.
 */
function parseRuntimeOptions(fromFlags: string[] | undefined, fromEnv: string | undefined): Record<string, string> {
  let entries: Array<[string, unknown]>;
  if (fromFlags) entries = fromFlags.map(splitPair);
  else if (fromEnv?.trimStart().startsWith('{')) entries = Object.entries(parseJsonOptions(fromEnv));
  else entries = (fromEnv ? fromEnv.split(/[\n,]/).filter((p) => p.trim() !== '') : []).map(splitPair);
  const options = new Map<string, string>();
  for (const [key, value] of entries) {
    if (!/^[A-Za-z0-9_-]+$/.test(key)) throw new UsageError(`--runtime-option key ${JSON.stringify(key)} may hold only letters, digits, '_' and '-'`);
    if (typeof value !== 'string') throw new UsageError(`runtime option ${key} must be a string, not ${JSON.stringify(value)}`);
    if (options.has(key)) throw new UsageError(`--runtime-option ${key} is given twice`);
    options.set(key, value);
  }
  // fromEntries defines own properties, so even a key named __proto__ stays an ordinary option.
  return Object.fromEntries(options);
}

function splitPair(pair: string): [string, string] {
  const eq = pair.indexOf('=');
  if (eq <= 0) throw new UsageError(`--runtime-option ${JSON.stringify(pair)} is not KEY=VALUE`);
  return [pair.slice(0, eq).trim(), pair.slice(eq + 1)];
}

function parseJsonOptions(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`RUNTIME_OPTION starts with '{' but is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError('RUNTIME_OPTION must be a JSON object of strings');
  }
  return value as Record<string, unknown>;
}

function parseRestart(value: string): RestartStrategy {
  if ((RESTART_STRATEGIES as readonly string[]).includes(value)) return value as RestartStrategy;
  throw new UsageError(`--restart must be auto, systemd, signal or none, not ${JSON.stringify(value)}`);
}

export function positiveNumber(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`--${flag} must be a positive number, not ${JSON.stringify(raw)}`);
  return value;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function validate(options: InstallerOptions): void {
  if (options.command === 'status' && options.shim === '') return;
  // The CRD limits Shim names to DNS labels: they name directories and config markers on the node.
  if (!DNS_LABEL.test(options.shim) || options.shim.length > 63) {
    throw new UsageError(`--shim must be a Shim name: a DNS label (lowercase letters, digits and '-', at most 63), got ${JSON.stringify(options.shim)}`);
  }
  if (!DNS_LABEL.test(options.handler) || options.handler.length > 63) {
    throw new UsageError(`--handler must be a DNS label (lowercase letters, digits and '-', at most 63), got ${JSON.stringify(options.handler)}`);
  }
  if (!options.installDir.startsWith('/')) throw new UsageError(`--install-dir must be an absolute host path, got ${options.installDir}`);
  for (const [flag, value] of [['containerd-config', options.containerdConfig], ['containerd-socket', options.containerdSocket]] as const) {
    if (value !== undefined && !value.startsWith('/')) throw new UsageError(`--${flag} must be an absolute host path, got ${value}`);
  }
  if (options.command !== 'install') return;
  if (!options.url) throw new UsageError('install needs --url (the artifact to download)');
  const unverifiedByChoice = options.insecureSkipChecksum && options.sha256 === '';
  if (!unverifiedByChoice && !/^[a-f0-9]{64}$/.test(options.sha256)) {
    throw new UsageError(`install needs --sha256 with the artifact's 64-hex-digit sha256 digest, got ${JSON.stringify(options.sha256)}`);
  }
  if (options.version !== '' && !semver.valid(options.version, { loose: true })) {
    throw new UsageError(`--version must be a semantic version such as 1.2.3, got ${JSON.stringify(options.version)}`);
  }
}
