// Node objects the size of real ones, for the controller benchmark: what a kubelet registers and
// keeps in status (the standard labels and annotations, ~30 images with digests, the five
// conditions, capacity and allocatable, addresses, daemon endpoints, nodeInfo), written with the
// `kubelet` field manager so the apiserver keeps the managedFields a real kubelet leaves behind.
// A real Node of this shape is 10-15 KB of JSON; the controller must not keep it whole.

import type { V1Node, V1NodeCondition } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';

const IMAGE_REPOSITORIES = [
  'registry.k8s.io/kube-proxy', 'registry.k8s.io/pause', 'registry.k8s.io/coredns/coredns', 'registry.k8s.io/metrics-server/metrics-server',
  'docker.io/calico/node', 'docker.io/calico/cni', 'docker.io/calico/kube-controllers', 'quay.io/prometheus/node-exporter',
  'registry.k8s.io/ingress-nginx/controller', 'ghcr.io/fluxcd/source-controller', 'ghcr.io/fluxcd/kustomize-controller', 'docker.io/grafana/promtail',
  'quay.io/jetstack/cert-manager-controller', 'quay.io/jetstack/cert-manager-webhook', 'registry.k8s.io/sig-storage/csi-node-driver-registrar',
  'registry.k8s.io/sig-storage/livenessprobe', 'public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver', 'docker.io/library/nginx', 'docker.io/library/redis',
  'docker.io/library/postgres', 'gcr.io/distroless/static', 'docker.io/bitnami/kubectl', 'quay.io/cilium/cilium', 'quay.io/cilium/operator-generic',
  'docker.io/istio/proxyv2', 'docker.io/istio/pilot', 'registry.k8s.io/kube-state-metrics/kube-state-metrics', 'docker.io/fluent/fluent-bit',
  'ghcr.io/spinkube/containerd-shim-spin/examples/spin-rust-hello', 'docker.io/library/busybox',
];

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The metadata and spec of a node as a kubelet registers it. */
export function kubeletNodeObject(name: string, serial: number, labels: Record<string, string>, arch = 'amd64'): V1Node {
  return {
    metadata: {
      name,
      labels: {
        'beta.kubernetes.io/arch': arch,
        'beta.kubernetes.io/os': 'linux',
        'kubernetes.io/arch': arch,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/hostname': name.slice(0, 63),
        'node.kubernetes.io/instance-type': 'm6i.xlarge',
        'topology.kubernetes.io/region': 'eu-west-1',
        'topology.kubernetes.io/zone': `eu-west-1${'abc'[serial % 3]}`,
        'failure-domain.beta.kubernetes.io/region': 'eu-west-1',
        'failure-domain.beta.kubernetes.io/zone': `eu-west-1${'abc'[serial % 3]}`,
        ...labels,
      },
      annotations: {
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
        'csi.volume.kubernetes.io/nodeid': JSON.stringify({ 'ebs.csi.aws.com': `i-${digest(name).slice(0, 17)}` }),
      },
    },
    spec: {
      podCIDR: `10.${100 + (serial >> 16)}.${(serial >> 8) & 255}.0/24`,
      podCIDRs: [`10.${100 + (serial >> 16)}.${(serial >> 8) & 255}.0/24`],
      providerID: `aws:///eu-west-1a/i-${digest(name).slice(0, 17)}`,
    },
  };
}

/** The five standard conditions, all healthy, with this heartbeat time. */
export function kubeletConditions(heartbeat: string, since: string): V1NodeCondition[] {
  const condition = (type: string, status: string, reason: string, message: string): V1NodeCondition =>
    ({ type, status, reason, message, lastHeartbeatTime: heartbeat as unknown as Date, lastTransitionTime: since as unknown as Date });
  return [
    condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
    condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
    condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
    condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
    condition('NetworkUnavailable', 'False', 'RouteCreated', 'RouteController created a route'),
  ];
}

/** status as a kubelet reports it. */
export function kubeletNodeStatus(name: string, serial: number, arch = 'amd64', runtime = 'containerd://2.1.4'): V1Node['status'] {
  const now = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
  const resources = { cpu: '4', memory: '16073236Ki', pods: '110', 'ephemeral-storage': '104845292Ki', 'hugepages-1Gi': '0', 'hugepages-2Mi': '0', 'attachable-volumes-aws-ebs': '25' };
  const ip = `10.1.${(serial >> 8) & 255}.${serial & 255}`;
  return {
    capacity: resources,
    allocatable: { ...resources, cpu: '3920m', memory: '15056404Ki', 'ephemeral-storage': '95551679871' },
    conditions: kubeletConditions(now, now),
    addresses: [
      { type: 'InternalIP', address: ip },
      { type: 'InternalDNS', address: `ip-${ip.replaceAll('.', '-')}.eu-west-1.compute.internal` },
      { type: 'Hostname', address: name },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    nodeInfo: {
      architecture: arch,
      operatingSystem: 'linux',
      containerRuntimeVersion: runtime,
      kubeletVersion: 'v1.34.10',
      kubeProxyVersion: 'v1.34.10',
      kernelVersion: '6.1.0-28-cloud-amd64',
      osImage: 'Debian GNU/Linux 12 (bookworm)',
      machineID: digest(`machine-${name}`).slice(0, 32),
      systemUUID: digest(`uuid-${name}`).slice(0, 32),
      bootID: `boot-${digest(name).slice(0, 24)}`,
    },
    images: IMAGE_REPOSITORIES.map((repository, i) => ({
      names: [`${repository}@sha256:${digest(repository)}`, `${repository}:v1.${i}.${serial % 7}`],
      sizeBytes: 5_000_000 + i * 3_111_117,
    })),
  };
}
