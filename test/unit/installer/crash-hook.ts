// Loaded before the installer CLI (`node --import crash-hook.ts cli.ts …`) by
// cli-safety-net.test.ts. On SIGUSR2 it fails the way code inside a library can: an exception
// thrown from a callback, or a rejection nobody awaits, outside anything the CLI awaits. That is
// the class of the undici crash (thrown from a socket's 'end' handler) without depending on it.

const kind = process.env['SHIMKEEPER_TEST_CRASH'] ?? 'exception';

process.on('SIGUSR2', () => {
  if (kind === 'rejection') {
    void Promise.reject(new Error('boom: a rejection nobody awaited'));
  } else {
    setImmediate(() => {
      throw new Error('boom: thrown from a callback');
    });
  }
});
