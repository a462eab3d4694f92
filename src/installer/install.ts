import type { ShimActionResult } from '../api/installer-contract.ts';
import { mkdtemp, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { computeRevision } from '../api/revision.ts';
import type { RuntimeStanza } from './containerd/config-edit.ts';
import { backUpConfig, planInstallConfig, readConfig, writeConfig, type PlannedConfig } from './containerd/config-file.ts';
import { detectContainerd, hostPath, type ContainerdTarget } from './containerd/detect.ts';
import { waitForContainerd } from './containerd/health.ts';
import { restartContainerd } from './containerd/restart.ts';
import { describeError, InstallerError } from './errors.ts';
import { extractShim, MAX_ARCHIVE_ENTRIES, UNPACK_RATIO } from './extract.ts';
import { DEFAULT_FETCH, fetchArtifact, verifyDigest } from './fetch.ts';
import { readHostState, writeHostState, type InstalledShim } from './host-state.ts';
import { withHostLock } from './host-lock.ts';
import { collectOldRevisions, isExecutableFile, placeBinary, revisionDir } from './install-binary.ts';
import type { InstallerOptions } from './options.ts';

// install: detect → fetch → verify → extract → place binary → edit config → restart → verify
// health (roll back on failure) → record state → collect old revisions. The host changes only
// after the artifact is verified, and each change before the health check can be undone.

type Timings = Record<string, number>;

export async function install(options: InstallerOptions, procRoot?: string): Promise<ShimActionResult> {
  const timings: Timings = {};
  const revision = computeRevision({
    url: options.url,
    sha256: options.sha256,
    handler: options.handler,
    runtimeOptions: options.runtimeOptions,
    shimBinary: options.shimBinary,
  });
  const installDirOnHost = hostPath(options.hostRoot, options.installDir);
  const target = await detectContainerd({ hostRoot: options.hostRoot, shim: options.shim, configPath: options.containerdConfig, socketPath: options.containerdSocket });

  return withHostLock(installDirOnHost, { waitMs: options.lockWaitMs }, async () => {
    const state = await readHostState(installDirOnHost);
    const previous = state.shims[options.shim];
    const configOnHost = hostPath(options.hostRoot, target.configPath);
    const before = await readConfig(configOnHost);
    if (previous && previous.configPath !== target.configPath) {
      throw new InstallerError('ConfigMoved', `${options.shim} was installed into ${previous.configPath} but containerd's config is now ${target.configPath}; uninstall it first`);
    }

    const alreadyInstalled = previous?.revision === revision && (await isExecutableFile(hostPath(options.hostRoot, previous.binaryPath)));
    let binaryName: string;
    let binaryPath: string;
    let placedNewBinary = false;
    if (alreadyInstalled) {
      binaryName = previous.binaryName;
      binaryPath = previous.binaryPath;
    } else {
      const fetched = await fetchAndPlace(options, revision, installDirOnHost, timings);
      binaryName = fetched.binaryName;
      binaryPath = fetched.binaryPath;
      placedNewBinary = true;
    }

    // runtime_type holds the binary's absolute path: containerd 1.6 resolves only that (it ignores
    // runtime_path when starting a sandbox), and later versions accept it too. runtime_path says
    // the same for 1.7+, where it is the documented field.
    const stanza: RuntimeStanza = { handler: options.handler, runtimeType: binaryPath, runtimePath: binaryPath, options: options.runtimeOptions };
    let planned: PlannedConfig;
    try {
      planned = timed(timings, 'configureMs', () => planInstallConfig(target, before, { shim: options.shim, stanza, previous: previous?.splice }));
    } catch (error) {
      // The config cannot take the stanza: the binary placed for it goes again.
      if (placedNewBinary) await removeRevisionDir(options, revisionDir(options.installDir, options.shim, revision), previous);
      throw error;
    }
    const loadedNow = await handlerLoaded(hostPath(options.hostRoot, target.socketPath), options.handler);
    const mustRestart = planned.changed || placedNewBinary || loadedNow === false;

    let restarted = false;
    let wroteConfig = false;
    let containerdVersion = '';
    try {
      if (planned.changed) {
        await backUpConfig(installDirOnHost, target.configPath, before, options.shim);
        await writeConfig(configOnHost, planned.after);
        wroteConfig = true;
      }
      if (mustRestart) {
        const started = Date.now();
        const outcome = await restartContainerd({ strategy: options.restart, hostRoot: options.hostRoot, target, procRoot });
        restarted = outcome.method !== 'none';
        timings['restartMs'] = Date.now() - started;
      }
      const healthStarted = Date.now();
      const health = await waitForContainerd({ socketPath: hostPath(options.hostRoot, target.socketPath), handler: restarted ? options.handler : null, timeoutMs: options.healthTimeoutMs });
      timings['healthMs'] = Date.now() - healthStarted;
      containerdVersion = health.version;
    } catch (error) {
      await rollBack({ options, target, planned, configOnHost, wroteConfig, restarted, previous, newRevisionDir: placedNewBinary ? revisionDir(options.installDir, options.shim, revision) : null, procRoot });
      throw new InstallerError(
        error instanceof InstallerError ? error.code : 'InstallFailed',
        `${describeError(error)}. Rolled back: ${target.configPath} is as it was${restarted ? ', containerd was restarted on it and is healthy' : ''}.`,
        { cause: error },
      );
    }

    const record: InstalledShim = {
      shim: options.shim,
      handler: options.handler,
      version: options.version,
      revision,
      sha256: options.sha256,
      binaryName,
      binaryPath,
      configPath: target.configPath,
      configFormat: target.format,
      configVersion: target.configVersion,
      createdConfig: previous ? previous.createdConfig : planned.created,
      splice: planned.splice,
      runtimeOptions: options.runtimeOptions,
      installedAt: previous?.revision === revision && !planned.changed ? previous.installedAt : new Date().toISOString(),
    };
    if (JSON.stringify(previous) !== JSON.stringify(record)) {
      state.shims[options.shim] = record;
      await writeHostState(installDirOnHost, state);
    }
    await collectOldRevisions({ hostRoot: options.hostRoot, installDir: options.installDir, shim: options.shim, keep: revision, procRoot });

    return {
      ok: true,
      action: 'install',
      shim: options.shim,
      handler: options.handler,
      version: options.version,
      revision,
      sha256: options.sha256,
      binaryPath,
      configPath: target.configPath,
      flavour: target.flavour,
      containerdVersion,
      restarted,
      changed: planned.changed || placedNewBinary,
      timings,
    };
  });
}

async function fetchAndPlace(options: InstallerOptions, revision: string, installDirOnHost: string, timings: Timings): Promise<{ binaryName: string; binaryPath: string }> {
  const workDir = await mkdtemp(path.join(installDirOnHost, '.work-'));
  try {
    const downloadStarted = Date.now();
    const artifact = await fetchArtifact({ url: options.url, destination: path.join(workDir, 'artifact'), ...DEFAULT_FETCH, maxBytes: options.maxArtifactBytes, attempts: options.downloadAttempts });
    timings['downloadMs'] = Date.now() - downloadStarted;
    timings['artifactBytes'] = artifact.bytes;
    if (options.sha256) timed(timings, 'verifyMs', () => verifyDigest(artifact, options.sha256, options.url));
    const extractStarted = Date.now();
    const unpackDir = await mkdtemp(path.join(workDir, 'unpack-'));
    const extracted = await extractShim({
      archive: artifact.path,
      destination: unpackDir,
      maxBytes: options.maxArtifactBytes * UNPACK_RATIO,
      maxEntries: MAX_ARCHIVE_ENTRIES,
      shimBinary: options.shimBinary,
      source: options.url,
    });
    const binaryPath = path.posix.join(revisionDir(options.installDir, options.shim, revision), extracted.binaryName);
    await placeBinary(extracted.binaryPath, hostPath(options.hostRoot, binaryPath));
    timings['extractMs'] = Date.now() - extractStarted;
    return { binaryName: extracted.binaryName, binaryPath };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** One look, no waiting: does the running containerd already have the handler? (null: cannot tell) */
async function handlerLoaded(socketOnHost: string, handler: string): Promise<boolean | null> {
  return waitForContainerd({ socketPath: socketOnHost, handler, timeoutMs: 0 })
    .then((health) => health.handlerLoaded)
    .catch(() => null);
}

async function rollBack(context: {
  options: InstallerOptions;
  target: ContainerdTarget;
  planned: PlannedConfig;
  configOnHost: string;
  wroteConfig: boolean;
  restarted: boolean;
  previous: InstalledShim | undefined;
  newRevisionDir: string | null;
  procRoot: string | undefined;
}): Promise<void> {
  const { options, target, planned } = context;
  if (context.newRevisionDir) await removeRevisionDir(options, context.newRevisionDir, context.previous);
  try {
    if (context.wroteConfig) await writeConfig(context.configOnHost, planned.before.text);
    if (context.restarted) {
      await restartContainerd({ strategy: options.restart, hostRoot: options.hostRoot, target, procRoot: context.procRoot });
      await waitForContainerd({ socketPath: hostPath(options.hostRoot, target.socketPath), handler: context.previous?.handler ?? null, timeoutMs: options.healthTimeoutMs });
    }
  } catch (error) {
    throw new InstallerError(
      'RollbackFailed',
      `installing ${options.shim} failed and so did the rollback: ${describeError(error)}. containerd on this node needs attention; its previous config is ${planned.before.text === null ? 'absent' : 'restored in ' + target.configPath}`,
      { cause: error },
    );
  }
}

/** Removes a revision directory this run created (never the one the previous install runs from). */
async function removeRevisionDir(options: InstallerOptions, dir: string, previous: InstalledShim | undefined): Promise<void> {
  if (previous && path.posix.dirname(previous.binaryPath) === dir) return;
  await rm(hostPath(options.hostRoot, dir), { recursive: true, force: true });
  // The shim's own directory goes too when this install created it.
  await rmdir(path.dirname(hostPath(options.hostRoot, dir))).catch(() => {});
}

function timed<T>(timings: Timings, key: string, work: () => T): T {
  const started = Date.now();
  try {
    return work();
  } finally {
    timings[key] = Date.now() - started;
  }
}
