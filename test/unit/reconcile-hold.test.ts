import { describe, expect, it } from 'vitest';
import type { ObservedJob } from '../../src/controller/planner/model.ts';
import { reconcileHold, typicalJobMs } from '../../src/controller/shell/pacing.ts';

describe('reconcile pacing', () => {
  it('holds a busy Shim a moment per node planned, however fast planning was', () => {
    expect(reconcileHold({ planningMs: 0.05, nodesPlanned: 3 })).toBeLessThan(10);
    const small = reconcileHold({ planningMs: 0.1, nodesPlanned: 100 });
    const large = reconcileHold({ planningMs: 0.1, nodesPlanned: 500 });
    expect(large / 500).toBeCloseTo(small / 100);
  });

  it('plans a large fleet at most once a second by that floor, and less often when planning itself is slow', () => {
    expect(reconcileHold({ planningMs: 1, nodesPlanned: 1_000 })).toBe(1_000);
    expect(reconcileHold({ planningMs: 1, nodesPlanned: 5_000 })).toBe(1_000);
    expect(reconcileHold({ planningMs: 60, nodesPlanned: 5_000 })).toBeGreaterThan(1_000);
    expect(reconcileHold({ planningMs: 50, nodesPlanned: 100 })).toBeGreaterThan(reconcileHold({ planningMs: 1, nodesPlanned: 100 }));
  });

  it('before any Job has finished, holds a Shim 30 times its planning time', () => {
    expect(reconcileHold({ planningMs: 60, nodesPlanned: 5_000 })).toBe(1_800);
  });

  it('holds a Shim up to 200 times its planning time, but never more than a fifth of how long its Jobs take', () => {
    // Jobs of a minute: planning's share of a core decides.
    expect(reconcileHold({ planningMs: 40, nodesPlanned: 5_000, typicalJobMs: 60_000 })).toBe(8_000);
    // Jobs of 12 s: a freed slot waits at most 2.4 s for its successor.
    expect(reconcileHold({ planningMs: 40, nodesPlanned: 5_000, typicalJobMs: 12_000 })).toBe(2_400);
    // Short Jobs do not lower the hold below its floor.
    expect(reconcileHold({ planningMs: 40, nodesPlanned: 5_000, typicalJobMs: 2_000 })).toBe(1_000);
    expect(reconcileHold({ planningMs: 0.2, nodesPlanned: 3, typicalJobMs: 20_000 })).toBe(40);
  });

  it('never holds a Shim for more than ten seconds', () => {
    expect(reconcileHold({ planningMs: 10_000, nodesPlanned: 1 })).toBe(10_000);
    expect(reconcileHold({ planningMs: 1_000, nodesPlanned: 1_000_000, typicalJobMs: 3_600_000 })).toBe(10_000);
  });

  it('does not hold a Shim that was not planned', () => {
    expect(reconcileHold({ planningMs: 0, nodesPlanned: 0 })).toBe(0);
  });
});

describe('how long a Shim\'s Jobs take', () => {
  const job = (phase: ObservedJob['phase'], createdAt?: string, finishedAt?: string): ObservedJob => ({
    name: 'j',
    node: 'n',
    action: 'install',
    revision: 'r',
    phase,
    ...(createdAt ? { createdAt } : {}),
    ...(finishedAt ? { finishedAt } : {}),
  });
  const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds)).toISOString();

  it('is the median of the finished Jobs, from creation to finish', () => {
    expect(typicalJobMs([job('succeeded', at(0), at(10)), job('failed', at(0), at(30)), job('succeeded', at(5), at(25)), job('running', at(0))])).toBe(20_000);
  });

  it('is not known before a Job has finished, nor from Jobs without both times', () => {
    expect(typicalJobMs([])).toBeUndefined();
    expect(typicalJobMs([job('running', at(0)), job('succeeded', undefined, at(3)), job('succeeded', at(9), at(3))])).toBeUndefined();
  });
});
