import { lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readConfig } from '../../../src/installer/containerd/config-file.ts';
import { Host } from '../../../src/installer/host.ts';
import { readHostState, writeHostState } from '../../../src/installer/host-state.ts';

// Host paths resolve within the host root, as the host sees them: an absolute symlink target is a
// host path (re-rooted under --host-root), `..` stops at the root, loops and dangling links are
// refused, and a write through a link replaces the link's target, never the link.

let root: string;
let host: Host;
const here = (hostPath: string) => path.join(root, hostPath);

function file(hostPath: string, text: string): void {
  mkdirSync(path.dirname(here(hostPath)), { recursive: true });
  writeFileSync(here(hostPath), text);
}

function link(hostPath: string, target: string): void {
  mkdirSync(path.dirname(here(hostPath)), { recursive: true });
  symlinkSync(target, here(hostPath));
}

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'shimkeeper-links-'));
  host = new Host(root);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('Host.path resolves symlinks within the host root', () => {
  it('an absolute target names a host path, re-rooted under the root (not the installer\'s own /etc)', async () => {
    file('/nix/store/abc-containerd/config.toml', 'version = 2\n');
    link('/etc/containerd/config.toml', '/nix/store/abc-containerd/config.toml');
    expect(await host.path('/etc/containerd/config.toml')).toBe(here('/nix/store/abc-containerd/config.toml'));
    expect(await host.readText('/etc/containerd/config.toml')).toBe('version = 2\n');
  });

  it('a relative target resolves from the link\'s directory, and `..` stops at the root', async () => {
    file('/etc/alternatives/containerd.toml', 'a');
    link('/etc/containerd/config.toml', '../alternatives/containerd.toml');
    expect(await host.path('/etc/containerd/config.toml')).toBe(here('/etc/alternatives/containerd.toml'));
    link('/etc/escape', '../../../../../../etc/alternatives/containerd.toml');
    expect(await host.path('/etc/escape')).toBe(here('/etc/alternatives/containerd.toml'));
  });

  it('follows a chain of links, directory links included', async () => {
    file('/data/real/config.toml', 'chain');
    link('/etc/one', '/etc/two');
    link('/etc/two', '../data/real/config.toml');
    expect(await host.readText('/etc/one')).toBe('chain');
    link('/etc/dirlink', '/data/real');
    expect(await host.path('/etc/dirlink/config.toml')).toBe(here('/data/real/config.toml'));
  });

  it('refuses a loop, naming the path', async () => {
    link('/etc/a', '/etc/b');
    link('/etc/b', 'a');
    await expect(host.path('/etc/a/config.toml')).rejects.toMatchObject({ code: 'HostPathUnresolvable', message: expect.stringMatching(/\/etc\/a\/config\.toml goes through more than 40 symlinks/) });
  });

  it('a dangling link is refused for reads and writes, never replaced by a file', async () => {
    link('/etc/containerd/config.toml', '/etc/nixos/containerd.toml');
    await expect(readConfig(host, '/etc/containerd/config.toml')).rejects.toMatchObject({ code: 'HostPathUnresolvable', message: expect.stringContaining('symlink /etc/containerd/config.toml, whose target /etc/nixos/containerd.toml does not exist') });
    await expect(host.writeAtomic('/etc/containerd/config.toml', 'x')).rejects.toMatchObject({ code: 'HostPathUnresolvable' });
    expect(lstatSync(here('/etc/containerd/config.toml')).isSymbolicLink()).toBe(true);
  });

  it('a missing path that goes through no link is simply absent (for files about to be created)', async () => {
    expect(await host.readText('/etc/containerd/config.toml')).toBeNull();
    mkdirSync(here('/var/opt'), { recursive: true });
    link('/opt', '/var/opt');
    // /opt exists (as a link); only shimkeeper/ under it is missing: not a dangling link.
    expect(await host.path('/opt/shimkeeper/state.json')).toBe(here('/var/opt/shimkeeper/state.json'));
    expect(await host.readText('/opt/shimkeeper/state.json')).toBeNull();
  });
});

describe('writes go to the link target, and the link stays', () => {
  it('an atomic write through an absolute link replaces the target and keeps the link (and its target\'s mode)', async () => {
    file('/nix/store/abc/config.toml', 'old');
    link('/etc/containerd/config.toml', '/nix/store/abc/config.toml');
    await host.writeAtomic('/etc/containerd/config.toml', 'new');
    expect(lstatSync(here('/etc/containerd/config.toml')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(here('/etc/containerd/config.toml'))).toBe('/nix/store/abc/config.toml');
    expect(readFileSync(here('/nix/store/abc/config.toml'), 'utf8')).toBe('new');
  });

  it('a relative link too', async () => {
    file('/etc/containerd/real.toml', 'old');
    link('/etc/containerd/config.toml', 'real.toml');
    await host.writeAtomic('/etc/containerd/config.toml', 'new');
    expect(readlinkSync(here('/etc/containerd/config.toml'))).toBe('real.toml');
    expect(readFileSync(here('/etc/containerd/real.toml'), 'utf8')).toBe('new');
  });

  it('an install dir (or /opt) that is a link keeps state and binaries on the host, under the link\'s target', async () => {
    mkdirSync(here('/var/lib/opt'), { recursive: true });
    link('/opt', '/var/lib/opt');
    await writeHostState(host, '/opt/shimkeeper', { schema: 1, shims: {} });
    expect(JSON.parse(readFileSync(here('/var/lib/opt/shimkeeper/state.json'), 'utf8'))).toEqual({ schema: 1, shims: {} });
    mkdirSync(here('/srv/shimkeeper'), { recursive: true });
    link('/var/lib/opt/sk2', '/srv/shimkeeper');
    await host.mkdir('/opt/sk2/shims/x');
    expect(lstatSync(here('/srv/shimkeeper/shims/x')).isDirectory()).toBe(true);
    expect(await readHostState(host, '/opt/sk2')).toEqual({ schema: 1, shims: {} });
  });
});

describe('only regular, UTF-8 files are read', () => {
  it('a config that is a FIFO is refused at once instead of hanging', async () => {
    mkdirSync(here('/etc/containerd'), { recursive: true });
    execFileSync('mkfifo', [here('/etc/containerd/config.toml')]);
    await expect(readConfig(host, '/etc/containerd/config.toml')).rejects.toMatchObject({ code: 'ConfigUnreadable', message: expect.stringContaining('/etc/containerd/config.toml is a FIFO (named pipe), not a regular file') });
  });

  it('a state file that is a FIFO or a directory is refused as unreadable', async () => {
    mkdirSync(here('/opt/shimkeeper/state.json'), { recursive: true });
    await expect(readHostState(host, '/opt/shimkeeper')).rejects.toMatchObject({ code: 'StateUnreadable', message: expect.stringContaining('is a directory') });
  });

  it('a config with invalid UTF-8 is refused naming the byte offset', async () => {
    mkdirSync(here('/etc/containerd'), { recursive: true });
    writeFileSync(here('/etc/containerd/config.toml'), Buffer.concat([Buffer.from('version = 2\n# caf'), Buffer.from([0xe9]), Buffer.from('\n')]));
    await expect(readConfig(host, '/etc/containerd/config.toml')).rejects.toMatchObject({ code: 'ConfigInvalid', message: expect.stringContaining('not valid UTF-8 (first invalid byte at offset 17)') });
  });

  it('a byte-order mark is kept, not stripped', async () => {
    file('/etc/bom', '\uFEFFversion = 2\n');
    expect(await host.readText('/etc/bom')).toBe('\uFEFFversion = 2\n');
  });
});

describe('firstInvalidUtf8Offset agrees with the TextDecoder (seeded fuzz)', () => {
  it('finds the offset exactly when the decoder refuses, and the prefix before it decodes', async () => {
    const { firstInvalidUtf8Offset } = await import('../../../src/installer/host.ts');
    const { random, between } = await import('../random.ts');
    const rand = random(20260601);
    const samples = ['a', 'é', '€', '𝄞', '\n'].map((c) => Buffer.from(c));
    for (let n = 0; n < 3000; n += 1) {
      const parts: Buffer[] = [];
      for (let k = between(rand, 0, 12); k > 0; k -= 1) parts.push(rand() < 0.8 ? samples[between(rand, 0, samples.length - 1)]! : Buffer.from([between(rand, 0, 255)]));
      const bytes = Buffer.concat(parts);
      const offset = firstInvalidUtf8Offset(bytes);
      let valid = true;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        valid = false;
      }
      expect(offset === -1, bytes.toString('hex')).toBe(valid);
      if (offset >= 0) expect(() => new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, offset))).not.toThrow();
    }
  });
});
