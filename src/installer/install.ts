import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ShimActionResult, Verification } from '../api/installer-contract.ts';
import { redactUrl } from '../api/redact.ts';
import { computeRevision } from '../api/revision.ts';
import { stanzaAsParsed, type RuntimeStanza } from './containerd/config-edit.ts';
import { planInstallConfig, readConfig, type ConfigSnapshot, type PlannedConfig } from './containerd/config-file.ts';
import { checkImports } from './containerd/imports.ts';
import { checkOptionsReachShim, runtimeTypeFor } from './containerd/runtime-type.ts';
import { detectContainerd, type ContainerdTarget } from './containerd/detect.ts';
import { InstallerError } from './errors.ts';
import { extractShim, MAX_ARCHIVE_ENTRIES, UNPACK_RATIO } from './extract.ts';
import { DEFAULT_FETCH, fetchArtifact, verifyDigest } from './fetch.ts';
import { Host } from './host.ts';
import { withHostLock } from './host-lock.ts';
import { checkOtherShims } from './containerd/handler-owner.ts';
import { forgetRevisionDirs, readHostState, recordedRevisionDirs, recordRevisionDir, stateFilePath, writeHostState, type HostState, type InstalledShim } from './host-state.ts';
import { collectOldRevisions, isExecutableFile, placeBinary, revisionDir } from './install-binary.ts';
import { step } from './steps.ts';
import { throwIfTerminated } from './termination.ts';
import { changeConfig, containerdFor, restartOntoChange, type InstallerSeams, type NodeRun } from './node-change.ts';
import type { InstallerOptions } from './options.ts';
import { shimReportedVersion } from './shim-version.ts';
import { UndoStack } from './undo.ts';
import { makeWorkDir } from './work-dir.ts';

// install: detect → (lock) prepare → fetch and place the binary → plan the config → apply it
// (write, restart) → check health → record state → collect old revisions. The host changes only
// after the artifact is verified; every change up to the health check records its inverse, and a
// failure rolls them all back.

type Timings = Record<string, number>;

interface InstallRun extends NodeRun {
  revision: string;
  state: HostState;
  previous: InstalledShim | undefined;
  before: ConfigSnapshot;
  timings: Timings;
}

interface ShimBinary {
  binaryName: string;
  /** Host path of the binary containerd runs. */
  binaryPath: string;
  /** False when the revision was already installed and is used as it is. */
  placedNow: boolean;
}

interface Applied {
  binary: ShimBinary;
  planned: PlannedConfig;
  restarted: boolean;
  containerdVersion: string;
  /** Absent on a no-op re-run, which proves nothing anew. */
  verification?: Verification;
}

export async function install(options: InstallerOptions, seams: InstallerSeams = {}): Promise<ShimActionResult> {
  const host = new Host(options.hostRoot);
  const target = await step('detect', () => detectContainerd({ host, shim: options.shim, configPath: options.containerdConfig, socketPath: options.containerdSocket }));
  return withHostLock(host, options.installDir, { waitMs: options.lockWaitMs }, async () => {
    const run = await step('read-state', () => prepare(options, host, target, seams));
    const applied = await changeNode(run).catch(async (error: unknown) => {
      throw await run.undo.rollBack(error, error instanceof InstallerError ? error.code : 'InstallFailed');
    });
    await step('record-state', () => record(run, applied));
    await step('collect-revisions', () => collect(run, path.posix.dirname(applied.binary.binaryPath), seams));
    return result(run, applied, await shimReportedVersion(host, applied.binary.binaryPath));
  });
}

/** Removes the recorded revision directories other than the installed one that no shim runs any more. */
async function collect(run: InstallRun, keep: string, seams: InstallerSeams): Promise<void> {
  const { removed } = await collectOldRevisions({ host: run.host, dirs: recordedRevisionDirs(run.state, run.options.shim), keep, procRoot: seams.procRoot });
  if (removed.length === 0) return;
  forgetRevisionDirs(run.state, run.options.shim, removed);
  await writeHostState(run.host, run.options.installDir, run.state);
}

/** Reads what is on the node now: the state file, the previous install and containerd's config. */
async function prepare(options: InstallerOptions, host: Host, target: ContainerdTarget, seams: InstallerSeams): Promise<InstallRun> {
  const revision = computeRevision({ url: options.url, sha256: options.sha256, handler: options.handler, runtimeOptions: options.runtimeOptions, shimBinary: options.shimBinary });
  const state = await readHostState(host, options.installDir);
  const previous = state.shims[options.shim];
  checkOtherShims(state.shims, options.shim, options.handler);
  const before = await readConfig(host, target.configPath);
  if (previous && previous.configPath !== target.configPath) {
    throw new InstallerError('ConfigMoved', `${options.shim} was installed into ${previous.configPath} but containerd's config is now ${target.configPath}; uninstall it first`);
  }
  const undo = new UndoStack({ command: 'install', shim: options.shim, configPath: target.configPath });
  return { options, host, target, containerd: containerdFor(host, target, options, seams), undo, revision, state, previous, before, timings: {} };
}

/** Every step that changes the node; each records its inverse on run.undo. The last one proves the result. */
async function changeNode(run: InstallRun): Promise<Applied> {
  const running = await step('check', async () => {
    const looked = await run.containerd.look(run.options.handler);
    checkOptionsReachShim(run.options.runtimeOptions, looked?.version ?? null);
    await checkImports(run.host, run.target, run.before, run.options.handler, looked?.version ?? null);
    // The edit is planned once with a placeholder binary, so a config that refuses the stanza
    // (a handler taken, a shape shimkeeper does not edit) is refused before the download.
    planConfig(run, stanzaFor(run, { binaryName: '', binaryPath: revisionDir(run.options.installDir, run.options.shim, run.revision), placedNow: false }, looked?.version ?? null));
    return looked;
  });
  const binary = await binaryFor(run);
  const stanza = stanzaFor(run, binary, running?.version ?? null);
  const planned = await step('plan-config', () => timed(run.timings, 'configureMs', () => planConfig(run, stanza)));
  const restarted = await applyChange(run, planned, binary, running?.handlerLoaded ?? null);
  const containerdVersion = await step('health', () => checkHealth(run, restarted));
  const applied: Applied = { binary, planned, restarted, containerdVersion };
  const changed = restarted || planned.changed || binary.placedNow;
  // A no-op re-run proves nothing anew, unless asked to (--verify): then the loaded handler is proven as it is.
  if (changed || run.options.verify) applied.verification = await step('verify', () => verify(run, stanza, restarted || !changed));
  return applied;
}

function planConfig(run: InstallRun, stanza: RuntimeStanza): PlannedConfig {
  const { options, previous } = run;
  return planInstallConfig(run.target, run.before, { shim: options.shim, stanza, previous: previous?.splice, previousCreated: previous?.createdConfig, takeOverHandler: options.takeOverHandler });
}

/** The previous install's binary when the revision is the same and still there; otherwise a fresh one. */
async function binaryFor(run: InstallRun): Promise<ShimBinary> {
  const { previous } = run;
  if (previous?.revision === run.revision && (await isExecutableFile(run.host, previous.binaryPath))) {
    return { binaryName: previous.binaryName, binaryPath: previous.binaryPath, placedNow: false };
  }
  return fetchAndPlace(run);
}

/** Downloads, verifies and unpacks the artifact in a private work dir, then places the binary in its revision dir. */
async function fetchAndPlace(run: InstallRun): Promise<ShimBinary> {
  const { options, host, timings } = run;
  const workDirHere = await makeWorkDir(host, options.installDir);
  try {
    const downloadStarted = Date.now();
    const artifact = await step('fetch', async () => {
      const fetched = await fetchArtifact({ url: options.url, destination: path.join(workDirHere, 'artifact'), ...DEFAULT_FETCH, maxBytes: options.maxArtifactBytes, attempts: options.downloadAttempts, deadlineMs: options.downloadTimeoutMs, host });
      if (options.sha256) timed(timings, 'checksumMs', () => verifyDigest(fetched, options.sha256, options.url));
      return fetched;
    });
    timings['downloadMs'] = Date.now() - downloadStarted;
    timings['artifactBytes'] = artifact.bytes;
    const extractStarted = Date.now();
    const extracted = await step('extract', async () =>
      extractShim({
        archive: artifact.path,
        destination: await mkdtemp(path.join(workDirHere, 'unpack-')),
        maxBytes: options.maxArtifactBytes * UNPACK_RATIO,
        maxEntries: MAX_ARCHIVE_ENTRIES,
        shimBinary: options.shimBinary,
        source: redactUrl(options.url),
        sourceMode: artifact.sourceMode,
      }),
    );
    const dir = revisionDir(options.installDir, options.shim, run.revision);
    const binaryPath = path.posix.join(dir, extracted.binaryName);
    // Recorded before it is created: a kill at any point leaves nothing unrecorded to clean up.
    const stateBefore = await host.readBytes(stateFilePath(options.installDir));
    await step('record-revision-dir', () => recordRevisionDir(host, options.installDir, run.state, options.shim, dir));
    recordPlacedRevision(run, dir, stateBefore);
    await step('place-binary', () => placeBinary(host, extracted.binaryPath, binaryPath, extracted.mode));
    timings['extractMs'] = Date.now() - extractStarted;
    return { binaryName: extracted.binaryName, binaryPath, placedNow: true };
  } finally {
    await rm(workDirHere, { recursive: true, force: true });
  }
}

/**
 * Rolling back removes the revision dir this run filled (unless the previous install runs from
 * it) and puts state.json back as it was before the directory was recorded in it.
 */
function recordPlacedRevision(run: InstallRun, dir: string, stateBefore: Buffer | null): void {
  const { host, options } = run;
  run.undo.changedFile({
    change: `the new binary in ${dir}`,
    undo: async () => {
      if (!(run.previous && path.posix.dirname(run.previous.binaryPath) === dir)) {
        await host.removeTree(dir);
        // The shim's own directory goes too when this install created it.
        await host.removeIfEmpty(path.posix.dirname(dir));
      }
      forgetRevisionDirs(run.state, options.shim, [dir]);
      if (stateBefore === null) await host.remove(stateFilePath(options.installDir));
      else await host.writeAtomic(stateFilePath(options.installDir), stateBefore);
    },
  });
}

/** The handler's stanza for the containerd running now (runtime-type.ts says why the version matters). */
function stanzaFor(run: InstallRun, binary: ShimBinary, containerdVersion: string | null): RuntimeStanza {
  const { options } = run;
  return { handler: options.handler, runtimeType: runtimeTypeFor(binary.binaryPath, containerdVersion), runtimePath: binary.binaryPath, options: options.runtimeOptions };
}

/**
 * Writes the config and restarts containerd when something changed or its running config lacks
 * the handler; a re-run that finds everything in place restarts nothing. Returns whether it restarted.
 */
async function applyChange(run: InstallRun, planned: PlannedConfig, binary: ShimBinary, loadedNow: boolean | null): Promise<boolean> {
  await changeConfig(run, planned);
  if (!planned.changed && !binary.placedNow && loadedNow !== false) return false;
  const started = Date.now();
  const restarted = await step('restart', () => restartOntoChange(run, handlerBefore(run, loadedNow)));
  run.timings['restartMs'] = Date.now() - started;
  return restarted;
}

/**
 * The handler a rollback must find loaded again: the previous install's, unless containerd ran
 * without it when this run looked (a drift repair after the stanza was removed by hand): undone,
 * the node is as it was found, handler missing, and that is no failed rollback.
 */
function handlerBefore(run: InstallRun, loadedNow: boolean | null): string | null {
  const previous = run.previous?.handler ?? null;
  return previous === run.options.handler && loadedNow === false ? null : previous;
}

/** containerd answers and is ready; after a restart, the handler must be loaded too. Returns its version. */
async function checkHealth(run: InstallRun, restarted: boolean): Promise<string> {
  const started = Date.now();
  const health = await run.containerd.waitHealthy(restarted ? run.options.handler : null, throwIfTerminated);
  run.timings['healthMs'] = Date.now() - started;
  return health.version;
}

/**
 * Proves the change: containerd loaded the stanza as written and a pod sandbox starts through the
 * handler. A containerd that was not restarted (`--restart none`, k0s) has not loaded it yet.
 */
async function verify(run: InstallRun, stanza: RuntimeStanza, loaded: boolean): Promise<Verification> {
  if (!loaded) return { sandbox: 'skipped', reason: 'containerd was not restarted, so it has not loaded the handler yet', ms: 0 };
  const expected = { handler: stanza.handler, runtimeType: stanza.runtimeType, runtimePath: stanza.runtimePath, options: stanzaOptionsAsParsed(stanza), configPath: run.target.configPath };
  const verification = await run.containerd.verify(expected, stanza.options['SystemdCgroup'] === 'true');
  run.timings['verifyMs'] = verification.ms;
  return verification;
}

/** Writes state.json when the record changed (a no-op re-run writes nothing). */
async function record(run: InstallRun, { binary, planned }: Applied): Promise<void> {
  const { options, target, previous } = run;
  const installed: InstalledShim = {
    shim: options.shim,
    handler: options.handler,
    version: options.version,
    revision: run.revision,
    sha256: options.sha256,
    binaryName: binary.binaryName,
    binaryPath: binary.binaryPath,
    configPath: target.configPath,
    configFormat: target.format,
    configVersion: target.configVersion,
    createdConfig: previous ? previous.createdConfig : planned.created,
    splice: planned.splice,
    runtimeOptions: options.runtimeOptions,
    installedAt: previous?.revision === run.revision && !planned.changed ? previous.installedAt : new Date().toISOString(),
  };
  if (JSON.stringify(previous) === JSON.stringify(installed)) return;
  // The previous revision's directory stays recorded until clean-up removes it (it may be busy).
  run.state.revisionDirs = { ...run.state.revisionDirs, [options.shim]: recordedRevisionDirs(run.state, options.shim) };
  run.state.shims[options.shim] = installed;
  await writeHostState(run.host, options.installDir, run.state);
}

function result(run: InstallRun, { binary, planned, restarted, containerdVersion, verification }: Applied, shimVersion: string | undefined): ShimActionResult {
  const { options, target } = run;
  return {
    ok: true,
    action: 'install',
    shim: options.shim,
    handler: options.handler,
    version: options.version,
    revision: run.revision,
    sha256: options.sha256,
    binaryPath: binary.binaryPath,
    configPath: target.configPath,
    flavour: target.flavour,
    containerdVersion,
    restarted,
    changed: planned.changed || binary.placedNow,
    ...(verification ? { verification } : {}),
    ...(shimVersion ? { shimVersion } : {}),
    timings: run.timings,
  };
}

function stanzaOptionsAsParsed(stanza: RuntimeStanza): Record<string, unknown> {
  return (stanzaAsParsed(stanza)['options'] as Record<string, unknown> | undefined) ?? {};
}

function timed<T>(timings: Timings, key: string, work: () => T): T {
  const started = Date.now();
  try {
    return work();
  } finally {
    timings[key] = Date.now() - started;
  }
}
