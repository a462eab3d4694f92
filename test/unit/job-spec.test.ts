import type { V1Job } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { computeRevision } from '../../src/api/revision.ts';
import { statusAnnotationKey } from '../../src/api/names.ts';
import type { Shim } from '../../src/api/shim.ts';
import { INSTALLER_JOB_SELECTOR, installerJobIdentity, JOB_KEYS, labelValueFor } from '../../src/controller/installer-job/identity.ts';
import { installerJob, type InstallerJobContext } from '../../src/controller/installer-job/spec.ts';
import { shimOwnerReference } from '../../src/controller/owner-reference.ts';
import type { CreateJobAction, ObservedNode } from '../../src/controller/planner/model.ts';
import { serializeNodeShimStatus } from '../../src/controller/planner/node-status.ts';
import { parseInstallerArgs, type InstallerOptions } from '../../src/installer/options.ts';
import { makeNode, makeShim, planFlat, SHA_A, SHA_B, T0 } from './planner-fixtures.ts';

const ctx: InstallerJobContext = {
  namespace: 'shimkeeper-system',
  image: 'shimkeeper-installer:dev',
  owner: shimOwnerReference({ metadata: { name: 'spin', uid: 'uid-1' } }),
};
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** The createJob action the real planner emits for this Shim and node. */
function createJobFor(shim: Shim, node: ObservedNode): CreateJobAction {
  const actions = planFlat({ shim, nodes: [node], jobs: [], runtimeClasses: [], now: T0 }).actions;
  const job = actions.find((a): a is CreateJobAction => a.type === 'createJob');
  if (!job) throw new Error(`no createJob in ${JSON.stringify(actions.map((a) => a.type))}`);
  return job;
}

function container(job: V1Job) {
  return job.spec!.template.spec!.containers[0]!;
}

/** What the installer process sees: the container's env (all literal values) and args. */
function installerView(job: V1Job): { argv: string[]; env: Record<string, string> } {
  const c = container(job);
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    expect(e.valueFrom, `${e.name} must be a literal`).toBeUndefined();
    env[e.name] = e.value ?? '';
  }
  return { argv: [...(c.command ?? []), ...(c.args ?? [])], env };
}

/** The revision the installer computes from its parsed options (as src/installer/install.ts does). */
function installerRevision(options: InstallerOptions): string {
  return computeRevision({
    url: options.url,
    sha256: options.sha256,
    handler: options.handler,
    runtimeOptions: options.runtimeOptions,
    shimBinary: options.shimBinary,
  });
}

const awkwardOptions = {
  SystemdCgroup: 'true',
  BinaryName: '/usr/local/bin/a,b',
  Args: 'x=1,y=2\nz=3',
  Empty: '',
  Quoted: ' "quoted" \\ ünïcode ',
};

const contractCases: Array<[string, Shim, ObservedNode]> = [
  ['anonHttp with a version', makeShim(), makeNode('node-a')],
  [
    'platforms (uname arch spelling), awkward runtime options and shimBinary',
    makeShim({
      fetchStrategy: {
        type: 'anonymousHttp',
        platforms: [
          { os: 'linux', arch: 'x86_64', location: 'https://example.com/spin-x86_64.tar.gz', sha256: SHA_A },
          { os: 'linux', arch: 'aarch64', location: 'https://example.com/spin-aarch64.tar.gz', sha256: SHA_B },
        ],
      },
      containerdRuntimeOptions: awkwardOptions,
      shimBinary: 'containerd-shim-spin-v2',
    }),
    makeNode('node-arm', { labels: { 'kubernetes.io/arch': 'arm64' } }),
  ],
  [
    'insecureSkipChecksum without a sha256',
    makeShim({ version: undefined, fetchStrategy: { anonHttp: { location: 'file:///srv/spin.tar.gz' }, insecureSkipChecksum: true } }),
    makeNode('node-a'),
  ],
];

describe('installer Job ↔ installer CLI contract', () => {
  it.each(contractCases)('the installer computes the planner revision: %s', (_case, shim, node) => {
    const action = createJobFor(shim, node);
    expect(action.action).toBe('install');
    const { argv, env } = installerView(installerJob(action, ctx));
    const options = parseInstallerArgs(argv, env) as InstallerOptions;
    expect(options.command).toBe('install');
    expect(installerRevision(options)).toBe(action.revision);
    expect(options).toMatchObject({
      shim: action.shim,
      handler: action.handler,
      url: action.artifact!.url,
      sha256: action.artifact!.sha256 ?? '',
      insecureSkipChecksum: action.artifact!.sha256 === undefined,
      version: action.version ?? '',
      runtimeOptions: action.runtimeOptions,
      hostRoot: '/host',
      installDir: '/opt/shimkeeper',
      restart: 'auto',
    });
    expect(options.shimBinary).toBe(action.shimBinary);
  });

  it('passes awkward runtime option values through byte for byte', () => {
    const action = createJobFor(contractCases[1]![1], contractCases[1]![2]);
    const { argv, env } = installerView(installerJob(action, ctx));
    expect((parseInstallerArgs(argv, env) as InstallerOptions).runtimeOptions).toEqual(awkwardOptions);
  });

  it('gives an uninstall Job what the installer needs, and no artifact', () => {
    const shim = makeShim({ nodeSelector: { spin: 'true' } });
    const installed = { state: 'installed' as const, revision: 'r-old', version: '0.18.0', time: T0.toISOString() };
    const node = makeNode('node-a', { labels: { spin: 'false' }, annotations: { [statusAnnotationKey('spin')]: serializeNodeShimStatus(installed) } });
    const action = createJobFor(shim, node);
    expect(action).toMatchObject({ action: 'uninstall', revision: 'r-old' });
    const job = installerJob(action, { ...ctx, installDir: '/var/lib/shimkeeper', restart: 'systemd' });
    const { argv, env } = installerView(job);
    expect(argv).toEqual(['uninstall']);
    expect(Object.keys(env).sort()).toEqual(['HANDLER', 'HOST_ROOT', 'INSTALL_DIR', 'RESTART', 'SHIM']);
    expect(parseInstallerArgs(argv, env)).toMatchObject({ command: 'uninstall', shim: 'spin', installDir: '/var/lib/shimkeeper', restart: 'systemd' });
    expect(installerJobIdentity(job)).toEqual({ shim: 'spin', node: 'node-a', action: 'uninstall', revision: 'r-old' });
  });
});

describe('installerJob', () => {
  const action = createJobFor(makeShim(), makeNode('node-a'));
  const job = installerJob(action, ctx);
  const pod = job.spec!.template.spec!;

  it('is one Job pinned to the node, running the privileged installer against the host root', () => {
    expect(job.metadata).toMatchObject({ name: action.jobName, namespace: 'shimkeeper-system' });
    expect(pod).toMatchObject({
      nodeName: 'node-a',
      tolerations: [{ operator: 'Exists' }],
      hostPID: true,
      automountServiceAccountToken: false,
      restartPolicy: 'Never',
      priorityClassName: 'system-node-critical',
      volumes: [{ name: 'host-root', hostPath: { path: '/', type: 'Directory' } }],
    });
    expect(pod.containers).toHaveLength(1);
    expect(container(job)).toMatchObject({
      image: 'shimkeeper-installer:dev',
      imagePullPolicy: 'IfNotPresent',
      args: ['install'],
      securityContext: { privileged: true },
      volumeMounts: [{ name: 'host-root', mountPath: '/host' }],
      terminationMessagePolicy: 'FallbackToLogsOnError',
      resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    });
    expect(container(job).command).toBeUndefined(); // the image's entrypoint is the installer
  });

  it('bounds the Job: retries for crashes only, a deadline, and a TTL that outlives reading the result', () => {
    expect(job.spec).toMatchObject({ completions: 1, parallelism: 1, backoffLimit: 2, activeDeadlineSeconds: 600, ttlSecondsAfterFinished: 600 });
    expect(job.spec!.podFailurePolicy!.rules).toEqual([
      { action: 'FailJob', onExitCodes: { containerName: 'installer', operator: 'In', values: [1, 2] } },
      { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
    ]);
    const tuned = installerJob(action, { ...ctx, backoffLimit: 0, activeDeadlineSeconds: 60, ttlSecondsAfterFinished: 100, priorityClassName: '', imagePullPolicy: 'Always', imagePullSecrets: ['regcred'] });
    expect(tuned.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 60, ttlSecondsAfterFinished: 100 });
    expect(tuned.spec!.template.spec!.priorityClassName).toBeUndefined();
    expect(tuned.spec!.template.spec!.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(container(tuned).imagePullPolicy).toBe('Always');
  });

  it('is owned by the Shim without blocking its deletion', () => {
    expect(job.metadata!.ownerReferences).toEqual([
      { apiVersion: 'runtime.shimkeeper.dev/v1alpha1', kind: 'Shim', name: 'spin', uid: 'uid-1', controller: true, blockOwnerDeletion: false },
    ]);
  });

  it('labels the Job and its Pods, and annotates the full values', () => {
    const labels = {
      'app.kubernetes.io/name': 'shimkeeper-installer',
      'app.kubernetes.io/managed-by': 'shimkeeper',
      'runtime.shimkeeper.dev/shim': 'spin',
      'runtime.shimkeeper.dev/node': 'node-a',
      'runtime.shimkeeper.dev/action': 'install',
      'runtime.shimkeeper.dev/revision': action.revision,
    };
    expect(job.metadata!.labels).toEqual(labels);
    expect(job.spec!.template.metadata!.labels).toEqual(labels);
    expect(job.metadata!.annotations).toMatchObject({ [JOB_KEYS.shim]: 'spin', [JOB_KEYS.node]: 'node-a', [JOB_KEYS.revision]: action.revision });
    for (const part of INSTALLER_JOB_SELECTOR.split(',')) {
      const [key, value] = part.split('=');
      expect(labels[key as keyof typeof labels]).toBe(value);
    }
    expect(installerJobIdentity(job)).toEqual({ shim: 'spin', node: 'node-a', action: 'install', revision: action.revision });
    expect(installerJobIdentity({ metadata: { labels: { 'app.kubernetes.io/name': 'other' } } })).toBeNull();
  });

  it('keeps labels valid for 253-character node names and the longest Shim names', () => {
    const node = `${'ip-10-0-12-34.'.repeat(17)}internal`.slice(0, 253);
    const shimName = `a${'-b'.repeat(31)}`;
    const long = createJobFor(makeShim({}, { name: shimName }), makeNode(node));
    const longJob = installerJob(long, ctx);
    for (const value of Object.values(longJob.metadata!.labels!)) {
      expect(value.length).toBeLessThanOrEqual(63);
      expect(value).toMatch(LABEL_VALUE);
    }
    expect(longJob.metadata!.labels![JOB_KEYS.node]).toBe(labelValueFor(node));
    expect(installerJobIdentity(longJob)).toEqual({ shim: shimName, node, action: 'install', revision: long.revision });
    expect(longJob.spec!.template.spec!.nodeName).toBe(node);
  });

  it('hashes label values that are too long or not label-shaped, and only those', () => {
    expect(labelValueFor('node-a')).toBe('node-a');
    expect(labelValueFor('x'.repeat(63))).toBe('x'.repeat(63));
    const a = labelValueFor('x'.repeat(64));
    const b = labelValueFor(`${'x'.repeat(63)}y`);
    expect(a).not.toBe(b);
    for (const value of [a, b, labelValueFor('-weird value!-'), labelValueFor('...'), labelValueFor('unknown revision {"x":1}')]) {
      expect(value.length).toBeLessThanOrEqual(63);
      expect(value).toMatch(LABEL_VALUE);
    }
  });

  it('adds extra environment without letting it override the contract', () => {
    const extraEnv = [
      { name: 'HTTPS_PROXY', value: 'http://proxy:3128' },
      { name: 'URL', value: 'https://evil' },
      { name: 'RUNTIME_OPTION', value: '{"X":"1"}' }, // not set by this Job, still reserved
    ];
    const env = container(installerJob(action, { ...ctx, extraEnv })).env!;
    expect(env.filter((e) => e.name === 'URL')).toEqual([{ name: 'URL', value: action.artifact!.url }]);
    expect(env.some((e) => e.name === 'RUNTIME_OPTION')).toBe(false);
    expect(env).toContainEqual({ name: 'HTTPS_PROXY', value: 'http://proxy:3128' });
  });

  it('passes the operator\'s tuning flags to every action, and extra environment never doubles them', () => {
    const tuning = { containerdSocket: '/run/k3s/containerd/containerd.sock', lockWait: '30' };
    const extraEnv = [{ name: 'LOCK_WAIT', value: '1' }, { name: 'NO_PROXY', value: '.local' }];
    const tuned = container(installerJob(action, { ...ctx, tuning, extraEnv, resources: { limits: { memory: '1Gi' } }, tolerations: [] })).env!;
    expect(tuned.filter((e) => e.name === 'LOCK_WAIT')).toEqual([{ name: 'LOCK_WAIT', value: '30' }]);
    expect(tuned).toContainEqual({ name: 'CONTAINERD_SOCKET', value: '/run/k3s/containerd/containerd.sock' });
    expect(tuned).toContainEqual({ name: 'NO_PROXY', value: '.local' });
    const uninstall = { ...action, action: 'uninstall' as const, artifact: undefined };
    const uninstallEnv = container(installerJob(uninstall, { ...ctx, tuning })).env!;
    expect(uninstallEnv).toContainEqual({ name: 'CONTAINERD_SOCKET', value: '/run/k3s/containerd/containerd.sock' });
    const spec = installerJob(action, { ...ctx, resources: { limits: { memory: '1Gi' } }, tolerations: [] }).spec!.template.spec!;
    expect(spec.containers[0]!.resources).toEqual({ limits: { memory: '1Gi' } });
    expect(spec.tolerations).toEqual([]);
  });

  it('is deterministic', () => {
    expect(installerJob(action, ctx)).toEqual(job);
    expect(JSON.stringify(installerJob(createJobFor(makeShim({ containerdRuntimeOptions: { B: '2', A: '1' } }), makeNode('node-a')), ctx))).toBe(
      JSON.stringify(installerJob(createJobFor(makeShim({ containerdRuntimeOptions: { A: '1', B: '2' } }), makeNode('node-a')), ctx)),
    );
  });

  it('refuses an install without an artifact', () => {
    expect(() => installerJob({ ...action, artifact: undefined }, ctx)).toThrow(/needs an artifact/);
  });
});
