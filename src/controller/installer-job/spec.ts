// The installer Job for one planner `createJob` action. Pure: the same action and context always
// give the same Job, so tests can build it without an API server and the controller can create it
// blindly (a 409 means it exists already). The context is the controller's Job settings bound to
// one Shim (its owner reference), made once per reconcile by the shell.
//
// The Job is the Kubernetes half of the installer contract (DESIGN.md): the installer reads its
// inputs from environment variables (src/installer/options.ts) and reports through its termination
// message, so the Pod needs no service account token and no API access at all.

import type { V1EnvVar, V1Job, V1OwnerReference, V1PodSpec, V1ResourceRequirements, V1Toleration } from '@kubernetes/client-node';
import { INSTALLER_DEFAULTS, INSTALLER_FLAGS, JOB_OWNED_FLAGS, OPERATOR_FLAGS, type InstallerFlag, type OperatorFlag, type RestartStrategy } from '../../api/installer-contract.ts';
import type { CreateJobAction } from '../planner/model.ts';
import { installerJobAnnotations, installerJobLabels } from './identity.ts';

export const INSTALLER_CONTAINER = 'installer';
/** Where the host's `/` is mounted in the installer container (its HOST_ROOT). */
export const HOST_MOUNT = INSTALLER_DEFAULTS.hostRoot;

/** Below this, Kubernetes could delete a Job before the controller read its result, and the node would get Job after Job. */
export const MIN_TTL_SECONDS_AFTER_FINISHED = 60;

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
  // Kubernetes deletes a successful Job this long after it finished: the planner records it on its
  // node and leaves it (its Pod keeps the installer's log), saving a write per node and rollout;
  // it deletes failed ones at once. Short, so a fleet's rollout does not leave its Jobs in etcd for
  // long; long enough to outlast a controller's restart or failover, since a Job gone before its
  // result was read costs its node another Job.
  ttlSecondsAfterFinished: 600,
  // The installer restarts containerd: it must not be evicted half-way (it is evicted last under
  // node pressure) and it must be admitted on a full node, where the kubelet makes room for
  // critical pods. It is pinned by nodeName, so it never preempts anything through the scheduler.
  priorityClassName: 'system-node-critical',
  // Small: the installer streams the download through a hash and unpacks with bounded memory.
  resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '256Mi' } } as V1ResourceRequirements,
  // Every taint, NoExecute included: a tainted node still runs containerd and needs its shims.
  tolerations: [{ operator: 'Exists' }] as V1Toleration[],
} as const;

/** Operator flags that only tune the installer (detection overrides, limits); unset = its default. */
export type InstallerTuningFlag = Exclude<OperatorFlag, 'installDir' | 'restart'>;

/** How the controller runs installer Jobs, whatever the Shim (from the Deployment's environment). */
export interface InstallerJobSettings {
  /** Namespace of the installer Jobs (the controller's own). */
  namespace: string;
  /** The installer image (its entrypoint is the installer CLI). */
  image: string;
  /** Always, IfNotPresent (default) or Never. */
  imagePullPolicy?: string;
  imagePullSecrets?: string[];
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
   * More environment for the installer, e.g. HTTPS_PROXY / NO_PROXY for nodes behind a proxy. The
   * contract's variables (CONTRACT_ENV) and any set through `tuning` are ignored here (and the
   * controller's configuration refuses every installer flag in it: tuning is the way to set those).
   */
  extraEnv?: V1EnvVar[];
  /** The installer container's resources (replace the default as a whole). */
  resources?: V1ResourceRequirements;
  /** The installer Pod's tolerations (replace the default, which tolerates every taint). */
  tolerations?: V1Toleration[];
  /** Tuning flags for every Job, e.g. `{ containerdConfig: '/etc/k3s/containerd/config.toml' }`. */
  tuning?: Partial<Record<InstallerTuningFlag, string>>;
}

/** The settings bound to one Shim, made once per reconcile: its Jobs are owned by it. */
export interface InstallerJobContext extends InstallerJobSettings {
  /** The Shim's owner reference (owner-reference.ts). */
  owner: V1OwnerReference;
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
export function installerEnv(action: CreateJobAction, ctx: Pick<InstallerJobSettings, 'installDir' | 'restart' | 'tuning'>): V1EnvVar[] {
  const set = (key: InstallerFlag, value: string): V1EnvVar => ({ name: INSTALLER_FLAGS[key].env, value });
  const env: V1EnvVar[] = [set('shim', action.shim)];
  // Empty only for an uninstall while the Shim's spec is invalid; the installer then defaults it to
  // the shim name, and uninstall uses it for nothing but its report.
  if (action.handler) env.push(set('handler', action.handler));
  env.push(set('hostRoot', HOST_MOUNT), set('installDir', ctx.installDir ?? JOB_DEFAULTS.installDir), set('restart', ctx.restart ?? JOB_DEFAULTS.restart));
  for (const key of OPERATOR_FLAGS) {
    if (key === 'installDir' || key === 'restart') continue; // set above, always
    const value = ctx.tuning?.[key];
    if (value !== undefined) env.push(set(key, value));
  }
  if (action.action === 'install') {
    const artifact = action.artifact;
    if (!artifact) throw new Error(`createJob ${action.jobName}: an install needs an artifact`);
    env.push(set('url', artifact.url));
    // Absent only when the Shim opted out of verification (resolveArtifact refuses it otherwise).
    env.push(artifact.sha256 ? set('sha256', artifact.sha256) : set('insecureSkipChecksum', 'true'));
    if (action.version) env.push(set('version', action.version));
    if (Object.keys(action.runtimeOptions).length > 0) env.push(set('runtimeOption', encodeRuntimeOptions(action.runtimeOptions)));
    if (action.shimBinary) env.push(set('shimBinary', action.shimBinary));
    if (action.takeOverHandler) env.push(set('takeOverHandler', 'true'));
    if (action.verify) env.push(set('verify', 'true'));
  }
  return env;
}

/** Variables only the Job sets, even where it leaves one out (no SHA256 under insecureSkipChecksum). */
const CONTRACT_ENV = new Set(JOB_OWNED_FLAGS.map((key) => INSTALLER_FLAGS[key].env));

function podSpec(action: CreateJobAction, ctx: InstallerJobSettings): V1PodSpec {
  const contract = installerEnv(action, ctx);
  const setHere = new Set(contract.map((e) => e.name)); // a tuning flag set above wins too
  const extra = (ctx.extraEnv ?? []).filter((e) => !CONTRACT_ENV.has(e.name) && !setHere.has(e.name));
  const priorityClassName = ctx.priorityClassName ?? JOB_DEFAULTS.priorityClassName;
  const spec: V1PodSpec = {
    // Pinned: the scheduler is bypassed, so the Pod runs on this node even when it is cordoned or
    // full, which is what installing a node-level component needs.
    nodeName: action.node,
    tolerations: ctx.tolerations ?? JOB_DEFAULTS.tolerations,
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
        resources: ctx.resources ?? JOB_DEFAULTS.resources,
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

export function installerJob(action: CreateJobAction, ctx: InstallerJobContext): V1Job {
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
      ownerReferences: [ctx.owner],
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
          // Evicted or preempted: not the installer's fault, try again without counting it (a
          // stopped installer rolls back and exits 128 + SIGTERM, installer/termination.ts).
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

