import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../src/kube/workqueue.ts';

describe('work queue', () => {
  it('holds a key once however often it is added', async () => {
    const queue = new WorkQueue<string>();
    queue.add('a');
    queue.add('b');
    queue.add('a');
    expect(queue.length).toBe(2);
    expect(await queue.get()).toBe('a');
    expect(await queue.get()).toBe('b');
  });

  it('never hands a key to two workers: added while processed, it comes back after done', async () => {
    const queue = new WorkQueue<string>();
    queue.add('a');
    const key = await queue.get();
    queue.add('a');
    expect(queue.length).toBe(0);
    queue.done(key!);
    expect(queue.length).toBe(1);
    expect(await queue.get()).toBe('a');
  });

  it('wakes a waiting worker', async () => {
    const queue = new WorkQueue<string>();
    const next = queue.get();
    queue.add('x');
    expect(await next).toBe('x');
  });

  it('delays keys, keeping the earliest pending delay', async () => {
    const queue = new WorkQueue<string>();
    queue.addAfter('a', 30);
    queue.addAfter('a', 5_000);
    expect(queue.length).toBe(0);
    await sleep(60);
    expect(queue.length).toBe(1);
  });

  it('backs off exponentially per key until forgotten', () => {
    const queue = new WorkQueue<string>({ baseBackoffMs: 100, maxBackoffMs: 350 });
    expect([queue.addRateLimited('a'), queue.addRateLimited('a'), queue.addRateLimited('a'), queue.addRateLimited('a')]).toEqual([100, 200, 350, 350]);
    expect(queue.addRateLimited('b')).toBe(100);
    queue.forget('a');
    expect(queue.addRateLimited('a')).toBe(100);
    queue.shutDown();
  });

  it('holds a key after it was processed: changes meanwhile come back once, when the hold ends', async () => {
    const queue = new WorkQueue<string>();
    queue.add('a');
    queue.add('b');
    const key = await queue.get();
    queue.add('a'); // changed while processed
    queue.done(key!, 80);
    queue.add('a'); // and again during the hold
    expect(queue.length).toBe(1); // only b
    expect(await queue.get()).toBe('b');
    await sleep(40);
    expect(queue.length).toBe(0);
    await sleep(80);
    expect(queue.length).toBe(1);
    expect(await queue.get()).toBe('a');
    // Once the hold is over, an add is immediate again.
    queue.done('a');
    queue.add('a');
    expect(queue.length).toBe(1);
  });

  it('a key processed without a hold, or another key, is not held', async () => {
    const queue = new WorkQueue<string>();
    queue.add('a');
    queue.done((await queue.get())!, 0);
    queue.add('a');
    queue.add('b');
    expect(queue.length).toBe(2);
  });

  it('shutting down releases waiting workers', async () => {
    const queue = new WorkQueue<string>();
    const next = queue.get();
    queue.shutDown();
    expect(await next).toBeUndefined();
  });
});
