// The controller's Node watch under heartbeat churn, on its own: a real kube-apiserver, BENCH_NODES
// kubelet-sized Nodes (default 500), and, for each way of reading the watch, a child process
// running just the Node informer (slimNode, as the controller has it) while this process patches
// Node heartbeats at BENCH_RATE a second (default 83, a 5,000-node fleet's rate) for BENCH_SECONDS.
// Prints the child's CPU per heartbeat and in % of a core, and how many events reached a handler
// (parsed) for: every event parsed as it comes; fingerprints (events changing nothing the cache
// keeps are not parsed, the others are read for what it keeps); fingerprints and reads coalesced
// into bursts, as the controller runs it.
// Run as root, like the other benchmarks: `node bench/watch.bench.ts`.

import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { fork } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { nodeFingerprints } from '../src/controller/shell/node-fingerprint.ts';
import { NODE_READS, slimNode } from '../src/controller/shell/slim.ts';
import { NODE_WATCH_COALESCE_MS } from '../src/controller/shell/watches.ts';
import { kubeconfigAccess } from '../src/kube/cluster-access.ts';
import { startInformer } from '../src/kube/informer.ts';
import { KubeClient } from '../src/kube/rest.ts';
import { createLogger } from '../src/log.ts';
import { startKubeApiServer } from '../local-cluster/kube-apiserver.ts';
import { kubeletConditions, kubeletNodeObject, kubeletNodeStatus } from '../test/harness/kubelet-like-node.ts';

const NODES = Number(process.env['BENCH_NODES'] ?? 500);
const RATE = Number(process.env['BENCH_RATE'] ?? 83);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 20);
const VARIANTS = { parsed: {}, fingerprints: { fingerprints: true }, 'fingerprints + bursts': { fingerprints: true, coalesce: true } } as const;
type Variant = keyof typeof VARIANTS;

interface ChildReport { cpuMs: number; handled: number }

async function child(kubeconfigPath: string, variant: Variant): Promise<void> {
  const options: { fingerprints?: boolean; coalesce?: boolean } = VARIANTS[variant];
  let handled = 0;
  const client = new KubeClient(kubeconfigAccess(kubeconfigPath));
  const nodes = startInformer(client, {
    name: 'nodes',
    path: '/api/v1/nodes',
    slim: slimNode,
    ...(options.fingerprints ? { fingerprints: nodeFingerprints, reads: NODE_READS } : {}),
    ...(options.coalesce ? { coalesceMs: NODE_WATCH_COALESCE_MS } : {}),
    handlers: { onUpdate: () => handled++ },
  }, createLogger({ level: 'warn' }));
  await nodes.synced;
  let before = process.cpuUsage();
  process.on('message', (message) => {
    if (message === 'start') {
      before = process.cpuUsage();
      handled = 0;
      return;
    }
    const used = process.cpuUsage(before);
    process.send!({ cpuMs: (used.user + used.system) / 1000, handled } satisfies ChildReport, () => process.exit(0));
  });
  process.send!('synced');
}

async function main(): Promise<void> {
  const server = await startKubeApiServer();
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
    const names = Array.from({ length: NODES }, (_, i) => `watch-node-${String(i + 1).padStart(5, '0')}`);
    for (let i = 0; i < names.length; i += 32) {
      await Promise.all(names.slice(i, i + 32).map(async (name, j) => {
        await core.createNode({ body: kubeletNodeObject(name, i + j + 1, { pool: 'all' }), fieldManager: 'kubelet' });
        await core.patchNodeStatus({ name, body: { status: kubeletNodeStatus(name, i + j + 1) }, fieldManager: 'kubelet' }, strategic);
      }));
    }
    console.log(`${NODES} kubelet-sized Nodes; heartbeats at ${RATE}/s for ${SECONDS} s per variant`);
    const rows = [];
    let beat = 0;
    for (const variant of Object.keys(VARIANTS) as Variant[]) {
      const informer = fork(new URL(import.meta.url).pathname, ['child', server.kubeconfigPath, variant], { execArgv: ['--max-old-space-size=384', '--max-semi-space-size=2'] });
      await new Promise((resolve) => informer.once('message', resolve));
      informer.send('start');
      const start = Date.now();
      let sent = 0;
      const patches: Promise<unknown>[] = [];
      while (Date.now() - start < SECONDS * 1000) {
        const due = start + (sent * 1000) / RATE;
        if (due > Date.now()) await sleep(due - Date.now());
        // A new heartbeat time each time: a patch that changes nothing makes no event.
        const at = new Date(Date.UTC(2026, 0, 1) + ++beat * 1000).toISOString().replace('.000', '');
        patches.push(core.patchNodeStatus({ name: names[sent % names.length]!, body: { status: { conditions: kubeletConditions(at, '2026-01-01T00:00:00Z') } }, fieldManager: 'kubelet' }, strategic));
        sent++;
      }
      await Promise.all(patches);
      await sleep(1_000); // the last burst
      const report = await new Promise<ChildReport>((resolve) => {
        informer.once('message', (message) => resolve(message as ChildReport));
        informer.send('stop');
      });
      const elapsedMs = Date.now() - start;
      rows.push({ variant, heartbeats: sent, 'events parsed and handled': report.handled, 'CPU ms': Math.round(report.cpuMs), 'µs per heartbeat': Math.round((1000 * report.cpuMs) / sent), '% of a core': +((100 * report.cpuMs) / elapsedMs).toFixed(2) });
    }
    console.table(rows);
  } finally {
    await server.stop();
  }
}

if (process.argv[2] === 'child') await child(process.argv[3]!, process.argv[4] as Variant);
else await main();
