import { describe, expect, it } from 'vitest';
import { reconcileHold } from '../../src/controller/shell/controller.ts';

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

  it('never holds a Shim for more than five seconds', () => {
    expect(reconcileHold({ planningMs: 10_000, nodesPlanned: 1 })).toBe(5_000);
    expect(reconcileHold({ planningMs: 1_000, nodesPlanned: 1_000_000 })).toBe(5_000);
  });

  it('does not hold a Shim that was not planned', () => {
    expect(reconcileHold({ planningMs: 0, nodesPlanned: 0 })).toBe(0);
  });
});
