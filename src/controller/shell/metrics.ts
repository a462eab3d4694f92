import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// The controller's Prometheus metrics, on a registry of its own (tests start several controllers
// in one process).

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({ name: 'shimkeeper_reconciles_total', help: 'Reconciles of a Shim, by result.', labelNames: ['result'], registers: [this.registry] });
  readonly reconcileSeconds = new Histogram({
    name: 'shimkeeper_reconcile_duration_seconds',
    help: 'Time to plan and apply one reconcile.',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({ name: 'shimkeeper_api_requests_total', help: 'Requests to the Kubernetes API, by verb and resource.', labelNames: ['verb', 'resource'], registers: [this.registry] });
  readonly jobs = new Counter({ name: 'shimkeeper_jobs_total', help: 'Finished installer Jobs, by action and outcome.', labelNames: ['action', 'outcome'], registers: [this.registry] });
  readonly queueDepth = new Gauge({ name: 'shimkeeper_workqueue_depth', help: 'Shims waiting to be reconciled.', registers: [this.registry] });
  readonly nodes = new Gauge({ name: 'shimkeeper_nodes', help: 'Nodes per Shim by state (ready, updated, failed, targeted).', labelNames: ['shim', 'state'], registers: [this.registry] });
  readonly leader = new Gauge({ name: 'shimkeeper_leader', help: '1 while this replica holds the leader lease.', registers: [this.registry] });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'shimkeeper_' });
  }

  countRequest(verb: string, resource: string): void {
    this.apiRequests.inc({ verb, resource });
  }

  /** Total API requests made, optionally only writes (everything but list/watch/get). */
  async requestTotal(options: { writesOnly?: boolean } = {}): Promise<number> {
    const metric = await this.apiRequests.get();
    return metric.values.filter((v) => !options.writesOnly || !['list', 'watch', 'get'].includes(String(v.labels['verb']))).reduce((sum, v) => sum + v.value, 0);
  }
}
