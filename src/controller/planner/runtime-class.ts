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
  /** Set when a class of the wanted name exists and is not this Shim's: nothing is written to it then. */
  conflict?: string;
}

/**
 * A RuntimeClass is this Shim's only when shimkeeper created it for this very Shim: it carries the
 * owner label with the Shim's name AND an owner reference to the Shim's uid. The label alone could
 * be anyone's (an admin's copy, an upstream runtime-class-manager leftover, a Shim of the same name
 * deleted and created again); the owner reference alone could be set by hand. Only such a class is
 * ever changed or deleted by shimkeeper.
 */
export function ownedByShim(rc: ObservedRuntimeClass, shim: Shim): boolean {
  const uid = shim.metadata.uid;
  return rc.labels?.[RUNTIME_CLASS_SHIM_LABEL] === shim.metadata.name && uid !== undefined && uid !== '' && (rc.ownerUids ?? []).includes(uid);
}

function foreignClassMessage(rc: ObservedRuntimeClass): string {
  const otherShim = rc.labels?.[RUNTIME_CLASS_SHIM_LABEL];
  const whose = otherShim ? `, labelled for Shim ${otherShim},` : '';
  return (
    `RuntimeClass ${rc.name} (handler ${rc.handler})${whose} was not created by shimkeeper for this Shim: ` +
    'it is neither changed nor deleted; delete it or choose another spec.runtimeClass.name'
  );
}

/**
 * Writes that make the RuntimeClasses this Shim owns match it. A class of the wanted name that is
 * not the Shim's own (ownedByShim) is never adopted, changed or deleted: it is reported as a
 * conflict and the Shim's class is not created. Classes the Shim owns under another name (the name
 * changed) are deleted. RuntimeClass.handler is immutable, so a new handler means delete and create
 * again — the shell applies the two in order. Every write to an owned class carries its uid as a
 * precondition, and a create fails if the name was taken meanwhile.
 */
export function planRuntimeClasses(shim: Shim, observed: ObservedRuntimeClass[], deleting: boolean): RuntimeClassPlan {
  const owned = (rc: ObservedRuntimeClass) => ownedByShim(rc, shim);
  const remove = (rc: ObservedRuntimeClass): RuntimeClassAction => ({ type: 'deleteRuntimeClass', name: rc.name, ...(rc.uid ? { uid: rc.uid } : {}) });
  const actions: RuntimeClassAction[] = [];
  const sorted = [...observed].sort((a, b) => a.name.localeCompare(b.name));
  if (deleting) return { actions: sorted.filter(owned).map(remove) };

  const desired = desiredRuntimeClass(shim);
  for (const rc of sorted) if (rc.name !== desired.name && owned(rc)) actions.push(remove(rc));
  const existing = sorted.find((rc) => rc.name === desired.name);
  if (existing && !owned(existing)) return { actions, conflict: foreignClassMessage(existing) };
  if (!existing) {
    actions.push({ type: 'applyRuntimeClass', runtimeClass: desired });
  } else if (existing.handler !== desired.handler) {
    actions.push(remove(existing), { type: 'applyRuntimeClass', runtimeClass: desired });
  } else if (
    !sameMap(existing.nodeSelector, desired.nodeSelector) ||
    Object.entries(desired.labels).some(([key, value]) => existing.labels?.[key] !== value)
  ) {
    actions.push({ type: 'applyRuntimeClass', runtimeClass: desired, ...(existing.uid ? { uid: existing.uid } : {}) });
  }
  return { actions };
}
