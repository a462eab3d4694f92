// Failure Events on the Shim, one per error code and revision per planning pass, instead of one per
// node: its reason is the installer's error code (ChecksumMismatch, ShimDoesNotStart, ...), so
// `kubectl describe shim` tells what went wrong where. A failure also stays on its node (kubectl
// describe node). Progress is told by the rollout's milestones (plan.ts, shimEvents).

import type { EmitEventAction } from './model.ts';

/** Nodes named in one Event before "and N more". */
export const NODES_PER_EVENT = 10;

interface Entry {
  eventType: 'Normal' | 'Warning';
  reason: string;
  /** What happened, before " on <nodes>": "installed revision abc (version 1.2.3)". */
  what: string;
  nodes: string[];
}

export class EventDigest {
  private readonly entries = new Map<string, Entry>();

  add(eventType: Entry['eventType'], reason: string, what: string, node: string): void {
    const key = JSON.stringify([eventType, reason, what]);
    let entry = this.entries.get(key);
    if (!entry) this.entries.set(key, (entry = { eventType, reason, what, nodes: [] }));
    entry.nodes.push(node);
  }

  events(): EmitEventAction[] {
    return [...this.entries.values()].map(({ eventType, reason, what, nodes }) => {
      const sorted = [...nodes].sort();
      const named = sorted.slice(0, NODES_PER_EVENT).join(', ');
      const more = sorted.length > NODES_PER_EVENT ? ` and ${sorted.length - NODES_PER_EVENT} more` : '';
      const where = sorted.length === 1 ? `node ${named}` : `${sorted.length} nodes: ${named}${more}`;
      return { type: 'emitEvent', eventType, reason, message: `${what} on ${where}` };
    });
  }
}
