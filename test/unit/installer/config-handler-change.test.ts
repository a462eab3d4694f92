import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import type { RuntimeStanza } from '../../../src/installer/containerd/config-edit.ts';
import { planInstallConfig, planUninstallConfig } from '../../../src/installer/containerd/config-file.ts';
import type { ContainerdTarget } from '../../../src/installer/containerd/detect.ts';

// A Shim whose handler changes: one edit takes the old handler's stanza out (putting back what it
// had displaced) and puts the new one in, and uninstall still returns the original bytes.

const RUNTIMES = 'plugins."io.containerd.grpc.v1.cri".containerd.runtimes';
const target: ContainerdTarget = { flavour: 'default', configPath: '/etc/containerd/config.toml', format: 'toml', configVersion: 2, socketPath: '/run/containerd/containerd.sock', systemdUnits: ['containerd'], restartRequired: true };
const stanza = (handler: string): RuntimeStanza => ({ handler, runtimeType: `/opt/shimkeeper/shims/s/r/containerd-shim-${handler}-v2`, runtimePath: `/opt/shimkeeper/shims/s/r/containerd-shim-${handler}-v2`, options: { Debug: 'true' } });
const BASE = `version = 2\r\n# the user's own comment\r\n[plugins."io.containerd.grpc.v1.cri".containerd]\r\n  default_runtime_name = "runc"\r\n`;
const runtimesOf = (text: string) => Object.keys(((parse(text) as any).plugins['io.containerd.grpc.v1.cri'].containerd.runtimes ?? {}) as object).sort();

describe('a handler change', () => {
  it('replaces the old stanza with the new one in one edit, and uninstall restores the original bytes', () => {
    const first = planInstallConfig(target, { text: BASE }, { shim: 's', stanza: stanza('h-one') });
    expect(runtimesOf(first.after!)).toEqual(['h-one']);
    const second = planInstallConfig(target, { text: first.after }, { shim: 's', stanza: stanza('h-two'), previous: first.splice });
    expect(second.changed).toBe(true);
    expect(runtimesOf(second.after!)).toEqual(['h-two']);
    expect(second.after).toContain('# the user\'s own comment');
    expect(planUninstallConfig(target, { text: second.after }, 's', second.splice, false).after).toBe(BASE);
  });

  it('a hand-written stanza the old handler displaced comes back, and one for the new handler is displaced in turn', () => {
    const withUser = `${BASE}[${RUNTIMES}.h-one]\r\n  runtime_type = "io.containerd.runc.v2"\r\n`;
    const first = planInstallConfig(target, { text: withUser }, { shim: 's', stanza: stanza('h-one'), takeOverHandler: true });
    const second = planInstallConfig(target, { text: first.after }, { shim: 's', stanza: stanza('h-two'), previous: first.splice });
    const parsed = parse(second.after!) as any;
    expect(parsed.plugins['io.containerd.grpc.v1.cri'].containerd.runtimes['h-one']).toEqual({ runtime_type: 'io.containerd.runc.v2' });
    expect(runtimesOf(second.after!)).toEqual(['h-one', 'h-two']);
    expect(planUninstallConfig(target, { text: second.after }, 's', second.splice, false).after).toBe(withUser);
  });

  it('the same handler again is an in-place update, not a change', () => {
    const first = planInstallConfig(target, { text: BASE }, { shim: 's', stanza: stanza('h-one') });
    const again = planInstallConfig(target, { text: first.after }, { shim: 's', stanza: stanza('h-one'), previous: first.splice });
    expect(again.changed).toBe(false);
    expect(again.after).toBe(first.after);
  });
});
