// One setting of every installer flag an operator can set, as the installer parses it: what the
// chart's every-value test (charts/shimkeeper/ci/every-value-values.yaml, `installer:`) and the
// controller's configuration test (SHIMKEEPER_INSTALLER_* variables) both expect to reach it.
import type { InstallerOptions } from '../../src/installer/options.ts';

export const OPERATOR_INSTALLER_OPTIONS = {
  installDir: '/var/lib/shimkeeper',
  restart: 'systemd',
  containerdConfig: '/var/lib/rancher/k3s/agent/etc/containerd/config.toml.tmpl',
  containerdSocket: '/run/k3s/containerd/containerd.sock',
  maxArtifactBytes: 1073741824,
  downloadAttempts: 7,
  downloadTimeoutMs: 900_000, // 900 s
  healthTimeoutMs: 120_000, // 120 s
  lockWaitMs: 30_000, // 30 s
} as const satisfies Partial<InstallerOptions>;
