import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImages, IMAGE_NAMES, type BuiltImages } from '../../local-cluster/build-images.ts';
import { baseConfig, startContainerd, TEST_IMAGE, type TestContainerd } from '../harness/containerd.ts';
import { waitForExit } from '../harness/cri-workload.ts';

// The images a local cluster runs, built without Docker by scripts/build-images.ts, imported into
// a real containerd's k8s.io namespace with `ctr images import` (as the e2e node gets them) and
// run through CRI the way the kubelet runs them: the project's images by their short names
// (`shimkeeper-installer:dev`, which CRI normalises to docker.io/library/…), every pod on the
// pause image as its sandbox.

const SANDBOX_IMAGE_LINE = `sandbox_image = "${TEST_IMAGE}"`;

describe('images built by scripts/build-images.ts on a real containerd', () => {
  let images: BuiltImages;
  let containerd: TestContainerd;
  let logRoot: string;
  const sandboxes = new Set<string>();
  let podCounter = 0;

  const ctr = (...args: string[]) => {
    const result = spawnSync('ctr', ['--address', containerd.socketPath, '--namespace', 'k8s.io', ...args], { encoding: 'utf8', timeout: 120_000 });
    if (result.status !== 0) throw new Error(`ctr ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
    return result.stdout;
  };

  async function runPodSandbox(): Promise<{ sandboxId: string; sandboxConfig: object; logDir: string }> {
    podCounter += 1;
    const name = `images-${process.pid}-${podCounter}`;
    const logDir = path.join(logRoot, name);
    await mkdir(logDir, { recursive: true });
    const sandboxConfig = {
      metadata: { name, uid: `uid-${name}`, namespace: 'shimkeeper-test', attempt: 0 },
      log_directory: logDir,
      linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    const { pod_sandbox_id: sandboxId } = await containerd.cri.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config: sandboxConfig, runtime_handler: 'runc' }, 60_000);
    sandboxes.add(sandboxId);
    return { sandboxId, sandboxConfig, logDir };
  }

  async function removePodSandbox(sandboxId: string): Promise<void> {
    await containerd.cri.call('StopPodSandbox', { pod_sandbox_id: sandboxId }, 60_000);
    await containerd.cri.call('RemovePodSandbox', { pod_sandbox_id: sandboxId }, 60_000);
    sandboxes.delete(sandboxId);
  }

  /** Runs one container to completion in its own pod; returns its exit code and CRI log. */
  async function runToExit(image: string, container: { command?: string[]; args?: string[] }, expectInLog: string): Promise<{ exitCode: number; log: string }> {
    const { sandboxId, sandboxConfig, logDir } = await runPodSandbox();
    try {
      const { container_id: containerId } = await containerd.cri.call<{ container_id: string }>(
        'CreateContainer',
        { pod_sandbox_id: sandboxId, config: { metadata: { name: 'main', attempt: 0 }, image: { image }, ...container, log_path: 'main.log' }, sandbox_config: sandboxConfig },
        60_000,
      );
      await containerd.cri.call('StartContainer', { container_id: containerId }, 60_000);
      const exitCode = await waitForExit(containerd.cri, containerId, 60_000);
      // containerd may still be copying the last output into the log when the exit is reported.
      let log = '';
      for (let attempt = 0; attempt < 25 && !log.includes(expectInLog); attempt += 1) {
        log = await readFile(path.join(logDir, 'main.log'), 'utf8').catch(() => '');
        if (!log.includes(expectInLog)) await sleep(200);
      }
      return { exitCode, log };
    } finally {
      await removePodSandbox(sandboxId);
    }
  }

  beforeAll(async () => {
    // The default cache (~/.cache/shimkeeper/images): a cold build takes seconds, a warm one
    // reuses the archives, and the e2e suite finds them there too.
    images = await buildImages();
    containerd = await startContainerd({
      config: (dir) => {
        const config = baseConfig(dir);
        if (!config.includes(SANDBOX_IMAGE_LINE)) throw new Error(`baseConfig no longer contains ${SANDBOX_IMAGE_LINE}`);
        return config.replace(SANDBOX_IMAGE_LINE, `sandbox_image = "${IMAGE_NAMES.pause}"`);
      },
    });
    logRoot = await mkdtemp(path.join(os.tmpdir(), 'shimkeeper-images-logs-'));
    for (const archive of Object.values(images)) ctr('images', 'import', archive);
  }, 600_000);

  afterAll(async () => {
    for (const sandboxId of sandboxes) await removePodSandbox(sandboxId).catch(() => undefined);
    await containerd?.stop();
    if (logRoot) await rm(logRoot, { recursive: true, force: true });
  }, 120_000);

  it('a second build with unchanged inputs reuses the archives in well under 2 s', async () => {
    const started = performance.now();
    const again = await buildImages();
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(again).toEqual(images);
  });

  it('ctr lists the four imported images in k8s.io under their names', () => {
    const names = ctr('images', 'ls', '-q').split('\n');
    for (const name of Object.values(IMAGE_NAMES)) expect(names).toContain(name);
    expect(IMAGE_NAMES.busybox).toBe(TEST_IMAGE);
  });

  it('the installer image runs its CLI: --help exits 0 with the usage', async () => {
    const { exitCode, log } = await runToExit('shimkeeper-installer:dev', { args: ['--help'] }, 'Usage: shimkeeper-installer');
    expect(log).toContain('Usage: shimkeeper-installer');
    expect(exitCode).toBe(0);
  });

  it('the installer image carries nsenter on PATH for --restart systemd', async () => {
    const { exitCode, log } = await runToExit('shimkeeper-installer:dev', { command: ['nsenter', '--version'] }, 'util-linux');
    expect(log).toContain('nsenter from util-linux');
    expect(exitCode).toBe(0);
  });

  it('the controller image runs main.js: without SHIMKEEPER_INSTALLER_IMAGE it exits non-zero and says why', async () => {
    const { exitCode, log } = await runToExit('shimkeeper-controller:dev', {}, 'SHIMKEEPER_INSTALLER_IMAGE must name');
    expect(log).toContain('SHIMKEEPER_INSTALLER_IMAGE must name');
    expect(exitCode).not.toBe(0);
  });

  it('the controller image runs as 1000:1000 with `node` on PATH, as the Deployment command expects', async () => {
    const probe = "const fs = require('node:fs'); console.log('probe', `${process.getuid()}:${process.getgid()}`, process.version, process.env.NODE_ENV, process.cwd(), fs.statSync('/etc/ssl/certs/ca-certificates.crt').size > 0, (fs.statSync('/tmp').mode & 0o7777).toString(8))";
    const { exitCode, log } = await runToExit('shimkeeper-controller:dev', { command: ['node', '-e', probe] }, 'probe');
    expect(log).toMatch(/probe 1000:1000 v24\.\d+\.\d+ production \/opt\/shimkeeper true 1777/);
    expect(exitCode).toBe(0);
  });

  it('the busybox image has sh, echo, ls, cat and sleep', async () => {
    const script = 'echo busybox-ok; sleep 0.1; echo /bin/*; ls -l /bin/sh; cat /proc/self/comm';
    const { exitCode, log } = await runToExit(TEST_IMAGE, { command: ['sh', '-c', script] }, 'busybox-ok');
    expect(log).toContain('busybox-ok');
    expect(log).toContain('/bin/busybox /bin/cat /bin/echo /bin/ls /bin/sh /bin/sleep');
    expect(log).toContain('/bin/sh -> busybox');
    expect(log).toMatch(/stdout F cat$/m);
    expect(exitCode).toBe(0);
  });

  it('the pause image is the pod sandbox and StopPodSandbox returns promptly', async () => {
    const { sandboxId } = await runPodSandbox();
    const info = JSON.parse(ctr('containers', 'info', sandboxId)) as { Image: string };
    expect(info.Image).toBe(IMAGE_NAMES.pause);
    const started = performance.now();
    await removePodSandbox(sandboxId);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('the pause program exits 0 at once on SIGTERM although it is PID 1', async () => {
    const id = `pause-sigterm-${process.pid}`;
    const run = spawn('ctr', ['--address', containerd.socketPath, '--namespace', 'k8s.io', 'run', '--rm', IMAGE_NAMES.pause, id], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    run.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => run.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 30_000;
      while (!/\bRUNNING\b/.test(ctr('tasks', 'ls').split('\n').find((line) => line.startsWith(id)) ?? '')) {
        if (Date.now() > deadline) throw new Error(`pause task ${id} never ran: ${stderr}`);
        await sleep(100);
      }
      const started = performance.now();
      ctr('tasks', 'kill', '--signal', 'SIGTERM', id);
      const code = await Promise.race([exited, sleep(10_000).then(() => 'timeout' as const)]);
      expect(code, stderr).toBe(0);
      expect(performance.now() - started).toBeLessThan(2_000);
    } finally {
      if (run.exitCode === null) {
        spawnSync('ctr', ['--address', containerd.socketPath, '--namespace', 'k8s.io', 'tasks', 'kill', '--signal', 'SIGKILL', id]);
        await exited;
      }
    }
  });
});
