import { readFileSync } from 'node:fs';
import path from 'node:path';
import { load as loadYaml } from 'js-yaml';

// Where the API server is and how to prove who we are: from the Pod's service account (in a
// cluster) or from a kubeconfig file (KUBECONFIG, for tests and running the controller from a
// workstation). The controller does not load @kubernetes/client-node for this: its KubeConfig
// imports the client's 2,700 generated models, 130 MB of RSS before a single object is cached
// (bench/controller.bench.ts), more than the controller's whole budget at 1,000 nodes.

export interface ClusterAccess {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** A fixed bearer token, or a file re-read as it rotates (projected service-account tokens). */
  token?: string;
  tokenFile?: string;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The Pod's own service account, as client-go's rest.InClusterConfig reads it. */
export function inClusterAccess(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): ClusterAccess {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'];
  if (!host || !port) throw new Error('not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (set KUBECONFIG to run outside one)');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readFileSync(path.join(dir, 'ca.crt')),
    tokenFile: path.join(dir, 'token'),
  };
}

interface KubeconfigFile {
  'current-context'?: string;
  contexts?: Array<{ name: string; context?: { cluster?: string; user?: string } }>;
  clusters?: Array<{ name: string; cluster?: Record<string, unknown> }>;
  users?: Array<{ name: string; user?: Record<string, unknown> }>;
}

/** The current context of a kubeconfig file: its cluster and its token or client certificate. */
export function kubeconfigAccess(file: string): ClusterAccess {
  const config = (loadYaml(readFileSync(file, 'utf8')) ?? {}) as KubeconfigFile;
  const fail = (what: string): never => {
    throw new Error(`kubeconfig ${file}: ${what}`);
  };
  const contextName = config['current-context'] ?? fail('no current-context');
  const context = config.contexts?.find((c) => c.name === contextName)?.context ?? fail(`no context named ${contextName}`);
  const cluster = config.clusters?.find((c) => c.name === context.cluster)?.cluster ?? fail(`no cluster named ${String(context.cluster)}`);
  const user = (context.user ? config.users?.find((u) => u.name === context.user)?.user : undefined) ?? {};
  const relative = (value: unknown) => path.resolve(path.dirname(file), String(value));
  const bytes = (dataKey: string, fileKey: string, from: Record<string, unknown>): Buffer | undefined => {
    if (typeof from[dataKey] === 'string') return Buffer.from(from[dataKey], 'base64');
    if (typeof from[fileKey] === 'string') return readFileSync(relative(from[fileKey]));
    return undefined;
  };
  if (user['exec'] || user['auth-provider']) {
    fail(`user ${String(context.user)} authenticates with an exec plugin or auth provider, which the controller does not run; use a token or a client certificate (as its service account does in a cluster)`);
  }
  const access: ClusterAccess = { server: typeof cluster['server'] === 'string' ? cluster['server'] : fail('the cluster has no server') };
  const ca = bytes('certificate-authority-data', 'certificate-authority', cluster);
  const cert = bytes('client-certificate-data', 'client-certificate', user);
  const key = bytes('client-key-data', 'client-key', user);
  if (ca) access.ca = ca;
  if (cert) access.cert = cert;
  if (key) access.key = key;
  if (typeof user['token'] === 'string') access.token = user['token'];
  if (typeof user['tokenFile'] === 'string') access.tokenFile = relative(user['tokenFile']);
  if (cluster['insecure-skip-tls-verify'] === true) access.insecureSkipTlsVerify = true;
  if (typeof cluster['tls-server-name'] === 'string') access.tlsServerName = cluster['tls-server-name'];
  return access;
}

/** KUBECONFIG when set (its first file), else the Pod's service account. */
export function clusterAccessFromEnvironment(env: NodeJS.ProcessEnv = process.env): ClusterAccess {
  const kubeconfig = env['KUBECONFIG']?.split(path.delimiter).find(Boolean);
  return kubeconfig ? kubeconfigAccess(kubeconfig) : inClusterAccess(env);
}
