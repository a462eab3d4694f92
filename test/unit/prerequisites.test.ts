import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  buildsPlanned,
  CLUSTER_BUILDS,
  compareVersions,
  describeProblems,
  findProblems,
  FREE_SPACE,
  MINIMUM_GO,
  type PrerequisiteFacts,
} from '../../local-cluster/prerequisites.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** A machine that has everything and has built everything: no problem, no build. */
const ready: PrerequisiteFacts = {
  platform: 'linux',
  uid: 0,
  cgroups: { hierarchies: 1, writable: true },
  namespaces: { usable: true },
  aptGet: true,
  missingDebianPackages: [],
  goVersion: '1.26.8',
  cargo: true,
  toBuild: { kube: [], containerd: [], wasmShim: [] },
  freeBytes: 50 * 1024 ** 3,
  cacheRoot: '/root/.cache/shimkeeper',
};
const cold: PrerequisiteFacts['toBuild'] = { kube: [...CLUSTER_BUILDS.kube], containerd: [...CLUSTER_BUILDS.containerd], wasmShim: ['0.1.0', '0.2.0'] };
const facts = (changes: Partial<PrerequisiteFacts>): PrerequisiteFacts => ({ ...ready, ...changes });
const named = (f: PrerequisiteFacts) => findProblems(f).map((p) => p.prerequisite);

describe('the demo prerequisites check', () => {
  it('finds nothing on a ready machine, warm or cold', () => {
    expect(findProblems(ready)).toEqual([]);
    expect(findProblems(facts({ toBuild: cold }))).toEqual([]);
    expect(describeProblems([], 'npm run demo')).toBeUndefined();
  });

  it('on another OS says only that Linux is needed', () => {
    const problems = findProblems(facts({ platform: 'darwin', uid: 501, cgroups: { hierarchies: 0, writable: false }, goVersion: undefined, toBuild: cold }));
    expect(problems).toEqual([expect.objectContaining({ prerequisite: 'Linux', found: 'this is darwin' })]);
  });

  it('names every missing prerequisite at once, each with how to get it', () => {
    const problems = findProblems(facts({ uid: 1000, namespaces: undefined, goVersion: undefined, cargo: false, toBuild: cold, freeBytes: 3 * 1024 ** 3 }));
    expect(problems.map((p) => p.prerequisite)).toEqual(['root', 'a Go toolchain', 'cargo', 'disk space']);
    for (const problem of problems) expect(problem.fix).not.toBe('');
    const message = describeProblems(problems, 'npm run cluster:up')!;
    expect(message).toMatch(/^npm run cluster:up cannot start, 4 prerequisites are missing:/);
    expect(message).toContain('root: running as uid 1000');
    expect(message).toContain('https://go.dev/dl/');
    expect(message).toContain('https://rustup.rs');
    expect(message).toContain('3.0 GiB free for /root/.cache/shimkeeper');
  });

  it('asks for cgroups that are mounted, and writable by root', () => {
    expect(named(facts({ cgroups: { hierarchies: 0, writable: false } }))).toEqual(['cgroups']);
    expect(findProblems(facts({ cgroups: { hierarchies: 12, writable: false } }))[0]?.found).toBe('/sys/fs/cgroup is read-only');
    // Not root: the root problem says it all (a user may not write cgroups anyway).
    expect(named(facts({ uid: 1000, cgroups: { hierarchies: 12, writable: false } }))).toEqual(['root']);
  });

  it('reports namespaces that cannot be created, with unshare\'s words', () => {
    const [problem] = findProblems(facts({ namespaces: { usable: false, error: 'unshare failed: Operation not permitted' } }));
    expect(problem).toMatchObject({ prerequisite: 'namespaces', found: expect.stringContaining('Operation not permitted') });
    expect(problem!.fix).toContain('--privileged');
  });

  it('needs apt-get only when Debian packages are missing', () => {
    expect(findProblems(facts({ aptGet: false }))).toEqual([]);
    expect(findProblems(facts({ missingDebianPackages: ['containerd', 'etcd-server'] }))).toEqual([]); // apt-get installs them
    const [problem] = findProblems(facts({ aptGet: false, missingDebianPackages: ['containerd', 'etcd-server'] }));
    expect(problem).toMatchObject({ prerequisite: 'Debian packages', found: 'missing containerd etcd-server, and there is no apt-get to install them' });
  });

  it('needs Go only for what is still to build, at the version its go.mod asks', () => {
    const noGo = { goVersion: undefined };
    expect(findProblems(facts({ ...noGo, toBuild: { ...ready.toBuild, wasmShim: ['0.1.0'] } }))).toEqual([]);
    expect(findProblems(facts({ ...noGo, toBuild: { ...ready.toBuild, kube: ['etcd'] } }))).toEqual([]); // etcd comes from apt
    expect(findProblems(facts({ ...noGo, toBuild: { ...ready.toBuild, kube: ['kubelet'] } }))[0]?.found).toBe('no go on PATH, and Kubernetes must be built');
    // Kubernetes alone builds with Go 1.24; containerd 2.4.2 needs 1.26.6.
    expect(findProblems(facts({ goVersion: '1.25.1', toBuild: { ...ready.toBuild, kube: ['kubelet'] } }))).toEqual([]);
    const [tooOld] = findProblems(facts({ goVersion: '1.25.1', toBuild: cold }));
    expect(tooOld).toMatchObject({ prerequisite: 'a Go toolchain', found: `go 1.25.1, but Kubernetes and containerd 2.4.2 needs ${MINIMUM_GO.containerd} or newer` });
    expect(findProblems(facts({ goVersion: '1.26.6', toBuild: cold }))).toEqual([]);
  });

  it('needs cargo only while the Wasm shim is not built', () => {
    expect(findProblems(facts({ cargo: false }))).toEqual([]);
    expect(named(facts({ cargo: false, toBuild: { ...ready.toBuild, wasmShim: ['0.2.0'] } }))).toEqual(['cargo']);
  });

  it('wants room for a cold build, and a little for a warm run', () => {
    expect(findProblems(facts({ freeBytes: FREE_SPACE.warm }))).toEqual([]);
    expect(named(facts({ freeBytes: FREE_SPACE.warm - 1 }))).toEqual(['disk space']);
    expect(named(facts({ freeBytes: FREE_SPACE.coldBuild - 1, toBuild: cold }))).toEqual(['disk space']);
    expect(findProblems(facts({ freeBytes: undefined, toBuild: cold }))).toEqual([]); // unmeasurable: do not guess
  });

  it('plans the builds of a cold run with their duration', () => {
    expect(buildsPlanned(ready.toBuild)).toEqual([]);
    expect(buildsPlanned({ kube: ['etcd'], containerd: [], wasmShim: [] })).toEqual([]);
    expect(buildsPlanned(cold).map((b) => b.minutes)).toEqual([6, 2, 10]);
  });

  it('compares Go versions numerically', () => {
    expect(compareVersions('1.26.10', '1.26.6')).toBe(1);
    expect(compareVersions('1.26', '1.26.0')).toBe(0);
    expect(compareVersions('1.9', '1.24.0')).toBe(-1);
  });

  it('probes for the same builds that pretest:e2e makes', () => {
    const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts['pretest:e2e']).toContain(`build-kube.sh ${CLUSTER_BUILDS.kube.join(' ')}`);
    expect(scripts['pretest:e2e']).toContain(`build-containerd.sh ${CLUSTER_BUILDS.containerd.join(' ')}`);
    // ...and runs before them.
    for (const name of ['demo', 'cluster:up']) expect(scripts[name]).toMatch(/^node local-cluster\/check-prerequisites\.ts \S+ && npm run pretest:e2e && /);
  });
});
