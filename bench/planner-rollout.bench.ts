// What planning costs over a whole rollout, without any API: N nodes, one Shim (rolling, 10%), the
// controller's planner input built from in-memory caches that replace an object when it changes
// and keep it otherwise (as the informers do, so the planner's per-object memos work as in the
// controller), every action applied to those caches, and BATCH running Jobs finished between two
// passes (a pass of the controller sees the Jobs that finished since the last). Prints the CPU of
// plannerInput + plan per node and per pass: fewer, larger batches show what a pass costs over the
// whole fleet, smaller ones what each node's own changes cost.
// Usage: node bench/planner-rollout.bench.ts [nodes] [batch...] (default 1000, batches 5 20 80).

import type { V1Job, V1Node, V1Pod } from '@kubernetes/client-node';
import { installerJobIdentity } from '../src/controller/installer-job/identity.ts';
import { JOB_UID_LABEL } from '../src/controller/installer-job/observe.ts';
import { installerJob } from '../src/controller/installer-job/spec.ts';
import type { PlannedAction } from '../src/controller/planner/model.ts';
import { redactRecord, serializeNodeShimStatus } from '../src/controller/planner/node-status.ts';
import { plan } from '../src/controller/planner/plan.ts';
import { plannerInput, type ObservedCaches } from '../src/controller/shell/observe.ts';
import { slimJob, slimPod } from '../src/controller/shell/slim.ts';
import { benchShim } from './planner-shim.ts';

const NODES = Number(process.argv[2] ?? 1000);
const BATCHES = process.argv.slice(3).map(Number).filter((n) => n > 0);
const NAMESPACE = 'shimkeeper';
const STEP_MS = 500;

type Named = { metadata?: { name?: string; namespace?: string } };

/** Objects by name, each replaced (never changed) when it changes. */
class Cache<T extends Named> {
  readonly objects = new Map<string, T>();
  put(object: T): void {
    this.objects.set(object.metadata!.name!, object);
  }
  list(namespace?: string): T[] {
    const all = [...this.objects.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }
}

function rollout(batch: number): { passes: number; cpuMs: number; ready: number } {
  let shim = benchShim();
  const nodes = new Cache<V1Node>();
  const jobs = new Cache<V1Job>();
  const pods = new Cache<V1Pod>();
  const caches: ObservedCaches = { nodes, jobs, pods, runtimeclasses: new Cache() };
  for (let i = 0; i < NODES; i++) {
    const name = `node-${String(i).padStart(5, '0')}`;
    const labels = { spin: 'true', 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'kubernetes.io/hostname': name };
    const nodeInfo = { operatingSystem: 'linux', architecture: 'amd64', containerRuntimeVersion: 'containerd://1.7.24', bootID: 'boot' };
    nodes.put({ metadata: { name, uid: `uid-${name}`, labels }, status: { nodeInfo } as V1Node['status'] });
  }
  const running: string[] = [];
  let now = Date.parse('2026-06-01T00:00:00Z');
  let jobsCreated = 0;

  const apply = (action: PlannedAction): void => {
    if (action.type === 'createJob') {
      const job = installerJob(action, { namespace: NAMESPACE, image: 'installer', owner: { apiVersion: 'v1', kind: 'Shim', name: 'spin', uid: 'uid-spin' } });
      job.metadata = { ...job.metadata, uid: `job-${++jobsCreated}` };
      jobs.put(slimJob(job));
      running.push(action.jobName);
    } else if (action.type === 'deleteJob') {
      jobs.objects.delete(action.name);
    } else if (action.type === 'updateStatus') {
      shim = { ...shim, status: action.status };
    } else if (action.type === 'patchNode') {
      const node = nodes.objects.get(action.node)!;
      const labels = { ...node.metadata?.labels };
      const annotations = { ...node.metadata?.annotations };
      if (action.readyLabel) labels[action.readyLabelKey] = 'true';
      else delete labels[action.readyLabelKey];
      if (action.versionLabel) labels[action.versionLabelKey] = action.versionLabel;
      else delete labels[action.versionLabelKey];
      if (action.statusAnnotation) annotations[action.statusAnnotationKey] = serializeNodeShimStatus(redactRecord(action.statusAnnotation));
      else delete annotations[action.statusAnnotationKey];
      nodes.put({ ...node, metadata: { ...node.metadata, labels, annotations } });
    }
  };

  /** The Job completes; its Pod ends with the installer's result as its termination message. */
  const finish = (name: string): void => {
    const job = jobs.objects.get(name)!;
    const at = new Date(now).toISOString();
    jobs.put({ ...job, status: { conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: at as unknown as Date }], completionTime: at as unknown as Date } });
    const result = {
      ok: true, action: 'install', shim: 'spin', revision: installerJobIdentity(job)!.revision, version: '0.19.0', sha256: 'a'.repeat(64), handler: 'spin',
      binaryPath: '/opt/shimkeeper/spin/containerd-shim-spin-v2', configPath: '/etc/containerd/config.toml', flavour: 'containerd', containerdVersion: '1.7.24', restarted: true, changed: true,
    };
    const terminated = { exitCode: 0, message: JSON.stringify(result), finishedAt: at as unknown as Date };
    pods.put(slimPod({
      metadata: { name: `${name}-pod`, namespace: NAMESPACE, uid: `pod-${name}`, labels: { ...job.metadata?.labels, [JOB_UID_LABEL]: job.metadata!.uid!, 'batch.kubernetes.io/job-name': name }, creationTimestamp: at as unknown as Date },
      status: { phase: 'Succeeded', containerStatuses: [{ name: 'installer', image: 'installer', imageID: '', ready: false, restartCount: 0, state: { terminated } }] },
    }));
  };

  let passes = 0;
  let cpuUs = 0;
  let ready = 0;
  while (ready < NODES && passes < 100 * NODES) {
    const before = process.cpuUsage();
    const result = plan(plannerInput(caches, shim, NAMESPACE, new Date(now), { shims: [shim], reverifyAfterMs: 24 * 3_600_000, maxConcurrentJobs: 500 }));
    const cpu = process.cpuUsage(before);
    cpuUs += cpu.user + cpu.system;
    passes++;
    for (const action of [...result.before, ...result.nodes.flatMap((work) => work.actions), ...result.after]) apply(action);
    ready = result.status.nodesReady ?? 0;
    now += STEP_MS;
    for (let i = 0; i < batch && running.length > 0; i++) finish(running.shift()!);
  }
  return { passes, cpuMs: cpuUs / 1000, ready };
}

rollout(20); // warm-up
for (const batch of BATCHES.length ? BATCHES : [5, 20, 80]) {
  const { passes, cpuMs, ready } = rollout(batch);
  console.log(
    `${NODES} nodes, ${batch} Jobs finished per pass: ${passes} passes, planning CPU ${cpuMs.toFixed(0)} ms (GC included) = ${(cpuMs / NODES).toFixed(3)} ms per node, ${(cpuMs / passes).toFixed(2)} ms per pass${ready < NODES ? `; NOT DONE (${ready} ready)` : ''}`,
  );
}
