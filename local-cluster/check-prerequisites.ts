// The first step of `npm run demo` and `npm run cluster:up`: probes the machine and stops with one
// message naming every missing prerequisite and how to get it, before `pretest:e2e` starts builds
// that take many minutes (the decisions: prerequisites.ts).
//
//   node local-cluster/check-prerequisites.ts [command name for the message]
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, statfsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildsPlanned, CLUSTER_BUILDS, describeProblems, findProblems, type PrerequisiteFacts } from './prerequisites.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const script = (name: string) => path.join(repoRoot, 'scripts', name);

/** Lines a build script prints in its `--missing` mode; a script that fails reports nothing missing (it will say why itself). */
function listMissing(scriptName: string, ...args: string[]): string[] {
  const result = spawnSync('bash', [script(scriptName), ...args], { encoding: 'utf8' });
  if (result.status !== 0) return [];
  return result.stdout.split('\n').map((line) => line.trim()).filter(Boolean);
}

function onPath(command: string): boolean {
  return spawnSync('bash', ['-c', `command -v ${command}`], { encoding: 'utf8' }).status === 0;
}

function cgroupFacts(): PrerequisiteFacts['cgroups'] {
  const root = '/sys/fs/cgroup';
  // v2: the unified tree is the mount itself; v1: one directory per controller hierarchy.
  const hierarchies = existsSync(path.join(root, 'cgroup.procs'))
    ? [root]
    : (existsSync(root) ? readdirSync(root) : []).map((name) => path.join(root, name)).filter((dir) => existsSync(path.join(dir, 'cgroup.procs')));
  const writable = hierarchies.some((dir) => {
    try {
      accessSync(dir, constants.W_OK); // EROFS on a read-only mount, even for root
      return true;
    } catch {
      return false;
    }
  });
  return { hierarchies: hierarchies.length, writable };
}

function namespaceFacts(root: boolean): PrerequisiteFacts['namespaces'] {
  if (!root || !onPath('unshare')) return undefined;
  const result = spawnSync('unshare', ['--net', '--mount', '--propagation', 'private', '--', 'true'], { encoding: 'utf8' });
  return result.status === 0 ? { usable: true } : { usable: false, error: (result.stderr || result.error?.message || `exit ${result.status}`).trim() };
}

function goVersion(): string | undefined {
  const result = spawnSync('go', ['env', 'GOVERSION'], { encoding: 'utf8', env: { ...process.env, GOTOOLCHAIN: 'local' } });
  return result.status === 0 ? /^go(\d+(?:\.\d+)*)/.exec(result.stdout.trim())?.[1] : undefined;
}

/** Free bytes on the file system that holds (or will hold) the cache. */
function freeBytes(dir: string): number | undefined {
  let existing = dir;
  while (!existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing);
  try {
    const stats = statfsSync(existing);
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}

export function probePrerequisites(): PrerequisiteFacts {
  const cacheRoot = process.env['SHIMKEEPER_CACHE'] || path.join(homedir(), '.cache', 'shimkeeper');
  const uid = process.getuid?.();
  if (process.platform !== 'linux') {
    return { platform: process.platform, uid, cgroups: { hierarchies: 0, writable: false }, namespaces: undefined, aptGet: false, missingDebianPackages: [], goVersion: undefined, cargo: false, toBuild: { kube: [], containerd: [], wasmShim: [] }, freeBytes: undefined, cacheRoot };
  }
  const kube = listMissing('build-kube.sh', '--missing', ...CLUSTER_BUILDS.kube);
  // build-kube.sh installs Debian's etcd-server itself when no etcd is found.
  const missingDebianPackages = [...listMissing('install-test-deps.sh', '--list-missing'), ...(kube.includes('etcd') ? ['etcd-server'] : [])];
  return {
    platform: process.platform,
    uid,
    cgroups: cgroupFacts(),
    namespaces: namespaceFacts(uid === 0),
    aptGet: onPath('apt-get'),
    missingDebianPackages,
    goVersion: goVersion(),
    cargo: onPath('cargo') || existsSync(path.join(homedir(), '.cargo', 'bin', 'cargo')),
    toBuild: {
      kube,
      containerd: listMissing('build-containerd.sh', '--missing', ...CLUSTER_BUILDS.containerd),
      wasmShim: listMissing('build-wasm-fixtures.sh', '--missing'),
    },
    freeBytes: freeBytes(cacheRoot),
    cacheRoot,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const command = `npm run ${process.argv[2] ?? 'demo'}`;
  const facts = probePrerequisites();
  const message = describeProblems(findProblems(facts), command);
  if (message) {
    console.error(message);
    process.exit(1);
  }
  const builds = buildsPlanned(facts.toBuild);
  const packages = facts.missingDebianPackages.length > 0 ? `; apt-get will install ${facts.missingDebianPackages.join(' ')}` : '';
  console.log(
    builds.length > 0
      ? `prerequisites: ok${packages}; first, about ${builds.reduce((sum, b) => sum + b.minutes, 0)} min of builds into ${facts.cacheRoot} (${builds.map((b) => `${b.what} ~${b.minutes} min`).join(', ')})`
      : `prerequisites: ok${packages}; everything is built already (${facts.cacheRoot})`,
  );
}
