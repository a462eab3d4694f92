import { describe, expect, it } from 'vitest';
import { installerJobName } from '../../src/controller/installer-job/identity.ts';
import { parseNodeShimStatus, sameNodeShimStatus, serializeNodeShimStatus } from '../../src/controller/planner/node-status.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

describe('installerJobName', () => {
  it('is readable, deterministic and a valid DNS label', () => {
    const name = installerJobName('spin', 'node-a', 'install', '0123456789');
    expect(name).toMatch(/^spin-node-a-install-[0-9a-f]{8}$/);
    expect(installerJobName('spin', 'node-a', 'install', '0123456789')).toBe(name);
  });

  it('differs by shim, node, action and revision', () => {
    const names = new Set([
      installerJobName('spin', 'node-a', 'install', 'r1'),
      installerJobName('spin', 'node-a', 'install', 'r2'),
      installerJobName('spin', 'node-a', 'uninstall', 'r1'),
      installerJobName('spin', 'node-b', 'install', 'r1'),
      installerJobName('slight', 'node-a', 'install', 'r1'),
    ]);
    expect(names.size).toBe(5);
  });

  it.each([
    ['a very long node name', 'x'.repeat(40), 'ip-10-0-12-34.eu-west-1.compute.internal.with.a.very.long.suffix'],
    ['a long shim name', 'a'.repeat(225), 'node-a'],
    ['dots and capitals', 'spin', 'Node.Example.COM'],
  ])('stays within 63 characters with %s', (_case, shim, node) => {
    const name = installerJobName(shim, node, 'uninstall', 'ffffffffff');
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(DNS_LABEL);
  });

  it('keeps names apart that sanitise or truncate alike', () => {
    expect(installerJobName('spin', 'a.b', 'install', 'r')).not.toBe(installerJobName('spin', 'a-b', 'install', 'r'));
    const long = 'n'.repeat(80);
    expect(installerJobName('spin', `${long}1`, 'install', 'r')).not.toBe(installerJobName('spin', `${long}2`, 'install', 'r'));
  });
});

describe('node status annotation', () => {
  it('round-trips and ignores key order and unknown fields', () => {
    const record = { state: 'installed' as const, version: '0.19.0', revision: 'abc', sha256: 'f'.repeat(64), containerd: '1.7.24', time: '2026-01-01T00:00:00Z' };
    const text = serializeNodeShimStatus(record);
    expect(text).toBe('{"state":"installed","version":"0.19.0","revision":"abc","sha256":"' + 'f'.repeat(64) + '","containerd":"1.7.24","time":"2026-01-01T00:00:00Z"}');
    expect(parseNodeShimStatus(text)).toEqual(record);
    const reordered = JSON.stringify({ future: 1, ...Object.fromEntries(Object.entries(record).reverse()) });
    expect(sameNodeShimStatus(parseNodeShimStatus(reordered), record)).toBe(true);
  });

  it.each([
    ['not JSON', '{', 'not JSON'],
    ['an array', '[]', 'not a JSON object'],
    ['an unknown state', '{"state":"dancing","time":"x"}', 'unknown state'],
  ])('reads %s as an unknown failed installation', (_case, text, message) => {
    expect(parseNodeShimStatus(text)).toMatchObject({ state: 'failed', message: expect.stringContaining(message) });
  });

  it('keeps a positive failure count only', () => {
    expect(parseNodeShimStatus('{"state":"failed","failures":3,"time":"t"}')?.failures).toBe(3);
    expect(parseNodeShimStatus('{"state":"failed","failures":-1,"time":"t"}')?.failures).toBeUndefined();
    expect(parseNodeShimStatus(undefined)).toBeNull();
  });
});
