// The one contract between the controller and the node installer, the only process boundary in
// shimkeeper (DESIGN.md, "Installer CLI contract"). The controller writes a Job whose environment
// holds the installer's flags; the installer reports one JSON result through its termination
// message. Both sides import every name, type and rule of that exchange from here, so neither can
// change it without the other failing to compile.

/** What an installer Job does on its node. */
export type JobAction = 'install' | 'uninstall';
/** The installer's commands: a Job's actions, plus `status` for people on the node. */
export type InstallerCommand = JobAction | 'status';
export const INSTALLER_COMMANDS: readonly InstallerCommand[] = ['install', 'uninstall', 'status'];

/** How the installer restarts containerd (`--restart`). */
export type RestartStrategy = 'auto' | 'systemd' | 'signal' | 'none';
export const RESTART_STRATEGIES: readonly RestartStrategy[] = ['auto', 'systemd', 'signal', 'none'];

export const INSTALLER_DEFAULTS = {
  /** Where the host's `/` is mounted in the installer container. */
  hostRoot: '/host',
  /** Host directory for binaries, backups and the state file. */
  installDir: '/opt/shimkeeper',
  restart: 'auto' as RestartStrategy,
  terminationLog: '/dev/termination-log',
} as const;

interface FlagSpec {
  /** The command-line flag, without `--`. */
  flag: string;
  /** The environment variable the flag is also read from (the flag in upper snake case). */
  env: string;
  type: 'string' | 'boolean';
  multiple?: true;
}

function flag(name: string, type: 'string' | 'boolean' = 'string', multiple?: true): FlagSpec {
  return { flag: name, env: name.replaceAll('-', '_').toUpperCase(), type, ...(multiple ? { multiple } : {}) };
}

/**
 * Every installer flag and its environment variable. The installer parses exactly these; the Job
 * sets its inputs through the `env` names. RUNTIME_OPTION in the environment is a JSON object of
 * strings (values are free text; the CLI flag takes KEY=VALUE and may repeat).
 */
export const INSTALLER_FLAGS = {
  hostRoot: flag('host-root'),
  shim: flag('shim'),
  handler: flag('handler'),
  url: flag('url'),
  sha256: flag('sha256'),
  insecureSkipChecksum: flag('insecure-skip-checksum', 'boolean'),
  version: flag('version'),
  runtimeOption: flag('runtime-option', 'string', true),
  installDir: flag('install-dir'),
  containerdConfig: flag('containerd-config'),
  containerdSocket: flag('containerd-socket'),
  restart: flag('restart'),
  shimBinary: flag('shim-binary'),
  /** Replace a runtime the node's containerd already has for the handler (Shim spec.runtimeClass.takeOverExistingHandler). */
  takeOverHandler: flag('take-over-handler', 'boolean'),
  /** Prove the handler with a pod sandbox even when nothing changed (the controller's drift re-checks). */
  verify: flag('verify', 'boolean'),
  maxArtifactBytes: flag('max-artifact-bytes'),
  downloadAttempts: flag('download-attempts'),
  downloadTimeout: flag('download-timeout'),
  healthTimeout: flag('health-timeout'),
  lockWait: flag('lock-wait'),
  terminationLog: flag('termination-log'),
} as const satisfies Record<string, FlagSpec>;

export type InstallerFlag = keyof typeof INSTALLER_FLAGS;

/**
 * Flags that carry what a node gets (and so its revision) or where it goes: only the controller's
 * Job sets them, extra environment from configuration never overrides them. Tuning knobs such as
 * CONTAINERD_CONFIG or MAX_ARTIFACT_BYTES stay open to it.
 */
export const JOB_OWNED_FLAGS: readonly InstallerFlag[] = [
  'shim',
  'handler',
  'hostRoot',
  'installDir',
  'restart',
  'url',
  'sha256',
  'insecureSkipChecksum',
  'version',
  'runtimeOption',
  'shimBinary',
  'takeOverHandler',
];

/**
 * Flags a cluster operator sets once for every installer Job (the controller's
 * `SHIMKEEPER_INSTALLER_<ENV>` settings, e.g. SHIMKEEPER_INSTALLER_INSTALL_DIR): where shimkeeper
 * keeps its files and how containerd is restarted (Job-owned, above), and the tuning knobs the
 * installer otherwise detects or defaults. The rest are per Shim, or fixed by the Job itself.
 */
export const OPERATOR_FLAGS = [
  'installDir',
  'restart',
  'containerdConfig',
  'containerdSocket',
  'maxArtifactBytes',
  'downloadAttempts',
  'downloadTimeout',
  'healthTimeout',
  'lockWait',
] as const satisfies readonly InstallerFlag[];

export type OperatorFlag = (typeof OPERATOR_FLAGS)[number];

/**
 * Every code the installer reports, and whether a failure with it leaves the node as it was (the
 * installer refused before changing anything, or undid what it changed and containerd is healthy
 * on the previous config). The controller keeps a node's ready label after such a failure only
 * when this says the node is intact.
 */
export const INSTALLER_ERROR_CODES = {
  InvalidArguments: { nodeIntact: true, meaning: 'the Job or command line gave an invalid flag' },
  InvalidUrl: { nodeIntact: true, meaning: 'the artifact location is not a usable URL' },
  InvalidRuntimeOption: { nodeIntact: true, meaning: 'a runtime option cannot be written into containerd config' },
  DownloadFailed: { nodeIntact: true, meaning: 'the artifact could not be downloaded' },
  DownloadInterrupted: { nodeIntact: true, meaning: 'the download broke off after retries' },
  HttpClientError: { nodeIntact: true, meaning: 'the artifact server answered 4xx' },
  HttpServerError: { nodeIntact: true, meaning: 'the artifact server answered 5xx after retries' },
  ArtifactTooLarge: { nodeIntact: true, meaning: 'the artifact exceeds the size cap' },
  ChecksumMismatch: { nodeIntact: true, meaning: 'the artifact does not match its sha256' },
  ArtifactInvalid: { nodeIntact: true, meaning: 'the artifact is not a readable archive or binary' },
  ArtifactUnsafe: { nodeIntact: true, meaning: 'the archive would write outside its directory or holds special files' },
  ShimNotFound: { nodeIntact: true, meaning: 'no shim binary in the archive' },
  ShimAmbiguous: { nodeIntact: true, meaning: 'several shim binaries in the archive; name one' },
  ConfigUnreadable: { nodeIntact: true, meaning: "containerd's config cannot be read" },
  ConfigCorrupt: { nodeIntact: true, meaning: "containerd's config is not valid TOML" },
  ConfigInvalid: { nodeIntact: true, meaning: "containerd's config is not what containerd accepts" },
  ConfigUnsupported: { nodeIntact: true, meaning: "containerd's config has a shape shimkeeper does not edit" },
  ConfigMoved: { nodeIntact: true, meaning: "containerd's config moved since the shim was installed" },
  StateUnreadable: { nodeIntact: true, meaning: "shimkeeper's state file cannot be read" },
  StateCorrupt: { nodeIntact: true, meaning: "shimkeeper's state file is not valid" },
  HostPathUnresolvable: { nodeIntact: true, meaning: 'a host path goes through a symlink loop or a dangling symlink; refused' },
  HandlerTaken: { nodeIntact: true, meaning: "another Shim's stanza on the node already defines the handler; refused" },
  HandlerExists: { nodeIntact: true, meaning: "the handler is containerd's default runtime or a hand-written runtime; refused without --take-over-handler" },
  LockBusy: { nodeIntact: true, meaning: 'another installer holds the node lock' },
  WriteFailed: { nodeIntact: true, meaning: 'a file could not be written (read-only or full)' },
  InstallFailed: { nodeIntact: true, meaning: 'the install failed and was rolled back' },
  UninstallFailed: { nodeIntact: true, meaning: 'the uninstall failed and was rolled back' },
  RestartFailed: { nodeIntact: true, meaning: 'containerd could not be restarted; rolled back' },
  ContainerdUnhealthy: { nodeIntact: true, meaning: 'containerd did not come back healthy; rolled back' },
  ShimDoesNotStart: { nodeIntact: true, meaning: 'no pod sandbox could start through the handler; rolled back' },
  HandlerOverridden: { nodeIntact: true, meaning: 'containerd loaded another definition of the handler (a drop-in wins); rolled back or refused' },
  RuntimeOptionsUnsupported: { nodeIntact: true, meaning: 'this containerd cannot pass the runtime options to the shim; refused' },
  ConfigOverriddenByImport: { nodeIntact: true, meaning: 'an imported file replaces the CRI settings the stanza would go into; refused' },
  Terminated: { nodeIntact: true, meaning: 'stopped by SIGTERM (its Pod deleted or evicted, its Job past its deadline) before the change was proven; rolled back' },
  RollbackFailed: { nodeIntact: false, meaning: 'the change failed and so did undoing it: containerd needs attention' },
  InternalError: { nodeIntact: false, meaning: 'the installer broke in an unforeseen way' },
} as const satisfies Record<string, { nodeIntact: boolean; meaning: string }>;

export type InstallerErrorCode = keyof typeof INSTALLER_ERROR_CODES;

export function isInstallerErrorCode(code: unknown): code is InstallerErrorCode {
  return typeof code === 'string' && Object.hasOwn(INSTALLER_ERROR_CODES, code);
}

/** Did a failure with this code leave the node as it was? Unknown codes count as not. */
export function failureLeavesNodeIntact(code: string | undefined): boolean {
  return isInstallerErrorCode(code) && INSTALLER_ERROR_CODES[code].nodeIntact;
}

/** What a successful install or uninstall reports. */
export interface ShimActionResult {
  ok: true;
  action: JobAction;
  shim: string;
  handler: string;
  version: string;
  revision: string;
  sha256: string;
  binaryPath: string;
  configPath: string;
  flavour: string;
  containerdVersion: string;
  restarted: boolean;
  changed: boolean;
  /** After uninstall: revisions whose binaries stay because running shims still execute them. */
  retainedRevisions?: string[];
  /** After an install that changed something: how the handler was proven to work. */
  verification?: Verification;
  /** What the installed binary says its version is (`<binary> -v`), when it says. */
  shimVersion?: string;
  timings?: Record<string, number>;
}

/**
 * How an install proved its handler: containerd's loaded runtime names the installed binary and
 * options, and a pod sandbox started through the handler (`started`), or could not be tried, with
 * the reason (`skipped`: containerd was not restarted, or it has no sandbox image to start).
 */
export interface Verification {
  sandbox: 'started' | 'skipped';
  reason?: string;
  /** Time to start, check and remove the sandbox. */
  ms: number;
  /**
   * When the sandbox that proved the handler was asked for (ISO 8601, the node's clock, as the
   * kubelet's Events are): a sandbox failure the kubelet reports after it means the node broke
   * since (the controller's drift signal). Set when `sandbox` is `started`.
   */
  provenAt?: string;
}

/** What `status` reports (run by people on a node; no Job runs it). */
export interface StatusResult {
  ok: true;
  action: 'status';
  installed: unknown;
  containerdVersion?: string;
  containerdError?: string;
}

export interface FailureResult {
  ok: false;
  action: string;
  shim: string;
  code: InstallerErrorCode;
  error: string;
}

export type InstallerResult = ShimActionResult | StatusResult | FailureResult;
/** What an installer Job can report: `status` never runs in a Job. */
export type JobResult = ShimActionResult | FailureResult;

/** The kubelet keeps at most this many bytes of a termination message. */
export const TERMINATION_MESSAGE_LIMIT = 4096;

/**
 * The result in a termination message: its last line that is a JSON object with a boolean `ok`
 * and the fields of a Job result. `null` when there is none (the pod died before reporting, or
 * the message was truncated). A failure with a code this version does not know is read as
 * `InternalError`, so a newer installer can never make an older controller trust a node.
 */
export function parseInstallerResult(message: string | undefined): JobResult | null {
  if (!message) return null;
  const lines = message.split('\n').map((line) => line.trim()).filter((line) => line.startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    const record = parseObject(lines[i]!);
    if (!record) continue;
    if (record.ok === true && (record.action === 'install' || record.action === 'uninstall')) {
      return record as unknown as ShimActionResult;
    }
    if (record.ok === false) {
      return {
        ok: false,
        action: typeof record.action === 'string' ? record.action : '',
        shim: typeof record.shim === 'string' ? record.shim : '',
        code: isInstallerErrorCode(record.code) ? record.code : 'InternalError',
        error: typeof record.error === 'string' ? record.error : 'installer failed',
      };
    }
  }
  return null;
}

function parseObject(line: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null; // not JSON: the caller looks at earlier lines
  }
}
