import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clusterAccessFromEnvironment, inClusterAccess, kubeconfigAccess } from '../../src/kube/cluster-access.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'cluster-access-'));
writeFileSync(path.join(dir, 'ca.crt'), 'CA PEM');
writeFileSync(path.join(dir, 'token'), 'sa-token\n');
writeFileSync(path.join(dir, 'client.crt'), 'CERT PEM');
writeFileSync(path.join(dir, 'client.key'), 'KEY PEM');

function kubeconfig(name: string, user: Record<string, unknown>, cluster: Record<string, unknown> = { server: 'https://10.0.0.1:6443', 'certificate-authority': 'ca.crt' }): string {
  const file = path.join(dir, name);
  writeFileSync(file, `apiVersion: v1
kind: Config
current-context: ctx
contexts:
  - name: ctx
    context: {cluster: c, user: u}
clusters:
  - name: c
    cluster: ${JSON.stringify(cluster)}
users:
  - name: u
    user: ${JSON.stringify(user)}
`);
  return file;
}

describe('how the controller reaches the API server', () => {
  it("in a cluster: the service's address, the service account's CA and token file", () => {
    const access = inClusterAccess({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, dir);
    expect(access).toEqual({ server: 'https://10.96.0.1:443', ca: Buffer.from('CA PEM'), tokenFile: path.join(dir, 'token') });
    expect(inClusterAccess({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, dir).server).toBe('https://[fd00::1]:443');
    expect(() => inClusterAccess({}, dir)).toThrow(/KUBERNETES_SERVICE_HOST/);
  });

  it('from a kubeconfig (YAML): token, files relative to it, and inline data', () => {
    expect(kubeconfigAccess(kubeconfig('token.yaml', { token: 'abc' }))).toEqual({ server: 'https://10.0.0.1:6443', ca: Buffer.from('CA PEM'), token: 'abc' });
    const certs = kubeconfigAccess(kubeconfig('certs.yaml', { 'client-certificate': 'client.crt', 'client-key-data': Buffer.from('INLINE KEY').toString('base64') }, { server: 'https://x:6443', 'certificate-authority-data': Buffer.from('INLINE CA').toString('base64'), 'tls-server-name': 'kubernetes' }));
    expect(certs).toEqual({ server: 'https://x:6443', ca: Buffer.from('INLINE CA'), cert: Buffer.from('CERT PEM'), key: Buffer.from('INLINE KEY'), tlsServerName: 'kubernetes' });
    expect(kubeconfigAccess(kubeconfig('file.yaml', { tokenFile: 'token' }, { server: 'https://x', 'insecure-skip-tls-verify': true }))).toEqual({ server: 'https://x', tokenFile: path.join(dir, 'token'), insecureSkipTlsVerify: true });
  });

  it('refuses what it cannot use, naming the file', () => {
    const exec = kubeconfig('exec.yaml', { exec: { command: 'aws', args: ['eks', 'get-token'] } });
    expect(() => kubeconfigAccess(exec)).toThrow(new RegExp(`kubeconfig ${exec}: user u authenticates with an exec plugin`));
    const noServer = kubeconfig('noserver.yaml', { token: 'x' }, {});
    expect(() => kubeconfigAccess(noServer)).toThrow(/has no server/);
  });

  it('KUBECONFIG (its first file) before the service account', () => {
    const file = kubeconfig('first.yaml', { token: 'first' });
    expect(clusterAccessFromEnvironment({ KUBECONFIG: `${file}${path.delimiter}/nonexistent` }).token).toBe('first');
  });
});
