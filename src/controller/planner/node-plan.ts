// Per-node building blocks of the planner: what a finished Job means for its node, what a node's
// record looks like while a Job runs, the ready label, retry backoff.

import { failureLeavesNodeIntact, type JobAction, type Verification } from '../../api/installer-contract.ts';
import { redactSecrets } from '../../api/redact.ts';
import type { NodeShimRecord } from './node-status.ts';
import type { ObservedJob, ObservedNode } from './model.ts';

export const BACKOFF_INITIAL_MS = 10_000;
export const BACKOFF_MAX_MS = 300_000;

/** Delay before retrying after `failures` consecutive failures: 10 s doubling, at most 5 min. */
export function backoffMs(failures: number): number {
  const exponent = Math.max(0, failures - 1);
  return Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** Math.min(exponent, 20));
}

/** When a failed node may be tried again (epoch ms); unparseable times allow it at once. */
export function retryDueAt(failed: NodeShimRecord): number {
  const since = Date.parse(failed.time);
  return Number.isNaN(since) ? 0 : since + backoffMs(failed.failures ?? 1);
}

/**
 * The container runtime a node reports, unless it is `<type>://Unknown`: what the kubelet reports
 * while it cannot reach the runtime (a containerd restart under way, an installer's among them).
 * That says nothing about which runtime runs there: neither a change (drift.ts) nor something to record.
 */
export function knownRuntime(reported: string | undefined): string | undefined {
  return reported && !reported.endsWith('://Unknown') ? reported : undefined;
}

export function containerdVersion(runtime: string | undefined): string | undefined {
  const known = knownRuntime(runtime);
  return known?.startsWith('containerd://') ? known.slice('containerd://'.length) : undefined;
}

/** Why a node can never run a containerd shim, before looking at artifacts. */
export function nodeUnsupported(node: ObservedNode): string | undefined {
  const runtime = node.containerRuntimeVersion;
  // An unreported runtime (fresh node, hand-made Node objects) is given the benefit of the doubt:
  // the installer checks for containerd itself and fails clearly if it is not there.
  if (runtime && !runtime.startsWith('containerd://')) return `container runtime ${runtime} is not containerd`;
  return undefined;
}

/** Consecutive failures recorded for `revision` (an installed record resets the count). */
export function failuresAt(previous: NodeShimRecord | null, revision: string | undefined): number {
  if (!previous || previous.revision !== revision || previous.state === 'installed') return 0;
  return previous.failures ?? 0;
}

/** Builds a record without absent fields, so records compare and serialise alike however built. */
export function makeRecord(fields: NodeShimRecord): NodeShimRecord {
  const record: Record<string, unknown> = {};
  for (const key in fields) {
    const value = (fields as unknown as Record<string, unknown>)[key];
    if (value !== undefined && value !== '' && value !== 0) record[key] = value;
  }
  return record as unknown as NodeShimRecord;
}

export interface JobEvent {
  eventType: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface JobOutcome {
  outcome: 'succeeded' | 'failed';
  record: NodeShimRecord | null;
  /** Said on the node itself: failures, and an install no pod sandbox could prove. */
  event?: JobEvent;
  /** Said on the Shim, together with every node of the pass that had the same outcome (event-digest.ts). */
  summary: { eventType: 'Normal' | 'Warning'; reason: string; what: string };
}

/**
 * Why a finished Job did not succeed, or undefined when it did. Installer messages name the URL
 * they fetched: they are redacted here, where they enter the node record, the status and Events.
 */
function jobError(job: ObservedJob): string | undefined {
  const error = unredactedJobError(job);
  return error === undefined ? undefined : redactSecrets(error);
}

function unredactedJobError(job: ObservedJob): string | undefined {
  const result = job.result ?? null;
  if (result?.ok === false) return result.error;
  if (job.phase === 'failed') return job.error ?? 'installer Job failed without reporting a result';
  if (!result) return 'installer Job finished without reporting a result';
  if (result.action !== job.action) return `installer reported action ${result.action}, expected ${job.action}`;
  if (job.action === 'install' && result.revision !== job.revision) {
    // Trusting it would make the node look outdated forever and reinstall in a loop.
    return `installer reported revision ${result.revision ?? '(none)'}, expected ${job.revision}`;
  }
  return undefined;
}

/** The installer reported its failure and that failure leaves the node as it was. */
function nodeLeftIntact(job: ObservedJob): boolean {
  const result = job.result;
  return result?.ok === false && failureLeavesNodeIntact(result.code);
}

/** The revision installed and working on a node, as far as its record tells. */
function workingRevisionOf(record: NodeShimRecord | null): string | undefined {
  if (record?.state === 'installed') return record.suspect ? undefined : record.revision;
  return record?.workingRevision;
}

/** What a finished Job means for its node, on top of the node's previous record. */
export function finishedJobOutcome(job: ObservedJob, previous: NodeShimRecord | null, nowIso: string): JobOutcome {
  const error = jobError(job);
  const time = job.finishedAt ?? nowIso;
  const result = job.result;
  if (error === undefined && result?.ok === true) {
    if (job.action === 'uninstall') {
      return { outcome: 'succeeded', record: null, summary: { eventType: 'Normal', reason: 'Uninstalled', what: `uninstalled revision ${job.revision}` } };
    }
    const version = result.version ? ` (version ${result.version})` : '';
    return {
      outcome: 'succeeded',
      record: makeRecord({
        state: 'installed',
        version: result.version,
        revision: job.revision,
        sha256: result.sha256,
        containerd: result.containerdVersion ?? previous?.containerd,
        handler: result.handler,
        shimVersion: result.shimVersion,
        message: verificationNote(result.verification),
        time: provenTime(result.verification, time),
      }),
      summary: { eventType: 'Normal', reason: 'Installed', what: `installed revision ${job.revision}${version}` },
      ...(result.verification?.sandbox === 'skipped'
        ? { event: { eventType: 'Normal' as const, reason: 'InstalledUnverified', message: `installed revision ${job.revision}${version} on node ${job.node}${verificationNote(result.verification, '; ')}` } }
        : {}),
    };
  }

  const message = job.action === 'uninstall' ? `uninstall failed: ${error}` : error!;
  const sameRevision = previous?.revision === job.revision;
  // Left as it was, the node still runs its working revision, unless that very revision just failed
  // (a re-verification that no sandbox could start): then nothing on it is known to work.
  const working = job.action === 'install' && nodeLeftIntact(job) ? workingRevisionOf(previous) : undefined;
  const workingRevision = working === job.revision ? undefined : working;
  // Replaying a Job already written to the annotation (crash before its deletion) must not count twice.
  const alreadyApplied = previous?.state === 'failed' && sameRevision && previous.time === time && previous.message === message;
  return {
    outcome: 'failed',
    record: alreadyApplied
      ? previous
      : makeRecord({
          state: 'failed',
          version: sameRevision ? previous?.version : undefined,
          revision: job.revision,
          sha256: sameRevision ? previous?.sha256 : undefined,
          containerd: previous?.containerd,
          message,
          failures: failuresAt(previous, job.revision) + 1,
          workingRevision,
          handler: workingRevision ? previous?.handler : undefined,
          time,
        }),
    event: {
      eventType: 'Warning',
      reason: job.action === 'uninstall' ? 'UninstallFailed' : 'InstallFailed',
      message: `${job.action} of revision ${job.revision} failed on node ${job.node}: ${error}`,
    },
    // On the Shim, the installer's own code is the reason (kubectl describe shim): ChecksumMismatch, ShimDoesNotStart, ...
    summary: { eventType: 'Warning', reason: job.result?.ok === false ? job.result.code : 'JobFailed', what: `${job.action} of revision ${job.revision} failed` },
  };
}

export interface InProgressDetails {
  action: JobAction;
  revision: string;
  version?: string;
  sha256?: string;
  containerd?: string;
}

/**
 * The record of a node while a Job works on it. An existing record already saying so is kept as is
 * (its time is when the work started), so replanning does not rewrite it.
 */
export function inProgressRecord(previous: NodeShimRecord | null, work: InProgressDetails, nowIso: string): NodeShimRecord {
  const state = work.action === 'install' ? 'installing' : 'uninstalling';
  if (previous?.state === state && previous.revision === work.revision) return previous;
  return makeRecord({
    state,
    version: work.version,
    revision: work.revision,
    sha256: work.sha256,
    containerd: work.containerd ?? previous?.containerd,
    failures: failuresAt(previous, work.revision),
    workingRevision: work.action === 'install' ? workingRevisionOf(previous) : undefined,
    handler: work.action === 'install' && workingRevisionOf(previous) ? previous?.handler : undefined,
    // A drift repair stays a suspect until its Job proves the node again.
    suspect: work.action === 'install' && previous?.revision === work.revision ? previous.suspect : undefined,
    time: nowIso,
  });
}

/** The details of a running Job that the planner did not start itself in this pass. */
export function runningJobDetails(job: ObservedJob, previous: NodeShimRecord | null): InProgressDetails {
  const same = previous?.revision === job.revision;
  return {
    action: job.action,
    revision: job.revision,
    version: same ? previous?.version : undefined,
    sha256: same ? previous?.sha256 : undefined,
  };
}

/**
 * The ready label: on while a working version is installed on a node that is meant to run it. It
 * stays on during an upgrade (the previous version keeps working until the installer swaps it) and
 * goes off at once when the node stops being a target, so no new pod lands where an uninstall is
 * about to start. After a failed install it stays on only when the installer reported that the
 * previous version is still in place (it refuses bad input before changing anything, and rolls
 * back what containerd rejects); when what is left is unknown, it goes off.
 */
export function desiredReady(target: boolean, current: NodeShimRecord | null, readyBefore: boolean, handler?: string): boolean {
  if (!target || current === null) return false;
  // The RuntimeClass names the Shim's handler now: a node whose working install answers to another
  // one (a handler change rolling out) must not attract its pods.
  if (handler !== undefined && current.handler !== undefined && current.handler !== handler) return false;
  if (current.state === 'installed') return !current.suspect;
  // A label without a working revision behind it (set by hand, or by a kubelet editing its own
  // Node) is taken off.
  if (current.state === 'installing') return readyBefore && Boolean(current.workingRevision);
  if (current.state === 'failed' && current.workingRevision) return readyBefore;
  return false;
}

/**
 * An installed node's record time: when its handler was proven, which drift compares the kubelet's
 * sandbox failures with (drift.ts). The Job completes a second or two after the proof; a failure
 * in between would otherwise pass for one from before it. The installer reports the time on the
 * node's clock, as the kubelet's Events are; it never moves the record later than the Job's
 * completion, nor is an unreadable time taken.
 */
function provenTime(verification: Verification | undefined, finished: string): string {
  const proven = verification?.sandbox === 'started' && typeof verification.provenAt === 'string' ? Date.parse(verification.provenAt) : NaN;
  if (Number.isNaN(proven)) return finished;
  const finishedMs = Date.parse(finished);
  return Number.isNaN(finishedMs) || proven < finishedMs ? new Date(proven).toISOString() : finished;
}

/** Said on the node and in the Event when the installer could not prove the handler with a sandbox. */
function verificationNote(verification: Verification | undefined, prefix = ''): string | undefined {
  if (verification?.sandbox !== 'skipped') return undefined;
  return `${prefix}not proven by a pod sandbox: ${redactSecrets(verification.reason ?? 'no reason given')}`;
}
