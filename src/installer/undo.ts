import type { InstallerErrorCode } from '../api/installer-contract.ts';
import { describeError, InstallerError } from './errors.ts';

// Install and uninstall change the node step by step; each change records how to undo it here, so
// a failure anywhere rolls back exactly what was done, the same way for both commands.
//
// Files are undone newest first. A containerd restart is undone last, whenever it happened: it
// loaded the changed files, so undoing it means restarting containerd on the files once they are
// all back, and checking that it is healthy on them.

export interface Inverse {
  /** The change this undoes, as a noun phrase for messages: "the edit of /etc/containerd/config.toml". */
  change: string;
  undo(): Promise<void>;
}

export interface UndoContext {
  command: 'install' | 'uninstall';
  shim: string;
  /** Host path of containerd's config, which every message about the node's state names. */
  configPath: string;
}

interface Recorded extends Inverse {
  restartsContainerd: boolean;
}

export class UndoStack {
  private recorded: Recorded[] = [];
  private readonly context: UndoContext;

  constructor(context: UndoContext) {
    this.context = context;
  }

  /** A file or directory on the host was written, created or removed. */
  changedFile(inverse: Inverse): void {
    this.recorded.push({ ...inverse, restartsContainerd: false });
  }

  /** containerd was restarted onto the changed files. */
  restartedContainerd(inverse: Inverse): void {
    this.recorded.push({ ...inverse, restartsContainerd: true });
  }

  get isEmpty(): boolean {
    return this.recorded.length === 0;
  }

  /**
   * Undoes every recorded change and returns the error to report for `failure`: with `code` and
   * a word on what was rolled back, or RollbackFailed naming what could not be undone. Stops at the
   * first inverse that fails, since the later ones assume it worked (a restart assumes the files are
   * back). With nothing to undo, the failure is returned as it is.
   */
  async rollBack(failure: unknown, code: InstallerErrorCode): Promise<unknown> {
    if (this.isEmpty) return failure;
    const newestFirst = this.recorded.toReversed();
    const inOrder = [...newestFirst.filter((r) => !r.restartsContainerd), ...newestFirst.filter((r) => r.restartsContainerd)];
    this.recorded = [];
    for (const [index, inverse] of inOrder.entries()) {
      try {
        await inverse.undo();
      } catch (error) {
        return this.rollbackFailed(failure, { undone: inOrder.slice(0, index), failed: inverse, error, notTried: inOrder.slice(index + 1) });
      }
    }
    const restarted = inOrder.some((inverse) => inverse.restartsContainerd);
    const rolledBack = `${this.context.configPath} is as it was${restarted ? ', containerd was restarted on it and is healthy' : ''}`;
    return new InstallerError(code, `${describeError(failure)}. Rolled back: ${rolledBack}.`, { cause: failure });
  }

  private rollbackFailed(failure: unknown, rollback: { undone: Inverse[]; failed: Inverse; error: unknown; notTried: Inverse[] }): InstallerError {
    const { command, shim, configPath } = this.context;
    const verb = command === 'install' ? 'installing' : 'uninstalling';
    const changes = (inverses: Inverse[]) => inverses.map((inverse) => inverse.change).join(', ');
    const notTried = rollback.notTried.length > 0 ? `; not undone either: ${changes(rollback.notTried)}` : '';
    const undone = rollback.undone.length > 0 ? `; undone: ${changes(rollback.undone)}` : '';
    return new InstallerError(
      'RollbackFailed',
      `${verb} ${shim} failed and so did the rollback: could not undo ${rollback.failed.change} (${describeError(rollback.error)})${notTried}${undone}. ` +
        `The ${command} failed because: ${describeError(failure)}. containerd on this node needs attention; its config is ${configPath}`,
      { cause: rollback.error },
    );
  }
}
