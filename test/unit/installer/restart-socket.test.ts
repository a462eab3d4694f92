import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findSocketOwner } from '../../../src/installer/containerd/restart.ts';

// The signal restart only ever signals the containerd that serves the configured socket under the
// host root: the same file (device and inode) seen through /proc/<pid>/root. A containerd that
// listens on the same path in another mount namespace is never picked, and neither is any when the
// socket under the host root is missing.

let dir: string;
let server: Server;
let socketPath: string;
const proc = () => path.join(dir, 'proc');

/** A fake /proc with one containerd (pid 4242) listening on `listensOn`, its root at `rootDir`. */
function fakeContainerd(pid: number, listensOn: string, rootDir: string): void {
  const base = path.join(proc(), String(pid));
  mkdirSync(path.join(base, 'fd'), { recursive: true });
  mkdirSync(path.join(base, 'net'), { recursive: true });
  writeFileSync(path.join(base, 'comm'), 'containerd\n');
  symlinkSync(rootDir, path.join(base, 'root'));
  writeFileSync(path.join(base, 'net/unix'), `Num       RefCount Protocol Flags    Type St Inode Path\n0000000000000000: 00000002 00000000 00010000 0001 01 777${pid} ${listensOn}\n`);
  symlinkSync(`socket:[777${pid}]`, path.join(base, 'fd/3'));
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'shimkeeper-restart-'));
  socketPath = path.join(dir, 'containerd.sock');
  server = createServer();
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const otherRoot = path.join(dir, 'other-namespace');
  mkdirSync(path.join(otherRoot, dir), { recursive: true });
  writeFileSync(path.join(otherRoot, socketPath), 'not the same socket');
  fakeContainerd(4242, socketPath, otherRoot); // same path, another mount namespace
  fakeContainerd(4343, socketPath, '/'); // the one that serves our socket
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('findSocketOwner', () => {
  it('picks the containerd whose socket is the very file under the host root', async () => {
    expect(await findSocketOwner(proc(), socketPath, socketPath)).toBe(4343);
  });

  it('picks none when the socket under the host root is missing, though containerds listen on that path elsewhere', async () => {
    expect(await findSocketOwner(proc(), socketPath, path.join(dir, 'host-root-without-socket', socketPath))).toBeUndefined();
  });

  it('picks none when the path under the host root is not a socket', async () => {
    const plain = path.join(dir, 'plain-file');
    writeFileSync(plain, '');
    expect(await findSocketOwner(proc(), socketPath, plain)).toBeUndefined();
  });
});
