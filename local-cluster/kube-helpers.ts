import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeApiServer } from './kube-apiserver.ts';

// Small helpers for tests against the real API server.

export function kubectlFor(server: KubeApiServer, kubeconfig = server.kubeconfigPath) {
  return (args: string[], input?: string): string =>
    execFileSync(path.join(server.binDir, 'kubectl'), ['--kubeconfig', kubeconfig, ...args], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** kubectl that reports a refusal instead of throwing: `out` is stdout, or stderr and stdout when it failed. */
export function kubectlOutcomeFor(server: KubeApiServer, kubeconfig = server.kubeconfigPath) {
  const kubectl = kubectlFor(server, kubeconfig);
  return (args: string[], input?: string): { ok: boolean; out: string } => {
    try {
      return { ok: true, out: kubectl(args, input) };
    } catch (error) {
      const failure = error as { stderr?: string; stdout?: string };
      return { ok: false, out: `${failure.stderr ?? ''}${failure.stdout ?? ''}` };
    }
  };
}

/**
 * A kubeconfig that authenticates as a service account (token from the TokenRequest API), so a
 * test runs the controller with exactly the RBAC the manifests grant it.
 */
export function serviceAccountKubeconfig(server: KubeApiServer, namespace: string, serviceAccount: string, file: string): string {
  const kubectl = kubectlFor(server);
  const token = kubectl(['create', 'token', serviceAccount, '-n', namespace, '--duration=2h']).trim();
  const admin = JSON.parse(kubectl(['config', 'view', '--raw', '-o', 'json'])) as { clusters: Array<{ name: string; cluster: Record<string, string> }> };
  const cluster = admin.clusters[0]!;
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [cluster],
    users: [{ name: serviceAccount, user: { token } }],
    contexts: [{ name: serviceAccount, context: { cluster: cluster.name, user: serviceAccount } }],
    'current-context': serviceAccount,
  };
  writeFileSync(file, JSON.stringify(config));
  return file;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000, onTimeout?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(200);
  }
  const detail = onTimeout ? `\n${onTimeout()}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}${detail}`);
}
