// What `npm run demo` and `npm run cluster:up` need from the machine, decided before any long
// build starts: `findProblems` is a pure function over facts that check-prerequisites.ts
// gathers, so every decision is unit-tested without having to lack root, Go or cgroups.

/** The facts the decision needs; gathered by check-prerequisites.ts. */
export interface PrerequisiteFacts {
  platform: string;
  /** Effective user id; undefined where the platform has none. */
  uid: number | undefined;
  /** Mounted cgroup hierarchies (v1 controllers or the v2 unified tree) and whether root may write them. */
  cgroups: { hierarchies: number; writable: boolean };
  /** Whether `unshare --net --mount` worked; undefined when it could not be tried (not root, no unshare). */
  namespaces: { usable: true } | { usable: false; error: string } | undefined;
  /** Whether apt-get is on PATH. */
  aptGet: boolean;
  /** Debian packages still to install (scripts/install-test-deps.sh --list-missing, plus etcd-server). */
  missingDebianPackages: string[];
  /** `go version`'s version (e.g. "1.26.8"), undefined when no go is on PATH. */
  goVersion: string | undefined;
  /** Whether cargo is on PATH or in ~/.cargo/bin (where rustup puts it). */
  cargo: boolean;
  /** What a run would still build: Kubernetes components, containerd releases, Wasm shim revisions. */
  toBuild: { kube: string[]; containerd: string[]; wasmShim: string[] };
  /** Free bytes on the cache's file system, undefined when it could not be measured. */
  freeBytes: number | undefined;
  cacheRoot: string;
}

export interface Problem {
  /** The prerequisite, in a few words ("root", "a Go toolchain"). */
  prerequisite: string;
  /** What was found. */
  found: string;
  /** How to get it. */
  fix: string;
}

/**
 * What `npm run pretest:e2e` builds for the cluster (package.json; a unit test keeps the two in
 * step): the probe asks the build scripts which of these are not cached yet.
 */
export const CLUSTER_BUILDS = {
  kube: ['kube-apiserver', 'kubectl', 'kube-controller-manager', 'kube-scheduler', 'kubelet'],
  containerd: ['2.4.2'],
} as const;

/** The oldest Go that builds each module (its go.mod `go` directive; the scripts use GOTOOLCHAIN=local). */
export const MINIMUM_GO = { kube: '1.24.0', containerd: '1.26.6' } as const;

const GiB = 1024 ** 3;
/**
 * Free space wanted on the cache's file system. A cold build fills about 9 GB: the Go module and
 * build caches (~6 GB), cargo's registry and target dir (~2 GB), the built binaries and images
 * (~1 GB); a warm run writes only the cluster's state and logs.
 */
export const FREE_SPACE = { coldBuild: 12 * GiB, warm: 2 * GiB } as const;

/** Minutes a cold build takes on 2 cores (measured; README "The demo's prerequisites"). */
const BUILD_MINUTES = { kube: 6, containerd: 2, wasmShim: 10 } as const;

export function findProblems(facts: PrerequisiteFacts): Problem[] {
  if (facts.platform !== 'linux') {
    // Everything else (namespaces, cgroups, apt, containerd) presupposes Linux: say only this.
    return [{ prerequisite: 'Linux', found: `this is ${facts.platform}`, fix: 'run it on a Linux machine or VM (Debian 12 is what CI uses)' }];
  }
  const problems: Problem[] = [];
  const root = facts.uid === 0;
  if (!root) {
    problems.push({
      prerequisite: 'root',
      found: `running as uid ${facts.uid ?? 'unknown'}`,
      fix: 'run it as root (e.g. through `sudo -E`): the cluster creates network and mount namespaces, cgroups and a veth pair, and apt-get installs Debian packages',
    });
  }
  if (facts.cgroups.hierarchies === 0) {
    problems.push({ prerequisite: 'cgroups', found: 'no cgroup hierarchy is mounted under /sys/fs/cgroup', fix: 'mount cgroup2 (or the v1 controllers) at /sys/fs/cgroup; in a container, run it with --privileged --cgroupns=host' });
  } else if (!facts.cgroups.writable && root) {
    problems.push({ prerequisite: 'cgroups', found: '/sys/fs/cgroup is read-only', fix: 'the kubelet creates cgroups: in a container, run it with --privileged --cgroupns=host' });
  }
  if (facts.namespaces && !facts.namespaces.usable) {
    problems.push({ prerequisite: 'namespaces', found: `unshare --net --mount failed: ${facts.namespaces.error}`, fix: 'run it on a machine or VM, or in a container started with --privileged' });
  }
  if (facts.missingDebianPackages.length > 0 && !facts.aptGet) {
    problems.push({
      prerequisite: 'Debian packages',
      found: `missing ${facts.missingDebianPackages.join(' ')}, and there is no apt-get to install them`,
      fix: 'install the same software with your distribution\'s package manager (the names are Debian\'s), or use Debian 12',
    });
  }
  const goNeeded = goNeededFor(facts.toBuild);
  if (goNeeded) {
    if (!facts.goVersion) {
      problems.push({ prerequisite: 'a Go toolchain', found: `no go on PATH, and ${goNeeded.what} must be built`, fix: `install Go ${goNeeded.minimum} or newer (https://go.dev/dl/) and put its bin/ on PATH` });
    } else if (compareVersions(facts.goVersion, goNeeded.minimum) < 0) {
      problems.push({ prerequisite: 'a Go toolchain', found: `go ${facts.goVersion}, but ${goNeeded.what} needs ${goNeeded.minimum} or newer`, fix: `install Go ${goNeeded.minimum} or newer (https://go.dev/dl/) first on PATH` });
    }
  }
  if (facts.toBuild.wasmShim.length > 0 && !facts.cargo) {
    problems.push({
      prerequisite: 'cargo',
      found: `no cargo on PATH or in ~/.cargo/bin, and the Wasm shim (${facts.toBuild.wasmShim.join(', ')}) must be built`,
      fix: 'install rustup (https://rustup.rs) with its stable toolchain',
    });
  }
  const wanted = buildsPlanned(facts.toBuild).length > 0 ? FREE_SPACE.coldBuild : FREE_SPACE.warm;
  if (facts.freeBytes !== undefined && facts.freeBytes < wanted) {
    problems.push({
      prerequisite: 'disk space',
      found: `${formatGiB(facts.freeBytes)} free for ${facts.cacheRoot}`,
      fix: `free at least ${formatGiB(wanted)} there, or point SHIMKEEPER_CACHE at a larger file system`,
    });
  }
  return problems;
}

/** The builds a run will do first, with their measured duration on 2 cores. */
export function buildsPlanned(toBuild: PrerequisiteFacts['toBuild']): Array<{ what: string; minutes: number }> {
  const builds: Array<{ what: string; minutes: number }> = [];
  const kube = toBuild.kube.filter((item) => item !== 'etcd');
  if (kube.length > 0) builds.push({ what: `Kubernetes (${kube.join(', ')})`, minutes: BUILD_MINUTES.kube });
  if (toBuild.containerd.length > 0) builds.push({ what: `containerd ${toBuild.containerd.join(', ')}`, minutes: BUILD_MINUTES.containerd });
  if (toBuild.wasmShim.length > 0) builds.push({ what: `the Wasm shim ${toBuild.wasmShim.join(', ')}`, minutes: BUILD_MINUTES.wasmShim });
  return builds;
}

/** One message naming every problem and how to fix it, or undefined when there is none. */
export function describeProblems(problems: Problem[], command: string): string | undefined {
  if (problems.length === 0) return undefined;
  const lines = problems.map((p) => `  - ${p.prerequisite}: ${p.found}\n      ${p.fix}`);
  return `${command} cannot start, ${problems.length} prerequisite${problems.length === 1 ? ' is' : 's are'} missing:\n${lines.join('\n')}\n(README "The demo's prerequisites" lists them all.)`;
}

function goNeededFor(toBuild: PrerequisiteFacts['toBuild']): { what: string; minimum: string } | undefined {
  const needs: Array<{ what: string; minimum: string }> = [];
  if (toBuild.kube.some((item) => item !== 'etcd')) needs.push({ what: 'Kubernetes', minimum: MINIMUM_GO.kube });
  if (toBuild.containerd.length > 0) needs.push({ what: `containerd ${toBuild.containerd.join(', ')}`, minimum: MINIMUM_GO.containerd });
  if (needs.length === 0) return undefined;
  const minimum = needs.map((n) => n.minimum).reduce((a, b) => (compareVersions(a, b) >= 0 ? a : b));
  return { what: needs.map((n) => n.what).join(' and '), minimum };
}

/** Compares dotted numeric versions ("1.26.6" vs "1.26"); a missing part counts as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((part) => Number.parseInt(part, 10) || 0);
  const pb = b.split('.').map((part) => Number.parseInt(part, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  return 0;
}

const formatGiB = (bytes: number) => `${(bytes / GiB).toFixed(1)} GiB`;
