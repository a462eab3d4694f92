// KubeClient's write (the resourceVersion read from the response's bytes) and stream (a watch's
// chunks straight from the HTTP parser, paused and resumed by a coalescer) against a local HTTP
// server that answers as scripted.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReadCoalescer } from '../../src/kube/coalesced-reads.ts';
import { ApiError, KubeClient } from '../../src/kube/rest.ts';
import { lineSplitter } from '../../src/kube/watch-stream.ts';

type Route = (res: ServerResponse, req: IncomingMessage) => void | Promise<void>;

describe('KubeClient', () => {
  const routes = new Map<string, Route>();
  let server: Server;
  let client: KubeClient;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const route = routes.get(new URL(req.url!, 'http://x').pathname);
      if (route) void route(res, req);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    client = new KubeClient({ server: `http://127.0.0.1:${port}` });
  });

  afterAll(async () => {
    await client.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const json = (code: number, body: unknown, space?: number): Route => (res) => void res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body, null, space));

  it('returns the resourceVersion of what it wrote, from compact and pretty-printed JSON alike', async () => {
    const object = { kind: 'Node', apiVersion: 'v1', metadata: { name: 'n', resourceVersion: '42', annotations: { note: '"resourceVersion":"1"' } }, status: { resourceVersion: '7' } };
    routes.set('/compact', json(200, object));
    routes.set('/pretty', json(200, object, 2));
    routes.set('/none', json(200, { kind: 'Status', status: 'Success' }));
    expect(await client.write('PATCH', '/compact', { body: {} })).toBe('42');
    expect(await client.write('PATCH', '/pretty', { body: {} })).toBe('42');
    expect(await client.write('DELETE', '/none')).toBeNull();
  });

  it('turns an error status into an ApiError carrying the server\'s Status', async () => {
    routes.set('/conflict', json(409, { kind: 'Status', reason: 'AlreadyExists', message: 'jobs "x" already exists', code: 409 }));
    const error = await client.write('POST', '/conflict', { body: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe(409);
    expect((error as ApiError).message).toContain('AlreadyExists');
    const streamed = await client.stream('/conflict', { idleTimeoutMs: 5_000 }, () => {}).catch((e: unknown) => e);
    expect((streamed as ApiError).code).toBe(409);
  });

  it('reads a call\'s JSON body whole, however many chunks it comes in, and sends its body', async () => {
    const items = Array.from({ length: 2_000 }, (_, i) => ({ metadata: { name: `node-${i}` } }));
    routes.set('/chunked', async (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const text = JSON.stringify({ items });
      for (let at = 0; at < text.length; at += 10_000) {
        res.write(text.slice(at, at + 10_000));
        await sleep(1);
      }
      res.end();
    });
    expect(await client.call<{ items: unknown[] }>('GET', '/chunked')).toEqual({ items });
    routes.set('/echo', async (res, req) => {
      let received = '';
      for await (const chunk of req) received += (chunk as Buffer).toString('utf8');
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ received }));
    });
    expect(await client.call('POST', '/echo', { body: { spec: { x: 1 } } })).toEqual({ received: '{"spec":{"x":1}}' });
    routes.set('/empty', (res) => void res.writeHead(200).end());
    expect(await client.call('DELETE', '/empty')).toBeUndefined();
  });

  it('ends a call when its signal aborts', async () => {
    routes.set('/hang', () => {});
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error('stopping')), 100);
    await expect(client.call('GET', '/hang', { signal: abort.signal })).rejects.toThrow('stopping');
    await expect(client.call('GET', '/hang', { signal: AbortSignal.abort(new Error('stopped already')) })).rejects.toThrow('stopped already');
  });

  it('streams every line of a watch, paused between bursts, in order', async () => {
    const sent = Array.from({ length: 40 }, (_, i) => JSON.stringify({ type: 'MODIFIED', object: { metadata: { name: `n${i}`, resourceVersion: String(i) } } }));
    routes.set('/watch', async (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (const line of sent) {
        res.write(`${line}\n`);
        await sleep(5);
      }
      res.end();
    });
    const received: string[] = [];
    const coalescer = new ReadCoalescer(60);
    await client.stream('/watch', { idleTimeoutMs: 5_000, coalescer }, lineSplitter((line) => received.push(line.toString('utf8'))));
    expect(received).toEqual(sent);
  });

  it('ends a stream when its signal aborts, and when the server falls silent', async () => {
    routes.set('/silent', (res) => void res.writeHead(200, { 'content-type': 'application/json' }).write('{"type":"BOOKMARK","object":{}}\n'));
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error('stopping')), 100);
    await expect(client.stream('/silent', { idleTimeoutMs: 30_000, signal: abort.signal }, () => {})).rejects.toThrow('stopping');
    await expect(client.stream('/silent', { idleTimeoutMs: 1_500 }, () => {})).rejects.toThrow(/timeout/i);
  }, 15_000);
});
