import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Host } from '../../../src/installer/host.ts';

let root: string;
let host: Host;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'shimkeeper-host-'));
  host = new Host(root);
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('Host', () => {
  it('maps a host path under the root, and `..` cannot climb out of it', async () => {
    expect(await host.path('/etc/containerd/config.toml')).toBe(path.join(root, 'etc/containerd/config.toml'));
    expect(await host.path('/../../etc/passwd')).toBe(path.join(root, 'etc/passwd'));
    expect(await new Host('/').path('/run/containerd/containerd.sock')).toBe('/run/containerd/containerd.sock');
  });

  it('refuses a relative path: every path it is given is a host path', async () => {
    await expect(host.path('etc/containerd')).rejects.toThrow(/expected an absolute host path/);
  });

  it('reads a missing file as null and lists a missing directory as empty', async () => {
    expect(await host.readText('/nothing/here')).toBeNull();
    expect(await host.list('/nothing')).toEqual([]);
    expect(await host.exists('/nothing')).toBe(false);
  });

  it('writes atomically, keeping the mode of the file it replaces', async () => {
    mkdirSync(path.join(root, 'etc'), { recursive: true });
    writeFileSync(path.join(root, 'etc/keep-mode'), 'old', { mode: 0o640 });
    await host.writeAtomic('/etc/keep-mode', 'new');
    expect(readFileSync(path.join(root, 'etc/keep-mode'), 'utf8')).toBe('new');
    expect(statSync(path.join(root, 'etc/keep-mode')).mode & 0o777).toBe(0o640);
    expect(await host.list('/etc')).toEqual(['keep-mode']);
  });

  it('a failed write names the host path and leaves no temp file', async () => {
    mkdirSync(path.join(root, 'etc/a-directory/inside'), { recursive: true });
    await expect(host.writeAtomic('/etc/a-directory', 'x')).rejects.toMatchObject({ code: 'WriteFailed', message: expect.stringMatching(/^cannot write \/etc\/a-directory: /) });
    expect((await host.list('/etc')).filter((name) => name.includes('shimkeeper-'))).toEqual([]);
  });
});
