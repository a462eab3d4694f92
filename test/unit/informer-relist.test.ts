// The informer's answer to "410 Gone" (its resourceVersion was compacted away while it was not
// watching): list again and report the differences with its cache as adds, updates and deletes.
// A real apiserver only compacts on its own schedule, so this plays the apiserver's side of that
// exchange over HTTP; test/integration/informer.test.ts covers paging and resuming on a real one.
import type { KubernetesObject } from '@kubernetes/client-node';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { startInformer, type CachedKind } from '../../src/kube/informer.ts';
import { KubeClient } from '../../src/kube/rest.ts';
import { createLogger } from '../../src/log.ts';

type Obj = KubernetesObject & { data?: string };
const item = (name: string, resourceVersion: string, data = name): Obj => ({ metadata: { name, resourceVersion }, data });

describe('informer after 410 Gone', () => {
  let server: Server | undefined;
  let informer: CachedKind<Obj> | undefined;
  afterEach(async () => {
    await informer?.stop();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('lists again and reports what changed meanwhile', async () => {
    const lists = [
      { items: [item('a', '1'), item('b', '2'), item('c', '3')], resourceVersion: '3' },
      { items: [item('a', '1'), item('b', '7', 'b2'), item('d', '8')], resourceVersion: '8' },
    ];
    let listCalls = 0;
    const watchQueries: string[] = [];
    server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://x');
      if (url.searchParams.get('watch') !== 'true') {
        const list = lists[Math.min(listCalls++, lists.length - 1)]!;
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items: list.items, metadata: { resourceVersion: list.resourceVersion } }));
        return;
      }
      watchQueries.push(url.searchParams.get('resourceVersion') ?? '');
      response.writeHead(200, { 'content-type': 'application/json' });
      if (watchQueries.length === 1) {
        // The first watch: the version is too old.
        response.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old resource version' } })}\n`);
      }
      // Later watches stay open and quiet.
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const client = new KubeClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't' });
    const events: string[] = [];
    informer = startInformer<Obj>(
      client,
      {
        name: 'things',
        path: '/api/v1/things',
        handlers: {
          onAdd: (o) => events.push(`add ${o.metadata?.name}`),
          onUpdate: (o, before) => events.push(`update ${o.metadata?.name} ${before.data}→${o.data}`),
          onDelete: (o) => events.push(`delete ${o.metadata?.name}`),
        },
      },
      createLogger({ level: 'error' }),
    );
    await informer.synced;
    for (let i = 0; i < 100 && watchQueries.length < 2; i++) await sleep(20);
    expect(listCalls).toBe(2);
    expect(watchQueries).toEqual(['3', '8']);
    expect(events).toEqual(['add a', 'add b', 'add c', 'update b b→b2', 'add d', 'delete c']);
    expect(informer.list().map((o) => o.metadata?.name).sort()).toEqual(['a', 'b', 'd']);
  });
});
