// The installer Job for one planner `createJob` action. Pure: the same action and context always
// give the same Job, so tests can build it without an API server and the controller can create it
// blindly (a 409 means it exists already).
//
// The Job is the Kubernetes half of the installer contract (DESIGN.md): the installer reads its
// inputs from environment variables (src/installer/options.ts) and reports through its termination
// message, so the Pod needs no service account token and no API access at all.

import { createHash } from 'node:crypto';
import type { V1EnvVar, V1Job, V1PodSpec } from '@kubernetes/client-node';
import { API_GROUP, SHIM_KIND } from '../api/names.ts';
import { SHIM_API_VERSION } from '../api/shim.ts';
import { INSTALLER_DEFAULTS, INSTALLER_FLAGS, JOB_OWNED_FLAGS, type InstallerFlag, type JobAction, type RestartStrategy } from '../api/installer-contract.ts';
import type { CreateJobAction } from './planner.ts';

export const INSTALLER_APP_NAME = 'shimkeeper-installer';
export const MANAGED_BY = 'shimkeeper';
export const INSTALLER_CONTAINER = 'installer';
/** Where the host's `/` is mounted in the installer container (its HOST_ROOT). */
export const HOST_MOUNT = INSTALLER_DEFAULTS.hostRoot;

/** Keys of the labels and annotations every installer Job and its Pods carry. */
export const JOB_KEYS = {
  appName: 'app.kubernetes.io/name',
  managedBy: 'app.kubernetes.io/managed-by',
  /** Label: the Shim's name, or a truncated+hashed form of it when it is not a valid label value. */
  shim: `${API_GROUP}/shim`,
  /** Label: the node's name, truncated+hashed when longer than 63 characters. */
  node: `${API_GROUP}/node`,
  action: `${API_GROUP}/action`,
  /** Label: the revision installed (or, for uninstall, removed); hashed if not a valid label value. */
  revision: `${API_GROUP}/revision`,
} as const;

/** Selects every installer Job (and, through the template labels, every installer Pod). */
export const INSTALLER_JOB_SELECTOR = `${JOB_KEYS.appName}=${INSTALLER_APP_NAME},${JOB_KEYS.managedBy}=${MANAGED_BY}`;

export const JOB_DEFAULTS = {
  imagePullPolicy: 'IfNotPresent',
  installDir: INSTALLER_DEFAULTS.installDir,
  restart: INSTALLER_DEFAULTS.restart,
  // Retries inside one Job are for crashes (OOM kill, a killed node process); a failure the
  // installer reports fails the Job at once (podFailurePolicy below) and the planner retries with
  // its own backoff across Jobs.
  backoffLimit: 2,
  // A healthy install takes seconds; the installer's own bounds (download retries, the 300 s node
  // lock, the 60 s health check) all fit inside 10 minutes.
  activeDeadlineSeconds: 600,
  // The planner deletes a Job once it has recorded its result, so the TTL is only a safety net for
  // Jobs the controller never came back to. It must outlast any controller outage worth surviving:
  // a Job deleted before its result was read is reported as "finished without a result".
  ttlSecondsAfterFinished: 3600,
  // The installer restarts containerd: it must not be evicted half-way (it is evicted last under
  // node pressure) and it must be admitted on a full node, where the kubelet makes room for
  // critical pods. It is pinned by nodeName, so it never preempts anything through the scheduler.
  priorityClassName: 'system-node-critical',
} as const;

export interface JobContext {
  /** Namespace of the installer Jobs (the controller's own). */
  namespace: string;
  /** The installer image (its entrypoint is the installer CLI). */
  image: string;
  /** Always, IfNotPresent (default) or Never. */
  imagePullPolicy?: string;
  imagePullSecrets?: string[];
  /** metadata.uid of the Shim: the Job's owner reference. */
  shimUid: string;
  /** Host directory for binaries and state (the installer's --install-dir). */
  installDir?: string;
  /** The installer's --restart. */
  restart?: RestartStrategy;
  backoffLimit?: number;
  activeDeadlineSeconds?: number;
  ttlSecondsAfterFinished?: number;
  /** `''` leaves the Pod without a priority class (for clusters that restrict the critical ones). */
  priorityClassName?: string;
  /**
   * More environment for the installer, e.g. HTTPS_PROXY / NO_PROXY for nodes behind a proxy, or
   * CONTAINERD_CONFIG for unusual nodes. The contract's variables (CONTRACT_ENV) are ignored here.
   */
  extraEnv?: V1EnvVar[];
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const MAX_LABEL_VALUE = 63;

/**
 * `value` when it is a valid label value, else a readable prefix plus a hash of the whole value
 * (node names reach 253 characters, Shim names about 227). Deterministic, so a selector can be built
 * from the full name; the full value is always in the annotation of the same key.
 */
export function labelValueFor(value: string): string {
  if (value.length <= MAX_LABEL_VALUE && LABEL_VALUE.test(value)) return value;
  const hash = createHash('sha256').update(value).digest('hex').slice(0, 10);
  const head = value
    .slice(0, MAX_LABEL_VALUE - hash.length - 1)
    .replace(/[^-A-Za-z0-9_.]+/g, '-')
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return head ? `${head}-${hash}` : hash;
}

/**
 * RUNTIME_OPTION as the installer reads it: a JSON object, because option values are free text (a
 * comma or a newline in a value would split a KEY=VALUE list in the wrong place). Sorted keys keep
 * the Job byte-identical for equal options.
 */
export function encodeRuntimeOptions(options: Record<string, string>): string {
  const sorted = Object.fromEntries(Object.keys(options).sort().map((key) => [key, options[key]]));
  return JSON.stringify(sorted);
}

/** The installer's inputs, in the environment variables of its CLI contract. */
export function installerEnv(action: CreateJobAction, ctx: Pick<JobContext, 'installDir' | 'restart'>): V1EnvVar[] {
  const set = (key: InstallerFlag, value: string): V1EnvVar => ({ name: INSTALLER_FLAGS[key].env, value });
  const env: V1EnvVar[] = [set('shim', action.shim)];
  // Empty only for an uninstall while the Shim's spec is invalid; the installer then defaults it to
  // the shim name, and uninstall uses it for nothing but its report.
  if (action.handler) env.push(set('handler', action.handler));
  env.push(set('hostRoot', HOST_MOUNT), set('installDir', ctx.installDir ?? JOB_DEFAULTS.installDir), set('restart', ctx.restart ?? JOB_DEFAULTS.restart));
  if (action.action === 'install') {
    const artifact = action.artifact;
    if (!artifact) throw new Error(`createJob ${action.jobName}: an install needs an artifact`);
    env.push(set('url', artifact.url));
    // Absent only when the Shim opted out of verification (resolveArtifact refuses it otherwise).
    env.push(artifact.sha256 ? set('sha256', artifact.sha256) : set('insecureSkipChecksum', 'true'));
    if (action.version) env.push(set('version', action.version));
    if (Object.keys(action.runtimeOptions).length > 0) env.push(set('runtimeOption', encodeRuntimeOptions(action.runtimeOptions)));
    if (action.shimBinary) env.push(set('shimBinary', action.shimBinary));
  }
  return env;
}

/** Variables only the Job sets, even where it leaves one out (no SHA256 under insecureSkipChecksum). */
const CONTRACT_ENV = new Set(JOB_OWNED_FLAGS.map((key) => INSTALLER_FLAGS[key].env));

function podSpec(action: CreateJobAction, ctx: JobContext): V1PodSpec {
  const contract = installerEnv(action, ctx);
  const extra = (ctx.extraEnv ?? []).filter((e) => !CONTRACT_ENV.has(e.name));
  const priorityClassName = ctx.priorityClassName ?? JOB_DEFAULTS.priorityClassName;
  const spec: V1PodSpec = {
    // Pinned: the scheduler is bypassed, so the Pod runs on this node even when it is cordoned or
    // full, which is what installing a node-level component needs.
    nodeName: action.node,
    // Every taint, NoExecute included: a tainted node still runs containerd and needs its shims.
    tolerations: [{ operator: 'Exists' }],
    hostPID: true, // nsenter into PID 1 for systemctl, and finding containerd to signal
    automountServiceAccountToken: false, // the installer never talks to the API
    enableServiceLinks: false, // no service variables mixed into the installer's environment
    restartPolicy: 'Never', // retries are new Pods, each with its own termination message
    containers: [
      {
        name: INSTALLER_CONTAINER,
        image: ctx.image,
        imagePullPolicy: ctx.imagePullPolicy ?? JOB_DEFAULTS.imagePullPolicy,
        args: [action.action],
        env: [...extra, ...contract],
        securityContext: { privileged: true },
        volumeMounts: [{ name: 'host-root', mountPath: HOST_MOUNT }],
        resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '256Mi' } },
        terminationMessagePath: '/dev/termination-log',
        // The installer writes its JSON result there; if it dies before (crash, OOM), the log tail
        // is the next best explanation.
        terminationMessagePolicy: 'FallbackToLogsOnError',
      },
    ],
    volumes: [{ name: 'host-root', hostPath: { path: '/', type: 'Directory' } }],
  };
  if (priorityClassName) spec.priorityClassName = priorityClassName;
  if (ctx.imagePullSecrets?.length) spec.imagePullSecrets = ctx.imagePullSecrets.map((name) => ({ name }));
  return spec;
}

/** Labels of an installer Job and of its Pods. */
export function installerJobLabels(action: Pick<CreateJobAction, 'shim' | 'node' | 'action' | 'revision'>): Record<string, string> {
  return {
    [JOB_KEYS.appName]: INSTALLER_APP_NAME,
    [JOB_KEYS.managedBy]: MANAGED_BY,
    [JOB_KEYS.shim]: labelValueFor(action.shim),
    [JOB_KEYS.node]: labelValueFor(action.node),
    [JOB_KEYS.action]: action.action,
    [JOB_KEYS.revision]: labelValueFor(action.revision),
  };
}

/** The full (never truncated) shim, node and revision, under the same keys as the labels. */
function installerJobAnnotations(action: CreateJobAction): Record<string, string> {
  const annotations: Record<string, string> = {
    [JOB_KEYS.shim]: action.shim,
    [JOB_KEYS.node]: action.node,
    [JOB_KEYS.revision]: action.revision,
  };
  if (action.version) annotations[`${API_GROUP}/version`] = action.version;
  return annotations;
}

export function installerJob(action: CreateJobAction, ctx: JobContext): V1Job {
  const labels = installerJobLabels(action);
  const annotations = installerJobAnnotations(action);
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: action.jobName,
      namespace: ctx.namespace,
      labels,
      annotations,
      ownerReferences: [
        {
          apiVersion: SHIM_API_VERSION,
          kind: SHIM_KIND,
          name: action.shim,
          uid: ctx.shimUid,
          // Lets the garbage collector remove leftover Jobs if the Shim is ever removed without
          // the controller (finalizer stripped by hand). Deletion order is the finalizer's job: the
          // Shim stays until every uninstall Job has run and been consumed, so blocking the owner on
          // its Jobs would add nothing but the need for update on shims/finalizers at Job creation.
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
    },
    spec: {
      completions: 1,
      parallelism: 1,
      backoffLimit: ctx.backoffLimit ?? JOB_DEFAULTS.backoffLimit,
      activeDeadlineSeconds: ctx.activeDeadlineSeconds ?? JOB_DEFAULTS.activeDeadlineSeconds,
      ttlSecondsAfterFinished: ctx.ttlSecondsAfterFinished ?? JOB_DEFAULTS.ttlSecondsAfterFinished,
      podFailurePolicy: {
        rules: [
          // 1: the installer failed and said why (it already rolled the node back); 2: it refused
          // its arguments. Running it again would fail the same way: fail the Job now, with the
          // result of this one Pod, and let the planner decide when to try again.
          { action: 'FailJob', onExitCodes: { containerName: INSTALLER_CONTAINER, operator: 'In', values: [1, 2] } },
          // Evicted or preempted: not the installer's fault, try again without counting it.
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
        ],
      },
      template: {
        metadata: { labels, annotations: { ...annotations, 'kubectl.kubernetes.io/default-container': INSTALLER_CONTAINER } },
        spec: podSpec(action, ctx),
      },
    },
  };
}

export interface InstallerJobIdentity {
  shim: string;
  node: string;
  action: JobAction;
  revision: string;
}

/**
 * What an installer Job is for, read back from a Job (or one of its Pods): the annotations carry
 * the full values, the labels only possibly hashed ones. `null` for objects that are not installer
 * Jobs of this format.
 */
export function installerJobIdentity(object: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } }): InstallerJobIdentity | null {
  const labels = object.metadata?.labels ?? {};
  const annotations = object.metadata?.annotations ?? {};
  const action = labels[JOB_KEYS.action];
  const shim = annotations[JOB_KEYS.shim];
  const node = annotations[JOB_KEYS.node];
  const revision = annotations[JOB_KEYS.revision];
  if ((action !== 'install' && action !== 'uninstall') || !shim || !node || revision === undefined) return null;
  return { shim, node, action, revision };
}
