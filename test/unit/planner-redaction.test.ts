// No credential of an artifact URL reaches anything the controller writes: the node status
// annotation (readable by every kubelet), the Shim status, Events. Installer messages quote URLs,
// spec errors quote the offending value, and records written by an older controller may hold them.

import { describe, expect, it } from 'vitest';
import { statusAnnotationKey } from '../../src/api/names.ts';
import type { PlannedAction } from '../../src/controller/planner/model.ts';
import { serializeNodeShimStatus } from '../../src/controller/planner/node-status.ts';
import { FakeCluster, SHA_A, T0, makeNode, makeShim, nodeNames, planFlat, revisionA } from './planner-fixtures.ts';
import { between, pick, random, stringOf } from './random.ts';

/** Everything the plan writes, as text. */
function written(actions: PlannedAction[]): string {
  return JSON.stringify(actions.map((action) => (action.type === 'patchNode' && action.statusAnnotation ? { ...action, text: serializeNodeShimStatus(action.statusAnnotation) } : action)).filter((a) => a.type !== 'createJob'));
}

function secretUrl(rand: () => number): { url: string; secrets: string[] } {
  const password = `pw${stringOf(rand, 'ABCDEFGHJK0123456789', 12)}`;
  const token = `tok${stringOf(rand, 'ABCDEFGHJK0123456789', 16)}`;
  const form = pick(rand, ['userinfo', 'query', 'both', 'fragment']);
  const userinfo = form === 'userinfo' || form === 'both' ? `deploy:${password}@` : '';
  const query = form === 'query' || form === 'both' ? `?X-Amz-Signature=${token}&X-Amz-Expires=600` : form === 'fragment' ? `#${token}` : '';
  return { url: `https://${userinfo}artifacts.example.com/spin/${between(rand, 1, 99)}.tgz${query}`, secrets: [password, token] };
}

describe('redaction of what the planner writes', () => {
  it.each(Array.from({ length: 25 }, (_, i) => i + 1))('seed %i: installer errors quoting URLs leave no secret anywhere', (seed) => {
    const rand = random(seed);
    const cluster = new FakeCluster(makeShim({ rolloutStrategy: { type: 'recreate', maxFailedNodes: '100%' } }), nodeNames(4).map((n) => makeNode(n)));
    const secrets: string[] = [];
    const all: PlannedAction[] = [];
    for (let round = 0; round < 12; round++) {
      const result = cluster.step();
      all.push(...result.actions);
      for (const job of cluster.running()) {
        const { url, secrets: these } = secretUrl(rand);
        secrets.push(...these);
        const error = pick(rand, [`download of ${url} failed: HTTP 403`, `GET ${url}: ECONNRESET`, `checksum of "${url}" is ${SHA_A}`, `(${url})`]);
        cluster.finishJob(job.name, rand() < 0.7 ? { ok: false, code: 'DownloadFailed', error } : { ok: true });
      }
      cluster.advance(between(rand, 1_000, 400_000));
    }
    const text = `${written(all)}${JSON.stringify(cluster.shim?.status)}${JSON.stringify([...cluster.nodes.values()])}${JSON.stringify(cluster.events)}`;
    expect(text).toContain('artifacts.example.com/spin/');
    for (const secret of secrets) expect(text).not.toContain(secret);
  });

  it('spec errors quoting a location do not repeat its credentials', () => {
    const shim = makeShim({ fetchStrategy: { anonHttp: { location: 'ftp://deploy:pwSECRET42@example.com/a.tgz?sig=SIGSECRET', sha256: SHA_A } } });
    const result = planFlat({ shim, nodes: [makeNode('n')], jobs: [], runtimeClasses: [], now: T0 });
    const text = JSON.stringify(result.status) + written(result.actions);
    expect(text).toContain('InvalidSpec');
    expect(text).toContain('example.com/a.tgz');
    expect(text).not.toMatch(/pwSECRET42|SIGSECRET/);
  });

  it('a record written before redaction existed is rewritten without its secrets, then left alone', () => {
    const leaky = serializeNodeShimStatus({ state: 'failed', revision: revisionA(), failures: 1, message: 'GET https://u:pwLEAKED@h.example/x?sig=SIGLEAKED: 403', time: '2026-01-01T00:00:00Z' });
    const cluster = new FakeCluster(makeShim({ rolloutStrategy: { type: 'rolling', maxFailedNodes: 1 } }), [makeNode('node-a', { annotations: { [statusAnnotationKey('spin')]: leaky } })]);
    cluster.step();
    const annotation = cluster.nodes.get('node-a')!.annotations![statusAnnotationKey('spin')]!;
    expect(annotation).toContain('h.example/x');
    expect(annotation).not.toMatch(/pwLEAKED|SIGLEAKED/);
    expect(JSON.stringify(cluster.shim?.status)).not.toMatch(/pwLEAKED|SIGLEAKED/);
    expect(cluster.step().actions).toEqual([]);
  });
});
