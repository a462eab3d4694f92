import Counter from 'prom-client/lib/counter.js';
import collectDefaultMetrics from 'prom-client/lib/defaultMetrics.js';
import Gauge from 'prom-client/lib/gauge.js';
import Histogram from 'prom-client/lib/histogram.js';
import Registry from 'prom-client/lib/registry.js';
import type { ResponseObserver } from '../../kube/rest.ts';
import type { QueueHooks } from '../../kube/workqueue.ts';

// The controller's Prometheus metrics, on a registry of its own (tests start several controllers
// in one process): shimkeeper's own (shimkeeper_*), and beside them the names controller-runtime
// and client-go export, so the dashboards and alerts made for Go controllers work unchanged:
// controller_runtime_reconcile_*, workqueue_* and rest_client_*, and leader_election_master_status.

/** The `controller` label of controller-runtime's metrics and the `name` of the work queue's. */
export const CONTROLLER_NAME = 'shim';
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * How often the event loop's delay is sampled (shimkeeper_nodejs_eventloop_lag_*). prom-client's
 * default, 10 ms, is a timer waking the process 100 times a second: on this project's benchmark VM
 * that alone cost 1% of a core in an idle controller, half its CPU under a 5,000-node fleet's
 * heartbeats (bench/wakeup.bench.ts measures one wake-up). Twice a second still catches any stall
 * long enough to matter to a controller.
 */
const EVENT_LOOP_SAMPLE_MS = 500;

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({ name: 'shimkeeper_reconciles_total', help: 'Reconciles of a Shim, by result.', labelNames: ['result'], registers: [this.registry] });
  readonly reconcileSeconds = new Histogram({
    name: 'shimkeeper_reconcile_duration_seconds',
    help: 'Time to plan and apply one reconcile.',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly planningSeconds = new Counter({ name: 'shimkeeper_planning_cpu_seconds_total', help: 'CPU time of the process while planning (reading the caches and planning every node of a Shim), writes not included.', registers: [this.registry] });
  readonly apiRequests = new Counter({ name: 'shimkeeper_api_requests_total', help: 'Requests to the Kubernetes API, by verb and resource.', labelNames: ['verb', 'resource'], registers: [this.registry] });
  readonly jobs = new Counter({ name: 'shimkeeper_jobs_total', help: 'Finished installer Jobs, by action and outcome.', labelNames: ['action', 'outcome'], registers: [this.registry] });
  readonly queueDepth = new Gauge({ name: 'shimkeeper_workqueue_depth', help: 'Shims waiting to be reconciled.', registers: [this.registry] });
  readonly nodes = new Gauge({ name: 'shimkeeper_nodes', help: 'Nodes per Shim by state (ready, updated, failed, targeted).', labelNames: ['shim', 'state'], registers: [this.registry] });
  readonly leader = new Gauge({ name: 'shimkeeper_leader', help: '1 while this replica holds the leader lease.', registers: [this.registry] });

  // controller-runtime's names (sigs.k8s.io/controller-runtime/pkg/internal/controller/metrics).
  readonly runtimeReconciles = new Counter({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller.', labelNames: ['controller', 'result'], registers: [this.registry] });
  readonly runtimeReconcileErrors = new Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller.', labelNames: ['controller'], registers: [this.registry] });
  readonly runtimeReconcileSeconds = new Histogram({ name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller.', labelNames: ['controller'], buckets: DURATION_BUCKETS, registers: [this.registry] });
  readonly runtimeMaxConcurrent = new Gauge({ name: 'controller_runtime_max_concurrent_reconciles', help: 'Maximum number of concurrent reconciles per controller.', labelNames: ['controller'], registers: [this.registry] });
  readonly runtimeActiveWorkers = new Gauge({ name: 'controller_runtime_active_workers', help: 'Number of currently used workers per controller.', labelNames: ['controller'], registers: [this.registry] });

  // client-go's work queue names (k8s.io/client-go/util/workqueue, as controller-runtime registers them).
  readonly queueAdds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue.', labelNames: ['name', 'controller'], registers: [this.registry] });
  readonly queueDepthStandard = new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue.', labelNames: ['name', 'controller'], registers: [this.registry] });
  readonly queueLatency = new Histogram({ name: 'workqueue_queue_duration_seconds', help: 'How long in seconds an item stays in workqueue before being requested.', labelNames: ['name', 'controller'], buckets: DURATION_BUCKETS, registers: [this.registry] });
  readonly queueWork = new Histogram({ name: 'workqueue_work_duration_seconds', help: 'How long in seconds processing an item from workqueue takes.', labelNames: ['name', 'controller'], buckets: DURATION_BUCKETS, registers: [this.registry] });
  readonly queueRetries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue.', labelNames: ['name', 'controller'], registers: [this.registry] });

  // client-go's REST client names (k8s.io/client-go/tools/metrics, as controller-runtime registers them).
  readonly restRequests = new Counter({ name: 'rest_client_requests_total', help: 'Number of HTTP requests, partitioned by status code, method, and host.', labelNames: ['code', 'method', 'host'], registers: [this.registry] });
  readonly restLatency = new Histogram({ name: 'rest_client_request_duration_seconds', help: 'Request latency in seconds. Broken down by verb, and host.', labelNames: ['verb', 'host'], buckets: DURATION_BUCKETS, registers: [this.registry] });
  readonly connections = new Counter({ name: 'shimkeeper_api_connections_total', help: 'Connections opened to the Kubernetes API server (each a TLS handshake).', registers: [this.registry] });
  readonly leaderStatus = new Gauge({ name: 'leader_election_master_status', help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.', labelNames: ['name'], registers: [this.registry] });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'shimkeeper_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  }

  countRequest(verb: string, resource: string): void {
    this.apiRequests.inc({ verb, resource });
  }

  /** The KubeClient's observer: every answered request, and every new connection. */
  apiObserver(): ResponseObserver {
    return Object.assign((method: string, code: number, host: string, seconds: number) => this.observeResponse(method, code, host, seconds), { connected: () => this.connections.inc() });
  }

  /** One answered HTTP request to the API server (a watch when its response starts). */
  observeResponse(method: string, code: number, host: string, seconds: number): void {
    this.restRequests.inc({ code: String(code), method, host });
    this.restLatency.observe({ verb: method, host }, seconds);
  }

  /**
   * One reconcile of a Shim, in shimkeeper's metrics (a conflict apart from other errors) and as
   * controller-runtime counts it (a requeue apart from other successes).
   */
  observeReconcile(result: 'success' | 'requeue_after' | 'conflict' | 'error', seconds: number): void {
    this.reconciles.inc({ result: result === 'requeue_after' ? 'success' : result });
    this.reconcileSeconds.observe(seconds);
    const runtimeResult = result === 'conflict' ? 'error' : result;
    this.runtimeReconciles.inc({ controller: CONTROLLER_NAME, result: runtimeResult });
    if (runtimeResult === 'error') this.runtimeReconcileErrors.inc({ controller: CONTROLLER_NAME });
    this.runtimeReconcileSeconds.observe({ controller: CONTROLLER_NAME }, seconds);
  }

  /** The work queue's hooks (kube/workqueue.ts). */
  queueHooks(): QueueHooks {
    const labels = { name: CONTROLLER_NAME, controller: CONTROLLER_NAME };
    return {
      added: () => this.queueAdds.inc(labels),
      depth: (depth) => {
        this.queueDepthStandard.set(labels, depth);
        this.queueDepth.set(depth);
      },
      waited: (seconds) => this.queueLatency.observe(labels, seconds),
      worked: (seconds) => this.queueWork.observe(labels, seconds),
      retried: () => this.queueRetries.inc(labels),
    };
  }

  /** Total API requests made, optionally only writes (everything but list/watch/get). */
  async requestTotal(options: { writesOnly?: boolean } = {}): Promise<number> {
    const metric = await this.apiRequests.get();
    return metric.values.filter((v) => !options.writesOnly || !['list', 'watch', 'get'].includes(String(v.labels['verb']))).reduce((sum, v) => sum + v.value, 0);
  }
}
