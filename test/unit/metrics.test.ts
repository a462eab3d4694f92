import { describe, expect, it } from 'vitest';
import { ControllerMetrics } from '../../src/controller/shell/metrics.ts';
import { WorkQueue } from '../../src/kube/workqueue.ts';

describe('metrics that dashboards for Go controllers know', () => {
  it("exports controller-runtime's reconcile, client-go's work queue and REST client, and leader election names", async () => {
    const metrics = new ControllerMetrics();
    const queue = new WorkQueue<string>({ hooks: metrics.queueHooks() });
    queue.add('spin');
    queue.add('spin');
    queue.add('wasm');
    const key = await queue.get();
    queue.done(key!);
    queue.addRateLimited('spin');
    queue.shutDown();
    metrics.observeReconcile('success', 0.02);
    metrics.observeReconcile('error', 0.5);
    metrics.observeReconcile('requeue_after', 0.01);
    metrics.observeReconcile('conflict', 0.03);
    metrics.observeResponse('PATCH', 200, '10.96.0.1:443', 0.004);
    metrics.observeResponse('POST', 409, '10.96.0.1:443', 0.003);
    metrics.leaderStatus.set({ name: 'shimkeeper-controller' }, 1);
    const text = await metrics.registry.metrics();
    expect(text).toContain('controller_runtime_reconcile_total{controller="shim",result="success"} 1');
    expect(text).toContain('controller_runtime_reconcile_total{controller="shim",result="error"} 2');
    expect(text).toContain('controller_runtime_reconcile_total{controller="shim",result="requeue_after"} 1');
    expect(text).toContain('controller_runtime_reconcile_errors_total{controller="shim"} 2');
    expect(text).toContain('controller_runtime_reconcile_time_seconds_count{controller="shim"} 4');
    // Two distinct keys entered the queue; the second add of a waiting key is not one.
    expect(text).toContain('workqueue_adds_total{name="shim",controller="shim"} 2');
    expect(text).toContain('workqueue_depth{name="shim",controller="shim"} 1');
    expect(text).toContain('workqueue_queue_duration_seconds_count{name="shim",controller="shim"} 1');
    expect(text).toContain('workqueue_work_duration_seconds_count{name="shim",controller="shim"} 1');
    expect(text).toContain('workqueue_retries_total{name="shim",controller="shim"} 1');
    expect(text).toContain('rest_client_requests_total{code="200",method="PATCH",host="10.96.0.1:443"} 1');
    expect(text).toContain('rest_client_requests_total{code="409",method="POST",host="10.96.0.1:443"} 1');
    expect(text).toContain('rest_client_request_duration_seconds_count{verb="PATCH",host="10.96.0.1:443"} 1');
    expect(text).toContain('leader_election_master_status{name="shimkeeper-controller"} 1');
    // shimkeeper's own stay beside them, from the same observations: a conflict apart, a requeue a success.
    expect(text).toContain('shimkeeper_workqueue_depth 1');
    expect(text).toContain('shimkeeper_reconciles_total{result="success"} 2');
    expect(text).toContain('shimkeeper_reconciles_total{result="conflict"} 1');
    expect(text).toContain('shimkeeper_reconciles_total{result="error"} 1');
    expect(text).toContain('shimkeeper_reconcile_duration_seconds_count 4');
  });
});
