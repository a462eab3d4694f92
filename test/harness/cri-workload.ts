import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CriClient } from '../../src/installer/cri/cri-client.ts';
import { TEST_IMAGE } from './containerd.ts';

// Runs a pod through CRI the way the kubelet does (sandbox, then container) on a given runtime
// handler, with host networking so no CNI is needed. The client must speak the container calls:
// the test containerd's `cri` does (it is built with CRI_TEST_PROTO).

export interface RunningPod {
  sandboxId: string;
  containerId: string;
}

let podCounter = 0;

export async function runPod(cri: CriClient, handler: string, command: string[], logDir: string): Promise<RunningPod> {
  podCounter += 1;
  const name = `probe-${process.pid}-${podCounter}`;
  const sandboxConfig = {
    metadata: { name, uid: `uid-${name}`, namespace: 'shimkeeper-test', attempt: 0 },
    log_directory: logDir,
    linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
  };
  const { pod_sandbox_id: sandboxId } = await cri.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config: sandboxConfig, runtime_handler: handler }, 60_000);
  const { container_id: containerId } = await cri.call<{ container_id: string }>(
    'CreateContainer',
    { pod_sandbox_id: sandboxId, config: { metadata: { name: 'main', attempt: 0 }, image: { image: TEST_IMAGE }, command, log_path: 'main.log' }, sandbox_config: sandboxConfig },
    60_000,
  );
  await cri.call('StartContainer', { container_id: containerId }, 60_000);
  return { sandboxId, containerId };
}

export async function containerState(cri: CriClient, containerId: string): Promise<{ state: string; exit_code: number }> {
  const response = await cri.call<{ status: { state: string; exit_code: number } }>('ContainerStatus', { container_id: containerId });
  return response.status;
}

export async function waitForExit(cri: CriClient, containerId: string, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await containerState(cri, containerId);
    if (status.state === 'CONTAINER_EXITED') return status.exit_code;
    await sleep(200);
  }
  throw new Error(`container ${containerId} did not exit within ${timeoutMs} ms`);
}

export async function removePod(cri: CriClient, pod: RunningPod): Promise<void> {
  await cri.call('StopPodSandbox', { pod_sandbox_id: pod.sandboxId }, 60_000);
  await cri.call('RemovePodSandbox', { pod_sandbox_id: pod.sandboxId }, 60_000);
}

/** The executable of the shim process serving a sandbox: proof of which binary runs the pod. */
export function shimExecutableFor(sandboxId: string): string | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmdline.includes('-id') && cmdline[cmdline.indexOf('-id') + 1] === sandboxId) return readlinkSync(`/proc/${entry}/exe`);
    } catch {
      // the process went away while we looked
    }
  }
  return undefined;
}
