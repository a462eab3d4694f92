import { describe, expect, it } from 'vitest';
import type { JobResult } from '../../src/api/installer-contract.ts';
import type { ObservedJob } from '../../src/controller/planner/model.ts';
import { finishedJobOutcome } from '../../src/controller/planner/node-plan.ts';

// What a finished install means for its node when the installer could or could not prove the
// handler with a pod sandbox.

function installJob(result: JobResult): ObservedJob {
  return { name: 'j', node: 'node-a', action: 'install', revision: 'r1', phase: 'succeeded', finishedAt: '2026-01-01T00:00:00Z', result };
}

const success = {
  ok: true as const,
  action: 'install' as const,
  shim: 'spin',
  handler: 'spin',
  version: '1.0.0',
  revision: 'r1',
  sha256: 'a'.repeat(64),
  binaryPath: '/opt/shimkeeper/shims/spin/r1/containerd-shim-spin-v2',
  configPath: '/etc/containerd/config.toml',
  flavour: 'default',
  containerdVersion: '2.4.2',
  restarted: true,
  changed: true,
};

describe('an install the installer verified', () => {
  it('records the node installed with nothing more to say, and the version the binary reports', () => {
    const outcome = finishedJobOutcome(installJob({ ...success, verification: { sandbox: 'started', ms: 150 }, shimVersion: 'v1.0.0-vendor' }), null, '2026-01-01T00:00:01Z');
    expect(outcome.record).toMatchObject({ state: 'installed', revision: 'r1', version: '1.0.0', shimVersion: 'v1.0.0-vendor' });
    expect(outcome.record?.message).toBeUndefined();
  });

  it.each([
    ['when the sandbox proved it, on the node\'s clock', { sandbox: 'started', ms: 150, provenAt: '2026-01-01T00:00:00.250Z' }, '2026-01-01T00:00:00.250Z'],
    ['not later than the Job completed (a node clock ahead)', { sandbox: 'started', ms: 150, provenAt: '2026-01-01T00:00:09Z' }, '2026-01-01T00:00:01Z'],
    ['when the Job completed if the proof time is unreadable', { sandbox: 'started', ms: 150, provenAt: 'yesterday-ish' }, '2026-01-01T00:00:01Z'],
    ['when the Job completed if no sandbox proved it', { sandbox: 'skipped', reason: 'no sandbox image', ms: 3, provenAt: '2026-01-01T00:00:00.250Z' }, '2026-01-01T00:00:01Z'],
    ['when the Job completed if the installer says nothing of a proof (an older installer)', undefined, '2026-01-01T00:00:01Z'],
  ] as const)('records the node installed %s', (_case, verification, time) => {
    const outcome = finishedJobOutcome({ ...installJob({ ...success, ...(verification ? { verification } : {}) }), finishedAt: '2026-01-01T00:00:01Z' }, null, '2026-01-01T00:00:05Z');
    expect(outcome.record).toMatchObject({ state: 'installed', time });
  });

  it('says on the node and in the Event when no sandbox proved it, without secrets', () => {
    const reason = 'containerd could not get its sandbox image: failed to pull https://user:pw@mirror.example.com/pause?token=abc';
    const outcome = finishedJobOutcome(installJob({ ...success, verification: { sandbox: 'skipped', reason, ms: 3 } }), null, '2026-01-01T00:00:01Z');
    expect(outcome.record).toMatchObject({ state: 'installed', message: expect.stringContaining('not proven by a pod sandbox') });
    expect(outcome.event?.message).toMatch(/installed revision r1 .*not proven by a pod sandbox/);
    for (const text of [outcome.record?.message ?? '', outcome.event?.message ?? '']) {
      expect(text).not.toContain('pw@');
      expect(text).not.toContain('token=abc');
    }
  });
});
