import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

// Loopback servers (127.0.0.1 only) with the behaviours downloads meet in the wild, written as raw
// bytes over node:net where the HTTP framing itself is the point. Each one stops when closed.

export interface LoopbackServer {
  url(name?: string): string;
  /** Requests (or connections) seen so far. */
  readonly requests: number;
  close(): Promise<void>;
}

/**
 * Answers every request the way an HTTP/1.0 server does (`python3 -m http.server`, many mirrors):
 * `HTTP/1.0 200 OK`, no keep-alive, the body, and the connection closed right after it. With
 * `contentLength: false` the body ends only where the connection does. `cutAfter` sends only that
 * many bytes of the body before closing (a server that dies mid-body).
 */
export async function startHttp10Server(body: Buffer, options: { contentLength: boolean; cutAfter?: number }): Promise<LoopbackServer> {
  return listen((socket, count) => {
    onRequestHead(socket, () => {
      count();
      const headers = ['HTTP/1.0 200 OK', 'Content-Type: application/octet-stream', ...(options.contentLength ? [`Content-Length: ${body.length}`] : [])];
      socket.write(`${headers.join('\r\n')}\r\n\r\n`);
      socket.end(options.cutAfter === undefined ? body : body.subarray(0, options.cutAfter));
    });
  });
}

/** Sends the headers of a `size`-byte body, then one byte per `intervalMs`; stops at `size` bytes or when the client goes. */
export async function startTrickleServer(size: number, intervalMs: number): Promise<LoopbackServer> {
  return listen((socket, count) => {
    onRequestHead(socket, () => {
      count();
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`);
      let sent = 0;
      const timer = setInterval(() => {
        socket.write('x');
        sent += 1;
        if (sent === size) {
          clearInterval(timer);
          socket.end();
        }
      }, intervalMs);
      socket.on('close', () => clearInterval(timer));
    });
  });
}

/** Accepts connections and never answers (a server that hangs); counts connections. */
export async function startSilentServer(): Promise<LoopbackServer> {
  return listen((_socket, count) => count());
}

/** Answers every request with this status (and, for redirects, this Location). */
export async function startStatusServer(status: number, location?: string): Promise<LoopbackServer> {
  return listen((socket, count) => {
    onRequestHead(socket, () => {
      count();
      socket.end(`HTTP/1.1 ${status} Status\r\nContent-Length: 0\r\nConnection: close\r\n${location ? `Location: ${location}\r\n` : ''}\r\n`);
    });
  });
}

/**
 * A forward proxy that sends every request, whatever host it names, to `target` (a loopback
 * port): absolute-form requests and CONNECT tunnels alike. `hosts` lists the hosts asked for.
 */
export async function startForwardProxy(targetPort: number): Promise<LoopbackServer & { hosts: string[] }> {
  const hosts: string[] = [];
  const sockets = new Set<Socket>();
  const server = createHttpServer((request, response) => {
    const target = new URL(request.url ?? '/');
    hosts.push(target.host);
    const upstream = httpRequest({ host: '127.0.0.1', port: targetPort, path: target.pathname, headers: { host: target.host } }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', () => response.destroy());
    upstream.end();
  });
  server.on('connect', (request, client: Socket, head: Buffer) => {
    hosts.push(request.url ?? '');
    const upstream = connect(targetPort, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    hosts,
    url: () => `http://127.0.0.1:${port}`,
    get requests() {
      return hosts.length;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** `python3 -m http.server` serving `dir` on a free loopback port (HTTP/1.0, closes after each response). */
export async function startPythonServer(dir: string): Promise<LoopbackServer> {
  const child: ChildProcess = spawn('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise<number>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`python3 -m http.server did not start: ${output}`)), 10_000);
    child.on('error', (error) => reject(new Error(`cannot run python3 -m http.server: ${error.message}`)));
    child.on('exit', (code) => reject(new Error(`python3 -m http.server exited with ${code}: ${output}`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /port (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    // It logs each request on stderr; read it so the pipe never fills.
    child.stderr!.resume();
  });
  return {
    url: (name = '') => `http://127.0.0.1:${port}/${name}`,
    requests: 0,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

async function listen(onConnection: (socket: Socket, count: () => void) => void): Promise<LoopbackServer> {
  let requests = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket, () => (requests += 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (name = 'artifact') => `http://127.0.0.1:${port}/${name}`,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Calls `then` once the request's head (up to the blank line) has arrived. */
function onRequestHead(socket: Socket, then: () => void): void {
  let head = '';
  const onData = (chunk: Buffer) => {
    head += chunk.toString('latin1');
    if (!head.includes('\r\n\r\n')) return;
    socket.off('data', onData);
    then();
  };
  socket.on('data', onData);
}
