// The RuntimeClass a Shim manages: what it should look like and which writes get it there.

import { API_GROUP, readyLabelKey } from '../../api/names.ts';
import type { Shim } from '../../api/shim.ts';
import type { DesiredRuntimeClass, ObservedRuntimeClass, RuntimeClassAction } from './model.ts';

/** Label on RuntimeClasses naming the Shim that manages them. */
export const RUNTIME_CLASS_SHIM_LABEL = `${API_GROUP}/shim`;
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';

export function desiredRuntimeClass(shim: Shim): DesiredRuntimeClass {
  return {
    name: shim.spec.runtimeClass.name,
    handler: shim.spec.runtimeClass.handler,
    nodeSelector: { [readyLabelKey(shim.metadata.name)]: 'true' },
    labels: { [RUNTIME_CLASS_SHIM_LABEL]: shim.metadata.name, [MANAGED_BY_LABEL]: 'shimkeeper' },
  };
}

function sameMap(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  const left = a ?? {};
  const keys = Object.keys(b);
  return Object.keys(left).length === keys.length && keys.every((key) => left[key] === b[key]);
}

export interface RuntimeClassPlan {
  actions: RuntimeClassAction[];
  /** Set when the wanted name belongs to another Shim: nothing is written then. */
  conflict?: string;
}

/**
 * Writes that make the observed RuntimeClasses match the Shim. A class with the wanted name and no
 * owner label is adopted (a migration from upstream runtime-class-manager leaves one behind); one
 * owned by another Shim is left alone and reported. Classes this Shim owns under another name (the
 * name changed) are deleted. RuntimeClass.handler is immutable, so a new handler means delete and
 * create again — the shell applies the two in order.
 */
export function planRuntimeClasses(shim: Shim, observed: ObservedRuntimeClass[], deleting: boolean): RuntimeClassPlan {
  const owner = shim.metadata.name;
  const owned = (rc: ObservedRuntimeClass) => rc.labels?.[RUNTIME_CLASS_SHIM_LABEL] === owner;
  const actions: RuntimeClassAction[] = [];
  const sorted = [...observed].sort((a, b) => a.name.localeCompare(b.name));
  if (deleting) {
    for (const rc of sorted) if (owned(rc)) actions.push({ type: 'deleteRuntimeClass', name: rc.name });
    return { actions };
  }

  const desired = desiredRuntimeClass(shim);
  for (const rc of sorted) {
    if (rc.name !== desired.name && owned(rc)) actions.push({ type: 'deleteRuntimeClass', name: rc.name });
  }
  const existing = sorted.find((rc) => rc.name === desired.name);
  const otherOwner = existing?.labels?.[RUNTIME_CLASS_SHIM_LABEL];
  if (existing && otherOwner !== undefined && otherOwner !== owner) {
    return { actions, conflict: `RuntimeClass ${desired.name} is managed by Shim ${otherOwner}` };
  }
  if (!existing) {
    actions.push({ type: 'applyRuntimeClass', runtimeClass: desired });
  } else if (existing.handler !== desired.handler) {
    actions.push({ type: 'deleteRuntimeClass', name: existing.name }, { type: 'applyRuntimeClass', runtimeClass: desired });
  } else if (
    !sameMap(existing.nodeSelector, desired.nodeSelector) ||
    Object.entries(desired.labels).some(([key, value]) => existing.labels?.[key] !== value)
  ) {
    actions.push({ type: 'applyRuntimeClass', runtimeClass: desired });
  }
  return { actions };
}
