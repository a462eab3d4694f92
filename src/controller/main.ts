#!/usr/bin/env node
import { createServer, type Server } from 'node:http';
import { parseAllowedArtifactLocations, type ArtifactLocationPrefix } from '../api/artifact-policy.ts';
import os from 'node:os';
import { clusterAccessFromEnvironment } from '../kube/cluster-access.ts';
import { KubeClient } from '../kube/rest.ts';
import { LeaderElector } from '../kube/leader-election.ts';
import { createLogger, type Level } from '../log.ts';
import { parseDuration } from './duration.ts';
import { ShimController } from './shell/controller.ts';
import { ControllerMetrics } from './shell/metrics.ts';

// shimkeeper-controller: one active replica (Lease), informers + planner + applier, and an HTTP
// endpoint for /metrics, /healthz and /readyz. Configuration comes from the environment, as the
// Deployment in manifests/ sets it.

export interface ControllerConfig {
  namespace: string;
  identity: string;
  installerImage: string;
  imagePullPolicy: string;
  metricsPort: number;
  leaderElection: boolean;
  leaseName: string;
  leaseDurationSeconds: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  logLevel: Level;
  /** SHIMKEEPER_ALLOWED_ARTIFACT_URLS: comma-separated URL prefixes artifacts must lie under; empty = any. */
  allowedArtifactLocations: ArtifactLocationPrefix[];
  /** SHIMKEEPER_REVERIFY_INTERVAL (a duration such as 24h, 90m or 3600s; 0 turns it off): how often an installed node is proven again. */
  reverifyAfterMs: number;
  /** SHIMKEEPER_MAX_CONCURRENT_JOBS: installer Jobs running at once across all Shims and strategies (0: no cap). */
  maxConcurrentJobs: number;
}


export const DEFAULT_MAX_CONCURRENT_JOBS = 100;

function parseCount(name: string, value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new Error(`${name} must be a whole number (0 for no limit), not ${JSON.stringify(value)}`);
  return Number(value.trim());
}

export function configFromEnv(env: NodeJS.ProcessEnv): ControllerConfig {
  const installerImage = env['SHIMKEEPER_INSTALLER_IMAGE'];
  if (!installerImage) throw new Error('SHIMKEEPER_INSTALLER_IMAGE must name the installer image (e.g. ghcr.io/example/shimkeeper-installer:v0.1.0)');
  return {
    namespace: env['POD_NAMESPACE'] ?? 'shimkeeper-system',
    identity: env['POD_NAME'] ?? `${os.hostname()}-${process.pid}`,
    installerImage,
    imagePullPolicy: env['SHIMKEEPER_INSTALLER_PULL_POLICY'] ?? 'IfNotPresent',
    metricsPort: Number(env['METRICS_PORT'] ?? 8080),
    leaderElection: env['LEADER_ELECTION'] !== 'false',
    leaseName: env['LEASE_NAME'] ?? 'shimkeeper-controller',
    leaseDurationSeconds: Number(env['LEASE_DURATION_SECONDS'] ?? 15),
    renewDeadlineMs: Number(env['LEASE_RENEW_DEADLINE_MS'] ?? 10_000),
    retryPeriodMs: Number(env['LEASE_RETRY_PERIOD_MS'] ?? 2_000),
    logLevel: (env['LOG_LEVEL'] as Level | undefined) ?? 'info',
    allowedArtifactLocations: parseAllowedArtifactLocations(env['SHIMKEEPER_ALLOWED_ARTIFACT_URLS']),
    // Daily by default: a removed stanza that no pod has tripped over yet is found within a day.
    reverifyAfterMs: parseDuration('SHIMKEEPER_REVERIFY_INTERVAL', env['SHIMKEEPER_REVERIFY_INTERVAL'] ?? '24h'),
    // Each running Job is a Pod and a Job in etcd and a containerd restart on a node: a recreate
    // rollout over thousands of nodes must not start them all at once.
    maxConcurrentJobs: parseCount('SHIMKEEPER_MAX_CONCURRENT_JOBS', env['SHIMKEEPER_MAX_CONCURRENT_JOBS'] ?? String(DEFAULT_MAX_CONCURRENT_JOBS)),
  };
}

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
  const client = new KubeClient(clusterAccessFromEnvironment(process.env));

  const metrics = new ControllerMetrics({ processMetrics: true });
  const controller = new ShimController({
    client,
    namespace: config.namespace,
    job: { image: config.installerImage, imagePullPolicy: config.imagePullPolicy },
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
      log.error('lost the leader lease; exiting so a fresh process starts as a candidate');
      process.exit(1);
    },
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'controller failed', error: String((error as Error)?.stack ?? error) })}\n`);
  process.exit(1);
});
