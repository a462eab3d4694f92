// The controller's configuration (src/controller/config.ts): each environment variable of its
// Deployment parsed into settings, and each wrong value refused at start-up with a message that
// names the variable. The settings then shape the installer Job as the operator asked.
import { loadAllYaml, type V1Deployment } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { INSTALLER_FLAGS, OPERATOR_FLAGS } from '../../src/api/installer-contract.ts';
import { configFromEnv, ControllerConfigError, operatorFlagVariable } from '../../src/controller/config.ts';
import { installerJob, JOB_DEFAULTS } from '../../src/controller/installer-job/spec.ts';
import { shimOwnerReference } from '../../src/controller/owner-reference.ts';
import type { CreateJobAction } from '../../src/controller/planner/model.ts';
import { parseInstallerArgs, type InstallerOptions } from '../../src/installer/options.ts';
import { OPERATOR_INSTALLER_OPTIONS } from './operator-installer-options.ts';
import { makeNode, makeShim, planFlat, T0 } from './planner-fixtures.ts';

const IMAGE = { SHIMKEEPER_INSTALLER_IMAGE: 'registry.example/shimkeeper-installer:1.0.0' };
const owner = shimOwnerReference({ metadata: { name: 'spin', uid: 'uid-1' } });
const install = planFlat({ shim: makeShim(), nodes: [makeNode('node-a')], jobs: [], runtimeClasses: [], now: T0 }).actions.find(
  (a): a is CreateJobAction => a.type === 'createJob',
)!;

/** The Job the controller would create for `install` under this environment. */
function jobUnder(env: Record<string, string>) {
  const config = configFromEnv({ ...IMAGE, ...env });
  return installerJob(install, { ...config.job, namespace: config.namespace, owner });
}

function refusal(env: Record<string, string>): ControllerConfigError {
  try {
    configFromEnv(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ControllerConfigError);
    expect((error as ControllerConfigError).code).toBe('InvalidConfiguration');
    return error as ControllerConfigError;
  }
  throw new Error(`configFromEnv accepted ${JSON.stringify(env)}`);
}

/** The manifests' Deployment environment, literal values only (fieldRefs are filled by the kubelet). */
function manifestEnv(): Record<string, string> {
  const text = readFileSync(new URL('../../manifests/deployment.yaml', import.meta.url), 'utf8');
  const deployment = loadAllYaml(text)[0] as V1Deployment;
  const env = deployment.spec!.template.spec!.containers[0]!.env!;
  return Object.fromEntries(env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
}

describe('configFromEnv', () => {
  it('needs only the installer image; everything else has a default', () => {
    const config = configFromEnv({ ...IMAGE, POD_NAME: 'controller-0' });
    expect(config).toMatchObject({
      namespace: 'shimkeeper-system',
      identity: 'controller-0',
      job: { image: IMAGE.SHIMKEEPER_INSTALLER_IMAGE, imagePullPolicy: 'IfNotPresent' },
      metricsPort: 8080,
      leaderElection: true,
      leaseName: 'shimkeeper-controller',
      leaseDurationSeconds: 15,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      logLevel: 'info',
      allowedArtifactLocations: [],
      reverifyAfterMs: 24 * 3_600_000,
    });
    expect(Object.keys(config.job).sort()).toEqual(['image', 'imagePullPolicy']);
    expect(refusal({}).variable).toBe('SHIMKEEPER_INSTALLER_IMAGE');
  });

  it('the values written out in manifests/deployment.yaml are the defaults', () => {
    const env = manifestEnv();
    const { identity: _identity, ...fromManifest } = configFromEnv({ ...env, POD_NAME: 'x' });
    const { identity: _other, ...fromDefaults } = configFromEnv({ SHIMKEEPER_INSTALLER_IMAGE: env['SHIMKEEPER_INSTALLER_IMAGE']!, POD_NAME: 'x' });
    expect(fromManifest).toEqual({
      ...fromDefaults,
      job: {
        ...fromDefaults.job,
        // Spelled out in the manifest, so present; equal to what the Job uses when absent.
        priorityClassName: JOB_DEFAULTS.priorityClassName,
        resources: JOB_DEFAULTS.resources,
        tolerations: JOB_DEFAULTS.tolerations,
        activeDeadlineSeconds: JOB_DEFAULTS.activeDeadlineSeconds,
        ttlSecondsAfterFinished: JOB_DEFAULTS.ttlSecondsAfterFinished,
        backoffLimit: JOB_DEFAULTS.backoffLimit,
        installDir: JOB_DEFAULTS.installDir,
        restart: JOB_DEFAULTS.restart,
      },
    });
    expect(jobUnder({ ...env, ...IMAGE })).toEqual(jobUnder({}));
  });

  it('names the installer flag settings after the contract, one per operator flag', () => {
    expect(OPERATOR_FLAGS.map(operatorFlagVariable)).toEqual(OPERATOR_FLAGS.map((flag) => `SHIMKEEPER_INSTALLER_${INSTALLER_FLAGS[flag].env}`));
    const env = manifestEnv();
    for (const flag of OPERATOR_FLAGS) expect(env, operatorFlagVariable(flag)).toHaveProperty(operatorFlagVariable(flag));
  });

  it('reads the controller settings', () => {
    const config = configFromEnv({
      ...IMAGE,
      POD_NAMESPACE: 'ops',
      METRICS_PORT: '9090',
      LEADER_ELECTION: 'false',
      LEASE_DURATION_SECONDS: '30',
      LEASE_RENEW_DEADLINE_MS: '20000',
      LEASE_RETRY_PERIOD_MS: '5000',
      LOG_LEVEL: 'debug',
      SHIMKEEPER_ALLOWED_ARTIFACT_URLS: 'https://github.com/spinkube/',
      SHIMKEEPER_REVERIFY_INTERVAL: '0',
      SHIMKEEPER_MAX_CONCURRENT_JOBS: '250',
    });
    expect(config).toMatchObject({ namespace: 'ops', metricsPort: 9090, leaderElection: false, leaseDurationSeconds: 30, renewDeadlineMs: 20_000, retryPeriodMs: 5_000, logLevel: 'debug', reverifyAfterMs: 0, maxConcurrentJobs: 250 });
    expect(configFromEnv(IMAGE).maxConcurrentJobs).toBe(500);
    expect(configFromEnv({ ...IMAGE, SHIMKEEPER_MAX_CONCURRENT_JOBS: '0' }).maxConcurrentJobs).toBe(0);
    expect(config.allowedArtifactLocations.map((p) => p.text)).toEqual(['https://github.com/spinkube/']);
  });

  it.each([
    [{ METRICS_PORT: '80a' }, 'METRICS_PORT', /whole number from 1 to 65535/],
    [{ METRICS_PORT: '70000' }, 'METRICS_PORT', /1 to 65535/],
    [{ LEADER_ELECTION: 'no' }, 'LEADER_ELECTION', /true or false/],
    [{ LEASE_DURATION_SECONDS: '0' }, 'LEASE_DURATION_SECONDS', /from 1/],
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL', /debug, info, warn, error/],
    [{ SHIMKEEPER_ALLOWED_ARTIFACT_URLS: 'not a url' }, 'SHIMKEEPER_ALLOWED_ARTIFACT_URLS', /not a URL/],
    [{ SHIMKEEPER_REVERIFY_INTERVAL: '1d' }, 'SHIMKEEPER_REVERIFY_INTERVAL', /duration such as 24h/],
    [{ SHIMKEEPER_MAX_CONCURRENT_JOBS: 'lots' }, 'SHIMKEEPER_MAX_CONCURRENT_JOBS', /whole number/],
    [{ SHIMKEEPER_INSTALLER_PULL_POLICY: 'Sometimes' }, 'SHIMKEEPER_INSTALLER_PULL_POLICY', /Always, IfNotPresent, Never/],
    [{ SHIMKEEPER_INSTALLER_PULL_SECRETS: 'regcred,Bad_Name' }, 'SHIMKEEPER_INSTALLER_PULL_SECRETS', /"Bad_Name", which is not a Secret name/],
    [{ SHIMKEEPER_INSTALLER_EXTRA_ENV: 'HTTPS_PROXY=x' }, 'SHIMKEEPER_INSTALLER_EXTRA_ENV', /must be JSON such as/],
    [{ SHIMKEEPER_INSTALLER_EXTRA_ENV: '["HTTPS_PROXY"]' }, 'SHIMKEEPER_INSTALLER_EXTRA_ENV', /JSON object/],
    [{ SHIMKEEPER_INSTALLER_EXTRA_ENV: '{"A=B":"x"}' }, 'SHIMKEEPER_INSTALLER_EXTRA_ENV', /not an environment variable name/],
    [{ SHIMKEEPER_INSTALLER_EXTRA_ENV: '{"NO_PROXY":1}' }, 'SHIMKEEPER_INSTALLER_EXTRA_ENV', /values must be strings/],
    [{ SHIMKEEPER_INSTALLER_EXTRA_ENV: '{"URL":"https://evil"}' }, 'SHIMKEEPER_INSTALLER_EXTRA_ENV', /URL, an installer flag: the Job sets it from the Shim/],
    [{ SHIMKEEPER_INSTALLER_EXTRA_ENV: '{"CONTAINERD_CONFIG":"/x"}' }, 'SHIMKEEPER_INSTALLER_EXTRA_ENV', /set SHIMKEEPER_INSTALLER_CONTAINERD_CONFIG instead/],
    [{ SHIMKEEPER_INSTALLER_PRIORITY_CLASS: 'Critical!' }, 'SHIMKEEPER_INSTALLER_PRIORITY_CLASS', /PriorityClass name or empty/],
    [{ SHIMKEEPER_INSTALLER_RESOURCES: '{"requests":{"cpu":"lots"}}' }, 'SHIMKEEPER_INSTALLER_RESOURCES', /requests.cpu must be a quantity/],
    [{ SHIMKEEPER_INSTALLER_RESOURCES: '{"claims":[]}' }, 'SHIMKEEPER_INSTALLER_RESOURCES', /only requests and limits/],
    [{ SHIMKEEPER_INSTALLER_TOLERATIONS: '{"operator":"Exists"}' }, 'SHIMKEEPER_INSTALLER_TOLERATIONS', /JSON array/],
    [{ SHIMKEEPER_INSTALLER_TOLERATIONS: '[{"operator":"Matches"}]' }, 'SHIMKEEPER_INSTALLER_TOLERATIONS', /Exists or Equal/],
    [{ SHIMKEEPER_INSTALLER_TOLERATIONS: '[{"key":"a","effect":"Never"}]' }, 'SHIMKEEPER_INSTALLER_TOLERATIONS', /effect must be/],
    [{ SHIMKEEPER_INSTALLER_TOLERATIONS: '[{"keys":"a"}]' }, 'SHIMKEEPER_INSTALLER_TOLERATIONS', /unknown fields keys/],
    [{ SHIMKEEPER_INSTALLER_ACTIVE_DEADLINE_SECONDS: '0' }, 'SHIMKEEPER_INSTALLER_ACTIVE_DEADLINE_SECONDS', /from 1/],
    [{ SHIMKEEPER_INSTALLER_TTL_SECONDS_AFTER_FINISHED: '1h' }, 'SHIMKEEPER_INSTALLER_TTL_SECONDS_AFTER_FINISHED', /whole number from 60/],
    // Kubernetes could delete a Job before its result is read: Job after Job on the node.
    [{ SHIMKEEPER_INSTALLER_TTL_SECONDS_AFTER_FINISHED: '0' }, 'SHIMKEEPER_INSTALLER_TTL_SECONDS_AFTER_FINISHED', /whole number from 60/],
    [{ SHIMKEEPER_INSTALLER_BACKOFF_LIMIT: '-1' }, 'SHIMKEEPER_INSTALLER_BACKOFF_LIMIT', /whole number from 0/],
    [{ SHIMKEEPER_INSTALLER_INSTALL_DIR: 'opt/shimkeeper' }, 'SHIMKEEPER_INSTALLER_INSTALL_DIR', /absolute path/],
    [{ SHIMKEEPER_INSTALLER_RESTART: 'reboot' }, 'SHIMKEEPER_INSTALLER_RESTART', /auto, systemd, signal, none/],
    [{ SHIMKEEPER_INSTALLER_CONTAINERD_CONFIG: 'config.toml' }, 'SHIMKEEPER_INSTALLER_CONTAINERD_CONFIG', /absolute path/],
    [{ SHIMKEEPER_INSTALLER_CONTAINERD_SOCKET: 'containerd.sock' }, 'SHIMKEEPER_INSTALLER_CONTAINERD_SOCKET', /absolute path/],
    [{ SHIMKEEPER_INSTALLER_MAX_ARTIFACT_BYTES: '1GB' }, 'SHIMKEEPER_INSTALLER_MAX_ARTIFACT_BYTES', /positive number/],
    [{ SHIMKEEPER_INSTALLER_DOWNLOAD_ATTEMPTS: '0' }, 'SHIMKEEPER_INSTALLER_DOWNLOAD_ATTEMPTS', /positive number/],
    [{ SHIMKEEPER_INSTALLER_DOWNLOAD_TIMEOUT: '5m' }, 'SHIMKEEPER_INSTALLER_DOWNLOAD_TIMEOUT', /positive number/],
    [{ SHIMKEEPER_INSTALLER_HEALTH_TIMEOUT: '-3' }, 'SHIMKEEPER_INSTALLER_HEALTH_TIMEOUT', /positive number/],
    [{ SHIMKEEPER_INSTALLER_LOCK_WAIT: 'Infinity' }, 'SHIMKEEPER_INSTALLER_LOCK_WAIT', /positive number/],
  ] as Array<[Record<string, string>, string, RegExp]>)('refuses %j, naming %s', (env, variable, message) => {
    const error = refusal({ ...IMAGE, ...env });
    expect(error.variable).toBe(variable);
    expect(error.message.startsWith(`${variable} `)).toBe(true);
    expect(error.message).toMatch(message);
  });
});

describe('the settings shape every installer Job', () => {
  const pod = (env: Record<string, string>) => jobUnder(env).spec!.template.spec!;
  const container = (env: Record<string, string>) => pod(env).containers[0]!;
  const envOf = (env: Record<string, string>) => Object.fromEntries((container(env).env ?? []).map((e) => [e.name, e.value]));

  it('image, pull policy and pull secrets', () => {
    expect(container({ SHIMKEEPER_INSTALLER_PULL_POLICY: 'Always' })).toMatchObject({ image: IMAGE.SHIMKEEPER_INSTALLER_IMAGE, imagePullPolicy: 'Always' });
    expect(pod({ SHIMKEEPER_INSTALLER_PULL_SECRETS: ' regcred , mirror.example ' }).imagePullSecrets).toEqual([{ name: 'regcred' }, { name: 'mirror.example' }]);
    expect(pod({ SHIMKEEPER_INSTALLER_PULL_SECRETS: '' }).imagePullSecrets).toBeUndefined();
  });

  it('extra environment (proxies), which the installer sees beside its contract', () => {
    const extra = { HTTPS_PROXY: 'http://proxy.example:3128', NO_PROXY: '10.0.0.0/8,.cluster.local', http_proxy: 'http://proxy.example:3128' };
    const env = envOf({ SHIMKEEPER_INSTALLER_EXTRA_ENV: JSON.stringify(extra) });
    expect(env).toMatchObject(extra);
    expect(envOf({ SHIMKEEPER_INSTALLER_EXTRA_ENV: '{}' })).not.toHaveProperty('HTTPS_PROXY');
  });

  it('priority class: the default, another, or none when set empty', () => {
    expect(pod({}).priorityClassName).toBe('system-node-critical');
    expect(pod({ SHIMKEEPER_INSTALLER_PRIORITY_CLASS: 'shimkeeper-installer' }).priorityClassName).toBe('shimkeeper-installer');
    expect(pod({ SHIMKEEPER_INSTALLER_PRIORITY_CLASS: '' }).priorityClassName).toBeUndefined();
  });

  it('resources and tolerations replace the defaults as a whole', () => {
    expect(container({}).resources).toEqual({ requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '256Mi' } });
    expect(pod({}).tolerations).toEqual([{ operator: 'Exists' }]);
    const resources = { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: 1, memory: '1Gi' } };
    expect(container({ SHIMKEEPER_INSTALLER_RESOURCES: JSON.stringify(resources) }).resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '1Gi' } });
    const tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }, { operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 }];
    expect(pod({ SHIMKEEPER_INSTALLER_TOLERATIONS: JSON.stringify(tolerations) }).tolerations).toEqual(tolerations);
  });

  it('deadline, TTL and retries', () => {
    const job = jobUnder({ SHIMKEEPER_INSTALLER_ACTIVE_DEADLINE_SECONDS: '900', SHIMKEEPER_INSTALLER_TTL_SECONDS_AFTER_FINISHED: '60', SHIMKEEPER_INSTALLER_BACKOFF_LIMIT: '0' });
    expect(job.spec).toMatchObject({ activeDeadlineSeconds: 900, ttlSecondsAfterFinished: 60, backoffLimit: 0 });
    expect(jobUnder({}).spec).toMatchObject({ activeDeadlineSeconds: 600, ttlSecondsAfterFinished: 600, backoffLimit: 2 });
  });

  it('the installer flags an operator sets reach the installer as it parses them', () => {
    const env = {
      SHIMKEEPER_INSTALLER_INSTALL_DIR: '/var/lib/shimkeeper',
      SHIMKEEPER_INSTALLER_RESTART: 'systemd',
      SHIMKEEPER_INSTALLER_CONTAINERD_CONFIG: '/var/lib/rancher/k3s/agent/etc/containerd/config.toml.tmpl',
      SHIMKEEPER_INSTALLER_CONTAINERD_SOCKET: '/run/k3s/containerd/containerd.sock',
      SHIMKEEPER_INSTALLER_MAX_ARTIFACT_BYTES: '1073741824',
      SHIMKEEPER_INSTALLER_DOWNLOAD_ATTEMPTS: '7',
      SHIMKEEPER_INSTALLER_DOWNLOAD_TIMEOUT: '900',
      SHIMKEEPER_INSTALLER_HEALTH_TIMEOUT: '120',
      SHIMKEEPER_INSTALLER_LOCK_WAIT: '30',
    };
    const c = container(env);
    const seen = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? '']));
    const options = parseInstallerArgs(c.args ?? [], seen) as InstallerOptions;
    expect(options).toMatchObject(OPERATOR_INSTALLER_OPTIONS);
    // Unset tuning flags leave the installer's own defaults: the Job does not spell them.
    const plain = Object.keys(envOf({}));
    for (const flag of OPERATOR_FLAGS.filter((f) => f !== 'installDir' && f !== 'restart')) expect(plain).not.toContain(INSTALLER_FLAGS[flag].env);
  });
});

describe('the README documents every setting', () => {
  it('names each variable of the manifests\' Deployment in its Configuration table', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const table = readme.slice(readme.indexOf('\n## Configuration\n'), readme.indexOf('\n## Security model\n'));
    const text = readFileSync(new URL('../../manifests/deployment.yaml', import.meta.url), 'utf8');
    const names = (loadAllYaml(text)[0] as V1Deployment).spec!.template.spec!.containers[0]!.env!.map((e) => e.name);
    const rows = table.split('\n').filter((line) => line.startsWith('| `'));
    for (const name of names) expect(rows.some((row) => row.split('|')[1]!.includes(`\`${name}\``)), name).toBe(true);
  });
});
