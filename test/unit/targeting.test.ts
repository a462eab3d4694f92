import { describe, expect, it } from 'vitest';
import { OPT_IN_ANNOTATION } from '../../src/api/names.ts';
import { isTarget, optedInShims } from '../../src/controller/planner/targeting.ts';
import { makeShim } from './planner-fixtures.ts';

const shimWith = (nodeSelector: Record<string, string> | undefined, name = 'spin') =>
  makeShim({ nodeSelector }, { name });

describe('isTarget', () => {
  const cases: Array<{
    name: string;
    selector: Record<string, string> | undefined;
    labels?: Record<string, string>;
    optIn?: string;
    expected: boolean;
  }> = [
    { name: 'all selector labels match', selector: { spin: 'true', pool: 'wasm' }, labels: { spin: 'true', pool: 'wasm', other: 'x' }, expected: true },
    { name: 'one selector label missing', selector: { spin: 'true', pool: 'wasm' }, labels: { spin: 'true' }, expected: false },
    { name: 'selector value differs', selector: { spin: 'true' }, labels: { spin: 'false' }, expected: false },
    { name: 'values compare exactly', selector: { spin: 'true' }, labels: { spin: 'True' }, expected: false },
    { name: 'empty selector value matches an empty label', selector: { 'node-role.kubernetes.io/wasm': '' }, labels: { 'node-role.kubernetes.io/wasm': '' }, expected: true },
    { name: 'no labels at all', selector: { spin: 'true' }, labels: undefined, expected: false },
    { name: 'empty selector targets nothing', selector: {}, labels: { spin: 'true' }, expected: false },
    { name: 'absent selector targets nothing', selector: undefined, labels: { spin: 'true' }, expected: false },
    { name: 'opt-in by name without selector', selector: undefined, optIn: 'spin', expected: true },
    { name: 'opt-in in a list with spaces', selector: {}, optIn: 'slight, spin ,wws', expected: true },
    { name: 'opt-in with *', selector: {}, optIn: '*', expected: true },
    { name: 'opt-in names another shim', selector: {}, optIn: 'slight,wws', expected: false },
    { name: 'opt-in is not a prefix match', selector: {}, optIn: 'spin-v2', expected: false },
    { name: 'empty opt-in', selector: {}, optIn: '', expected: false },
    { name: 'opt-in when the selector does not match', selector: { spin: 'true' }, labels: { spin: 'no' }, optIn: 'spin', expected: true },
    { name: 'selector matches and opt-in names another shim', selector: { spin: 'true' }, labels: { spin: 'true' }, optIn: 'other', expected: true },
  ];

  it.each(cases)('$name → $expected', ({ selector, labels, optIn, expected }) => {
    const annotations: Record<string, string> = optIn === undefined ? {} : { [OPT_IN_ANNOTATION]: optIn };
    const node = { labels, annotations };
    expect(isTarget(shimWith(selector), node)).toBe(expected);
  });
});

describe('optedInShims', () => {
  it.each([
    [undefined, []],
    ['', []],
    ['spin', ['spin']],
    [' spin , slight ,, ', ['spin', 'slight']],
    ['*', ['*']],
  ] as const)('%j → %j', (value, expected) => {
    expect(optedInShims({ annotations: value === undefined ? {} : { [OPT_IN_ANNOTATION]: value } })).toEqual(expected);
  });
});
