import { readFileSync } from 'node:fs';
import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { applyStanza, configVersionOf, criRuntimesPath, removeStanza, renderManagedBlock, type RuntimeStanza } from '../../../src/installer/containerd/config-edit.ts';
import { planInstallConfig, planUninstallConfig } from '../../../src/installer/containerd/config-file.ts';
import type { ContainerdTarget } from '../../../src/installer/containerd/detect.ts';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/containerd/${name}`, import.meta.url), 'utf8');

const stanza = (overrides: Partial<RuntimeStanza> = {}): RuntimeStanza => ({
  handler: 'spin',
  runtimeType: 'io.containerd.spin.v2',
  runtimePath: '/opt/shimkeeper/spin/abc123/containerd-shim-spin-v2',
  options: {},
  ...overrides,
});

const target = (configVersion: number, format: ContainerdTarget['format'] = 'toml'): ContainerdTarget => ({
  flavour: 'default',
  configPath: '/etc/containerd/config.toml',
  format,
  configVersion,
  socketPath: '/run/containerd/containerd.sock',
  systemdUnits: ['containerd'],
  restartRequired: true,
});

function runtimeOf(text: string, version: number, handler = 'spin'): unknown {
  let node: unknown = parse(text);
  for (const key of [...criRuntimesPath(version), handler]) node = (node as Record<string, unknown> | undefined)?.[key];
  return node;
}

const fixtures: Array<[string, number]> = [
  ['kubeadm-v2.toml', 2],
  ['legacy-v1.toml', 1],
  ['containerd2-v3.toml', 3],
  ['containerd22-v4.toml', 4],
  ['k3s-rendered-v2.toml', 2],
  ['microk8s-template.toml', 2],
  ['existing-handler-v2.toml', 2],
  ['multiline-string-v2.toml', 2],
  ['crlf-v2.toml', 2],
  ['no-trailing-newline-v2.toml', 2],
];

describe('containerd config edits', () => {
  it.each(fixtures)('%s: install adds exactly the stanza, a re-run is byte-identical, uninstall restores every byte', (name, version) => {
    const original = fixture(name);
    expect(configVersionOf(parse(original) as Record<string, unknown>)).toBe(version);
    const planned = planInstallConfig(target(version), { text: original }, { shim: 'spin', stanza: stanza({ options: { SystemdCgroup: 'true' } }), takeOverHandler: true });
    expect(planned.changed).toBe(true);
    expect(runtimeOf(planned.after!, version)).toEqual({
      runtime_type: 'io.containerd.spin.v2',
      runtime_path: '/opt/shimkeeper/spin/abc123/containerd-shim-spin-v2',
      options: { SystemdCgroup: true },
    });

    const again = planInstallConfig(target(version), { text: planned.after }, { shim: 'spin', stanza: stanza({ options: { SystemdCgroup: 'true' } }) });
    expect(again.changed).toBe(false);
    expect(again.after).toBe(planned.after);

    const removed = planUninstallConfig(target(version), { text: planned.after }, 'spin', planned.splice, false);
    expect(removed.after).toBe(original);
  });

  it('keeps the runtime table of the config version: v1 plugins.cri, v2 grpc.v1.cri, v3+ cri.v1.runtime', () => {
    expect(criRuntimesPath(1)).toEqual(['plugins', 'cri', 'containerd', 'runtimes']);
    expect(criRuntimesPath(2)).toEqual(['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'runtimes']);
    expect(criRuntimesPath(3)).toEqual(['plugins', 'io.containerd.cri.v1.runtime', 'containerd', 'runtimes']);
    expect(criRuntimesPath(4)).toEqual(criRuntimesPath(3));
    expect(renderManagedBlock('spin', 2, stanza())).toContain('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.spin]');
  });

  it('replaces a hand-made stanza for the handler in place and puts it back on uninstall', () => {
    const original = fixture('existing-handler-v2.toml');
    expect(() => planInstallConfig(target(2), { text: original }, { shim: 'spin', stanza: stanza() })).toThrow(/already defines runtime 'spin' \(line \d+\).*--take-over-handler/);
    const planned = planInstallConfig(target(2), { text: original }, { shim: 'spin', stanza: stanza(), takeOverHandler: true });
    expect(planned.splice.displaced).toContain('Debug = true');
    expect(planned.after).not.toContain('Debug = true');
    expect(planned.after).toContain('# trailing comment that belongs to the next table');
    expect(planned.after!.indexOf('shimkeeper:begin')).toBeLessThan(planned.after!.indexOf('.registry]'));
    // The block carries what it displaced: uninstall needs no record from state.json.
    expect(planUninstallConfig(target(2), { text: planned.after }, 'spin', undefined, false).after).toBe(original);
  });

  it('an upgrade replaces only the block, and uninstall still restores the state before the first install', () => {
    const original = fixture('kubeadm-v2.toml');
    const first = planInstallConfig(target(2), { text: original }, { shim: 'spin', stanza: stanza() });
    const upgraded = planInstallConfig(target(2), { text: first.after }, { shim: 'spin', stanza: stanza({ runtimePath: '/opt/shimkeeper/spin/def456/containerd-shim-spin-v2' }), previous: first.splice });
    expect(upgraded.changed).toBe(true);
    expect(upgraded.after).toContain('def456');
    expect(upgraded.after).not.toContain('abc123');
    expect(upgraded.splice).toEqual(first.splice);
    expect(planUninstallConfig(target(2), { text: upgraded.after }, 'spin', upgraded.splice, false).after).toBe(original);
  });

  it('two shims come and go in any order and leave the original bytes', () => {
    const original = fixture('kubeadm-v2.toml');
    const a = planInstallConfig(target(2), { text: original }, { shim: 'spin', stanza: stanza() });
    const b = planInstallConfig(target(2), { text: a.after }, { shim: 'slight', stanza: stanza({ handler: 'slight', runtimeType: 'io.containerd.slight.v1' }) });
    const withoutA = planUninstallConfig(target(2), { text: b.after }, 'spin', a.splice, false).after!;
    expect(runtimeOf(withoutA, 2, 'slight')).toBeDefined();
    expect(planUninstallConfig(target(2), { text: withoutA }, 'slight', b.splice, false).after).toBe(original);
    const withoutB = planUninstallConfig(target(2), { text: b.after }, 'slight', b.splice, false).after!;
    expect(planUninstallConfig(target(2), { text: withoutB }, 'spin', a.splice, false).after).toBe(original);
  });

  it('types option values and escapes them so no value can inject TOML', () => {
    const hostile = 'x"\n[plugins.evil]\nowned = true\n#\u007f\\';
    const planned = planInstallConfig(target(2), { text: fixture('kubeadm-v2.toml') }, {
      shim: 'spin',
      stanza: stanza({ options: { Debug: 'false', Workers: '4', Ratio: '0.5', Name: 'plain', Evil: hostile } }),
    });
    expect(runtimeOf(planned.after!, 2)).toMatchObject({ options: { Debug: false, Workers: 4, Ratio: 0.5, Name: 'plain', Evil: hostile } });
    expect((parse(planned.after!) as { plugins: Record<string, unknown> }).plugins['evil']).toBeUndefined();
  });

  it('refuses option keys that are not plain TOML keys', () => {
    expect(() => renderManagedBlock('spin', 2, stanza({ options: { 'a.b': '1' } }))).toThrow(/not a plain TOML key/);
    expect(() => renderManagedBlock('spin', 2, stanza({ options: { 'a]\n[x': '1' } }))).toThrow(/not a plain TOML key/);
  });

  it('refuses an unparsable file with its location and leaves it untouched', () => {
    expect(() => planInstallConfig(target(2), { text: fixture('unparsable.toml') }, { shim: 'spin', stanza: stanza() })).toThrow(/not valid TOML, refusing to edit it/);
  });

  it('refuses runtimes written as inline tables rather than rewriting them', () => {
    expect(() => planInstallConfig(target(2), { text: fixture('inline-runtimes-v2.toml') }, { shim: 'spin', stanza: stanza() })).toThrow(/inline tables/);
  });

  it('creates a minimal config when there is none, and removes it again on uninstall', () => {
    const planned = planInstallConfig(target(2), { text: null }, { shim: 'spin', stanza: stanza() });
    expect(planned.created).toBe(true);
    expect(planned.after!.startsWith('version = 2\n')).toBe(true);
    expect(planUninstallConfig(target(2), { text: planned.after }, 'spin', planned.splice, true).after).toBeNull();
  });

  it('k3s/rke2 templates start from the base template and are edited without parsing the Go template', () => {
    const created = planInstallConfig(target(2, 'template'), { text: null }, { shim: 'spin', stanza: stanza() });
    expect(created.after!.startsWith('{{ template "base" . }}\n')).toBe(true);
    const userTemplate = '{{ template "base" . }}\n{{ if .NodeConfig.AgentConfig.Snapshotter }}\n# custom\n{{ end }}\n';
    const planned = planInstallConfig(target(3, 'template'), { text: userTemplate }, { shim: 'spin', stanza: stanza() });
    expect(planned.after).toContain("[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.spin]");
    expect(planUninstallConfig(target(3, 'template'), { text: planned.after }, 'spin', planned.splice, false).after).toBe(userTemplate);
  });

  it('a drop-in is a file of its own that uninstall deletes', () => {
    const planned = planInstallConfig(target(3, 'drop-in'), { text: null }, { shim: 'spin', stanza: stanza() });
    expect(planned.after).toMatch(/^# Written by shimkeeper.*\nversion = 3\n/);
    expect(planUninstallConfig(target(3, 'drop-in'), { text: planned.after }, 'spin', planned.splice, true).after).toBeNull();
  });

  it('removing a block without a state record still leaves a valid file', () => {
    const original = fixture('kubeadm-v2.toml');
    const { text } = applyStanza(original, { shim: 'spin', configVersion: 2, stanza: stanza(), format: 'toml', file: 'x' });
    expect(removeStanza(text, 'spin').text).toBe(original);
    expect(removeStanza(original, 'spin').changed).toBe(false);
  });
});
