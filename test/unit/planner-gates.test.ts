// What stops a valid Shim from installing (gates.ts): a handler another Shim owns, an artifact
// location the controller's allow-list refuses; what carries the default-runtime opt-in to the
// installer; and which failures keep a node's ready label.

import { describe, expect, it } from 'vitest';
import { parseAllowedArtifactLocations } from '../../src/api/artifact-policy.ts';
import { INSTALLER_ERROR_CODES, INSTALLER_FLAGS, JOB_OWNED_FLAGS, type InstallerErrorCode } from '../../src/api/installer-contract.ts';
import { readyLabelKey, statusAnnotationKey } from '../../src/api/names.ts';
import { handlerOwner } from '../../src/controller/planner/gates.ts';
import type { OtherShim } from '../../src/controller/planner/model.ts';
import { serializeNodeShimStatus } from '../../src/controller/planner/node-status.ts';
import { installerEnv } from '../../src/controller/installer-job/spec.ts';
import { FakeCluster, SHA_A, SHA_B, T0, URL_B, condition, makeNode, makeShim, nodeNames, ofType, planFlat, revisionA } from './planner-fixtures.ts';

const other = (name: string, handler: string, creationTimestamp?: string): OtherShim => ({
  metadata: { name, ...(creationTimestamp ? { creationTimestamp } : {}) },
  spec: { runtimeClass: { handler } },
});
const EARLIER = '2025-12-01T00:00:00Z';
const LATER = '2026-02-01T00:00:00Z';
const CREATED = '2026-01-01T00:00:00Z';

describe('one handler belongs to one Shim', () => {
  it.each<[string, OtherShim[], string | undefined]>([
    ['no other Shim', [], undefined],
    ['another handler', [other('old', 'wasmtime', EARLIER)], undefined],
    ['a later Shim with the handler', [other('new', 'spin', LATER)], undefined],
    ['an earlier Shim with the handler', [other('old', 'spin', EARLIER)], 'old'],
    ['the earliest of several', [other('new', 'spin', LATER), other('old', 'spin', EARLIER), other('older', 'spin', '2025-01-01T00:00:00Z')], 'older'],
    ['the same age: the first by name', [other('aaa', 'spin', CREATED)], 'aaa'],
    ['the same age, later by name', [other('zzz', 'spin', CREATED)], undefined],
    ['a Shim of unknown age claims nothing before a known one', [other('aaa', 'spin')], undefined],
    ['itself in the list (the cache holds every Shim)', [other('spin', 'spin', EARLIER)], undefined],
  ])('%s', (_name, others, owner) => {
    expect(handlerOwner(makeShim({}, { creationTimestamp: CREATED }), others)).toBe(owner);
  });

  it('the later Shim starts nothing, creates no RuntimeClass, says why once, and proceeds when the owner is gone', () => {
    const cluster = new FakeCluster(makeShim({}, { creationTimestamp: CREATED }), nodeNames(2).map((n) => makeNode(n)));
    cluster.otherShims = [other('first', 'spin', EARLIER)];
    const blocked = cluster.step();
    expect(ofType(blocked.actions, 'createJob')).toEqual([]);
    expect(ofType(blocked.actions, 'applyRuntimeClass')).toEqual([]);
    expect(condition(cluster, 'Ready')).toMatchObject({ status: 'False', reason: 'HandlerConflict' });
    expect(condition(cluster, 'Ready')?.message).toContain('belongs to Shim first');
    expect(condition(cluster, 'Degraded')).toMatchObject({ status: 'True', reason: 'HandlerConflict' });
    expect(condition(cluster, 'Progressing')).toMatchObject({ status: 'False', reason: 'HandlerConflict' });
    expect(cluster.events).toEqual([expect.objectContaining({ eventType: 'Warning', reason: 'HandlerConflict' })]);
    expect(cluster.events[0]?.message).toContain('Shim first');
    expect(cluster.step().actions).toEqual([]); // settled: no second event, no write

    // The owner being deleted still holds the handler (its uninstalls run); gone, it frees it.
    cluster.otherShims = [];
    cluster.settle();
    expect(cluster.ready('node-a') && cluster.ready('node-b')).toBe(true);
    expect(condition(cluster, 'Ready')).toMatchObject({ status: 'True' });
    expect(cluster.runtimeClasses.get('wasmtime-spin-v2')?.handler).toBe('spin');
  });

  it('a Shim that loses its handler to an older one keeps what its nodes run and still uninstalls', () => {
    const cluster = new FakeCluster(makeShim({}, { creationTimestamp: CREATED }), nodeNames(2).map((n) => makeNode(n)));
    cluster.settle();
    // An older Shim moves onto this handler: this one stops rolling out, touches nothing it runs...
    cluster.otherShims = [other('older', 'spin', EARLIER)];
    cluster.shim!.spec.fetchStrategy.anonHttp = { location: URL_B, sha256: SHA_B };
    const blocked = cluster.step();
    expect(ofType(blocked.actions, 'createJob')).toEqual([]);
    expect(ofType(blocked.actions, 'deleteRuntimeClass')).toEqual([]);
    expect(cluster.ready('node-a')).toBe(true);
    // ...but a node that leaves is still cleaned up, and deletion still runs.
    delete cluster.nodes.get('node-b')!.labels!.spin;
    cluster.settle();
    expect(cluster.record('node-b')).toBeNull();
    cluster.shim!.metadata.deletionTimestamp = '2026-01-01T02:00:00Z';
    cluster.settle();
    expect(cluster.shim).toBeNull();
  });

  it('carries the explicit opt-in to take over an existing handler to the installer, and only then', () => {
    expect(JOB_OWNED_FLAGS).toContain('takeOverHandler');
    const plain = ofType(planFlat({ shim: makeShim(), nodes: [makeNode('n')], jobs: [], runtimeClasses: [], now: T0 }).actions, 'createJob')[0]!;
    expect(plain.takeOverHandler).toBeUndefined();
    expect(installerEnv(plain, {}).map((e) => e.name)).not.toContain(INSTALLER_FLAGS.takeOverHandler.env);
    const shim = makeShim({ runtimeClass: { name: 'runc-override', handler: 'runc', takeOverExistingHandler: true } });
    const job = ofType(planFlat({ shim, nodes: [makeNode('n')], jobs: [], runtimeClasses: [], now: T0 }).actions, 'createJob')[0]!;
    expect(job.takeOverHandler).toBe(true);
    expect(installerEnv(job, {})).toContainEqual({ name: 'TAKE_OVER_HANDLER', value: 'true' });
  });

  it('refuses the default runtime handler without the opt-in', () => {
    const result = planFlat({ shim: makeShim({ runtimeClass: { name: 'x', handler: 'runc' } }), nodes: [makeNode('n')], jobs: [], runtimeClasses: [], now: T0 });
    expect(ofType(result.actions, 'createJob')).toEqual([]);
    expect(result.status.conditions?.[0]).toMatchObject({ reason: 'InvalidSpec' });
  });
});

describe('the artifact allow-list', () => {
  const allowList = parseAllowedArtifactLocations('https://releases.example.org/shims/');

  it.each<[string, ReturnType<typeof makeShim>, boolean]>([
    ['an allowed anonHttp location', makeShim({ fetchStrategy: { anonHttp: { location: 'https://releases.example.org/shims/spin.tgz', sha256: SHA_A } } }), true],
    ['a look-alike host', makeShim({ fetchStrategy: { anonHttp: { location: 'https://releases.example.org.evil.net/shims/spin.tgz', sha256: SHA_A } } }), false],
    ['one platform outside the list', makeShim({ fetchStrategy: { platforms: [
      { os: 'linux', arch: 'amd64', location: 'https://releases.example.org/shims/amd64.tgz', sha256: SHA_A },
      { os: 'linux', arch: 'arm64', location: 'https://elsewhere.example.org/arm64.tgz', sha256: SHA_B },
    ] } }), false],
  ])('%s → installs: %s', (_name, shim, installs) => {
    const result = planFlat({ shim, nodes: [makeNode('n')], jobs: [], runtimeClasses: [], allowedArtifactLocations: allowList, now: T0 });
    expect(ofType(result.actions, 'createJob').length > 0).toBe(installs);
    if (!installs) {
      expect(result.status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ArtifactNotAllowed' });
      expect(ofType(result.actions, 'emitEvent')).toEqual([expect.objectContaining({ eventType: 'Warning', reason: 'ArtifactNotAllowed' })]);
    }
  });

  it('names the refused location without its credentials', () => {
    const location = 'https://deploy:hunter2secret@elsewhere.example.org/spin.tgz?X-Amz-Signature=deadbeefsig';
    const result = planFlat({ shim: makeShim({ fetchStrategy: { anonHttp: { location, sha256: SHA_A } } }), nodes: [makeNode('n')], jobs: [], runtimeClasses: [], allowedArtifactLocations: allowList, now: T0 });
    const written = JSON.stringify([result.status, ofType(result.actions, 'emitEvent')]);
    expect(written).toContain('elsewhere.example.org/spin.tgz');
    expect(written).not.toMatch(/hunter2secret|deadbeefsig/);
  });
});

describe('the ready label after a failed upgrade', () => {
  // The node runs revision A and is ready; the upgrade to B fails with `code`.
  function failUpgrade(fail: { code?: InstallerErrorCode; noResult?: string }) {
    const cluster = new FakeCluster(makeShim(), [makeNode('node-a')]);
    cluster.settle();
    expect(cluster.ready('node-a')).toBe(true);
    cluster.shim!.spec.fetchStrategy.anonHttp = { location: URL_B, sha256: SHA_B };
    cluster.step();
    const [job] = cluster.running();
    cluster.advance(1_000);
    cluster.finishJob(job!.name, { ok: false, error: 'it went wrong', ...fail });
    cluster.step();
    return cluster;
  }

  it.each(Object.entries(INSTALLER_ERROR_CODES).map(([code, { nodeIntact }]) => [code as InstallerErrorCode, nodeIntact] as const))(
    '%s: kept = %s (failureLeavesNodeIntact)',
    (code, nodeIntact) => {
      const cluster = failUpgrade({ code });
      expect(cluster.ready('node-a')).toBe(nodeIntact);
      expect(cluster.record('node-a')).toMatchObject({ state: 'failed', ...(nodeIntact ? { workingRevision: revisionA() } : {}) });
    },
  );

  it('a Job that left no result drops the label (what the node runs is unknown)', () => {
    expect(failUpgrade({ noResult: 'DeadlineExceeded: Job was active longer than specified deadline' }).ready('node-a')).toBe(false);
  });

  it('a ready label with no working install behind it is taken off (set by hand, or by the kubelet)', () => {
    const forged = { [readyLabelKey('spin')]: 'true' };
    const installing = serializeNodeShimStatus({ state: 'installing', revision: revisionA(), time: '2026-01-01T00:00:00Z' });
    for (const node of [
      makeNode('n', { labels: forged }),
      makeNode('n', { labels: forged, annotations: { [statusAnnotationKey('spin')]: installing } }),
    ]) {
      const patch = ofType(planFlat({ shim: makeShim(), nodes: [node], jobs: [], runtimeClasses: [], now: T0 }).actions, 'patchNode')[0];
      expect(patch?.readyLabel).toBeNull();
    }
  });
});
