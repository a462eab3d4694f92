// What the kubelet writes into a Pod's status, and what the installer would print as its result:
// pure builders for the test-node agent (test-node.ts).
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { computeRevision } from '../../src/api/revision.ts';
import { installerJobIdentity } from '../../src/controller/installer-job/identity.ts';
import { INSTALLER_CONTAINER } from '../../src/controller/installer-job/spec.ts';
import { parseInstallerArgs, type InstallerOptions } from '../../src/installer/options.ts';
import type { InstallerResult } from '../../src/api/installer-contract.ts';

export interface RunningContainer {
  status: object;
  containerID: string;
  startedAt: string;
}

const imageID = (image: string) => `${image}@sha256:${'0'.repeat(64)}`;

/** The status of a Pod whose only container runs: every condition True, addresses assigned. */
export function runningPodStatus(pod: V1Pod, serial: number, now: Date): RunningContainer {
  const startedAt = now.toISOString();
  const containerID = `containerd://${createHash('sha256').update(pod.metadata!.uid!).digest('hex')}`;
  const image = pod.spec!.containers[0]!.image!;
  const hostIP = `10.0.${Math.floor(serial / 250) % 250}.${(serial % 250) + 1}`;
  const podIP = hostIP.replace(/^10\.0\./, '10.244.');
  return {
    containerID,
    startedAt,
    status: {
      phase: 'Running',
      hostIP, hostIPs: [{ ip: hostIP }], podIP, podIPs: [{ ip: podIP }],
      startTime: startedAt,
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastTransitionTime: startedAt })),
      containerStatuses: [{ name: INSTALLER_CONTAINER, image, imageID: imageID(image), containerID, ready: true, started: true, restartCount: 0, state: { running: { startedAt } } }],
    },
  };
}

export interface Termination {
  exitCode: number;
  reason: string;
  /** The termination message; null: the container wrote none. */
  message: string | null;
}

/** The status of the Pod once its container exited: Succeeded on 0, Failed otherwise. */
export function terminatedPodStatus(pod: V1Pod, running: RunningContainer, end: Termination, now: Date): object {
  const finishedAt = now.toISOString();
  const image = pod.spec!.containers[0]!.image!;
  const completed = (type: string, status: 'True' | 'False') => ({ type, status, reason: 'PodCompleted', lastTransitionTime: finishedAt });
  const terminated = { exitCode: end.exitCode, reason: end.reason, ...(end.message === null ? {} : { message: end.message }), startedAt: running.startedAt, finishedAt, containerID: running.containerID };
  return {
    phase: end.exitCode === 0 ? 'Succeeded' : 'Failed',
    conditions: [
      completed('PodReadyToStartContainers', 'False'),
      completed('Initialized', 'True'),
      completed('Ready', 'False'),
      completed('ContainersReady', 'False'),
      { type: 'PodScheduled', status: 'True', lastTransitionTime: running.startedAt },
    ],
    containerStatuses: [{ name: INSTALLER_CONTAINER, image, imageID: imageID(image), containerID: running.containerID, ready: false, started: false, restartCount: 0, state: { terminated } }],
  };
}

/** What the real installer would report for this Job, computed from the Job's own env and args. */
export function installerResultFor(job: V1Job, ok: boolean, containerdVersion = '1.7.24'): InstallerResult {
  const container = job.spec?.template.spec?.containers.find((c) => c.name === INSTALLER_CONTAINER);
  const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value ?? '']));
  const options = parseInstallerArgs(container?.args ?? [], env) as InstallerOptions;
  const action = options.command === 'uninstall' ? 'uninstall' : 'install';
  if (!ok) return { ok: false, action, shim: options.shim, code: 'ContainerdUnhealthy', error: `simulated ${action} failure on ${job.spec?.template.spec?.nodeName}` };
  const revision = action === 'install'
    ? computeRevision({ url: options.url, sha256: options.sha256, handler: options.handler, runtimeOptions: options.runtimeOptions, shimBinary: options.shimBinary })
    : (installerJobIdentity(job)?.revision ?? '');
  const binaryName = options.shimBinary ?? `containerd-shim-${options.handler}-v2`;
  return {
    ok: true,
    action,
    shim: options.shim,
    handler: options.handler,
    version: options.version,
    revision,
    sha256: options.sha256,
    binaryPath: action === 'install' ? `${options.installDir}/${options.shim}/${revision}/${binaryName}` : '',
    configPath: '/etc/containerd/config.toml',
    flavour: 'default',
    containerdVersion,
    restarted: true,
    changed: true,
  };
}

