// A local one-node cluster with shimkeeper deployed, that stays up between commands:
//   npm run cluster:up     start it (prints how to reach it), returns once it is ready
//   npm run cluster:down   stop it and remove everything it wrote
// Everything lives in a temp state directory and private namespaces (see local-cluster/cluster.ts).
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { ClusterFootprint } from './cluster.ts';
import { processAlive } from './processes.ts';

// SHIMKEEPER_CLUSTER_RUN_DIR: another place for the state file (the e2e test runs its own up/down).
const RUN_DIR = process.env['SHIMKEEPER_CLUSTER_RUN_DIR'] || path.join(process.env['SHIMKEEPER_CACHE'] || path.join(homedir(), '.cache', 'shimkeeper'), 'cluster');
const STATE_FILE = path.join(RUN_DIR, 'state.json');
const LOG_FILE = path.join(RUN_DIR, 'cluster.log');

interface ClusterState {
  pid: number;
  ready: boolean;
  kubeconfig?: string;
  kubectl?: string;
  nodeName?: string;
  artifacts?: unknown;
  /** What marks the cluster's processes (cluster.ts clusterSurvivors). */
  footprint?: ClusterFootprint;
  error?: string;
}

function readState(): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}


async function up(): Promise<void> {
  const existing = readState();
  if (existing && processAlive(existing.pid)) {
    console.log(`already running (pid ${existing.pid}); kubeconfig: ${existing.kubeconfig}`);
    return;
  }
  mkdirSync(RUN_DIR, { recursive: true });
  rmSync(STATE_FILE, { force: true });
  const log = openSync(LOG_FILE, 'w');
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve'], { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  console.log(`starting the local cluster (log: ${LOG_FILE}) ...`);
  for (;;) {
    await sleep(1000);
    const state = readState();
    if (state?.error) throw new Error(`the cluster did not start: ${state.error}\n(see ${LOG_FILE})`);
    if (state?.ready) {
      console.log(`ready. Try:\n  ${state.kubectl} get nodes,shims\nkubeconfig: ${state.kubeconfig}\nshim artifacts: ${JSON.stringify(state.artifacts, null, 2)}\nstop it with: npm run cluster:down`);
      return;
    }
    if (!processAlive(child.pid!)) throw new Error(`the cluster process exited; see ${LOG_FILE}`);
  }
}

async function serve(): Promise<void> {
  writeFileSync(STATE_FILE, JSON.stringify({ pid: process.pid, ready: false }));
  const { startLocalShimkeeper } = await import('./local-shimkeeper.ts');
  let local: Awaited<ReturnType<typeof startLocalShimkeeper>>;
  try {
    local = await startLocalShimkeeper({ log: (line) => console.log(line) });
  } catch (error) {
    writeFileSync(STATE_FILE, JSON.stringify({ pid: process.pid, ready: false, error: (error as Error).message.split('\n')[0] }));
    throw error;
  }
  // processes.ts's own signal handler runs first: it SIGKILLs the cluster's children and, by the
  // cluster's namespaces and cgroups, everything they started (containerd outlives its supervisor
  // loop); stop() then removes what is left (state dir, cgroups, network).
  const stop = async () => {
    await local.stop();
    rmSync(STATE_FILE, { force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  const kubeconfig = path.join(RUN_DIR, 'kubeconfig');
  writeFileSync(kubeconfig, readFileSync(local.cluster.kubeconfigPath));
  const state: ClusterState = {
    pid: process.pid,
    ready: true,
    kubeconfig,
    kubectl: `${path.join(local.cluster.binDir, 'kubectl')} --kubeconfig ${kubeconfig}`,
    nodeName: local.cluster.nodeName,
    artifacts: { probe: local.artifacts, wasm: local.wasm },
    footprint: local.cluster.footprint,
  };
  writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));
  await new Promise(() => {}); // until SIGTERM
}

async function down(): Promise<void> {
  const state = readState();
  if (!state || !processAlive(state.pid)) {
    console.log('no local cluster is running');
    rmSync(STATE_FILE, { force: true });
    return;
  }
  process.kill(state.pid, 'SIGTERM');
  while (processAlive(state.pid)) await sleep(250);
  console.log('stopped');
}

const command = process.argv[2];
const commands: Record<string, () => Promise<void>> = { up, down, serve };
const run = command ? commands[command] : undefined;
if (!run) {
  console.error('usage: node local-cluster/cli.ts up|down');
  process.exit(2);
}
await run();
if (command !== 'serve') process.exit(0);
