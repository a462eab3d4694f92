import { describe, expect, it } from 'vitest';
import { InstallerError } from '../../../src/installer/errors.ts';
import { UndoStack } from '../../../src/installer/undo.ts';

// The undo stack alone: order, messages, and what happens when an inverse fails.

const CONFIG = '/etc/containerd/config.toml';

function stackWithLog(command: 'install' | 'uninstall' = 'install') {
  const ran: string[] = [];
  const undo = new UndoStack({ command, shim: 'spin', configPath: CONFIG });
  const inverse = (change: string, fails = false) => ({
    change,
    undo: async () => {
      ran.push(change);
      if (fails) throw new Error(`${change} broke`);
    },
  });
  return { undo, ran, inverse };
}

describe('UndoStack', () => {
  it('undoes files newest first and a containerd restart last, once the files are back', async () => {
    const { undo, ran, inverse } = stackWithLog();
    undo.changedFile(inverse('binary'));
    undo.changedFile(inverse('config'));
    undo.restartedContainerd(inverse('restart'));
    undo.changedFile(inverse('later file'));
    const error = await undo.rollBack(new InstallerError('ContainerdUnhealthy', 'not healthy'), 'ContainerdUnhealthy');
    expect(ran).toEqual(['later file', 'config', 'binary', 'restart']);
    expect(error).toBeInstanceOf(InstallerError);
    expect(error).toMatchObject({ code: 'ContainerdUnhealthy', message: `not healthy. Rolled back: ${CONFIG} is as it was, containerd was restarted on it and is healthy.` });
  });

  it('says nothing about a restart when containerd was not restarted', async () => {
    const { undo, inverse } = stackWithLog();
    undo.changedFile(inverse('binary'));
    const error = await undo.rollBack(new InstallerError('WriteFailed', `cannot write ${CONFIG}`), 'WriteFailed');
    expect(error).toMatchObject({ code: 'WriteFailed', message: `cannot write ${CONFIG}. Rolled back: ${CONFIG} is as it was.` });
  });

  it('with nothing to undo, the failure is reported as it is', async () => {
    const { undo } = stackWithLog();
    const failure = new InstallerError('ChecksumMismatch', 'sha256 mismatch');
    expect(await undo.rollBack(failure, 'ChecksumMismatch')).toBe(failure);
  });

  it.each(['install', 'uninstall'] as const)('%s: a failing inverse stops the rollback and gives RollbackFailed naming what is left and the config', async (command) => {
    const { undo, ran, inverse } = stackWithLog(command);
    undo.changedFile(inverse('the new binary'));
    undo.changedFile(inverse(`the edit of ${CONFIG}`, true));
    undo.restartedContainerd(inverse('the restart of containerd'));
    const error = await undo.rollBack(new InstallerError('ContainerdUnhealthy', 'not healthy'), 'ContainerdUnhealthy');
    expect(ran).toEqual([`the edit of ${CONFIG}`]);
    expect(error).toMatchObject({ code: 'RollbackFailed' });
    const message = (error as Error).message;
    expect(message).toMatch(new RegExp(`^${command}ing spin failed and so did the rollback: could not undo the edit of ${CONFIG} \\(the edit of ${CONFIG} broke\\)`));
    expect(message).toContain('not undone either: the new binary, the restart of containerd');
    expect(message).toContain(`The ${command} failed because: not healthy`);
    expect(message).toMatch(new RegExp(`needs attention; its config is ${CONFIG}$`));
  });

  it('runs each inverse once: a second rollBack has nothing left to undo', async () => {
    const { undo, ran, inverse } = stackWithLog();
    undo.changedFile(inverse('config'));
    await undo.rollBack(new Error('x'), 'InstallFailed');
    const failure = new Error('y');
    expect(await undo.rollBack(failure, 'InstallFailed')).toBe(failure);
    expect(ran).toEqual(['config']);
  });
});
