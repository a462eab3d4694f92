import { describe, expect, it } from 'vitest';
import { MAX_VERSIONS } from '../../src/api/shim.ts';
import type { NodeShimRecord } from '../../src/controller/planner/node-status.ts';
import type { NodeOutcome } from '../../src/controller/planner/status.ts';
import { versionsOf } from '../../src/controller/planner/versions.ts';
import { condition, FakeCluster, makeNode, makeShim, nodeNames, SHA_B, URL_B } from './planner-fixtures.ts';

// status.versions: which revision and version how many target nodes run — installed and working —
// the desired revisions first, then the newest version.

function target(name: string, record: NodeShimRecord | null, extra: Partial<NodeOutcome> = {}): NodeOutcome {
  return { name, target: true, platform: 'linux/amd64', desiredRevision: 'new', record, ready: record !== null, busy: false, ...extra };
}
const installed = (revision: string, version?: string, extra: Partial<NodeShimRecord> = {}): NodeShimRecord => ({ state: 'installed', revision, ...(version ? { version } : {}), time: 't', ...extra });

describe('status.versions', () => {
  it('counts the target nodes per revision, the desired one first even when fewer run it', () => {
    const versions = versionsOf(
      [target('a', installed('new', '0.20.0')), target('b', installed('old', '0.19.0')), target('c', installed('old', '0.19.0')), target('d', null)],
      new Set(['new']),
    );
    expect(versions).toEqual([
      { version: '0.20.0', revision: 'new', nodes: 1 },
      { version: '0.19.0', revision: 'old', nodes: 2 },
    ]);
  });

  it('counts a node mid-upgrade, or left working by a failed one, under the revision it still runs', () => {
    const versions = versionsOf(
      [
        target('a', installed('old', '0.19.0')),
        target('b', { state: 'installing', revision: 'new', version: '0.20.0', workingRevision: 'old', time: 't' }),
        target('c', { state: 'failed', revision: 'new', message: 'ChecksumMismatch', workingRevision: 'old', time: 't' }),
        target('d', { state: 'failed', revision: 'new', message: 'rolled back nothing', time: 't' }),
        target('e', { state: 'installing', revision: 'new', time: 't' }),
      ],
      new Set(['new']),
    );
    expect(versions).toEqual([{ version: '0.19.0', revision: 'old', nodes: 3 }]);
  });

  it('takes the version of a working revision from the node\'s version label when no node has it installed', () => {
    const upgrading = { state: 'installing', revision: 'new', workingRevision: 'old', time: 't' } as const;
    expect(versionsOf([target('a', upgrading, { versionLabel: '0.19.0' }), target('b', upgrading, { versionLabel: '0.19.0' })], new Set(['new']))).toEqual([
      { version: '0.19.0', revision: 'old', nodes: 2 },
    ]);
    // A label cannot hold '+': an installed node's spelling wins when the two agree.
    expect(versionsOf([target('a', installed('old', '1.0.0+build.1')), target('b', upgrading, { versionLabel: '1.0.0_build.1' })], new Set(['new']))).toEqual([
      { version: '1.0.0+build.1', revision: 'old', nodes: 2 },
    ]);
  });

  it('tells versions apart within one revision (a version-only change), and sorts newest first', () => {
    const versions = versionsOf(
      [target('a', installed('same', '0.20.0')), target('b', installed('same', '0.19.0')), target('c', installed('other', 'v0.21.0-rc.1')), target('d', installed('x'))],
      new Set(['same']),
    );
    expect(versions).toEqual([
      { version: '0.20.0', revision: 'same', nodes: 1 },
      { version: '0.19.0', revision: 'same', nodes: 1 },
      { version: 'v0.21.0-rc.1', revision: 'other', nodes: 1 },
      { revision: 'x', nodes: 1 },
    ]);
  });

  it('leaves out nodes that are not targets and nodes suspected of having lost the shim', () => {
    expect(
      versionsOf([target('a', installed('old', '0.19.0'), { target: false }), target('b', installed('new', '0.20.0', { suspect: 'rebooted' }))], new Set(['new'])),
    ).toEqual([]);
  });

  it(`keeps at most ${MAX_VERSIONS} entries, the desired revision among them`, () => {
    const nodes = Array.from({ length: 20 }, (_, i) => target(`n${i}`, installed(`r${i}`, `0.${i}.0`)));
    const versions = versionsOf(nodes, new Set(['r0']));
    expect(versions).toHaveLength(MAX_VERSIONS);
    expect(versions[0]).toEqual({ version: '0.0.0', revision: 'r0', nodes: 1 });
    expect(versions[1]).toEqual({ version: '0.19.0', revision: 'r19', nodes: 1 });
  });

  it('follows a rolling upgrade through the planner: old and new side by side, then only the new', () => {
    const cluster = new FakeCluster(makeShim({ rolloutStrategy: { type: 'rolling', rolling: { maxUpdate: 1 } } }), nodeNames(3).map((n) => makeNode(n)));
    cluster.settle();
    const [before] = cluster.shim!.status!.versions!;
    expect(cluster.shim!.status!.versions).toEqual([{ version: '0.19.0', revision: before!.revision, nodes: 3 }]);

    cluster.shim!.spec = { ...cluster.shim!.spec, version: '0.20.0', fetchStrategy: { anonHttp: { location: URL_B, sha256: SHA_B } } };
    cluster.shim!.metadata.generation = 2;
    cluster.step();
    const desired = cluster.shim!.status!.revisions![0]!.revision;
    // The first node is upgrading: it still runs the old revision.
    expect(cluster.shim!.status!.versions).toEqual([{ version: '0.19.0', revision: before!.revision, nodes: 3 }]);
    cluster.advance(1_000);
    cluster.finishJob(cluster.running()[0]!.name);
    cluster.step();
    expect(cluster.shim!.status!.versions).toEqual([
      { version: '0.20.0', revision: desired, nodes: 1 },
      { version: '0.19.0', revision: before!.revision, nodes: 2 },
    ]);
    cluster.settle();
    expect(cluster.shim!.status!.versions).toEqual([{ version: '0.20.0', revision: desired, nodes: 3 }]);
  });
});

describe('a Shim that targets no node', () => {
  it('without nodeSelector: Ready and Degraded say so, that rcm took it as every node, and how to target every node', () => {
    const shim = makeShim();
    delete shim.spec.nodeSelector;
    const cluster = new FakeCluster(shim, [makeNode('node-a')]);
    cluster.settle();
    expect(cluster.created).toEqual([]);
    for (const type of ['Ready', 'Degraded']) {
      const c = condition(cluster, type);
      expect(c).toMatchObject({ status: type === 'Ready' ? 'False' : 'True', reason: 'NoTargetNodes' });
      expect(c?.message).toContain('spec.nodeSelector is empty, so only nodes that opt in with the annotation runtime.shimkeeper.dev/shims=spin are targets, and none does');
      expect(c?.message).toContain('(runtime-class-manager took it as every node): to target every Linux node set spec.nodeSelector to {kubernetes.io/os: linux}');
    }
    // Following the advice installs everywhere.
    cluster.shim!.spec.nodeSelector = { 'kubernetes.io/os': 'linux' };
    cluster.settle();
    expect(condition(cluster, 'Ready')).toMatchObject({ status: 'True' });
    expect(condition(cluster, 'Degraded')).toMatchObject({ status: 'False' });
  });

  it('with a nodeSelector nothing matches: Ready names the labels, and nothing is Degraded (nodes may come)', () => {
    const cluster = new FakeCluster(makeShim({ nodeSelector: { spin: 'true', pool: 'wasm' } }), [makeNode('node-a')]);
    cluster.settle();
    expect(condition(cluster, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'NoTargetNodes',
      message: 'no node has the labels of spec.nodeSelector (spin=true,pool=wasm) or opts in with the annotation runtime.shimkeeper.dev/shims=spin',
    });
    expect(condition(cluster, 'Degraded')).toMatchObject({ status: 'False' });
  });

  it('without nodeSelector but with a node opting in: no complaint', () => {
    const shim = makeShim({ nodeSelector: {} });
    const cluster = new FakeCluster(shim, [makeNode('node-a', { annotations: { 'runtime.shimkeeper.dev/shims': 'spin' } })]);
    cluster.settle();
    expect(condition(cluster, 'Ready')).toMatchObject({ status: 'True' });
    expect(condition(cluster, 'Degraded')).toMatchObject({ status: 'False' });
  });
});
