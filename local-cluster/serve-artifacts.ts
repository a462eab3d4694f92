// Serves the files under one directory over HTTP: the e2e node's "download site" for shim artifacts.
//   node local-cluster/serve-artifacts.ts DIR HOST PORT
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';

const [dir, host, port] = process.argv.slice(2);
if (!dir || !host || !port) throw new Error('usage: serve-artifacts.ts DIR HOST PORT');

createServer((request, response) => {
  // A path under DIR only (release-style v0.1.0/name.tar.gz): normalising from "/" drops any "..".
  const name = path.posix.normalize(`/${decodeURIComponent((request.url ?? '/').split('?')[0]!)}`).slice(1);
  readFile(path.join(dir, name)).then(
    (data) => response.writeHead(200, { 'content-length': String(data.length) }).end(data),
    () => response.writeHead(404).end('not found'),
  );
}).listen(Number(port), host, () => process.stdout.write(`serving ${dir} on http://${host}:${port}/\n`));
