import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// A loopback HTTP server for artifacts, with the faults a real download can meet.

export type Fault = 'none' | 'truncate' | 'error500' | 'stall';

export interface ArtifactServer {
  url(name: string): string;
  put(name: string, data: Buffer, fault?: Fault): void;
  requests(name: string): number;
  close(): Promise<void>;
}

export async function startArtifactServer(): Promise<ArtifactServer> {
  const files = new Map<string, { data: Buffer; fault: Fault }>();
  const counts = new Map<string, number>();
  const server: Server = createServer((request, response) => {
    const name = decodeURIComponent((request.url ?? '/').slice(1));
    counts.set(name, (counts.get(name) ?? 0) + 1);
    const file = files.get(name);
    if (!file) {
      response.writeHead(404).end('not found');
      return;
    }
    if (file.fault === 'error500') {
      response.writeHead(500).end('boom');
      return;
    }
    response.writeHead(200, { 'content-length': String(file.data.length), 'content-type': 'application/octet-stream' });
    if (file.fault === 'truncate') {
      response.write(file.data.subarray(0, Math.floor(file.data.length / 2)), () => response.socket?.destroy());
      return;
    }
    if (file.fault === 'stall') {
      response.write(file.data.subarray(0, 1024));
      return;
    }
    response.end(file.data);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (name) => `http://127.0.0.1:${port}/${encodeURIComponent(name)}`,
    put: (name, data, fault = 'none') => files.set(name, { data, fault }),
    requests: (name) => counts.get(name) ?? 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
