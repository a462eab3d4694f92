import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { detectContainerd } from '../../../src/installer/containerd/detect.ts';
import { Host } from '../../../src/installer/host.ts';

const hostRoots: string[] = [];
afterAll(() => {
  for (const root of hostRoots) rmSync(root, { recursive: true, force: true });
});

async function hostWith(files: Record<string, string>, dirs: string[] = []): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'shimkeeper-host-'));
  hostRoots.push(root);
  for (const dir of dirs) await mkdir(path.join(root, dir), { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), content);
  }
  return root;
}

const K3S = '/var/lib/rancher/k3s/agent/etc/containerd';
const RKE2 = '/var/lib/rancher/rke2/agent/etc/containerd';

describe('containerd flavour detection', () => {
  it('default (kubeadm, kind, EKS, AKS): /etc/containerd/config.toml with its version', async () => {
    const hostRoot = await hostWith({ '/etc/containerd/config.toml': 'version = 3\n' });
    expect(await detectContainerd({ host: new Host(hostRoot), shim: 'spin' })).toMatchObject({
      flavour: 'default', configPath: '/etc/containerd/config.toml', format: 'toml', configVersion: 3,
      socketPath: '/run/containerd/containerd.sock', systemdUnits: ['containerd'], restartRequired: true,
    });
  });

  it('default without a config file: one will be created at version 2, which containerd 1.x and 2.x read', async () => {
    const hostRoot = await hostWith({});
    expect(await detectContainerd({ host: new Host(hostRoot), shim: 'spin' })).toMatchObject({ flavour: 'default', configVersion: 2 });
  });

  it('a config without a version line is version 1', async () => {
    const hostRoot = await hostWith({ '/etc/containerd/config.toml': '[plugins.cri]\n' });
    expect((await detectContainerd({ host: new Host(hostRoot), shim: 'spin' })).configVersion).toBe(1);
  });

  it('k3s with containerd 1.x: writes config.toml.tmpl (never the rendered file)', async () => {
    const hostRoot = await hostWith({ [`${K3S}/config.toml`]: 'version = 2\n' });
    expect(await detectContainerd({ host: new Host(hostRoot), shim: 'spin' })).toMatchObject({
      flavour: 'k3s', configPath: `${K3S}/config.toml.tmpl`, format: 'template', configVersion: 2,
      socketPath: '/run/k3s/containerd/containerd.sock', systemdUnits: ['k3s', 'k3s-agent'],
    });
  });

  it('k3s with containerd 2.x: config-v3.toml.tmpl', async () => {
    const hostRoot = await hostWith({ [`${K3S}/config.toml`]: 'version = 3\n' });
    expect(await detectContainerd({ host: new Host(hostRoot), shim: 'spin' })).toMatchObject({ configPath: `${K3S}/config-v3.toml.tmpl`, configVersion: 3 });
  });

  it('k3s whose rendered config imports a drop-in directory: a drop-in file of our own', async () => {
    const hostRoot = await hostWith({ [`${K3S}/config.toml`]: `version = 3\nimports = ["${K3S}/config-v3.toml.d/*.toml"]\n` });
    expect(await detectContainerd({ host: new Host(hostRoot), shim: 'spin' })).toMatchObject({ configPath: `${K3S}/config-v3.toml.d/shimkeeper-spin.toml`, format: 'drop-in', configVersion: 3 });
  });

  it('an existing user template is edited, whatever the rendered file says', async () => {
    const hostRoot = await hostWith({ [`${K3S}/config.toml`]: 'version = 2\n', [`${K3S}/config.toml.tmpl`]: '{{ template "base" . }}\n' });
    expect(await detectContainerd({ host: new Host(hostRoot), shim: 'spin' })).toMatchObject({ configPath: `${K3S}/config.toml.tmpl`, format: 'template' });
  });

  it('rke2: its own template and units, k3s socket path', async () => {
    const hostRoot = await hostWith({ [`${RKE2}/config.toml`]: 'version = 2\n' });
    expect(await detectContainerd({ host: new Host(hostRoot), shim: 'spin' })).toMatchObject({
      flavour: 'rke2', configPath: `${RKE2}/config.toml.tmpl`, systemdUnits: ['rke2-server', 'rke2-agent'], socketPath: '/run/k3s/containerd/containerd.sock',
    });
  });

  it('k0s: a drop-in in /etc/k0s/containerd.d that k0s picks up without a restart', async () => {
    const hostRoot = await hostWith({}, ['/etc/k0s']);
    expect(await detectContainerd({ host: new Host(hostRoot), shim: 'spin' })).toMatchObject({
      flavour: 'k0s', configPath: '/etc/k0s/containerd.d/shimkeeper-spin.toml', format: 'drop-in', restartRequired: false, socketPath: '/run/k0s/containerd.sock',
    });
  });

  it('microk8s: containerd-template.toml and the snap unit', async () => {
    const hostRoot = await hostWith({ '/var/snap/microk8s/current/args/containerd-template.toml': 'version = 2\n' });
    expect(await detectContainerd({ host: new Host(hostRoot), shim: 'spin' })).toMatchObject({
      flavour: 'microk8s', configPath: '/var/snap/microk8s/current/args/containerd-template.toml', systemdUnits: ['snap.microk8s.daemon-containerd'],
      socketPath: '/var/snap/microk8s/common/run/containerd.sock',
    });
  });

  it('--containerd-config and --containerd-socket override detection', async () => {
    const hostRoot = await hostWith({ '/srv/containerd.toml': 'version = 2\n' }, ['/etc/k0s']);
    expect(await detectContainerd({ host: new Host(hostRoot), shim: 'spin', configPath: '/srv/containerd.toml', socketPath: '/srv/c.sock' })).toMatchObject({
      configPath: '/srv/containerd.toml', socketPath: '/srv/c.sock', format: 'toml', configVersion: 2, restartRequired: true,
    });
  });

  it('an unparsable config is reported with its path', async () => {
    const hostRoot = await hostWith({ '/etc/containerd/config.toml': 'version = = 2\n' });
    await expect(detectContainerd({ host: new Host(hostRoot), shim: 'spin' })).rejects.toThrow(/\/etc\/containerd\/config\.toml is not valid TOML/);
  });

  it('an unknown config version is refused', async () => {
    const hostRoot = await hostWith({ '/etc/containerd/config.toml': 'version = 9\n' });
    await expect(detectContainerd({ host: new Host(hostRoot), shim: 'spin' })).rejects.toThrow(/version 9 is not supported/);
  });
});
