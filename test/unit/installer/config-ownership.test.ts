import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { typeRuntimeOption, type RuntimeStanza } from '../../../src/installer/containerd/config-edit.ts';
import { planInstallConfig, planUninstallConfig } from '../../../src/installer/containerd/config-file.ts';
import type { ContainerdTarget } from '../../../src/installer/containerd/detect.ts';
import { InstallerError } from '../../../src/installer/errors.ts';
import { between, pick, random, stringOf } from '../random.ts';

// One handler belongs to one Shim; the default runtime and hand-written stanzas are taken over
// only on purpose; the block carries its own undo record; runtime options are numbers only when
// they stay exactly what was written.

const RUNTIMES = 'plugins."io.containerd.grpc.v1.cri".containerd.runtimes';
const target: ContainerdTarget = { flavour: 'default', configPath: '/etc/containerd/config.toml', format: 'toml', configVersion: 2, socketPath: '/run/containerd/containerd.sock', systemdUnits: ['containerd'], restartRequired: true };
const stanza = (handler: string, options: Record<string, string> = {}): RuntimeStanza => ({ handler, runtimeType: `/opt/shimkeeper/shims/x/r/containerd-shim-${handler}-v2`, runtimePath: `/opt/shimkeeper/shims/x/r/containerd-shim-${handler}-v2`, options });
const BASE = `version = 2\n\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  default_runtime_name = "runc"\n`;
const HAND_WRITTEN = `[${RUNTIMES}.spin]\n  runtime_type = "io.containerd.spin.v2"\n[${RUNTIMES}.spin.options]\n  Debug = true\n`;

function codeOf(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    if (error instanceof InstallerError) return error.code;
    throw error;
  }
  return 'ok';
}

describe('handlers collide on the node: refused before any change', () => {
  it("a second Shim with the first's handler is refused, with the flag too, naming the other Shim", () => {
    const first = planInstallConfig(target, { text: BASE }, { shim: 'first', stanza: stanza('spin') });
    for (const takeOverHandler of [false, true]) {
      expect(() => planInstallConfig(target, { text: first.after }, { shim: 'second', stanza: stanza('spin'), takeOverHandler })).toThrow(
        expect.objectContaining({ code: 'HandlerTaken', message: expect.stringMatching(/already has runtime 'spin' in the block shimkeeper manages for Shim first/) }),
      );
    }
    // Another handler is fine, and uninstalling one leaves the other's block alone.
    const second = planInstallConfig(target, { text: first.after }, { shim: 'second', stanza: stanza('wasm') });
    const withoutFirst = planUninstallConfig(target, { text: second.after }, 'first', undefined, false).after!;
    expect(withoutFirst).toContain('# shimkeeper:begin second');
    expect(planUninstallConfig(target, { text: withoutFirst }, 'second', undefined, false).after).toBe(BASE);
  });

  it("containerd's default runtime (default_runtime_name, or runc when unset) is taken over only with the flag", () => {
    expect(() => planInstallConfig(target, { text: BASE }, { shim: 'x', stanza: stanza('runc') })).toThrow(expect.objectContaining({ code: 'HandlerExists', message: expect.stringMatching(/handler 'runc' is containerd's default runtime in \/etc\/containerd\/config\.toml.*--take-over-handler/) }));
    expect(codeOf(() => planInstallConfig(target, { text: 'version = 2\n' }, { shim: 'x', stanza: stanza('runc') }))).toBe('HandlerExists');
    const crun = `version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  default_runtime_name = "crun"\n`;
    expect(codeOf(() => planInstallConfig(target, { text: crun }, { shim: 'x', stanza: stanza('crun') }))).toBe('HandlerExists');
    expect(codeOf(() => planInstallConfig(target, { text: crun }, { shim: 'x', stanza: stanza('runc') }))).toBe('ok');
    expect(codeOf(() => planInstallConfig(target, { text: BASE }, { shim: 'x', stanza: stanza('runc'), takeOverHandler: true }))).toBe('ok');
  });

  it('a hand-written stanza is refused without the flag; with it, replaced and put back byte for byte', () => {
    const original = BASE + HAND_WRITTEN + '\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = ""\n';
    expect(() => planInstallConfig(target, { text: original }, { shim: 'x', stanza: stanza('spin') })).toThrow(expect.objectContaining({ code: 'HandlerExists', message: expect.stringMatching(/already defines runtime 'spin' \(line 5\)/) }));
    const planned = planInstallConfig(target, { text: original }, { shim: 'x', stanza: stanza('spin'), takeOverHandler: true });
    expect(planned.after).not.toContain('Debug = true');
    expect(planUninstallConfig(target, { text: planned.after }, 'x', undefined, false).after).toBe(original);
  });
});

describe('the block knows how to undo itself', () => {
  it('uninstall restores the displaced stanza from the block alone (state.json lost or stale)', () => {
    const original = BASE + HAND_WRITTEN;
    const planned = planInstallConfig(target, { text: original }, { shim: 'x', stanza: stanza('spin'), takeOverHandler: true });
    expect(planned.after).toMatch(/^# shimkeeper:undo [A-Za-z0-9+/=]+$/m);
    // A stale record (from another install) does not win over the block's own.
    expect(planUninstallConfig(target, { text: planned.after }, 'x', { separator: '\n', displaced: '' }, false).after).toBe(original);
    // A re-run (upgrade) keeps the record of the first install, not the block it replaces.
    const upgraded = planInstallConfig(target, { text: planned.after }, { shim: 'x', stanza: stanza('spin', { Debug: 'false' }) });
    expect(planUninstallConfig(target, { text: upgraded.after }, 'x', undefined, false).after).toBe(original);
  });

  it('a config shimkeeper created says so in its block, and goes again on uninstall', () => {
    const planned = planInstallConfig(target, { text: null }, { shim: 'x', stanza: stanza('spin') });
    expect(planned.created).toBe(true);
    expect(planUninstallConfig(target, { text: planned.after }, 'x', undefined, false).after).toBeNull();
  });

  it('a block from before undo lines still uninstalls with the record from state.json', () => {
    const old = `${BASE}\n# shimkeeper:begin x (managed by shimkeeper; edits inside are replaced)\n[${RUNTIMES}.spin]\n  runtime_type = "a"\n# shimkeeper:end x\n`;
    expect(planUninstallConfig(target, { text: old }, 'x', { separator: '\n', displaced: '' }, false).after).toBe(BASE);
  });

  it('an altered undo line is refused as ConfigCorrupt, nothing written', () => {
    const planned = planInstallConfig(target, { text: BASE }, { shim: 'x', stanza: stanza('spin') });
    const altered = planned.after!.replace(/^(# shimkeeper:undo )\S+$/m, '$1!!notbase64json');
    expect(codeOf(() => planUninstallConfig(target, { text: altered }, 'x', undefined, false))).toBe('ConfigCorrupt');
  });
});

describe('runtime options are numbers only when they stay exactly as written', () => {
  it.each([
    ['-0', 'InvalidRuntimeOption'],
    ['007', 'InvalidRuntimeOption'],
    ['+5', 'InvalidRuntimeOption'],
    ['1e5', 'InvalidRuntimeOption'],
    ['1_000', 'InvalidRuntimeOption'],
    ['9007199254740993', 'InvalidRuntimeOption'],
    ['0.1000000000000000055511151231257827', 'InvalidRuntimeOption'],
    ['-0.0', 'InvalidRuntimeOption'],
  ])('%s is refused, naming the option', (raw, code) => {
    expect(() => typeRuntimeOption(raw, 'Limit')).toThrow(expect.objectContaining({ code, message: expect.stringContaining(`runtime option Limit=${raw}`) }));
  });

  it.each([
    ['0', 0],
    ['-12', -12],
    ['9007199254740991', 9007199254740991],
    ['1.5', 1.5],
    ['0.1', 0.1],
    ['true', true],
    ['1.2.3', '1.2.3'],
    ['/etc/x.toml', '/etc/x.toml'],
    ['', ''],
  ])('%s is %j', (raw, typed) => {
    expect(typeRuntimeOption(raw)).toBe(typed);
  });

  it('seeded fuzz: any value either is refused as InvalidRuntimeOption or reads back from the config exactly as typed', () => {
    const rand = random(61);
    const alphabet = '0123456789-+._eE';
    for (let n = 0; n < 2000; n += 1) {
      const raw = rand() < 0.5 ? stringOf(rand, alphabet, between(rand, 1, 22)) : pick(rand, ['true', 'x"y', "a'b", 'back\\slash', 'new\nline', 'ü', '-0', '00']);
      let planned;
      try {
        planned = planInstallConfig(target, { text: BASE }, { shim: 'x', stanza: stanza('spin', { Opt: raw }) });
      } catch (error) {
        expect((error as InstallerError).code, raw).toBe('InvalidRuntimeOption');
        continue;
      }
      const options = (parse(planned.after!) as { plugins: Record<string, { containerd: { runtimes: Record<string, { options: Record<string, unknown> }> } }> }).plugins['io.containerd.grpc.v1.cri']!.containerd.runtimes['spin']!.options;
      const value = options['Opt'];
      if (typeof value === 'string') expect(value).toBe(raw);
      else expect(String(value), raw).toBe(typeof value === 'number' ? String(Number(raw)) : raw);
    }
  });
});
