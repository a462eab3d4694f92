import { afterAll, beforeAll, expect, it } from 'vitest';
import { startContainerd, type TestContainerd } from '../harness/containerd.ts';

let containerd: TestContainerd;
beforeAll(async () => {
  containerd = await startContainerd();
});
afterAll(async () => {
  await containerd?.stop();
});

it('starts a real containerd whose CRI answers and which the supervisor brings back after SIGTERM', async () => {
  const version = await containerd.cri.version();
  expect(version.runtime_name).toBe('containerd');
  const pid = await containerd.pid();
  expect(pid).toBeGreaterThan(0);
  process.kill(pid!, 'SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  await containerd.ready();
  expect(await containerd.pid()).not.toBe(pid);
});
