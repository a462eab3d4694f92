import { setTimeout as sleep } from 'node:timers/promises';
import { API_GROUP } from '../../src/api/names.ts';
import { CriClient } from '../../src/installer/cri/cri-client.ts';
import type { TestCluster } from '../../local-cluster/cluster.ts';

// The invariant of issue 10, sampled throughout the end-to-end scenario rather than checked at its
// end: at no moment does the node carry a Shim's ready label while its containerd lacks the
// handler of that Shim's RuntimeClass. A test that breaks the node on purpose (drift) pauses the
// watch until shimkeeper has noticed.

const READY_LABEL = new RegExp(`^(.+)\\.shim\\.${API_GROUP.replaceAll('.', '\\.')}/ready$`);

export interface ReadyInvariantWatch {
  violations: string[];
  /** What the cluster looked like at the first violation (controller log, Jobs, events), to explain it. */
  firstViolationContext?: string;
  samples(): number;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

export function watchReadyInvariant(cluster: TestCluster, explain: () => string, intervalMs = 1_000): ReadyInvariantWatch {
  let running = true;
  let paused = false;
  let samples = 0;
  let loop: Promise<void> = Promise.resolve();
  const watch: ReadyInvariantWatch = {
    violations: [],
    samples: () => samples,
    pause: () => (paused = true),
    resume: () => (paused = false),
    async stop() {
      running = false;
      await loop;
    },
  };
  loop = (async () => {
    while (running) {
      if (!paused) {
        const problem = await sample(cluster).catch(() => undefined);
        if (problem !== undefined) samples++;
        if (problem) {
          watch.violations.push(`${new Date().toISOString()}: ${problem}`);
          watch.firstViolationContext ??= explain();
        }
      }
      await sleep(intervalMs);
    }
  })();
  return watch;
}

/** One look: '' when the invariant holds, a description when it does not; throws when containerd does not answer (restarting). */
async function sample(cluster: TestCluster): Promise<string> {
  const node = JSON.parse(cluster.kubectl(['get', 'node', cluster.nodeName, '-o', 'json'])) as { metadata: { labels?: Record<string, string> } };
  const classes = (JSON.parse(cluster.kubectl(['get', 'runtimeclasses', '-o', 'json'])) as { items: Array<{ metadata: { name: string; labels?: Record<string, string> }; handler: string }> }).items;
  const cri = new CriClient(cluster.containerdSocketPath);
  let runtimes: Record<string, unknown>;
  try {
    const status = await cri.status(2_000);
    runtimes = (JSON.parse(status.info['config'] ?? '{}') as { containerd?: { runtimes?: Record<string, unknown> } }).containerd?.runtimes ?? {};
  } finally {
    cri.close();
  }
  const problems: string[] = [];
  for (const [key, value] of Object.entries(node.metadata.labels ?? {})) {
    const shim = READY_LABEL.exec(key)?.[1];
    if (!shim || value !== 'true') continue;
    for (const rc of classes.filter((c) => c.metadata.labels?.[`${API_GROUP}/shim`] === shim)) {
      if (!(rc.handler in runtimes)) problems.push(`node ready for Shim ${shim}, whose RuntimeClass ${rc.metadata.name} names handler ${rc.handler}, but containerd has no such runtime`);
    }
  }
  return problems.join('; ');
}
