// The controller's configuration: the environment of its Deployment (manifests/deployment.yaml,
// and the Helm chart's templates/deployment.yaml, which sets the same variables from values).
// Every variable is parsed and checked here, at start-up, so a typo stops the controller with a
// message naming the variable, instead of surfacing as a broken installer Job on some node later.
// The README's "Configuration" table documents each one.

import type { V1EnvVar, V1ResourceRequirements, V1Toleration } from '@kubernetes/client-node';
import os from 'node:os';
import { parseAllowedArtifactLocations, type ArtifactLocationPrefix } from '../api/artifact-policy.ts';
import { INSTALLER_FLAGS, OPERATOR_FLAGS, RESTART_STRATEGIES, type OperatorFlag, type RestartStrategy } from '../api/installer-contract.ts';
import type { Level } from '../log.ts';
import { parseDuration } from './duration.ts';
import { MIN_TTL_SECONDS_AFTER_FINISHED, type InstallerJobSettings, type InstallerTuningFlag } from './installer-job/spec.ts';

export interface ControllerConfig {
  namespace: string;
  identity: string;
  /** How the controller runs installer Jobs (SHIMKEEPER_INSTALLER_*); the namespace is its own. */
  job: Omit<InstallerJobSettings, 'namespace'>;
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

/**
 * Each running installer Job is a Job and a Pod in etcd and a containerd restart on a node: a
 * `recreate` rollout over thousands of nodes must not start them all at once.
 */
export const DEFAULT_MAX_CONCURRENT_JOBS = 500;

/** A setting the controller cannot start with. `code` is stable; `variable` names the setting. */
export class ControllerConfigError extends Error {
  readonly code = 'InvalidConfiguration';
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`${variable} ${problem}`);
    this.variable = variable;
    this.name = 'ControllerConfigError';
  }
}

/** The controller variable for an installer flag an operator sets cluster-wide: INSTALL_DIR → SHIMKEEPER_INSTALLER_INSTALL_DIR. */
export function operatorFlagVariable(flag: OperatorFlag): string {
  return `SHIMKEEPER_INSTALLER_${INSTALLER_FLAGS[flag].env}`;
}

const LOG_LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];
// Kubernetes' own patterns: a Secret or PriorityClass name (DNS subdomain), an environment
// variable name (any printable character but '='; this is the portable subset), a quantity.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const QUANTITY = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?$/;
const TOLERATION_KEYS = new Set(['key', 'operator', 'value', 'effect', 'tolerationSeconds']);
const TAINT_EFFECTS = new Set(['', 'NoSchedule', 'PreferNoSchedule', 'NoExecute']);
const NUMERIC_TUNING = new Set<OperatorFlag>(['maxArtifactBytes', 'downloadAttempts', 'downloadTimeout', 'healthTimeout', 'lockWait']);

/** The variable's value, or undefined when unset or empty (an empty value means "the default"). */
function optional(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, { min, max = Number.MAX_SAFE_INTEGER }: { min: number; max?: number }): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) throw new ControllerConfigError(name, `must be a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}, not ${JSON.stringify(raw)}`);
  return value;
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const raw = optional(env, name) ?? fallback;
  if (!allowed.includes(raw as T)) throw new ControllerConfigError(name, `must be one of ${allowed.join(', ')}, not ${JSON.stringify(raw)}`);
  return raw as T;
}

function json(env: NodeJS.ProcessEnv, name: string, example: string): unknown {
  const raw = optional(env, name);
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch (error) {
    throw new ControllerConfigError(name, `must be JSON such as ${example}: ${(error as Error).message}`);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function pullSecrets(env: NodeJS.ProcessEnv, name: string): string[] | undefined {
  const names = (optional(env, name) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const secret of names) if (!DNS_SUBDOMAIN.test(secret)) throw new ControllerConfigError(name, `lists ${JSON.stringify(secret)}, which is not a Secret name`);
  return names.length > 0 ? names : undefined;
}

/**
 * More environment for every installer (HTTPS_PROXY, NO_PROXY…) as a JSON object of strings. The
 * installer's own variables are refused: the Job sets them, or a SHIMKEEPER_INSTALLER_* setting does.
 */
function extraEnv(env: NodeJS.ProcessEnv, name: string): V1EnvVar[] | undefined {
  const value = json(env, name, '{"HTTPS_PROXY":"http://proxy:3128","NO_PROXY":"10.0.0.0/8"}');
  if (value === undefined) return undefined;
  if (!isObject(value)) throw new ControllerConfigError(name, 'must be a JSON object of variable names to string values');
  const contract = new Map<string, string>(Object.entries(INSTALLER_FLAGS).map(([key, spec]) => [spec.env, key]));
  const vars: V1EnvVar[] = [];
  for (const [key, item] of Object.entries(value)) {
    if (!ENV_NAME.test(key)) throw new ControllerConfigError(name, `has ${JSON.stringify(key)}, which is not an environment variable name`);
    if (typeof item !== 'string') throw new ControllerConfigError(name, `has ${key}=${JSON.stringify(item)}: values must be strings`);
    const flag = contract.get(key);
    if (flag !== undefined) {
      const instead = (OPERATOR_FLAGS as readonly string[]).includes(flag) ? `set ${operatorFlagVariable(flag as OperatorFlag)} instead` : 'the Job sets it from the Shim';
      throw new ControllerConfigError(name, `has ${key}, an installer flag: ${instead}`);
    }
    vars.push({ name: key, value: item });
  }
  return vars.length > 0 ? vars : undefined;
}

function resources(env: NodeJS.ProcessEnv, name: string): V1ResourceRequirements | undefined {
  const value = json(env, name, '{"requests":{"cpu":"10m","memory":"64Mi"},"limits":{"memory":"256Mi"}}');
  if (value === undefined) return undefined;
  if (!isObject(value)) throw new ControllerConfigError(name, 'must be a JSON object with requests and/or limits');
  const result: V1ResourceRequirements = {};
  for (const [section, amounts] of Object.entries(value)) {
    if (section !== 'requests' && section !== 'limits') throw new ControllerConfigError(name, `has ${JSON.stringify(section)}: only requests and limits`);
    if (!isObject(amounts)) throw new ControllerConfigError(name, `${section} must be an object of resource names to quantities`);
    const parsed: Record<string, string> = {};
    for (const [resource, amount] of Object.entries(amounts)) {
      const text = typeof amount === 'number' ? String(amount) : amount;
      if (typeof text !== 'string' || !QUANTITY.test(text)) throw new ControllerConfigError(name, `${section}.${resource} must be a quantity such as 100m or 64Mi, not ${JSON.stringify(amount)}`);
      parsed[resource] = text;
    }
    result[section] = parsed;
  }
  return result;
}

function tolerations(env: NodeJS.ProcessEnv, name: string): V1Toleration[] | undefined {
  const value = json(env, name, '[{"operator":"Exists"}]');
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new ControllerConfigError(name, 'must be a JSON array of tolerations');
  return value.map((item, i) => {
    if (!isObject(item)) throw new ControllerConfigError(name, `[${i}] must be an object`);
    const unknown = Object.keys(item).filter((k) => !TOLERATION_KEYS.has(k));
    if (unknown.length > 0) throw new ControllerConfigError(name, `[${i}] has unknown fields ${unknown.join(', ')}`);
    const operator = item['operator'] ?? 'Equal';
    if (operator !== 'Exists' && operator !== 'Equal') throw new ControllerConfigError(name, `[${i}].operator must be Exists or Equal`);
    if (operator === 'Exists' && item['value'] !== undefined && item['value'] !== '') throw new ControllerConfigError(name, `[${i}] has a value with operator Exists`);
    if (item['effect'] !== undefined && !TAINT_EFFECTS.has(item['effect'] as string)) throw new ControllerConfigError(name, `[${i}].effect must be NoSchedule, PreferNoSchedule or NoExecute`);
    if (item['tolerationSeconds'] !== undefined && !Number.isInteger(item['tolerationSeconds'])) throw new ControllerConfigError(name, `[${i}].tolerationSeconds must be a whole number`);
    for (const field of ['key', 'value'] as const) {
      if (item[field] !== undefined && typeof item[field] !== 'string') throw new ControllerConfigError(name, `[${i}].${field} must be a string`);
    }
    return item as V1Toleration;
  });
}

/** The installer tuning flags (SHIMKEEPER_INSTALLER_CONTAINERD_CONFIG …), checked as the installer would. */
function tuning(env: NodeJS.ProcessEnv): Partial<Record<InstallerTuningFlag, string>> | undefined {
  const result: Partial<Record<InstallerTuningFlag, string>> = {};
  for (const flag of OPERATOR_FLAGS) {
    if (flag === 'installDir' || flag === 'restart') continue;
    const name = operatorFlagVariable(flag);
    const value = optional(env, name);
    if (value === undefined) continue;
    if (NUMERIC_TUNING.has(flag)) {
      if (!(Number(value) > 0) || !Number.isFinite(Number(value))) throw new ControllerConfigError(name, `must be a positive number, not ${JSON.stringify(value)}`);
    } else if (!value.startsWith('/')) {
      throw new ControllerConfigError(name, `must be an absolute path on the nodes, not ${JSON.stringify(value)}`);
    }
    result[flag] = value;
  }
  return Object.keys(result).length > 0 ? result : undefined;
}

function jobSettings(env: NodeJS.ProcessEnv): Omit<InstallerJobSettings, 'namespace'> {
  const image = optional(env, 'SHIMKEEPER_INSTALLER_IMAGE');
  if (!image) throw new ControllerConfigError('SHIMKEEPER_INSTALLER_IMAGE', 'must name the installer image (e.g. ghcr.io/example/shimkeeper-installer:v0.1.0)');
  const installDirVariable = operatorFlagVariable('installDir');
  const installDir = optional(env, installDirVariable);
  if (installDir !== undefined && !installDir.startsWith('/')) throw new ControllerConfigError(installDirVariable, `must be an absolute path on the nodes, not ${JSON.stringify(installDir)}`);
  const restart = optional(env, operatorFlagVariable('restart'));
  // Unset: the default class; set but empty: none (for clusters that restrict the critical classes).
  const priorityClass = env['SHIMKEEPER_INSTALLER_PRIORITY_CLASS']?.trim();
  if (priorityClass && !DNS_SUBDOMAIN.test(priorityClass)) throw new ControllerConfigError('SHIMKEEPER_INSTALLER_PRIORITY_CLASS', `must be a PriorityClass name or empty, not ${JSON.stringify(priorityClass)}`);
  const settings: Omit<InstallerJobSettings, 'namespace'> = {
    image,
    imagePullPolicy: oneOf(env, 'SHIMKEEPER_INSTALLER_PULL_POLICY', PULL_POLICIES, 'IfNotPresent'),
    imagePullSecrets: pullSecrets(env, 'SHIMKEEPER_INSTALLER_PULL_SECRETS'),
    extraEnv: extraEnv(env, 'SHIMKEEPER_INSTALLER_EXTRA_ENV'),
    priorityClassName: priorityClass,
    resources: resources(env, 'SHIMKEEPER_INSTALLER_RESOURCES'),
    tolerations: tolerations(env, 'SHIMKEEPER_INSTALLER_TOLERATIONS'),
    installDir,
    restart: restart === undefined ? undefined : oneOf(env, operatorFlagVariable('restart'), RESTART_STRATEGIES, restart as RestartStrategy),
    tuning: tuning(env),
  };
  const deadline = optional(env, 'SHIMKEEPER_INSTALLER_ACTIVE_DEADLINE_SECONDS');
  if (deadline !== undefined) settings.activeDeadlineSeconds = integer(env, 'SHIMKEEPER_INSTALLER_ACTIVE_DEADLINE_SECONDS', 0, { min: 1 });
  const ttl = optional(env, 'SHIMKEEPER_INSTALLER_TTL_SECONDS_AFTER_FINISHED');
  if (ttl !== undefined) settings.ttlSecondsAfterFinished = integer(env, 'SHIMKEEPER_INSTALLER_TTL_SECONDS_AFTER_FINISHED', 0, { min: MIN_TTL_SECONDS_AFTER_FINISHED });
  const backoff = optional(env, 'SHIMKEEPER_INSTALLER_BACKOFF_LIMIT');
  if (backoff !== undefined) settings.backoffLimit = integer(env, 'SHIMKEEPER_INSTALLER_BACKOFF_LIMIT', 0, { min: 0 });
  // Drop unset fields, so installerJob's defaults apply and equal configs compare equal.
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined)) as Omit<InstallerJobSettings, 'namespace'>;
}

export function configFromEnv(env: NodeJS.ProcessEnv): ControllerConfig {
  const leaderElection = optional(env, 'LEADER_ELECTION') ?? 'true';
  if (leaderElection !== 'true' && leaderElection !== 'false') throw new ControllerConfigError('LEADER_ELECTION', `must be true or false, not ${JSON.stringify(leaderElection)}`);
  let allowedArtifactLocations: ArtifactLocationPrefix[];
  try {
    allowedArtifactLocations = parseAllowedArtifactLocations(env['SHIMKEEPER_ALLOWED_ARTIFACT_URLS']);
  } catch (error) {
    throw new ControllerConfigError('SHIMKEEPER_ALLOWED_ARTIFACT_URLS', `is invalid: ${(error as Error).message}`);
  }
  let reverifyAfterMs: number;
  try {
    // Daily by default: a removed stanza that no pod has tripped over yet is found within a day.
    reverifyAfterMs = parseDuration('SHIMKEEPER_REVERIFY_INTERVAL', optional(env, 'SHIMKEEPER_REVERIFY_INTERVAL') ?? '24h');
  } catch (error) {
    throw new ControllerConfigError('SHIMKEEPER_REVERIFY_INTERVAL', (error as Error).message.replace(/^SHIMKEEPER_REVERIFY_INTERVAL /, ''));
  }
  return {
    namespace: optional(env, 'POD_NAMESPACE') ?? 'shimkeeper-system',
    identity: optional(env, 'POD_NAME') ?? `${os.hostname()}-${process.pid}`,
    job: jobSettings(env),
    metricsPort: integer(env, 'METRICS_PORT', 8080, { min: 1, max: 65535 }),
    leaderElection: leaderElection === 'true',
    leaseName: optional(env, 'LEASE_NAME') ?? 'shimkeeper-controller',
    leaseDurationSeconds: integer(env, 'LEASE_DURATION_SECONDS', 15, { min: 1 }),
    renewDeadlineMs: integer(env, 'LEASE_RENEW_DEADLINE_MS', 10_000, { min: 1 }),
    retryPeriodMs: integer(env, 'LEASE_RETRY_PERIOD_MS', 2_000, { min: 1 }),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    allowedArtifactLocations,
    reverifyAfterMs,
    maxConcurrentJobs: integer(env, 'SHIMKEEPER_MAX_CONCURRENT_JOBS', DEFAULT_MAX_CONCURRENT_JOBS, { min: 0 }),
  };
}
