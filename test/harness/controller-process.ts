import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, terminate } from '../../local-cluster/processes.ts';

// Runs shimkeeper-controller as its own process, as the Deployment does, so a test can kill it
// mid-rollout (SIGKILL, no goodbye) and start another.

const MAIN = fileURLToPath(new URL('../../src/controller/main.ts', import.meta.url));
/** The controller as its image runs it: compiled by `tsc` (npm run build), no type stripping at start. */
const MAIN_COMPILED = fileURLToPath(new URL('../../dist/src/controller/main.js', import.meta.url));

export interface ControllerProcess {
  identity: string;
  metricsUrl: string;
  child: ChildProcess;
  logPath: string;
  logs(): string;
  metric(name: string): Promise<number>;
  kill(): void;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function startControllerProcess(options: { kubeconfigPath: string; namespace: string; identity: string; logDir: string; env?: Record<string, string>; compiled?: boolean }): Promise<ControllerProcess> {
  const port = await freePort();
  const logPath = path.join(options.logDir, `controller-${options.identity}.log`);
  const child = launch([process.execPath, options.compiled ? MAIN_COMPILED : MAIN], logPath, {
    env: {
      ...process.env,
      KUBECONFIG: options.kubeconfigPath,
      POD_NAMESPACE: options.namespace,
      POD_NAME: options.identity,
      SHIMKEEPER_INSTALLER_IMAGE: 'shimkeeper-installer:test',
      METRICS_PORT: String(port),
      METRICS_HOST: '127.0.0.1',
      LEASE_DURATION_SECONDS: '4',
      LEASE_RENEW_DEADLINE_MS: '3000',
      LEASE_RETRY_PERIOD_MS: '500',
      ...options.env,
    },
  });
  const metricsUrl = `http://127.0.0.1:${port}/metrics`;
  return {
    identity: options.identity,
    metricsUrl,
    child,
    logPath,
    logs: () => {
      try {
        return readFileSync(logPath, 'utf8');
      } catch {
        return '';
      }
    },
    async metric(name: string) {
      const text = await (await fetch(metricsUrl)).text();
      return text
        .split('\n')
        .filter((line) => line.startsWith(name) && !line.startsWith('#'))
        .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
    },
    kill: () => {
      child.kill('SIGKILL');
    },
    stop: () => terminate(child, 5_000),
  };
}
