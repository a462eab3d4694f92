// What one planning pass costs, without any API: a Shim half rolled out over N nodes (half
// installed and labelled ready, each with the finished Job that installed it, left for its TTL;
// a tenth with a running Job, the rest waiting; re-verification
// every 24 h, the controller's default), planned again and
// again as the controller does on every batch of Job and Pod events during a rollout. Prints the
// time per pass and per node. Usage: node bench/planner.bench.ts [nodes...] (default 1000 5000).

import { resolveArtifact } from '../src/api/artifact.ts';
import { readyLabelKey, statusAnnotationKey, versionLabelKey } from '../src/api/names.ts';
import type { ObservedJob, ObservedNode, PlannerInput } from '../src/controller/planner/model.ts';
import { serializeNodeShimStatus } from '../src/controller/planner/node-status.ts';
import { plan } from '../src/controller/planner/plan.ts';
import { benchShim } from './planner-shim.ts';

const SIZES = process.argv.slice(2).map(Number).filter((n) => n > 0);
const PASSES_PER_SIZE = 200_000;

const shim = benchShim();

function midRollout(size: number, now: Date): PlannerInput {
  const resolution = resolveArtifact(shim, { os: 'linux', arch: 'amd64' });
  if (!resolution.supported) throw new Error(resolution.reason);
  const { revision, sha256 } = resolution.artifact;
  const installed = (job: string) => serializeNodeShimStatus({
    state: 'installed', version: '0.19.0', revision, sha256, containerd: '1.7.24', shimVersion: '0.19.0', handler: 'spin',
    bootID: 'boot', runtime: 'containerd://1.7.24', job, time: '2026-05-31T12:00:00Z',
  });
  const nodes: ObservedNode[] = [];
  const jobs: ObservedJob[] = [];
  for (let i = 0; i < size; i++) {
    const name = `node-${String(i).padStart(5, '0')}`;
    const labels: Record<string, string> = { spin: 'true', 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'kubernetes.io/hostname': name };
    const annotations: Record<string, string> = {};
    if (i < size / 2) {
      labels[readyLabelKey('spin')] = 'true';
      labels[versionLabelKey('spin')] = '0.19.0';
      annotations[statusAnnotationKey('spin')] = installed(`uid-${name}`);
      jobs.push({
        name: `spin-install-${name}`, uid: `uid-${name}`, node: name, action: 'install', revision, phase: 'succeeded', finishedAt: '2026-05-31T12:00:00Z',
        result: { ok: true, action: 'install', shim: 'spin', revision, version: '0.19.0', sha256: sha256!, handler: 'spin', binaryPath: '/opt/shimkeeper/spin', configPath: '/etc/containerd/config.toml', flavour: 'containerd', containerdVersion: '1.7.24', restarted: true, changed: true },
      });
    } else if (i < size / 2 + size / 10) {
      jobs.push({ name: `spin-install-${name}`, node: name, action: 'install', revision, phase: 'running' });
    }
    nodes.push({ name, labels, annotations, os: 'linux', arch: 'amd64', containerRuntimeVersion: 'containerd://1.7.24', bootID: 'boot' });
  }
  // As the controller plans by default: installed nodes are proven again after 24 h (SHIMKEEPER_REVERIFY_INTERVAL).
  const reverifyAfterMs = 24 * 3_600_000;
  const status = plan({ shim, nodes, jobs, runtimeClasses: [], now, reverifyAfterMs }).status;
  return { shim: { ...shim, status }, nodes, jobs, runtimeClasses: [], now, reverifyAfterMs };
}

for (const size of SIZES.length ? SIZES : [1_000, 5_000]) {
  const input = midRollout(size, new Date('2026-06-01T00:00:00Z'));
  const passes = Math.max(20, Math.round(PASSES_PER_SIZE / size));
  for (let i = 0; i < 5; i++) plan(input); // warm-up
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  let actions = 0;
  for (let i = 0; i < passes; i++) actions += plan(input).nodes.length;
  const ms = (performance.now() - started) / passes;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuMs = (cpu.user + cpu.system) / 1000 / passes;
  console.log(`${size} nodes: ${ms.toFixed(2)} ms per pass (${cpuMs.toFixed(2)} ms CPU, GC included), ${((1000 * ms) / size).toFixed(2)} µs per node; ${passes} passes, ${actions / passes} nodes with work per pass`);
}
