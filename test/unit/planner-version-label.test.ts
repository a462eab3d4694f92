import { describe, expect, it } from 'vitest';
import { versionLabelKey } from '../../src/api/names.ts';
import { versionLabelValue } from '../../src/controller/planner/pass.ts';
import { FakeCluster, makeNode, makeShim, ofType, SHA_B, URL_B } from './planner-fixtures.ts';

// The node label <shim>.shim.runtime.shimkeeper.dev/version (DESIGN.md): the version a node runs,
// for `kubectl get nodes -L`; it changes only when a new version is proven, and goes with the shim.

const versionOf = (cluster: FakeCluster, node: string) => cluster.nodes.get(node)!.labels?.[versionLabelKey('spin')];

describe('the version label', () => {
  it('shows the installed version, keeps the old one while an upgrade runs, moves when it is proven, and goes with the shim', () => {
    const cluster = new FakeCluster(makeShim(), [makeNode('node-a')]);
    cluster.settle();
    expect(versionOf(cluster, 'node-a')).toBe('0.19.0');

    cluster.shim!.spec.fetchStrategy.anonHttp = { location: URL_B, sha256: SHA_B };
    cluster.shim!.spec.version = '0.20.0';
    const upgrade = cluster.step();
    expect(ofType(upgrade.actions, 'createJob')).toHaveLength(1);
    expect(ofType(upgrade.actions, 'patchNode')).toEqual([]);
    expect(cluster.running()).toHaveLength(1);
    expect(cluster.record('node-a')).toMatchObject({ state: 'installed', version: '0.19.0' });
    expect(versionOf(cluster, 'node-a')).toBe('0.19.0');
    cluster.settle();
    expect(versionOf(cluster, 'node-a')).toBe('0.20.0');

    delete cluster.nodes.get('node-a')!.labels!['spin'];
    cluster.settle();
    expect(versionOf(cluster, 'node-a')).toBeUndefined();
  });

  it('keeps the working version after a failed upgrade that left it in place', () => {
    const cluster = new FakeCluster(makeShim(), [makeNode('node-a')]);
    cluster.settle();
    cluster.shim!.spec.fetchStrategy.anonHttp = { location: URL_B, sha256: SHA_B };
    cluster.shim!.spec.version = '0.20.0';
    cluster.step();
    cluster.finishJob(cluster.running()[0]!.name, { ok: false, code: 'ChecksumMismatch', error: 'bad digest' });
    cluster.step();
    expect(versionOf(cluster, 'node-a')).toBe('0.19.0');
  });

  it.each([
    ['1.2.3', '1.2.3'],
    ['1.0.0+build.7', '1.0.0_build.7'],
    ['v2.0.0-rc.1', 'v2.0.0-rc.1'],
    ['+++', null],
    ['1'.repeat(80), '1'.repeat(63)],
  ])('%s as a label value is %s', (version, label) => {
    expect(versionLabelValue(version)).toBe(label);
  });
});
