// Reconcile pacing: how long a reconciled Shim is not planned again, however soon it is woken.
// During a rollout every Job and Pod change wakes the Shim, and each plan reads every node: unpaced,
// a large fleet would replan back to back and the controller's CPU would grow with the square of
// the fleet. Paced, a plan batches the changes of its hold, and what planning costs per node stays
// flat as the fleet grows (bench/controller.bench.ts). A Shim woken after a quiet spell is planned
// at once. Pure: the shell measures the plan and passes the Jobs it observed.

import { memoizeByObject } from '../planner/memo.ts';
import type { ObservedJob } from '../planner/model.ts';

/**
 * Planning takes at most 1/(1+factor) of a core per busy Shim: a Shim is planned again no sooner
 * than this many times as long as its last plan took, unless its Jobs are short (JOB_SHARE).
 */
const HOLD_FACTOR = 200;
/**
 * The hold is at most this share of how long the Shim's installer Jobs take (median, creation to
 * finish): a slot a finished Job frees waits on average a tenth of a Job's time for its successor,
 * so pacing costs a rollout at most about a tenth of its time, and nothing when the API server
 * sets the pace (bench/controller.bench.ts), whatever the fleet's size. (A fixed factor of 60 once
 * left a 5,000-node rollout's slots idle for seconds: bounded by the Jobs' own time, it cannot.)
 */
const JOB_SHARE = 1 / 5;
/** Before any Job has finished, how long Jobs take is not known: the hold is bounded by this factor instead. */
const HOLD_FACTOR_WITHOUT_JOBS = 30;
/**
 * The floor of the hold, per node planned, up to a second: a busy Shim over N nodes is planned at
 * most once every N ms (a few ms for a handful of nodes, once a second from 1,000 on), whatever
 * this machine's speed makes of a plan's duration.
 */
const HOLD_PER_NODE_MS = 1;
const HOLD_FLOOR_MAX_MS = 1_000;
/** However slow planning is and however long Jobs take, a woken Shim is planned within this. */
const HOLD_MAX_MS = 10_000;

export interface PlanningCost {
  /** How long the last plan took (ms), not counting its writes; 0 when the Shim was not planned. */
  planningMs: number;
  nodesPlanned: number;
  /** typicalJobMs of the Jobs that plan observed, when any had finished. */
  typicalJobMs?: number | undefined;
}

/** How long a reconciled Shim is not planned again (ms). */
export function reconcileHold({ planningMs, nodesPlanned, typicalJobMs }: PlanningCost): number {
  const floor = Math.min(HOLD_FLOOR_MAX_MS, HOLD_PER_NODE_MS * nodesPlanned);
  const bound = typicalJobMs === undefined ? HOLD_FACTOR_WITHOUT_JOBS * planningMs : JOB_SHARE * typicalJobMs;
  return Math.min(HOLD_MAX_MS, Math.max(floor, Math.min(HOLD_FACTOR * planningMs, bound)));
}

/** The median time the finished Jobs took from creation to finish (ms), or undefined without any. */
export function typicalJobMs(jobs: readonly ObservedJob[]): number | undefined {
  const durations: number[] = [];
  for (const job of jobs) {
    if (job.phase === 'running') continue;
    const ms = jobDurationMs(job);
    if (ms !== undefined) durations.push(ms);
  }
  if (durations.length === 0) return undefined;
  durations.sort((a, b) => a - b);
  return durations[durations.length >> 1];
}

/**
 * A finished Job's creation-to-finish time (ms). Every plan asks it of every finished Job left for
 * its TTL, one per installed node; their observations are shared between plans (shell/observe.ts).
 */
const jobDurationMs = memoizeByObject((job: ObservedJob): number | undefined => {
  if (!job.createdAt || !job.finishedAt) return undefined;
  const ms = Date.parse(job.finishedAt) - Date.parse(job.createdAt);
  return ms >= 0 ? ms : undefined;
});
