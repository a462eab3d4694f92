import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWasmImage, type WasmImageLayout } from '../../local-cluster/wasm-image.ts';
import { baseConfig, startContainerd, type TestContainerd } from '../harness/containerd.ts';
import { shimExecutableFor } from '../harness/cri-workload.ts';

// Issue 13: a real runwasi shim (containerd-shim-wasm 1.0 + wasmi, test/fixtures/wasm-shim) and a
// WASI app image, proven on Debian's containerd 1.6. The fixtures are built (or found cached) by
// scripts/build-wasm-fixtures.sh; a cold build takes minutes, so the first hook waits long.
//
// This file runs under the heavy lock (flock /tmp/shimkeeper-heavy.lock npx vitest ...): the
// script is told not to take that lock again (SHIMKEEPER_HEAVY_LOCK=''), or it would wait for itself.

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const GREETING = 'hello from wasm via shimkeeper';
const REVISIONS = ['0.1.0', '0.2.0'];
const BINARY = 'containerd-shim-wasmi-v1';

interface Artifacts {
  shim: string;
  binary: string;
  runtimeType: string;
  module: { path: string; sha256: string };
  revisions: Array<{ version: string; binary: string; archive: string; sha256: string }>;
}

let artifacts: Artifacts;

beforeAll(() => {
  const stdout = execFileSync('bash', [path.join(repoRoot, 'scripts', 'build-wasm-fixtures.sh')], {
    encoding: 'utf8',
    env: { ...process.env, SHIMKEEPER_HEAVY_LOCK: '', SHIMKEEPER_WASM_REVISIONS: REVISIONS.join(' ') },
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 30 * 60_000,
  });
  const manifest = /^manifest (.+)$/m.exec(stdout)?.[1];
  if (!manifest) throw new Error(`build-wasm-fixtures printed no manifest line:\n${stdout}`);
  artifacts = JSON.parse(readFileSync(manifest, 'utf8')) as Artifacts;
}, 30 * 60_000);

describe('the fixture shim as released', () => {
  it('packs each revision like a runwasi release: one executable containerd-shim-wasmi-v1', () => {
    expect(artifacts.binary).toBe(BINARY);
    expect(artifacts.runtimeType).toBe('io.containerd.wasmi.v1');
    expect(artifacts.revisions.map((r) => r.version)).toEqual(REVISIONS);
    for (const revision of artifacts.revisions) {
      expect(path.basename(revision.archive)).toMatch(/^containerd-shim-wasmi-(x86_64|aarch64)-linux-gnu\.tar\.gz$/);
      const listing = execFileSync('tar', ['-tvzf', revision.archive], { encoding: 'utf8' }).trim().split('\n');
      const files = listing.filter((line) => line.startsWith('-'));
      expect(files).toHaveLength(1);
      expect(files[0]).toMatch(new RegExp(`^-rwxr-xr-x 0/0 .* \\./${BINARY}$`));
    }
    expect(new Set(artifacts.revisions.map((r) => r.sha256)).size).toBe(REVISIONS.length);
  });

  it('reports each revision\'s version on -v, and on -info as containerd 2.x asks', async () => {
    const work = await mkdtemp(path.join(os.tmpdir(), 'shimkeeper-wasm-shim-'));
    try {
      for (const revision of artifacts.revisions) {
        const dir = path.join(work, revision.version);
        await mkdir(dir);
        execFileSync('tar', ['-xzf', revision.archive, '-C', dir]);
        const version = execFileSync(path.join(dir, BINARY), ['-v'], { encoding: 'utf8' });
        // "containerd-shim-wasmi-v1:\n  Runtime: wasmi\n  Version: 0.1.0\n  Revision: …"
        expect(version).toContain(`${BINARY}:`);
        expect(version).toMatch(/Runtime: wasmi\n/);
        expect(version).toContain(`Version: ${revision.version}\n`);
        // -info writes a protobuf RuntimeInfo (name, version) to stdout.
        const info = execFileSync(path.join(dir, BINARY), ['-info']);
        expect(info.includes(Buffer.from('wasmi'))).toBe(true);
        expect(info.includes(Buffer.from(revision.version))).toBe(true);
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('compiles the WASI module that prints the greeting', () => {
    const module = readFileSync(artifacts.module.path);
    expect(module.subarray(0, 4)).toEqual(Buffer.from('\0asm'));
    expect(module.includes(Buffer.from(GREETING))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// On a real containerd: the shim installed by hand as CRI runtime handlers, a pod of the Wasm app.

const WASM_IMAGE = 'shimkeeper.test/wasm-hello:1';
const WASM_ARTIFACT_IMAGE = 'shimkeeper.test/wasm-hello-artifact:1';

/** Handlers under test: each a way containerd can find the shim, or a way options reach it. */
function wasmRuntimes(binDir: string): string {
  const cri = '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes';
  return `
    # runwasi's documented way: the runtime type names the binary, found on containerd's PATH.
    ${cri}.wasmi]
      runtime_type = "io.containerd.wasmi.v1"

    # runtime_path: an absolute binary for an io.containerd.<engine>.v1 type (documented from 1.7).
    ${cri}.wasmi-path]
      runtime_type = "io.containerd.wasmi.v1"
      runtime_path = "${binDir}/0.2.0/${BINARY}"

    # What shimkeeper's installer writes today: the absolute path as the runtime type.
    ${cri}.wasmi-abs]
      runtime_type = "${binDir}/0.2.0/${BINARY}"

    # Generic options (runtimeoptions.v1.Options with the table as TOML): runwasi reads SystemdCgroup.
    ${cri}.wasmi-options]
      runtime_type = "io.containerd.wasmi.v1"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.wasmi-options.options]
        SystemdCgroup = false

    # A runc-only option and no SystemdCgroup key.
    ${cri}.wasmi-runc-options]
      runtime_type = "io.containerd.wasmi.v1"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.wasmi-runc-options.options]
        BinaryName = "/usr/bin/runc"
`.replaceAll('\n    ', '\n');
}

interface PodResult {
  handler: string;
  sandboxId?: string;
  /** The executable of the shim process serving the pod. */
  shimExe?: string;
  /** youki's state of the sandbox container, read while the pod runs (runwasi keeps it under /run/containerd/<engine>/<namespace>). */
  sandboxState?: { status?: string; pid?: number; useSystemd?: boolean };
  exitCode?: number;
  log?: string;
  error?: string;
}

const YOUKI_ROOT = '/run/containerd/wasmi/k8s.io';

describe("on Debian's containerd 1.6 through CRI", () => {
  let containerd: TestContainerd | undefined;
  let containerdVersion = '';
  let work = '';
  let binDir = '';
  let pathDir = '';
  let startError: string | undefined;
  const importErrors = new Map<string, string>();
  const youkiRootExisted = existsSync('/run/containerd/wasmi');

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'shimkeeper-wasm-cri-'));
    binDir = path.join(work, 'shims');
    pathDir = path.join(work, 'path');
    await mkdir(pathDir, { recursive: true });
    for (const revision of artifacts.revisions) {
      const dir = path.join(binDir, revision.version);
      await mkdir(dir, { recursive: true });
      execFileSync('tar', ['-xzf', revision.archive, '-C', dir]);
    }
    // Revision 0.1.0 on containerd's PATH: the harness's supervisor inherits this process's PATH.
    await copyFile(path.join(binDir, '0.1.0', BINARY), path.join(pathDir, BINARY));
    await chmod(path.join(pathDir, BINARY), 0o755);
    const savedPath = process.env['PATH'];
    // SHIMKEEPER_WASM_CONTAINERD_BIN: another containerd's bin dir (scripts/build-containerd.sh) to
    // run the same checks on, e.g. 1.7 or 2.x; Debian's 1.6 by default.
    const otherContainerd = process.env['SHIMKEEPER_WASM_CONTAINERD_BIN'];
    process.env['PATH'] = [pathDir, ...(otherContainerd ? [otherContainerd] : []), savedPath ?? '/usr/sbin:/usr/bin:/sbin:/bin'].join(':');
    try {
      containerd = await startContainerd({ config: (dir) => baseConfig(dir) + wasmRuntimes(binDir) });
    } catch (error) {
      startError = (error as Error).message;
      return;
    } finally {
      process.env['PATH'] = savedPath;
    }
    containerdVersion = (await containerd.cri.version()).runtime_version;
    console.log(`wasm-shim: containerd ${containerdVersion}`);
    const images = path.join(work, 'images');
    await mkdir(images);
    for (const [layout, name] of [['file', WASM_IMAGE], ['artifact', WASM_ARTIFACT_IMAGE]] as Array<[WasmImageLayout, string]>) {
      const archive = path.join(images, `${layout}.tar`);
      await buildWasmImage({ output: archive, name, module: artifacts.module.path, layout, modulePath: '/hello.wasm' });
      const args = ['--address', containerd.socketPath, '--namespace', 'k8s.io', 'images', 'import', ...(layout === 'artifact' ? ['--all-platforms'] : []), archive];
      const result = spawnSync('ctr', args, { encoding: 'utf8' });
      if (result.status !== 0) importErrors.set(name, result.stderr.trim());
    }
  }, 180_000);

  afterAll(async () => {
    await containerd?.stop();
    // runwasi keeps youki's container state under /run/containerd/<engine>/<namespace>, outside
    // containerd's own root and state: remove what this test left there.
    if (!youkiRootExisted) await rm('/run/containerd/wasmi', { recursive: true, force: true });
    if (work) await rm(work, { recursive: true, force: true });
  }, 120_000);

  /** A pod of one container from `image` on `handler`, the way the kubelet runs it (host network, no CNI). */
  async function runWasmPod(handler: string, image: string): Promise<PodResult> {
    const cri = containerd!.cri;
    const result: PodResult = { handler };
    const logDir = path.join(work, 'logs', `${handler}-${image.replace(/\W/g, '_')}`);
    await mkdir(logDir, { recursive: true });
    const name = `wasm-${handler}-${Date.now()}`;
    const sandboxConfig = {
      metadata: { name, uid: `uid-${name}`, namespace: 'shimkeeper-test', attempt: 0 },
      log_directory: logDir,
      linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    try {
      const { pod_sandbox_id: sandboxId } = await cri.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config: sandboxConfig, runtime_handler: handler }, 60_000);
      result.sandboxId = sandboxId;
      result.shimExe = shimExecutableFor(sandboxId);
      const statePath = path.join(YOUKI_ROOT, sandboxId, 'state.json');
      if (existsSync(statePath)) result.sandboxState = JSON.parse(readFileSync(statePath, 'utf8')) as PodResult['sandboxState'];
      const { container_id: containerId } = await cri.call<{ container_id: string }>(
        'CreateContainer',
        { pod_sandbox_id: sandboxId, config: { metadata: { name: 'app', attempt: 0 }, image: { image }, log_path: 'app.log' }, sandbox_config: sandboxConfig },
        60_000,
      );
      await cri.call('StartContainer', { container_id: containerId }, 60_000);
      const deadline = Date.now() + 30_000;
      for (;;) {
        const { status } = await cri.call<{ status: { state: string; exit_code: number } }>('ContainerStatus', { container_id: containerId });
        if (status.state === 'CONTAINER_EXITED') {
          result.exitCode = status.exit_code;
          break;
        }
        if (Date.now() > deadline) throw new Error(`container ${containerId} did not exit within 30 s (state ${status.state})`);
        await sleep(200);
      }
      result.log = await readFile(path.join(logDir, 'app.log'), 'utf8').catch((error: Error) => `(no log: ${error.message})`);
    } catch (error) {
      result.error = (error as Error).message;
    } finally {
      if (result.sandboxId) {
        await cri.call('StopPodSandbox', { pod_sandbox_id: result.sandboxId }, 60_000).catch(() => {});
        await cri.call('RemovePodSandbox', { pod_sandbox_id: result.sandboxId }, 60_000).catch(() => {});
      }
    }
    return result;
  }

  /** Skips (with the measured reason) when containerd could not start; returns whether it runs on 1.6. */
  function requireContainerd(context: { skip: (note: string) => void }): boolean {
    if (!containerd) context.skip(`containerd with the wasmi handlers did not start: ${startError}`);
    return /^v?1\.6\./.test(containerdVersion);
  }

  it('starts containerd with the wasmi handlers', () => {
    expect(startError).toBeUndefined();
  });

  it('runs the Wasm app of a regular image in a pod: binary on PATH, sandbox run by the shim through youki', async (context) => {
    requireContainerd(context);
    expect(importErrors.get(WASM_IMAGE)).toBeUndefined();
    const result = await runWasmPod('wasmi', WASM_IMAGE);
    expect(result.error).toBeUndefined();
    expect(result.shimExe).toBe(path.join(pathDir, BINARY));
    // The pod sandbox (a Linux container: the sandbox image) is run by the Wasm shim itself, with
    // youki's libcontainer, on this machine's cgroup v1 without systemd.
    expect(result.sandboxState?.status).toBe('running');
    expect(result.sandboxState?.useSystemd).toBe(false);
    expect(result.sandboxState?.pid).toBeGreaterThan(0);
    expect(result.exitCode).toBe(0);
    expect(result.log).toMatch(new RegExp(`^\\S+ stdout F ${GREETING}\\n$`));
    // Removing the pod removes youki's state too.
    expect(existsSync(path.join(YOUKI_ROOT, result.sandboxId!))).toBe(false);
  });

  it('runs it with the absolute binary path as runtime_type (what the installer writes today)', async (context) => {
    requireContainerd(context);
    const result = await runWasmPod('wasmi-abs', WASM_IMAGE);
    expect(result.error).toBeUndefined();
    expect(result.shimExe).toBe(path.join(binDir, '0.2.0', BINARY));
    expect(result.log).toContain(`stdout F ${GREETING}`);
  });

  it('ignores runtime_path on containerd 1.6: io.containerd.wasmi.v1 still runs the binary on PATH', async (context) => {
    const on16 = requireContainerd(context);
    const result = await runWasmPod('wasmi-path', WASM_IMAGE);
    expect(result.error).toBeUndefined();
    expect(result.shimExe).toBe(on16 ? path.join(pathDir, BINARY) : path.join(binDir, '0.2.0', BINARY));
    expect(result.log).toContain(`stdout F ${GREETING}`);
  });

  it('passes options as generic runtimeoptions: none reach the shim on 1.6, SystemdCgroup is required', async (context) => {
    const on16 = requireContainerd(context);
    const withSystemdCgroup = await runWasmPod('wasmi-options', WASM_IMAGE);
    const runcOnly = await runWasmPod('wasmi-runc-options', WASM_IMAGE);
    // runwasi parses config_body as TOML and requires SystemdCgroup; containerd 1.6 sends
    // runtimeoptions.v1.Options with an empty config_body, so any options table breaks every pod.
    const missingKey = /failed to create shim task: invalid shim options: .*missing field `systemd_cgroup`/s;
    if (on16) expect(withSystemdCgroup.error).toMatch(missingKey);
    else expect(withSystemdCgroup.error).toBeUndefined();
    expect(runcOnly.error).toMatch(missingKey);
  });

  it('runs the app from an OCI Wasm artifact image (application/wasm layer, wasm/wasip1 config)', async (context) => {
    requireContainerd(context);
    // containerd 1.6's `ctr images import` stores the image but may report that it could not
    // unpack it ("mismatched image rootfs and manifest layers": the module layer is no file
    // system layer and the config lists none); CRI does not need it unpacked, the shim reads
    // the layer from the content store.
    const importError = importErrors.get(WASM_ARTIFACT_IMAGE);
    if (importError) expect(importError).toMatch(/mismatched image rootfs and manifest layers/);
    const result = await runWasmPod('wasmi', WASM_ARTIFACT_IMAGE);
    expect(result.error).toBeUndefined();
    expect(result.exitCode).toBe(0);
    expect(result.log).toContain(`stdout F ${GREETING}`);
  });
});
