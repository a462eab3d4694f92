// An installer Job's identity: its deterministic name, the labels and annotations that say what it
// is for (shim, node, action, revision), the selector that finds every installer Job and Pod, and
// reading that identity back from a cached Job or Pod. Pure.

import { createHash } from 'node:crypto';
import { API_GROUP } from '../../api/names.ts';
import type { JobAction } from '../../api/installer-contract.ts';
import type { CreateJobAction } from '../planner/model.ts';

export const INSTALLER_APP_NAME = 'shimkeeper-installer';
export const MANAGED_BY = 'shimkeeper';
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

const MAX_NAME = 63;

/**
 * Deterministic Job name for one action on one node at one revision: readable
 * `<shim>-<node>-<action>-<hash>`, at most 63 characters (the Job controller copies the name into a
 * label value). The hash covers the exact (shim, node, action, revision), so names never collide even
 * when the readable part is truncated or sanitised (`a.b` and `a-b` both read `a-b`).
 */
export function installerJobName(shim: string, node: string, action: JobAction, revision: string): string {
  const hash = createHash('sha256').update(JSON.stringify([shim, node, action, revision])).digest('hex').slice(0, 8);
  const suffix = `-${action}-${hash}`;
  const readable = `${shim}-${node}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-');
  const head = readable.slice(0, MAX_NAME - suffix.length).replace(/^-+|-+$/g, '');
  return `${head || 'shim'}${suffix}`;
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
export function installerJobAnnotations(action: CreateJobAction): Record<string, string> {
  const annotations: Record<string, string> = {
    [JOB_KEYS.shim]: action.shim,
    [JOB_KEYS.node]: action.node,
    [JOB_KEYS.revision]: action.revision,
  };
  if (action.version) annotations[`${API_GROUP}/version`] = action.version;
  return annotations;
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
