// Installer benchmark against real containerd releases (run as root: `npm run bench:installer`).
// For each release of the test matrix (Debian's, the newest 1.7 and 2.x; SHIMKEEPER_CONTAINERD_RELEASES
// narrows it) and each run: an install of a ~20 MB artifact from loopback split into its steps
// (verification = the loaded runtime checked and a pod sandbox started and removed through the
// handler), the window in which containerd's CRI did not answer during the restart, and the wall
// time of a no-op re-run. Ends with the medians per release side by side.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startArtifactServer } from '../local-cluster/artifact-server.ts';
import { sha256, shimBinary, tarGz } from '../local-cluster/artifacts.ts';
import { startContainerd, type TestContainerd } from '../test/harness/containerd.ts';
import { containerdMatrix, type ContainerdRelease } from '../test/harness/containerd-releases.ts';
import { runInstaller } from '../test/harness/run-installer.ts';
import { CriClient } from '../src/installer/cri/cri-client.ts';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
// Random padding does not compress, so the archive is ~20 MB on the wire.
const paddingFor = (release: ContainerdRelease) => 20 * 1024 * 1024 - tarGz([{ path: 'containerd-shim-bench-v2', data: shimBinary('', release.runcShim) }]).length;

/**
 * Polls CRI Version every 10 ms, each time on a fresh connection (a kept channel would queue calls
 * while reconnecting), and records the longest stretch between two answers.
 */
function watchAvailability(containerd: TestContainerd): { stop(): Promise<number> } {
  let running = true;
  let lastOk = Date.now();
  let longestGap = 0;
  const loop = (async () => {
    while (running) {
      const client = new CriClient(containerd.socketPath);
      try {
        await client.version(200);
        const now = Date.now();
        longestGap = Math.max(longestGap, now - lastOk);
        lastOk = now;
      } catch {
        // unavailable: the gap grows until the next answer
      } finally {
        client.close();
      }
      await sleep(10);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return longestGap;
    },
  };
}

const rows: Array<Record<string, number | string>> = [];
for (const release of containerdMatrix()) rows.push(...(await benchRelease(release)));
console.table(rows);
console.log('Medians per containerd release:');
console.table(medians(rows));
console.log('install wall includes Node start-up of the installer process (~100-200 ms); download includes hashing (checksum compares digests only).');

async function benchRelease(release: ContainerdRelease): Promise<Array<Record<string, number | string>>> {
  const containerd = await startContainerd({ release });
  const server = await startArtifactServer();
  const rows: Array<Record<string, number | string>> = [];
  try {
    for (let run = 1; run <= RUNS; run += 1) {
      // Random padding does not compress: the download really is ~20 MB.
      const archive = tarGz([
        { path: 'containerd-shim-bench-v2', data: shimBinary(`bench-${run}`, release.runcShim) },
        { path: 'padding.bin', data: randomBytes(paddingFor(release)), mode: 0o644 },
      ]);
      server.put(`bench-${run}.tar.gz`, archive);
      const args = [
        'install', '--host-root', '/', '--shim', 'bench', '--handler', 'bench',
        '--url', server.url(`bench-${run}.tar.gz`), '--sha256', sha256(archive),
        '--install-dir', path.join(containerd.dir, 'opt-shimkeeper'),
        '--containerd-config', containerd.configPath, '--containerd-socket', containerd.socketPath,
        '--restart', 'signal', '--termination-log', '/dev/null',
      ];
      const watcher = watchAvailability(containerd);
      const started = performance.now();
      const install = await runInstaller(args);
      const installWall = performance.now() - started;
      const unavailableMs = await watcher.stop();
      if (!install.result.ok) throw new Error(`install failed on containerd ${release.name}: ${JSON.stringify(install.result)}`);
      const timings = install.result['timings'] as Record<string, number>;

      const noopStarted = performance.now();
      const noop = await runInstaller(args);
      const noopWall = performance.now() - noopStarted;
      if (noop.result['restarted'] !== false) throw new Error('no-op re-run restarted containerd');

      rows.push({
        containerd: release.name,
        run,
        'artifact MB': +(archive.length / 1024 / 1024).toFixed(1),
        'install wall ms': Math.round(installWall),
        'download ms': timings['downloadMs'] ?? 0,
        'checksum ms': timings['checksumMs'] ?? 0,
        'extract+place ms': timings['extractMs'] ?? 0,
        'configure ms': timings['configureMs'] ?? 0,
        'restart ms': timings['restartMs'] ?? 0,
        'health ms': timings['healthMs'] ?? 0,
        'verification ms': timings['verifyMs'] ?? 0,
        'CRI unavailable ms': unavailableMs,
        'no-op re-run wall ms': Math.round(noopWall),
      });
    }
  } finally {
    await server.close();
    await containerd.stop();
  }
  return rows;
}

function medians(rows: Array<Record<string, number | string>>): Record<string, Record<string, number>> {
  const columns = ['install wall ms', 'verification ms', 'CRI unavailable ms', 'restart ms', 'health ms', 'no-op re-run wall ms'];
  const table: Record<string, Record<string, number>> = {};
  for (const release of new Set(rows.map((row) => String(row['containerd'])))) {
    const mine = rows.filter((row) => row['containerd'] === release);
    table[release] = Object.fromEntries(columns.map((column) => {
      const values = mine.map((row) => Number(row[column])).sort((x, y) => x - y);
      return [column, values[Math.floor(values.length / 2)] ?? 0];
    }));
  }
  return table;
}
