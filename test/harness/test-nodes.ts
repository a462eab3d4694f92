// Node objects as a kubelet would register them: the well-known labels, and status.nodeInfo
// (architecture, OS, container runtime) written through the status subresource, which is where the
// controller reads them. No kubelet heartbeats follow; nothing in the controller needs them.
import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1Node } from '@kubernetes/client-node';

export interface TestNodeOptions {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Go architecture name; default amd64. */
  arch?: string;
  /** Default linux. */
  os?: string;
  /** status.nodeInfo.containerRuntimeVersion; default containerd://1.7.24. */
  containerRuntimeVersion?: string;
}

let nodeSerial = 0;

/** A node name may be a 253-character FQDN; the hostname label (a label value) holds at most 63. */
function hostnameOf(name: string): string {
  return name.length <= 63 ? name : name.split('.')[0]!.slice(0, 63);
}

export async function createNodes(api: CoreV1Api, names: readonly string[], options: TestNodeOptions = {}): Promise<V1Node[]> {
  const os = options.os ?? 'linux';
  const arch = options.arch ?? 'amd64';
  const created: V1Node[] = [];
  for (const name of names) {
    const serial = ++nodeSerial;
    await api.createNode({
      body: {
        metadata: {
          name,
          labels: { 'kubernetes.io/os': os, 'kubernetes.io/arch': arch, 'kubernetes.io/hostname': hostnameOf(name), ...options.labels },
          ...(options.annotations ? { annotations: options.annotations } : {}),
        },
      },
    });
    const now = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
    const address = `10.1.${Math.floor(serial / 250) % 250}.${(serial % 250) + 1}`;
    const status = await api.patchNodeStatus(
      {
        name,
        body: {
          status: {
            nodeInfo: {
              architecture: arch,
              operatingSystem: os,
              containerRuntimeVersion: options.containerRuntimeVersion ?? 'containerd://1.7.24',
              kubeletVersion: 'v1.34.10',
              kubeProxyVersion: '',
              kernelVersion: '6.1.0-test',
              osImage: 'Debian GNU/Linux 12 (bookworm)',
              machineID: `machine-${serial}`,
              systemUUID: `uuid-${serial}`,
              bootID: `boot-${serial}`,
            },
            addresses: [{ type: 'InternalIP', address }, { type: 'Hostname', address: name }],
            capacity: { cpu: '4', memory: '8Gi', pods: '110' },
            allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
            conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: now, lastTransitionTime: now }],
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    created.push(status);
  }
  return created;
}
