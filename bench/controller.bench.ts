// Controller benchmark against a real kube-apiserver + etcd (`npm run bench:controller`).
//
// For each size N (BENCH_NODES, default "100,1000,5000"): a fresh apiserver, N Node objects, the
// controller as its own process with the manifests' service account and RBAC (as the integration
// tests run it), the test node agent completing every installer Job after BENCH_JOB_DELAY_MS, and
// one Shim targeting all N nodes with a rolling rollout of maxUpdate BENCH_MAX_UPDATE (default
// "10%": 10, 100, 500 nodes in flight). It prints:
//   - time from applying the Shim to status nodesReady == N with Ready=True;
//   - the controller's API requests by verb and resource, per node: from its own /metrics
//     (shimkeeper_api_requests_total) and, independently, from the apiserver's audit log filtered
//     to the controller's service account (which also sees the leader Lease, which the controller
//     does not count, and every response code: conflicts, throttling);
//   - all API requests as the apiserver counts them (apiserver_request_total): this includes the
//     simulated kubelet / Job controller (the test agent), since the metric has no user label;
//   - the controller's peak RSS (VmHWM) and CPU time, next to the apiserver's, etcd's and this
//     process's (the agent) CPU time: all share the machine;
//   - controller writes during BENCH_STEADY_SECONDS (default 60) of steady state after the rollout
//     has settled: must be 0 (leader Lease renewals are reported apart), else the script exits 1.
// Installer Jobs are then deleted by the agent as the TTL-after-finished controller would, 60 s
// after they finished (the controller's shortest TTL, set for the run), but not before the rollout
// is done, as with the default TTL (600 s) at 1,000 nodes: the clean-up is measured apart (its
// duration, the controller's CPU per Job deleted and its writes) for at most BENCH_CLEANUP_SECONDS
// (120), and does not slow the rollout on this machine. The Jobs left then stay through the steady
// window, as they would within their TTL.
// A fresh apiserver per size, rather than one shared: etcd, the watch caches, the apiserver's
// counters and the audit log start empty, so a size is not measured against the leftovers
// (thousands of Events, Nodes, compaction) of the previous one; it costs ~5 s per size.
//
// BENCH_CPU_PROF=1 runs the controller with --cpu-prof and prints its hottest functions.
// Other knobs: BENCH_ROLLOUT_TIMEOUT_SECONDS (default 900 per size, 0.2 s per node beyond 4,500), BENCH_CREATE_CONCURRENCY (32),
// BENCH_AUDIT=0 (no audit log), BENCH_KEEP=1 (keep logs and profiles; always kept on failure),
// BENCH_MAX_UPDATE, BENCH_JOB_DELAY_MS (50), BENCH_CONTROLLER_NODE_OPTIONS (default: the Deployment's NODE_OPTIONS),
// BENCH_STRATEGY (rolling|recreate), BENCH_CHURN_SECONDS (60: each node's heartbeat period in the steady window).
// The controller runs compiled (dist/, built first), as in its image.
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { closeSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { request } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_GROUP, API_VERSION } from '../src/api/names.ts';
import type { Shim, ShimSpec } from '../src/api/shim.ts';
import { MIN_TTL_SECONDS_AFTER_FINISHED } from '../src/controller/installer-job/spec.ts';
import { startControllerProcess, type ControllerProcess } from '../test/harness/controller-process.ts';
import { startKubeApiServer, type KubeApiServer } from '../local-cluster/kube-apiserver.ts';
import { kubectlFor, serviceAccountKubeconfig } from '../local-cluster/kube-helpers.ts';
import { terminate } from '../local-cluster/processes.ts';
import { maxConcurrent, startTestNodeAgent, type TestNodeAgent } from '../test/harness/test-node.ts';
import { kubeletConditions, kubeletNodeObject, kubeletNodeStatus } from '../test/harness/kubelet-like-node.ts';

const SIZES = (process.env['BENCH_NODES'] ?? '100,1000,5000').split(',').map((s) => Number(s.trim())).filter((n) => n > 0);
const STEADY_SECONDS = Number(process.env['BENCH_STEADY_SECONDS'] ?? 60);
/** rolling (maxUpdate BENCH_MAX_UPDATE) or recreate. */
const STRATEGY = process.env['BENCH_STRATEGY'] === 'recreate' ? 'recreate' : 'rolling';
/** During the steady window every Node's status is updated once per this many seconds (0: never), like kubelet heartbeats. */
const CHURN_SECONDS = Number(process.env['BENCH_CHURN_SECONDS'] ?? 60);
const MAX_UPDATE: number | string = /^\d+$/.test(process.env['BENCH_MAX_UPDATE'] ?? '') ? Number(process.env['BENCH_MAX_UPDATE']) : (process.env['BENCH_MAX_UPDATE'] ?? '10%');
const JOB_DELAY_MS = Number(process.env['BENCH_JOB_DELAY_MS'] ?? 50);
/** Per size: long enough for the size (a 10,000-node rollout takes over 1,300 s here). */
const rolloutTimeoutMs = (nodes: number) => Number(process.env['BENCH_ROLLOUT_TIMEOUT_SECONDS'] ?? Math.max(900, 0.2 * nodes)) * 1000;
const CREATE_CONCURRENCY = Number(process.env['BENCH_CREATE_CONCURRENCY'] ?? 32);
/** How long the Jobs' clean-up is watched after the rollout (the rest stays through the steady window; 0: no clean-up). */
const CLEANUP_WINDOW_MS = Number(process.env['BENCH_CLEANUP_SECONDS'] ?? 120) * 1000;
const AUDIT = process.env['BENCH_AUDIT'] !== '0';
const CPU_PROF = process.env['BENCH_CPU_PROF'] === '1';
const KEEP = process.env['BENCH_KEEP'] === '1';
/** The controller's Node options: BENCH_CONTROLLER_NODE_OPTIONS, else the Deployment's own (manifests/deployment.yaml). */
const CONTROLLER_NODE_OPTIONS = process.env['BENCH_CONTROLLER_NODE_OPTIONS'] ?? deploymentEnv('NODE_OPTIONS');
/** The Deployment's glibc setting, which its memory figures depend on. */
const CONTROLLER_MALLOC_ARENA_MAX = deploymentEnv('MALLOC_ARENA_MAX');

function deploymentEnv(name: string): string {
  const manifest = readFileSync(new URL('../manifests/deployment.yaml', import.meta.url), 'utf8');
  return new RegExp(`name: ${name}\\s*\\n\\s*value: "([^"]*)"`).exec(manifest)?.[1] ?? '';
}
/** Before the steady window: the controller's write counter must stay still this long (at most SETTLE_MAX_MS). */
const SETTLE_QUIET_MS = 5_000;
const SETTLE_MAX_MS = 60_000;

const REPO = new URL('../', import.meta.url).pathname;
const NAMESPACE = 'shimkeeper-system';
const SERVICE_ACCOUNT = 'shimkeeper-controller';
const CONTROLLER_USER = `system:serviceaccount:${NAMESPACE}:${SERVICE_ACCOUNT}`;
const SHIM = 'bench';
const READ_VERBS = new Set(['list', 'watch', 'get']);
const CLK_TCK = 100; // Linux USER_HZ

type Counts = Map<string, number>;

// ---------- small helpers ----------

function add(counts: Counts, key: string, n = 1): void {
  counts.set(key, (counts.get(key) ?? 0) + n);
}

function diff(after: Counts, before: Counts): Counts {
  const out: Counts = new Map();
  for (const [k, v] of after) if (v - (before.get(k) ?? 0) !== 0) out.set(k, v - (before.get(k) ?? 0));
  return out;
}

function sum(counts: Counts, keep: (key: string) => boolean = () => true): number {
  let total = 0;
  for (const [k, v] of counts) if (keep(k)) total += v;
  return total;
}

const verbOf = (key: string) => key.split(' ')[0]!;
const isWrite = (key: string) => !READ_VERBS.has(verbOf(key).toLowerCase());
const mb = (kb: number) => Math.round(kb / 1024);
const secs = (ms: number) => +(ms / 1000).toFixed(1);
const log = (msg: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** Samples of one Prometheus metric from the text exposition format. */
function samples(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const out: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{\s]+(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: Number(m[2]) });
  }
  return out;
}

// ---------- process figures from /proc ----------

interface ProcFigures { hwmKb: number; rssKb: number; cpuMs: number }

function procFigures(pid: number | undefined): ProcFigures | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
    const cpuMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK; // utime + stime
    return { hwmKb: kb('VmHWM'), rssKb: kb('VmRSS'), cpuMs };
  } catch {
    return undefined;
  }
}

/** CPU time (ms) of a process's threads, by thread name (V8's GC and compiler threads are "V8Worker"). */
function threadCpuMs(pid: number | undefined): Counts {
  const byName: Counts = new Map();
  if (pid === undefined) return byName;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = Number(tid) === pid ? 'main thread' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      add(byName, name, ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK);
    } catch {
      // the thread ended meanwhile
    }
  }
  return byName;
}

/**
 * How often the process's main thread went to sleep and was woken again (its voluntary context
 * switches): on a virtual machine each wake-up costs more than a small event (bench/wakeup.bench.ts).
 */
function mainThreadWakeUps(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Children of this process by command name (kube-apiserver, etcd: setpriv and nsenter exec them). */
function childPid(comm: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (name === comm && ppid === process.pid) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

// ---------- the apiserver's view: /metrics and the audit log ----------

function adminGet(server: KubeApiServer, urlPath: string): Promise<string> {
  const config = JSON.parse(readFileSync(server.kubeconfigPath, 'utf8')) as { clusters: Array<{ cluster: Record<string, string> }> };
  const ca = Buffer.from(config.clusters[0]!.cluster['certificate-authority-data']!, 'base64');
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}${urlPath}`, { ca, headers: { authorization: `Bearer ${server.token}` }, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${urlPath}: ${res.statusCode} ${body.slice(0, 200)}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath}: timeout`)));
    req.on('error', reject);
    req.end();
  });
}

interface ApiserverCounts { byVerbResource: Counts; byCode: Counts; rejected: number }

async function apiserverCounts(server: KubeApiServer): Promise<ApiserverCounts> {
  const text = await adminGet(server, '/metrics');
  const byVerbResource: Counts = new Map();
  const byCode: Counts = new Map();
  for (const s of samples(text, 'apiserver_request_total')) {
    const resource = s.labels['resource'] ? `${s.labels['resource']}${s.labels['subresource'] ? `/${s.labels['subresource']}` : ''}` : '(non-resource)';
    add(byVerbResource, `${s.labels['verb']} ${resource}`, s.value);
    add(byCode, s.labels['code'] ?? '?', s.value);
  }
  const rejected = samples(text, 'apiserver_flowcontrol_rejected_requests_total').reduce((n, s) => n + s.value, 0);
  return { byVerbResource, byCode, rejected };
}

function diffApiserver(after: ApiserverCounts, before: ApiserverCounts): ApiserverCounts {
  return { byVerbResource: diff(after.byVerbResource, before.byVerbResource), byCode: diff(after.byCode, before.byCode), rejected: after.rejected - before.rejected };
}

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    users: ["${CONTROLLER_USER}"]
  - level: None
`;

/** Per `verb resource`: requests, and the sum of their server-side latency (received → response complete). */
interface AuditCounts { requests: Counts; latencyMs: Counts; codes: Counts; errors: Counts }

const emptyAudit = (): AuditCounts => ({ requests: new Map(), latencyMs: new Map(), codes: new Map(), errors: new Map() });

/** Reads the audit log incrementally; each read returns the controller's requests since the last. */
class AuditReader {
  private offset = 0;
  private rest = '';
  private readonly file: string;
  constructor(file: string) {
    this.file = file;
  }

  read(): AuditCounts {
    const out = emptyAudit();
    if (!existsSync(this.file)) return out;
    const fd = openSync(this.file, 'r');
    try {
      const size = fstatSync(fd).size;
      const chunk = Buffer.alloc(1 << 20);
      while (this.offset < size) {
        const n = readSync(fd, chunk, 0, Math.min(chunk.length, size - this.offset), this.offset);
        if (n <= 0) break;
        this.offset += n;
        const lines = (this.rest + chunk.subarray(0, n).toString('utf8')).split('\n');
        this.rest = lines.pop() ?? '';
        for (const line of lines) if (line) this.count(line, out);
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }

  private count(line: string, out: AuditCounts): void {
    const e = JSON.parse(line) as { stage: string; verb: string; requestReceivedTimestamp?: string; stageTimestamp?: string; user?: { username?: string }; objectRef?: { resource?: string; subresource?: string }; requestURI?: string; responseStatus?: { code?: number; reason?: string } };
    if (e.user?.username !== CONTROLLER_USER) return;
    // One count per request: a watch when its response starts, everything else when complete.
    if (e.stage !== (e.verb === 'watch' ? 'ResponseStarted' : 'ResponseComplete')) return;
    const resource = e.objectRef?.resource ? `${e.objectRef.resource}${e.objectRef.subresource ? `/${e.objectRef.subresource}` : ''}` : (e.requestURI ?? '?');
    add(out.requests, `${e.verb} ${resource}`);
    if (e.verb !== 'watch' && e.requestReceivedTimestamp && e.stageTimestamp) add(out.latencyMs, `${e.verb} ${resource}`, microsBetween(e.requestReceivedTimestamp, e.stageTimestamp) / 1000);
    const code = e.responseStatus?.code ?? 0;
    add(out.codes, String(code));
    if (code >= 400) add(out.errors, `${code} ${e.verb} ${resource}${e.responseStatus?.reason ? ` (${e.responseStatus.reason})` : ''}`);
  }
}

/** Audit timestamps have microseconds, which Date drops. */
function microsBetween(from: string, to: string): number {
  const micros = (t: string) => Date.parse(t) * 1000 + Number((/\.\d{3}(\d{3})/.exec(t)?.[1]) ?? 0);
  return micros(to) - micros(from);
}

function mergeAudit(into: AuditCounts, more: AuditCounts): AuditCounts {
  for (const key of ['requests', 'latencyMs', 'codes', 'errors'] as const) for (const [k, v] of more[key]) add(into[key], k, v);
  return into;
}

// ---------- the controller's view ----------

async function controllerCounts(controller: ControllerProcess): Promise<Counts> {
  const text = await (await fetch(controller.metricsUrl)).text();
  const counts: Counts = new Map();
  for (const s of samples(text, 'shimkeeper_api_requests_total')) add(counts, `${s.labels['verb']} ${s.labels['resource']}`, s.value);
  return counts;
}

async function controllerMetricText(controller: ControllerProcess): Promise<string> {
  return (await fetch(controller.metricsUrl)).text();
}

interface LogSummary { lines: number; byLevel: Counts; warnings: Counts }

function summarizeLog(text: string): LogSummary {
  const byLevel: Counts = new Map();
  const warnings: Counts = new Map();
  let lines = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    lines++;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      add(byLevel, 'non-json');
      add(warnings, `non-json: ${line.slice(0, 120)}`);
      continue;
    }
    const level = String(entry['level']);
    add(byLevel, level);
    if (level === 'warn' || level === 'error') {
      // Group by message and the error's first words (names and resourceVersions vary).
      const error = String(entry['error'] ?? '').replace(/"[^"]*"/g, '"…"').replace(/\b[a-z0-9-]+-[a-z0-9]{5,}\b/g, '…').slice(0, 140);
      add(warnings, `${level}: ${String(entry['msg'])}${error ? ` — ${error}` : ''}`);
    }
  }
  return { lines, byLevel, warnings };
}

// ---------- CPU profile ----------

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }

/** A stretch of the run, in CLOCK_MONOTONIC microseconds (V8's profile clock and process.hrtime's). */
interface ProfileWindow { name: string; fromUs: number; toUs: number }

const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

function summarizeProfile(file: string, window?: ProfileWindow): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (!window || (at >= window.fromUs && at < window.toUs)) selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  });
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const byFunction: Counts = new Map();
  const byFile: Counts = new Map();
  const short = (url: string) => url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'nm/').replace(/^.*\/work\/main\//, '');
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    add(byFunction, `${f.functionName || '(anonymous)'} ${short(f.url)}:${f.lineNumber + 1}`, us);
    add(byFile, f.url ? short(f.url).replace(/^(nm\/(@[^/]+\/)?[^/]+)\/.*$/, '$1') : `(${f.functionName})`, us);
  }
  // Inclusive time of the shimkeeper functions (a function counted once per sample, however deep it recurs).
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const inclusive: Counts = new Map();
  let busy = 0;
  for (const [id, us] of selfUs) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    busy += us;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      if (!/\/(src|dist\/src)\//.test(f.url)) continue;
      const key = `${f.functionName || '(anonymous)'} ${short(f.url)}:${f.lineNumber + 1}`;
      if (!seen.has(key)) add(inclusive, key, us);
      seen.add(key);
    }
  }
  const top = (counts: Counts, n: number, of = total) => [...counts].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `  ${(v / 1000).toFixed(0).padStart(7)} ms ${((100 * v) / of).toFixed(1).padStart(5)}%  ${k}`).join('\n');
  return `controller CPU profile${window ? `, ${window.name}` : ''} (${file}): ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s not idle (main thread)\n top self time by function:\n${top(byFunction, 20)}\n self time by module:\n${top(byFile, 12)}\n inclusive time of shimkeeper's functions (% of the busy time):\n${top(inclusive, 25, busy)}`;
}

// ---------- printing ----------

function table(title: string, counts: Counts, nodes: number, extra?: Counts, latencyMs?: Counts): void {
  const rows = [...counts].filter(([, v]) => v !== 0).sort((a, b) => b[1] - a[1]).map(([key, v]) => {
    const [verb, resource] = [verbOf(key), key.slice(key.indexOf(' ') + 1)];
    const row: Record<string, string | number> = { verb, resource, requests: v, 'per node': +(v / nodes).toFixed(3) };
    if (latencyMs) row['mean apiserver ms'] = +((latencyMs.get(key) ?? 0) / v).toFixed(1);
    if (extra) row['steady window'] = extra.get(key) ?? 0;
    return row;
  });
  console.log(`\n${title}`);
  if (rows.length) console.table(rows);
  else console.log('  (none)');
}

function inline(counts: Counts): string {
  return [...counts].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
}

// ---------- one size ----------

interface Result {
  nodes: number;
  ok: boolean;
  problems: string[];
  createS: number;
  rolloutS?: number;
  nodesReadyAtEnd: number;
  controllerRequests?: number;
  controllerWrites?: number;
  auditRequests?: number;
  apiserverRequests?: number;
  peakRssMb?: number;
  controllerCpuS?: number;
  steadyWrites?: number;
  maxJobsAtOnce?: number;
  /** Controller CPU during the rollout, per node (ms). */
  rolloutCpuPerNodeMs?: number;
  /** After Ready, while Kubernetes (the agent) deletes the installer Jobs (at most BENCH_CLEANUP_SECONDS): how long, and the controller's CPU per Job deleted (ms). */
  cleanupS?: number;
  cleanupCpuPerJobMs?: number;
  /** Controller CPU during the steady window under heartbeat churn, in % of one core. */
  churnCpuPercent?: number;
  nodeJsonKb?: number;
  wallS: number;
}

function shimSpec(): ShimSpec {
  return {
    nodeSelector: { 'bench.shimkeeper.dev/pool': 'all' },
    fetchStrategy: { type: 'anonymousHttp', anonHttp: { location: 'https://example.com/containerd-shim-spin-v2.tar.gz', sha256: 'a'.repeat(64) } },
    runtimeClass: { name: 'wasm-spin', handler: 'spin' },
    rolloutStrategy: STRATEGY === 'recreate' ? { type: 'recreate' } : { type: 'rolling', rolling: { maxUpdate: MAX_UPDATE } },
    version: '0.19.0',
  } as ShimSpec;
}

/**
 * Kubelet-like heartbeats for `durationMs`: every node's conditions get a new lastHeartbeatTime once
 * per `periodMs`, spread evenly (at 5,000 nodes and 60 s, 83 status updates a second). They touch
 * nothing the controller plans from. Returns the number of updates made.
 */
async function heartbeatChurn(core: CoreV1Api, names: readonly string[], durationMs: number, periodMs: number): Promise<number> {
  const start = Date.now();
  const since = new Date(start - 3_600_000).toISOString();
  const gapMs = periodMs / names.length;
  let made = 0;
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    for (;;) {
      const i = next++;
      const due = start + i * gapMs;
      if (due - start >= durationMs) return;
      if (due > Date.now()) await sleep(due - Date.now());
      const heartbeat = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
      await core.patchNodeStatus({ name: names[i % names.length]!, body: { status: { conditions: kubeletConditions(heartbeat, since) } }, fieldManager: 'kubelet' }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
      made++;
    }
  }));
  return made;
}

async function runSize(n: number): Promise<Result> {
  const wallStart = Date.now();
  const problems: string[] = [];
  const dir = mkdtempSync(path.join(os.tmpdir(), `shimkeeper-bench-${n}-`));
  const auditPath = path.join(dir, 'audit.log');
  writeFileSync(path.join(dir, 'audit-policy.yaml'), AUDIT_POLICY);
  const profDir = path.join(dir, 'prof');
  if (CPU_PROF) mkdirSync(profDir);
  const result: Result = { nodes: n, ok: false, problems, createS: 0, nodesReadyAtEnd: 0, wallS: 0 };
  let server: KubeApiServer | undefined;
  let agent: TestNodeAgent | undefined;
  let controller: ControllerProcess | undefined;
  const loadBefore = os.loadavg()[0]!.toFixed(1);
  console.log(`\n=== ${n} nodes: Shim with ${STRATEGY === 'recreate' ? 'recreate' : `rolling maxUpdate ${JSON.stringify(MAX_UPDATE)}`}, each Job completes ${JOB_DELAY_MS} ms after its Pod runs (logs in ${dir}) ===`);
  try {
    server = await startKubeApiServer({
      extraArgs: AUDIT ? [`--audit-policy-file=${path.join(dir, 'audit-policy.yaml')}`, `--audit-log-path=${auditPath}`, '--audit-log-maxsize=0', '--audit-log-format=json'] : [],
    });
    const apiserverPid = childPid('kube-apiserver');
    const etcdPid = childPid('etcd');
    const kubectl = kubectlFor(server);
    kubectl(['apply', '--server-side', ...['crd', 'namespace', 'rbac'].flatMap((m) => ['-f', path.join(REPO, 'manifests', `${m}.yaml`)])]);
    kubectl(['wait', '--for=condition=Established', 'crd/shims.runtime.shimkeeper.dev', '--timeout=60s']);
    const controllerKubeconfig = serviceAccountKubeconfig(server, NAMESPACE, SERVICE_ACCOUNT, path.join(dir, 'controller.kubeconfig'));
    const kc = new KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);

    // Nodes, as kubelets register them (create + status patch, field manager `kubelet`), in parallel.
    const createStart = Date.now();
    const names = Array.from({ length: n }, (_, i) => `bench-node-${String(i + 1).padStart(5, '0')}`);
    let created = 0;
    const progress = setInterval(() => log(`created ${created}/${n} nodes`), 10_000);
    try {
      await pool(names, CREATE_CONCURRENCY, async (name) => {
        const serial = names.indexOf(name) + 1;
        await core.createNode({ body: kubeletNodeObject(name, serial, { 'bench.shimkeeper.dev/pool': 'all' }), fieldManager: 'kubelet' });
        await core.patchNodeStatus({ name, body: { status: kubeletNodeStatus(name, serial) }, fieldManager: 'kubelet' }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
        created++;
      });
    } finally {
      clearInterval(progress);
    }
    const sample = await core.readNode({ name: names[0]! });
    result.nodeJsonKb = +(JSON.stringify(sample).length / 1024).toFixed(1);
    result.createS = secs(Date.now() - createStart);
    log(`${n} nodes created in ${result.createS} s`);

    agent = await startTestNodeAgent(server.kubeconfigPath, NAMESPACE, () => ({ outcome: 'succeed', delayMs: JOB_DELAY_MS }), { holdTtl: true });

    // The controller, with the production lease timings (the harness's are shortened for tests).
    const controllerStart = Date.now();
    controller = await startControllerProcess({
      compiled: true,
      kubeconfigPath: controllerKubeconfig,
      namespace: NAMESPACE,
      identity: 'bench-controller',
      logDir: dir,
      env: {
        // The shortest TTL the controller allows: the clean-up phase after the rollout is short.
        SHIMKEEPER_INSTALLER_TTL_SECONDS_AFTER_FINISHED: String(MIN_TTL_SECONDS_AFTER_FINISHED),
        LEASE_DURATION_SECONDS: '15',
        LEASE_RENEW_DEADLINE_MS: '10000',
        LEASE_RETRY_PERIOD_MS: '2000',
        ...(CONTROLLER_MALLOC_ARENA_MAX ? { MALLOC_ARENA_MAX: CONTROLLER_MALLOC_ARENA_MAX } : {}),
        ...(CPU_PROF || CONTROLLER_NODE_OPTIONS ? { NODE_OPTIONS: [CONTROLLER_NODE_OPTIONS, CPU_PROF ? `--cpu-prof --cpu-prof-dir=${profDir}` : ''].filter(Boolean).join(' ') } : {}),
      },
    });
    const ctl = controller;
    const readyzUrl = ctl.metricsUrl.replace(/\/metrics$/, '/readyz');
    for (;;) {
      if (ctl.child.exitCode !== null) throw new Error(`controller exited during start-up:\n${ctl.logs().slice(-2000)}`);
      const leader = await ctl.metric('shimkeeper_leader').catch(() => 0);
      const ready = leader === 1 && (await fetch(readyzUrl).then((r) => r.ok, () => false));
      if (ready) break;
      if (Date.now() - controllerStart > 120_000) throw new Error('controller not ready after 120 s');
      await sleep(100);
    }
    const controllerReadyS = secs(Date.now() - controllerStart);
    log(`controller leads with synced caches ${controllerReadyS} s after start`);

    const audit = new AuditReader(auditPath);
    audit.read(); // the start-up's requests (lists, watches, the lease) are not the rollout's
    const ctlBefore = await controllerCounts(ctl);
    const apiBefore = await apiserverCounts(server);
    const threadsBefore = threadCpuMs(ctl.child.pid);
    const wakeUpsBefore = mainThreadWakeUps(ctl.child.pid);
    const cpuBefore = { controller: procFigures(ctl.child.pid)?.cpuMs ?? 0, apiserver: procFigures(apiserverPid)?.cpuMs ?? 0, etcd: procFigures(etcdPid)?.cpuMs ?? 0, bench: selfCpuMs() };

    // Apply the Shim and wait for nodesReady == N with Ready=True.
    const applied = Date.now();
    const profileWindows: ProfileWindow[] = [{ name: 'rollout', fromUs: monotonicUs(), toUs: Infinity }];
    await custom.patchClusterCustomObject(
      { group: API_GROUP, version: API_VERSION, plural: 'shims', name: SHIM, body: { apiVersion: `${API_GROUP}/${API_VERSION}`, kind: 'Shim', metadata: { name: SHIM }, spec: shimSpec() }, fieldManager: 'bench', force: true },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    let shim: Shim | undefined;
    let lastProgress = Date.now();
    let rolledOut = false;
    const auditRollout = emptyAudit();
    let peakHeapMb = 0;
    const heapMb = async () => {
      const text = await controllerMetricText(ctl).catch(() => '');
      const used = mb((samples(text, 'shimkeeper_nodejs_heap_size_used_bytes')[0]?.value ?? 0) / 1024);
      peakHeapMb = Math.max(peakHeapMb, used);
      return used;
    };
    while (Date.now() - applied < rolloutTimeoutMs(n)) {
      shim = (await custom.getClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural: 'shims', name: SHIM }).catch(() => undefined)) as Shim | undefined;
      const ready = shim?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      if (shim?.status?.nodesReady === n && ready) {
        rolledOut = true;
        break;
      }
      if (ctl.child.exitCode !== null || ctl.child.signalCode !== null) throw new Error(`controller died (${ctl.child.exitCode ?? ctl.child.signalCode})`);
      if (Date.now() - lastProgress >= 15_000) {
        lastProgress = Date.now();
        mergeAudit(auditRollout, audit.read()); // keep the reads small
        const figures = procFigures(ctl.child.pid);
        const done = agent.timeline.filter((e) => e.finishedAt).length;
        log(`${secs(Date.now() - applied)} s: nodesReady ${shim?.status?.nodesReady ?? 0}/${n}, Jobs started ${agent.timeline.length} finished ${done} running ${agent.active()}, controller RSS ${mb(figures?.rssKb ?? 0)} MB heap used ${await heapMb()} MB CPU ${secs(figures?.cpuMs ?? 0)} s, agent errors ${agent.errors.length}`);
      }
      await sleep(200);
    }
    const rolloutMs = Date.now() - applied;
    profileWindows[0]!.toUs = monotonicUs();
    const rolloutThreads = diff(threadCpuMs(ctl.child.pid), threadsBefore);
    const rolloutWakeUps = mainThreadWakeUps(ctl.child.pid) - wakeUpsBefore;
    const loadAfterRollout = os.loadavg()[0]!.toFixed(1);
    await heapMb();
    result.nodesReadyAtEnd = shim?.status?.nodesReady ?? 0;
    mergeAudit(auditRollout, audit.read());
    const ctlRollout = diff(await controllerCounts(ctl), ctlBefore);
    const apiRollout = diffApiserver(await apiserverCounts(server), apiBefore);
    const cpuRollout = {
      controller: (procFigures(ctl.child.pid)?.cpuMs ?? 0) - cpuBefore.controller,
      apiserver: (procFigures(apiserverPid)?.cpuMs ?? 0) - cpuBefore.apiserver,
      etcd: (procFigures(etcdPid)?.cpuMs ?? 0) - cpuBefore.etcd,
      bench: selfCpuMs() - cpuBefore.bench,
    };
    result.rolloutCpuPerNodeMs = +(cpuRollout.controller / n).toFixed(2);
    const firstJob = Math.min(...agent.timeline.map((e) => e.startedAt));
    const concurrent = maxConcurrent(agent.timeline);
    result.maxJobsAtOnce = concurrent;
    if (rolledOut) {
      result.rolloutS = secs(rolloutMs);
      log(`rolled out to ${n} nodes in ${result.rolloutS} s`);
    } else {
      problems.push(`rollout not finished after ${secs(rolloutMs)} s: nodesReady ${result.nodesReadyAtEnd}/${n}, ${agent.timeline.length} Jobs started, ${agent.timeline.filter((e) => e.finishedAt).length} finished`);
      log(problems.at(-1)!);
    }

    // Clean-up: the Jobs left for their TTL go (the agent deletes them as the TTL-after-finished
    // controller would); the controller watches them go, and must not write.
    if (rolledOut && CLEANUP_WINDOW_MS > 0) {
      agent.releaseTtl();
      const cleanupStart = Date.now();
      const cleanupCpuBefore = procFigures(ctl.child.pid)?.cpuMs ?? 0;
      const cleanupWritesBefore = sum(await controllerCounts(ctl), isWrite);
      const jobsLeft = () => agent!.timeline.length - agent!.deletedJobs();
      const before = jobsLeft();
      while (jobsLeft() > 0 && Date.now() - cleanupStart < CLEANUP_WINDOW_MS) await sleep(1_000);
      // What is left stays for the steady window, as Jobs within their TTL do in a cluster.
      agent.holdTtl();
      await sleep(3_000);
      const left = jobsLeft();
      result.cleanupS = secs(Date.now() - cleanupStart);
      result.cleanupCpuPerJobMs = +(((procFigures(ctl.child.pid)?.cpuMs ?? 0) - cleanupCpuBefore) / Math.max(1, before - left)).toFixed(2);
      const cleanupWrites = sum(await controllerCounts(ctl), isWrite) - cleanupWritesBefore;
      if (cleanupWrites !== 0) problems.push(`${cleanupWrites} controller writes while the Jobs were cleaned up`);
      log(`${before - left} of ${before} installer Jobs deleted in ${result.cleanupS} s after Ready (TTL ${MIN_TTL_SECONDS_AFTER_FINISHED} s, ${left} left for the steady window); controller CPU meanwhile ${result.cleanupCpuPerJobMs} ms per Job deleted, writes ${cleanupWrites}`);
    }

    // Settle (the reconcile that wrote the final status may be followed by Events), then the steady window.
    let steady: Counts | undefined;
    let auditSettle: AuditCounts | undefined;
    let auditSteady: AuditCounts | undefined;
    let settleMs = 0;
    let apiSteady: ApiserverCounts | undefined;
    if (rolledOut) {
      const settleStart = Date.now();
      let writes = sum(await controllerCounts(ctl), isWrite);
      let quietSince = Date.now();
      while (Date.now() - quietSince < SETTLE_QUIET_MS && Date.now() - settleStart < SETTLE_MAX_MS) {
        await sleep(500);
        const now = sum(await controllerCounts(ctl), isWrite);
        if (now !== writes) {
          writes = now;
          quietSince = Date.now();
        }
      }
      settleMs = Date.now() - settleStart - SETTLE_QUIET_MS;
      auditSettle = audit.read();
      log(`settled ${secs(settleMs)} s after Ready; steady window of ${STEADY_SECONDS} s`);
      const steadyBefore = await controllerCounts(ctl);
      const apiSteadyBefore = await apiserverCounts(server);
      const steadyCpuBefore = procFigures(ctl.child.pid)?.cpuMs ?? 0;
      const steadyThreadsBefore = threadCpuMs(ctl.child.pid);
      const steadyStart = Date.now();
      const steadyWindow: ProfileWindow = { name: 'steady window under heartbeat churn', fromUs: monotonicUs(), toUs: Infinity };
      profileWindows.push(steadyWindow);
      const heartbeats = CHURN_SECONDS > 0 ? await heartbeatChurn(core, names, STEADY_SECONDS * 1000, CHURN_SECONDS * 1000) : 0;
      await sleep(Math.max(0, STEADY_SECONDS * 1000 - (Date.now() - steadyStart)));
      const steadyCpuMs = (procFigures(ctl.child.pid)?.cpuMs ?? 0) - steadyCpuBefore;
      steadyWindow.toUs = monotonicUs();
      result.churnCpuPercent = +((100 * steadyCpuMs) / (Date.now() - steadyStart)).toFixed(2);
      log(`steady window: ${heartbeats} Node status heartbeats (each node every ${CHURN_SECONDS} s); controller CPU ${secs(steadyCpuMs)} s = ${result.churnCpuPercent}% of a core (by thread, ms: ${inline(diff(threadCpuMs(ctl.child.pid), steadyThreadsBefore))})`);
      steady = diff(await controllerCounts(ctl), steadyBefore);
      apiSteady = diffApiserver(await apiserverCounts(server), apiSteadyBefore);
      auditSteady = audit.read();
      result.steadyWrites = sum(steady, isWrite);
      if (result.steadyWrites !== 0) problems.push(`${result.steadyWrites} controller writes in the steady window: ${inline(new Map([...steady].filter(([k]) => isWrite(k))))}`);
      const auditSteadyWrites = new Map([...auditSteady.requests].filter(([k]) => isWrite(k) && !k.endsWith(' leases')));
      if (sum(auditSteadyWrites) !== 0) problems.push(`the audit log shows controller writes in the steady window: ${inline(auditSteadyWrites)}`);
    }

    const figures = procFigures(ctl.child.pid);
    const apiserverFigures = procFigures(apiserverPid);
    const ctlTotal = await controllerCounts(ctl);
    const ctlText = await controllerMetricText(ctl);
    const connections = samples(ctlText, 'shimkeeper_api_connections_total')[0]?.value ?? 0;
    const reconciles = samples(ctlText, 'shimkeeper_reconciles_total').map((s) => `${s.labels['result']}: ${s.value}`).join(', ');
    const reconcileSum = samples(ctlText, 'shimkeeper_reconcile_duration_seconds_sum')[0]?.value ?? 0;
    const reconcileCount = samples(ctlText, 'shimkeeper_reconcile_duration_seconds_count')[0]?.value ?? 0;
    result.peakRssMb = mb(figures?.hwmKb ?? 0);
    result.controllerCpuS = secs(figures?.cpuMs ?? 0);
    result.controllerRequests = sum(ctlRollout);
    result.controllerWrites = sum(ctlRollout, isWrite);
    result.auditRequests = sum(auditRollout.requests);
    result.apiserverRequests = sum(apiRollout.byVerbResource);

    // ---- report ----
    console.log(`\nnode creation: ${result.createS} s (${CREATE_CONCURRENCY} in parallel, create + status patch each, as field manager kubelet; one Node is ${result.nodeJsonKb} KB of JSON)`);
    console.log(`controller start → leading with synced caches: ${controllerReadyS} s; start-up requests (its metrics): ${inline(ctlBefore)}`);
    console.log(`time to full rollout (Shim applied → nodesReady=${n}, Ready=True): ${rolledOut ? `${result.rolloutS} s, ${(n / (rolloutMs / 1000)).toFixed(1)} nodes/s` : `NOT REACHED (${result.nodesReadyAtEnd}/${n} after ${secs(rolloutMs)} s)`}`);
    console.log(`  first Job ${Number.isFinite(firstJob) ? secs(firstJob - applied) : '-'} s after the apply; Jobs run: ${agent.timeline.length}; most Jobs at once: ${concurrent}; test agent errors: ${agent.errors.length}${agent.errors.length ? ` (first: ${agent.errors[0]!.message.slice(0, 200)})` : ''}`);
    console.log(`  connections the controller opened to the apiserver (TLS handshakes), since start: ${connections}`);
    const planningCpuS = samples(ctlText, 'shimkeeper_planning_cpu_seconds_total')[0]?.value ?? 0;
    console.log(`  reconciles: ${reconciles || '-'}; mean reconcile ${reconcileCount ? ((1000 * reconcileSum) / reconcileCount).toFixed(1) : '-'} ms over ${reconcileCount}; planning CPU ${planningCpuS.toFixed(2)} s since start (${reconcileCount ? ((1000 * planningCpuS) / reconcileCount).toFixed(1) : '-'} ms per reconcile, ${((1000 * planningCpuS) / n).toFixed(2)} ms per node)`);
    const heapText = await controllerMetricText(ctl);
    const heapNow = (name: string) => mb((samples(heapText, name)[0]?.value ?? 0) / 1024);
    console.log(`controller peak RSS (VmHWM): ${result.peakRssMb} MB (RSS now ${mb(figures?.rssKb ?? 0)} MB; V8 heap used now ${heapNow('shimkeeper_nodejs_heap_size_used_bytes')} MB of ${heapNow('shimkeeper_nodejs_heap_size_total_bytes')} MB, peak seen ${Math.max(peakHeapMb, heapNow('shimkeeper_nodejs_heap_size_used_bytes'))} MB; external ${heapNow('shimkeeper_nodejs_external_memory_bytes')} MB); controller CPU total ${result.controllerCpuS} s`);
    console.log(`CPU during the rollout (2 cores): controller ${secs(cpuRollout.controller)} s (${result.rolloutCpuPerNodeMs} ms per node), kube-apiserver ${secs(cpuRollout.apiserver)} s (the controller's is ${((100 * cpuRollout.controller) / Math.max(1, cpuRollout.apiserver)).toFixed(1)}% of it: the apiserver does the same work in every run, so this ratio holds when the machine's speed varies), etcd ${secs(cpuRollout.etcd)} s, bench process incl. test agent ${secs(cpuRollout.bench)} s, over ${secs(rolloutMs)} s wall; kube-apiserver peak RSS ${mb(apiserverFigures?.hwmKb ?? 0)} MB`);
    console.log(`  controller CPU during the rollout by thread, ms: ${inline(rolloutThreads)}; its main thread woke ${rolloutWakeUps} times (${(rolloutWakeUps / n).toFixed(1)} per node)`);
    console.log(`load average (1 min) before this size ${loadBefore}, after the rollout ${loadAfterRollout} (to spot other workloads sharing the machine)`);
    table(`controller API requests during the rollout, its own count (shimkeeper_api_requests_total; total ${result.controllerRequests}, ${(result.controllerRequests / n).toFixed(2)}/node, writes ${(result.controllerWrites / n).toFixed(2)}/node; ${(result.controllerWrites / (rolloutMs / 1000)).toFixed(1)} writes/s, i.e. one every ${(rolloutMs / Math.max(1, result.controllerWrites)).toFixed(1)} ms of wall time)`, ctlRollout, n, steady);
    if (AUDIT) {
      const serverMs = sum(auditRollout.latencyMs, (k) => isWrite(k) && !k.endsWith(' leases'));
      table(`controller API requests during the rollout, as the apiserver's audit log records its service account (total ${result.auditRequests}, ${(result.auditRequests / n).toFixed(2)}/node; includes the leader Lease)`, auditRollout.requests, n, auditSteady?.requests, auditRollout.latencyMs);
      console.log(`  apiserver-side time of the controller's writes (received → response complete), summed: ${secs(serverMs)} s = ${((100 * serverMs) / rolloutMs).toFixed(0)}% of the rollout's wall time`);
      console.log(`  response codes: ${inline(auditRollout.codes)}; errors: ${inline(auditRollout.errors)}`);
      if (auditSettle) console.log(`  after Ready, before the steady window (${secs(settleMs)} s settling): ${inline(auditSettle.requests)}`);
      const leaseWrites = sum(auditSteady?.requests ?? new Map(), (k) => isWrite(k) && k.endsWith(' leases'));
      if (auditSteady) console.log(`  steady window (${STEADY_SECONDS} s): ${inline(auditSteady.requests)} — of which leader Lease renewals (writes not counted as steady-state writes): ${leaseWrites}`);
    }
    table(`all API requests during the rollout, as apiserver_request_total counts them (total incl. the simulated kubelet/Job controller, this script's Shim polling (GET shims) and the apiserver's own: ${result.apiserverRequests}, ${(result.apiserverRequests / n).toFixed(2)}/node)`, apiRollout.byVerbResource, n, apiSteady?.byVerbResource);
    console.log(`  response codes: ${inline(apiRollout.byCode)}; APF rejections: ${apiRollout.rejected}`);
    if (steady) console.log(`\nsteady state (${STEADY_SECONDS} s after settling): controller requests ${inline(steady)}; controller writes: ${result.steadyWrites}${result.steadyWrites === 0 ? ' (OK)' : ' (FAIL: must be 0)'}`);
    console.log(`\ncontroller totals since start (its metrics): ${inline(ctlTotal)}`);

    const summary = summarizeLog(ctl.logs());
    console.log(`controller log ${ctl.logPath}: ${summary.lines} lines (${inline(summary.byLevel)})`);
    for (const [msg, count] of [...summary.warnings].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`  ${count}× ${msg}`);
    if ((summary.byLevel.get('error') ?? 0) > 0) problems.push(`${summary.byLevel.get('error')} error lines in the controller log`);
    if (agent.errors.length > 0) problems.push(`${agent.errors.length} test agent errors`);
    if (rolledOut && STRATEGY === 'rolling' && concurrent > Math.max(1, typeof MAX_UPDATE === 'number' ? MAX_UPDATE : Math.floor((Number.parseInt(MAX_UPDATE, 10) * n) / 100))) problems.push(`maxUpdate exceeded: ${concurrent} Jobs at once`);

    // Stop the controller with time to write its profile.
    await terminate(ctl.child, 60_000);
    controller = undefined;
    if (CPU_PROF) {
      const profiles = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
      if (profiles[0]) for (const window of profileWindows) console.log(`\n${summarizeProfile(path.join(profDir, profiles[0]), window)}`);
      else console.log('\n(no CPU profile written: the controller did not exit cleanly)');
    }
    result.ok = problems.length === 0;
  } catch (error) {
    problems.push(`aborted: ${(error as Error).stack ?? String(error)}`);
    console.log(`\nABORTED: ${(error as Error).message}`);
    if (controller) console.log(`controller log (tail):\n${controller.logs().split('\n').slice(-20).join('\n')}`);
  } finally {
    if (controller) await terminate(controller.child, 10_000);
    await agent?.stop();
    await server?.stop();
    result.wallS = secs(Date.now() - wallStart);
    if (result.ok && !KEEP) rmSync(dir, { recursive: true, force: true });
    else console.log(`logs kept in ${dir}`);
  }
  for (const p of problems) console.log(`PROBLEM (${n} nodes): ${p}`);
  return result;
}

// ---------- main ----------

console.log(`controller benchmark: sizes ${SIZES.join(', ')}; ${STRATEGY === 'recreate' ? 'recreate' : `rolling maxUpdate ${JSON.stringify(MAX_UPDATE)}`}; heartbeat churn every ${CHURN_SECONDS} s per node in the steady window; Job delay ${JOB_DELAY_MS} ms; steady window ${STEADY_SECONDS} s; rollout timeout ${SIZES.map((n) => rolloutTimeoutMs(n) / 1000).join('/')} s;${CPU_PROF ? ' controller CPU profile on;' : ''}${CONTROLLER_NODE_OPTIONS ? ` controller NODE_OPTIONS ${CONTROLLER_NODE_OPTIONS};` : ''} ${os.cpus().length} CPUs, ${Math.round(os.totalmem() / 2 ** 30)} GB`);
// The controller runs compiled, as its image runs it (no type stripping, which costs ~20 MB of RSS).
execFileSync(path.join(REPO, 'node_modules/.bin/tsc'), ['-p', path.join(REPO, 'tsconfig.json')], { stdio: 'inherit' });
const results: Result[] = [];
for (const n of SIZES) results.push(await runSize(n));

console.log('\n=== summary ===');
console.table(results.map((r) => ({
  nodes: r.nodes,
  'create nodes s': r.createS,
  'rollout s': r.rolloutS ?? `not done (${r.nodesReadyAtEnd}/${r.nodes})`,
  'nodes/s': r.rolloutS ? +(r.nodes / r.rolloutS).toFixed(1) : '-',
  'max Jobs at once': r.maxJobsAtOnce ?? '-',
  'ctl req/node': r.controllerRequests !== undefined ? +(r.controllerRequests / r.nodes).toFixed(2) : '-',
  'ctl writes/node': r.controllerWrites !== undefined ? +(r.controllerWrites / r.nodes).toFixed(2) : '-',
  'audit req/node': AUDIT && r.auditRequests !== undefined ? +(r.auditRequests / r.nodes).toFixed(2) : '-',
  'apiserver req/node (all clients)': r.apiserverRequests !== undefined ? +(r.apiserverRequests / r.nodes).toFixed(2) : '-',
  'ctl peak RSS MB': r.peakRssMb ?? '-',
  'ctl CPU s': r.controllerCpuS ?? '-',
  'rollout CPU ms/node': r.rolloutCpuPerNodeMs ?? '-',
  'Job clean-up s': r.cleanupS ?? '-',
  'clean-up CPU ms/Job': r.cleanupCpuPerJobMs ?? '-',
  'churn CPU %': r.churnCpuPercent ?? '-',
  'steady writes': r.steadyWrites ?? '-',
  'wall s': r.wallS,
  ok: r.ok,
})));
const failed = results.filter((r) => !r.ok);
if (failed.length > 0) {
  console.log(`FAILED: ${failed.map((r) => `${r.nodes} nodes: ${r.problems.join('; ')}`).join(' | ')}`);
  process.exitCode = 1;
}
