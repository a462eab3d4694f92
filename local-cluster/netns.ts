// A private network namespace joined to the host by a veth pair, for test servers.
//
// Why: the servers listen on fixed ports (6443, 2379) without clashing with anything on the
// machine or with a parallel run, they are unreachable from anywhere but this test process, and the
// end-to-end cluster (a kubelet in its own network namespace) can join the same network.
//
// Nothing leaks: the namespace lives only as long as the processes in it (its holder dies with the
// test process), and the kernel deletes both veth ends with the namespace.
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { launch, terminate } from './processes.ts';

const run = promisify(execFile);

export interface IsolatedNetwork {
  /** Pass to `nsenter --net=` (or processes.launch's netnsPath) to run something inside. */
  path: string;
  /** The namespace's address, reachable from the host. */
  address: string;
  /** The host's end of the veth pair. */
  hostAddress: string;
  hostInterface: string;
  destroy(): Promise<void>;
}

/** Creates the namespace; logDir receives the holder's (normally empty) log. Needs root. */
export async function createIsolatedNetwork(logDir: string): Promise<IsolatedNetwork> {
  if (process.getuid?.() !== 0) throw new Error('test servers run in a network namespace: run the tests as root');
  // A do-nothing process owns the namespace, so servers can come and go inside it.
  const holder = launch(['unshare', '--net', '--', 'sleep', 'infinity'], join(logDir, 'netns-holder.log'));
  const path = `/proc/${holder.pid}/ns/net`;
  const hostInterface = `skk${randomBytes(3).toString('hex')}`;
  const destroy = async (): Promise<void> => {
    await terminate(holder, 2_000);
    // Normally already gone with the namespace; this covers a process still pinning it.
    await run('ip', ['link', 'del', hostInterface]).catch(() => undefined);
  };
  try {
    await waitForOwnNamespace(path);
    const [hostAddress, address] = await pickFreeSubnet();
    await run('ip', ['link', 'add', hostInterface, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', path]);
    await run('ip', ['addr', 'add', `${hostAddress}/30`, 'dev', hostInterface]);
    await run('ip', ['link', 'set', hostInterface, 'up']);
    const inside = (...args: string[]) => run('nsenter', [`--net=${path}`, '--', 'ip', ...args]);
    await inside('addr', 'add', `${address}/30`, 'dev', 'eth0');
    await inside('link', 'set', 'eth0', 'up');
    await inside('link', 'set', 'lo', 'up');
    return { path, address, hostAddress, hostInterface, destroy };
  } catch (err) {
    await destroy();
    throw err;
  }
}

/** unshare execs `sleep` only after it has entered the new namespace; wait for that. */
async function waitForOwnNamespace(path: string): Promise<void> {
  const own = readlinkSync('/proc/self/ns/net');
  for (let i = 0; i < 100; i++) {
    try {
      if (readlinkSync(path) !== own) return;
    } catch {
      // the process is not there yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('network namespace holder did not start');
}

/** A random /30 in 100.64.0.0/10 (carrier-grade NAT space, unused on test machines) not on any link. */
async function pickFreeSubnet(): Promise<[string, string]> {
  const { stdout } = await run('ip', ['-4', '-o', 'addr', 'show']);
  const inUse = [...stdout.matchAll(/inet (\d+\.\d+\.\d+)\.(\d+)\//g)].map((m) => `${m[1]}.${Math.floor(Number(m[2]) / 4)}`);
  for (;;) {
    const prefix = `100.${randomInt(64, 128)}.${randomInt(0, 256)}`;
    const block = randomInt(0, 64);
    if (inUse.includes(`${prefix}.${block}`)) continue;
    return [`${prefix}.${block * 4 + 1}`, `${prefix}.${block * 4 + 2}`];
  }
}
