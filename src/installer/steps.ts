// Each step that reads or changes the node is logged to stderr as it starts and finishes, with a
// stable prefix (`step: <name> start|done`): the Job's pod log then shows how far a run got, and
// the fault tests kill the CLI at every one of these points to prove a kill at any instant leaves
// the node consistent. The lines never carry URLs or other inputs, only step names.

import { throwIfTerminated } from './termination.ts';

export const STEP_PREFIX = 'step: ';

/**
 * The steps after which a run finishes even when asked to stop (termination.ts): the change is
 * proven, and recording it is quicker and safer than undoing it.
 */
const FINISHING_STEPS: ReadonlySet<string> = new Set(['record-state', 'collect-revisions', 'forget']);

export async function step<T>(name: string, work: () => Promise<T> | T): Promise<T> {
  if (!FINISHING_STEPS.has(name)) throwIfTerminated(`before the ${name} step`);
  process.stderr.write(`${STEP_PREFIX}${name} start\n`);
  const result = await work();
  process.stderr.write(`${STEP_PREFIX}${name} done\n`);
  return result;
}

/** The steps of each command, in order (a run may skip some: a no-op re-run fetches nothing). */
export const INSTALL_STEPS = [
  'detect',
  'read-state',
  'check',
  'fetch',
  'extract',
  'record-revision-dir',
  'place-binary',
  'plan-config',
  'back-up-config',
  'write-config',
  'restart',
  'health',
  'verify',
  'record-state',
  'collect-revisions',
] as const;

export const UNINSTALL_STEPS = ['read-state', 'detect', 'plan-config', 'back-up-config', 'write-config', 'restart', 'health', 'collect-revisions', 'forget'] as const;
