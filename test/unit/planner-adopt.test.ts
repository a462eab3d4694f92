import { describe, expect, it } from 'vitest';
import { readyLabelKey } from '../../src/api/names.ts';
import type { ObservedRuntimeClass } from '../../src/controller/planner/model.ts';
import { RUNTIME_CLASS_SHIM_LABEL } from '../../src/controller/planner/runtime-class.ts';
import { condition, expectIdle, FakeCluster, makeNode, makeShim, ofType, planFlat, T0 } from './planner-fixtures.ts';

// Adopting a RuntimeClass that runtime-class-manager created (spec.runtimeClass.adoptExisting):
// only when asked, only with the same handler, never another Shim's; once, and then it is owned.

/** What runtime-class-manager creates: a label named after the class, its Shim as controller, the Shim's nodeSelector. */
const rcmClass: ObservedRuntimeClass = {
  name: 'wasmtime-spin-v2',
  uid: 'rc-uid-rcm',
  handler: 'spin',
  nodeSelector: { spin: 'true' },
  labels: { 'wasmtime-spin-v2': 'true' },
  ownerUids: ['uid-of-the-rcm-shim'],
  controller: { apiVersion: 'runtime.spinkube.dev/v1alpha1', kind: 'Shim', name: 'spin-v2' },
};

const adopting = (extra: Partial<ReturnType<typeof makeShim>['spec']['runtimeClass']> = {}) =>
  makeShim({ runtimeClass: { name: 'wasmtime-spin-v2', handler: 'spin', adoptExisting: true, ...extra } });

const runtimeClassWrites = (actions: ReturnType<typeof planFlat>['actions']) => actions.filter((a) => a.type.endsWith('RuntimeClass'));

describe('adopting a RuntimeClass shimkeeper did not create', () => {
  it('without the opt-in: no write, RuntimeClassConflict naming rcm\'s Shim and saying how to adopt', () => {
    const result = planFlat({ shim: makeShim(), nodes: [makeNode('node-a')], jobs: [], runtimeClasses: [rcmClass], now: T0 });
    expect(runtimeClassWrites(result.actions)).toEqual([]);
    const degraded = result.status.conditions?.find((c) => c.type === 'Degraded');
    expect(degraded).toMatchObject({ status: 'True', reason: 'RuntimeClassConflict' });
    expect(degraded?.message).toContain('RuntimeClass wasmtime-spin-v2 (handler spin), controlled by Shim spin-v2 (runtime.spinkube.dev/v1alpha1), was not created by shimkeeper');
    expect(degraded?.message).toContain('set spec.runtimeClass.adoptExisting: true');
    // Installs go on meanwhile: only the class is left alone.
    expect(ofType(result.actions, 'createJob')).toHaveLength(1);
  });

  it('with the opt-in: takes it over once (uid precondition), tells it in an Event after the write, then owns it', () => {
    const cluster = new FakeCluster(adopting(), [makeNode('node-a')]);
    cluster.runtimeClasses.set(rcmClass.name, structuredClone(rcmClass));
    const first = cluster.plan();
    expect(first.before.map((a) => a.type)).toEqual(['adoptRuntimeClass', 'emitEvent']);
    expect(first.before[0]).toEqual({
      type: 'adoptRuntimeClass',
      uid: 'rc-uid-rcm',
      runtimeClass: expect.objectContaining({ name: 'wasmtime-spin-v2', handler: 'spin', nodeSelector: { [readyLabelKey('spin')]: 'true' } }),
    });
    expect(first.before[1]).toMatchObject({
      eventType: 'Normal',
      reason: 'RuntimeClassAdopted',
      message: expect.stringContaining('adopted RuntimeClass wasmtime-spin-v2 (handler spin) from Shim spin-v2 (runtime.spinkube.dev/v1alpha1)'),
    });
    expect(first.status.conditions?.find((c) => c.type === 'Degraded')?.reason).not.toBe('RuntimeClassConflict');
    cluster.apply(first.actions);

    const adopted = cluster.runtimeClasses.get('wasmtime-spin-v2')!;
    expect(adopted.labels).toEqual({ 'wasmtime-spin-v2': 'true', [RUNTIME_CLASS_SHIM_LABEL]: 'spin', 'app.kubernetes.io/managed-by': 'shimkeeper' });
    expect(adopted.nodeSelector).toEqual({ [readyLabelKey('spin')]: 'true' });
    expect(adopted.ownerUids).toEqual(['uid-spin']);
    cluster.settle();
    expect(runtimeClassWrites(cluster.plan().actions)).toEqual([]);
    expect(cluster.events.filter((e) => e.reason === 'RuntimeClassAdopted')).toHaveLength(1);
    expect(condition(cluster, 'Ready')).toMatchObject({ status: 'True' });
    expectIdle(cluster.plan());
  });

  it('deletes the adopted class with the Shim, like one it created', () => {
    const cluster = new FakeCluster(adopting(), [makeNode('node-a')]);
    cluster.runtimeClasses.set(rcmClass.name, structuredClone(rcmClass));
    cluster.settle();
    cluster.shim!.metadata.deletionTimestamp = '2026-01-01T02:00:00Z';
    expect(cluster.step().before).toContainEqual({ type: 'deleteRuntimeClass', name: 'wasmtime-spin-v2', uid: 'rc-uid-rcm' });
  });

  it('refuses a class with another handler even with the opt-in: a handler cannot change', () => {
    const result = planFlat({ shim: adopting(), nodes: [], jobs: [], runtimeClasses: [{ ...rcmClass, handler: 'spin-v2' }], now: T0 });
    expect(runtimeClassWrites(result.actions)).toEqual([]);
    const degraded = result.status.conditions?.find((c) => c.type === 'Degraded');
    expect(degraded).toMatchObject({ status: 'True', reason: 'RuntimeClassConflict' });
    expect(degraded?.message).toMatch(/its handler is not spec\.runtimeClass\.handler spin: it is neither changed nor adopted .*Delete it to have it created anew .*set spec\.runtimeClass\.handler to spin-v2/);
  });

  it('refuses a class of another Shim even with the opt-in', () => {
    const other = { ...rcmClass, labels: { [RUNTIME_CLASS_SHIM_LABEL]: 'other' }, controller: { apiVersion: 'runtime.shimkeeper.dev/v1alpha1', kind: 'Shim', name: 'other' } };
    const result = planFlat({ shim: adopting(), nodes: [], jobs: [], runtimeClasses: [other], now: T0 });
    expect(runtimeClassWrites(result.actions)).toEqual([]);
    expect(result.status.conditions?.find((c) => c.type === 'Degraded')?.message).toContain('labelled for Shim other, belongs to another Shim and is never adopted');
  });

  it('adopts a class left by an earlier Shim of the same name (label matches, owner uid does not)', () => {
    const leftover = { ...rcmClass, labels: { [RUNTIME_CLASS_SHIM_LABEL]: 'spin' }, ownerUids: ['uid-of-a-deleted-spin'], controller: { apiVersion: 'runtime.shimkeeper.dev/v1alpha1', kind: 'Shim', name: 'spin' } };
    const result = planFlat({ shim: adopting(), nodes: [], jobs: [], runtimeClasses: [leftover], now: T0 });
    expect(runtimeClassWrites(result.actions)).toEqual([expect.objectContaining({ type: 'adoptRuntimeClass', uid: 'rc-uid-rcm' })]);
  });

  it('adopts nothing without a uid to make the write conditional on', () => {
    const { uid: _uid, ...noUid } = rcmClass;
    const result = planFlat({ shim: adopting(), nodes: [], jobs: [], runtimeClasses: [noUid], now: T0 });
    expect(runtimeClassWrites(result.actions)).toEqual([]);
    expect(result.status.conditions?.find((c) => c.type === 'Degraded')?.message).toContain('cannot be adopted: it has no uid');
  });

  it('never adopts while the Shim is being deleted, nor for an invalid Shim', () => {
    const deleting = adopting();
    deleting.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
    expect(runtimeClassWrites(planFlat({ shim: deleting, nodes: [], jobs: [], runtimeClasses: [rcmClass], now: T0 }).actions)).toEqual([]);
    const invalid = adopting({ adoptExisting: 'yes' as unknown as boolean });
    const result = planFlat({ shim: invalid, nodes: [], jobs: [], runtimeClasses: [rcmClass], now: T0 });
    expect(runtimeClassWrites(result.actions)).toEqual([]);
    expect(result.status.conditions?.find((c) => c.type === 'Ready')?.message).toContain('spec.runtimeClass.adoptExisting must be a boolean');
  });

  it('changes nothing for a class the Shim already owns, opt-in or not', () => {
    const cluster = new FakeCluster(adopting(), [makeNode('node-a')]);
    cluster.settle();
    expect(cluster.events.filter((e) => e.reason === 'RuntimeClassAdopted')).toEqual([]);
    expectIdle(cluster.plan());
  });
});
