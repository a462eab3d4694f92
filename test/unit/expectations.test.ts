import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Expectations, resourceVersionAtLeast } from '../../src/kube/expectations.ts';

describe('Expectations (read-your-writes)', () => {
  const setup = () => {
    const cache = new Map<string, KubernetesObject>();
    let now = 0;
    const expectations = new Expectations<'node' | 'job'>((kind, name, namespace) => cache.get(`${kind}/${namespace ?? ''}/${name}`), { timeoutMs: 5_000, clock: () => now });
    return { cache, expectations, advance: (ms: number) => (now += ms) };
  };

  it('is satisfied once the cache shows the written resourceVersion or a later one', () => {
    const { cache, expectations } = setup();
    expect(expectations.satisfied('spin')).toBe(true);
    expectations.expect('spin', [{ kind: 'node', name: 'a', resourceVersion: '10' }]);
    expect(expectations.satisfied('spin')).toBe(false);
    cache.set('node//a', { metadata: { name: 'a', resourceVersion: '9' } });
    expect(expectations.satisfied('spin')).toBe(false);
    cache.set('node//a', { metadata: { name: 'a', resourceVersion: '11' } });
    expect(expectations.satisfied('spin')).toBe(true);
    cache.set('node//a', { metadata: { name: 'a', resourceVersion: '1' } });
    expect(expectations.satisfied('spin')).toBe(true); // dropped once satisfied
  });

  it('sees a delete once the object is gone or being deleted, in its namespace', () => {
    const { cache, expectations } = setup();
    cache.set('job/ns/j', { metadata: { name: 'j' } });
    expectations.expect('spin', [{ kind: 'job', name: 'j', namespace: 'ns', resourceVersion: null }]);
    expect(expectations.satisfied('spin')).toBe(false);
    cache.set('job/ns/j', { metadata: { name: 'j', deletionTimestamp: new Date() } });
    expect(expectations.satisfied('spin')).toBe(true);
  });

  it('sees a delete and a create of the same name once the cache holds the new object', () => {
    const { cache, expectations } = setup();
    cache.set('job/ns/j', { metadata: { name: 'j', uid: 'old', resourceVersion: '5' } });
    expectations.expect('spin', [
      { kind: 'job', name: 'j', namespace: 'ns', resourceVersion: null, uid: 'old' },
      { kind: 'job', name: 'j', namespace: 'ns', resourceVersion: '7' },
    ]);
    expect(expectations.satisfied('spin')).toBe(false);
    cache.delete('job/ns/j');
    expect(expectations.satisfied('spin')).toBe(false); // the create is not seen yet
    cache.set('job/ns/j', { metadata: { name: 'j', uid: 'new', resourceVersion: '7' } });
    expect(expectations.satisfied('spin')).toBe(true);
  });

  it('gives up after the timeout, ignores empty write lists, and forgets', () => {
    const { expectations, advance } = setup();
    expectations.expect('spin', []);
    expect(expectations.satisfied('spin')).toBe(true);
    expectations.expect('spin', [{ kind: 'node', name: 'never', resourceVersion: '5' }]);
    advance(5_000);
    expect(expectations.satisfied('spin')).toBe(false);
    advance(1);
    expect(expectations.satisfied('spin')).toBe(true);
    expectations.expect('other', [{ kind: 'node', name: 'never', resourceVersion: '5' }]);
    expectations.forget('other');
    expect(expectations.satisfied('other')).toBe(true);
  });

  it('compares resourceVersions as integers when both are, otherwise only for equality', () => {
    expect(resourceVersionAtLeast('100', '99')).toBe(true);
    expect(resourceVersionAtLeast('99', '100')).toBe(false);
    expect(resourceVersionAtLeast('abc', 'abc')).toBe(true);
    expect(resourceVersionAtLeast('abd', 'abc')).toBe(false);
    expect(resourceVersionAtLeast(undefined, '1')).toBe(false);
  });
});
