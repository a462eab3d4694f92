import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

// The `helm` CLI for the chart's tests and the local cluster: built from its Go module by
// scripts/build-helm.sh and cached in ~/.cache/shimkeeper (a cache hit is a file check).

const BUILD_SCRIPT = fileURLToPath(new URL('../scripts/build-helm.sh', import.meta.url));
/** The chart in this repository. */
export const CHART_DIR = fileURLToPath(new URL('../charts/shimkeeper', import.meta.url));

/** The helm binary's path, building it first on a cold cache (several minutes). */
export async function ensureHelm(): Promise<string> {
  // Async: a blocked event loop would starve the test runner's worker RPC during a cold build.
  const { stdout } = await promisify(execFile)('bash', [BUILD_SCRIPT], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const bin = stdout.trim().split('\n').pop();
  if (!bin) throw new Error('scripts/build-helm.sh printed no path');
  return bin;
}
