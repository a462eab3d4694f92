#!/usr/bin/env node
import { createServer, type Server } from 'node:http';
import { clusterAccessFromEnvironment } from '../kube/cluster-access.ts';
import { KubeClient } from '../kube/rest.ts';
import { LeaderElector } from '../kube/leader-election.ts';
import { createLogger } from '../log.ts';
import { configFromEnv } from './config.ts';
import { ShimController } from './shell/controller.ts';
import { ControllerMetrics } from './shell/metrics.ts';

// shimkeeper-controller: one active replica (Lease), informers + planner + applier, and an HTTP
// endpoint for /metrics, /healthz and /readyz. Configuration comes from the environment, as the
// Deployment in manifests/ (or the Helm chart) sets it; config.ts parses and checks it.

function serveHttp(port: number, metrics: ControllerMetrics, ready: () => boolean): Server {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      response.writeHead(200).end('ok');
    } else if (path === '/readyz') {
      const isReady = ready();
      response.writeHead(isReady ? 200 : 503).end(isReady ? 'ok' : 'not ready');
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(String(error)),
      );
    } else {
      response.writeHead(404).end();
    }
  });
  server.listen(port, process.env['METRICS_HOST']);
  return server;
}

async function main(): Promise<void> {
  const config = configFromEnv(process.env);
  const log = createLogger({ level: config.logLevel, base: { component: 'shimkeeper-controller', identity: config.identity } });
  const metrics = new ControllerMetrics({ processMetrics: true });
  const client = new KubeClient(clusterAccessFromEnvironment(process.env), metrics.apiObserver());
  const controller = new ShimController({
    client,
    namespace: config.namespace,
    job: config.job,
    identity: config.identity,
    log,
    metrics,
    allowedArtifactLocations: config.allowedArtifactLocations,
    reverifyAfterMs: config.reverifyAfterMs,
    maxConcurrentJobs: config.maxConcurrentJobs,
  });
  if (config.allowedArtifactLocations.length > 0) log.info('artifact locations restricted', { allowed: config.allowedArtifactLocations.map((p) => p.text) });
  const elector = new LeaderElector({
    client,
    namespace: config.namespace,
    name: config.leaseName,
    identity: config.identity,
    leaseDurationSeconds: config.leaseDurationSeconds,
    renewDeadlineMs: config.renewDeadlineMs,
    retryPeriodMs: config.retryPeriodMs,
    log,
  });
  // A standby replica is ready (it can take over); the leader once its caches are synced.
  const server = serveHttp(config.metricsPort, metrics, () => !elector.isLeader() || controller.isReady());

  let shuttingDown = false;
  const shutdown = async (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info('shutting down', { signal });
    await controller.stop();
    await elector.stop();
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  const lead = async () => {
    metrics.leader.set(1);
    metrics.leaderStatus.set({ name: config.leaseName }, 1);
    await controller.start();
  };
  if (!config.leaderElection) {
    await lead();
    return;
  }
  await elector.run({
    onStartedLeading: lead,
    onStoppedLeading: () => {
      // Informers and in-flight work belong to the old term: exit and let the Deployment restart us.
      metrics.leader.set(0);
      metrics.leaderStatus.set({ name: config.leaseName }, 0);
      log.error('lost the leader lease; exiting so a fresh process starts as a candidate');
      process.exit(1);
    },
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'controller failed', code: (error as { code?: unknown })?.code, error: String((error as Error)?.stack ?? error) })}\n`);
  process.exit(1);
});
