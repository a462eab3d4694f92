// Being asked to stop. The kubelet sends SIGTERM when the installer's Pod goes (its Job deleted,
// the Pod evicted, the Job past its activeDeadlineSeconds) and SIGKILL after the grace period (30 s
// by default). Killed mid-step, a run leaves the node for the next run to converge from (tested at
// every step: installer-kill.test.ts) and the controller learns only that the Pod ended without a
// result. Asked to stop, the run stops at the next step that may stop (steps.ts; a download, a
// wait for the node lock or for containerd to come back stop at once), rolls back what it changed
// and reports `Terminated`, the node as it was. Once the change is proven, it finishes instead:
// recording it is quicker and safer than undoing it.

import { constants } from 'node:os';
import { InstallerError } from './errors.ts';

const stop = new AbortController();
let stoppedBy: NodeJS.Signals | undefined;

/** Aborted once the process is asked to stop (a download listens to it, fetch.ts). */
export const termination: AbortSignal = stop.signal;

/**
 * A stopped run exits 128 + the signal's number (143 for SIGTERM), as a process the signal ended
 * would: the Job's podFailurePolicy fails the Job at once on exit code 1 (the installer's own
 * failures) but lets an evicted Pod be retried, which exit code 1 would defeat.
 */
export function terminationExitCode(): number | undefined {
  return stoppedBy ? 128 + constants.signals[stoppedBy] : undefined;
}

export function requestTermination(signal: NodeJS.Signals): void {
  if (stoppedBy) return;
  stoppedBy = signal;
  stop.abort(new Error(`stopped by ${signal}`));
}

/** The Terminated error naming where the run stopped, once a stop was asked for. */
export function terminated(where: string): InstallerError | undefined {
  if (!stoppedBy) return undefined;
  return new InstallerError('Terminated', `the installer was stopped by ${stoppedBy} (its Pod deleted or evicted, or its Job past its deadline) ${where}`);
}

export function throwIfTerminated(where: string): void {
  const error = terminated(where);
  if (error) throw error;
}
