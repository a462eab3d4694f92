import { execFile } from 'node:child_process';
import type { Host } from './host.ts';

// What an installed shim says its own version is. containerd's shim protocol gives every shim a
// `-v` flag (runc's prints "Version: v1.7.35", runwasi's "Version: 0.1.0"; `--version` is refused
// by some), so the node can report the version it really runs, next to the one the Shim names.
// Best effort: a shim that cannot run here (linked against libraries the installer's image lacks)
// or prints something else simply reports nothing.

const TIMEOUT_MS = 3_000;
const VERSION_LINE = /^\s*Version:\s*(\S+)\s*$/m;

export async function shimReportedVersion(host: Host, binaryPath: string): Promise<string | undefined> {
  const binaryHere = await host.path(binaryPath);
  return new Promise((resolve) => {
    execFile(binaryHere, ['-v'], { timeout: TIMEOUT_MS, maxBuffer: 64 * 1024, env: {} }, (error, stdout) => {
      const match = VERSION_LINE.exec(String(stdout ?? ''));
      resolve(match && !error ? match[1]!.slice(0, 64) : undefined);
    });
  });
}
