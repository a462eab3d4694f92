// The planner's remembered answers (planner/memo.ts): worked out once per key, undefined answers
// included, and forgotten all at once at the bound for string keys.
import { describe, expect, it } from 'vitest';
import { memoizeByObject, memoizeByString } from '../../src/controller/planner/memo.ts';

describe('memoize', () => {
  it('works out an answer once per string, an undefined one too, and forgets all at the bound', () => {
    const asked: string[] = [];
    const lengthOrNothing = memoizeByString((key) => (asked.push(key), key === '' ? undefined : key.length), 3);
    expect([lengthOrNothing('ab'), lengthOrNothing('ab'), lengthOrNothing(''), lengthOrNothing('')]).toEqual([2, 2, undefined, undefined]);
    expect(asked).toEqual(['ab', '']);
    lengthOrNothing('abc');
    lengthOrNothing('abcd'); // the fourth key: the three before are forgotten
    lengthOrNothing('ab');
    expect(asked).toEqual(['ab', '', 'abc', 'abcd', 'ab']);
  });

  it('works out an answer once per object', () => {
    let calls = 0;
    const size = memoizeByObject((list: number[]) => (calls++, list.length === 0 ? undefined : list.length));
    const [a, b] = [[1, 2], []];
    expect([size(a), size(a), size(b), size(b)]).toEqual([2, 2, undefined, undefined]);
    expect(calls).toBe(2);
  });
});
