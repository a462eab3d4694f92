// The RuntimeClass a Shim manages: what it should look like and which writes get it there.

import { API_GROUP, readyLabelKey } from '../../api/names.ts';
import type { Shim } from '../../api/shim.ts';
import { byName, type DesiredRuntimeClass, type EmitEventAction, type ObservedRuntimeClass, type RuntimeClassAction } from './model.ts';

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
  /** Writes in order; an adoption is followed by the Event telling it, so the Event only follows a write that succeeded. */
  actions: Array<RuntimeClassAction | EmitEventAction>;
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

/** `, controlled by Shim spin-v2 (runtime.spinkube.dev/v1alpha1)`, or nothing. */
function controllerOf(rc: ObservedRuntimeClass): string {
  return rc.controller ? `, controlled by ${rc.controller.kind} ${rc.controller.name} (${rc.controller.apiVersion}),` : '';
}

/** Why the class of the wanted name is not this Shim's and is left alone, and what the user can do. */
function foreignClassMessage(rc: ObservedRuntimeClass, shim: Shim): string {
  const otherShim = rc.labels?.[RUNTIME_CLASS_SHIM_LABEL];
  const whose = otherShim ? `, labelled for Shim ${otherShim},` : controllerOf(rc);
  const subject = `RuntimeClass ${rc.name} (handler ${rc.handler})${whose}`;
  const elsewhere = 'delete it or choose another spec.runtimeClass.name';
  if (otherShim !== undefined && otherShim !== shim.metadata.name) {
    return `${subject} belongs to another Shim and is never adopted: ${elsewhere}`;
  }
  if (rc.handler !== shim.spec.runtimeClass.handler) {
    return (
      `${subject} was not created by shimkeeper for this Shim and its handler is not spec.runtimeClass.handler ${shim.spec.runtimeClass.handler}: ` +
      `it is neither changed nor adopted (a RuntimeClass's handler cannot change). Delete it to have it created anew (running pods keep running), set spec.runtimeClass.handler to ${rc.handler}, or choose another spec.runtimeClass.name`
    );
  }
  if (shim.spec.runtimeClass.adoptExisting !== true) {
    return (
      `${subject} was not created by shimkeeper for this Shim: it is neither changed nor deleted. ` +
      `To take it over (e.g. from runtime-class-manager) set spec.runtimeClass.adoptExisting: true; otherwise ${elsewhere}`
    );
  }
  return `${subject} cannot be adopted: it has no uid to make the write conditional on`;
}

/** Whether the class may be taken over: asked for, same handler, not another Shim's, and identifiable. */
function adoptable(rc: ObservedRuntimeClass, shim: Shim): rc is ObservedRuntimeClass & { uid: string } {
  const labelledFor = rc.labels?.[RUNTIME_CLASS_SHIM_LABEL];
  return (
    shim.spec.runtimeClass.adoptExisting === true &&
    rc.handler === shim.spec.runtimeClass.handler &&
    (labelledFor === undefined || labelledFor === shim.metadata.name) &&
    Boolean(rc.uid)
  );
}

/**
 * Writes that make the RuntimeClasses this Shim owns match it. A class of the wanted name that is
 * not the Shim's own (ownedByShim) is never changed or deleted: it is reported as a conflict and
 * the Shim's class is not created — unless the Shim asks to adopt it (spec.runtimeClass.adoptExisting,
 * for classes runtime-class-manager left) and its handler is the Shim's and no other Shim's label is
 * on it; then it is taken over once, and an Event says so. Classes the Shim owns under another name
 * (the name changed) are deleted. RuntimeClass.handler is immutable, so a new handler means delete
 * and create again — the shell applies the two in order. Every write to an owned class carries its
 * uid as a precondition, and a create fails if the name was taken meanwhile.
 */
export function planRuntimeClasses(shim: Shim, observed: ObservedRuntimeClass[], deleting: boolean): RuntimeClassPlan {
  const owned = (rc: ObservedRuntimeClass) => ownedByShim(rc, shim);
  const remove = (rc: ObservedRuntimeClass): RuntimeClassAction => ({ type: 'deleteRuntimeClass', name: rc.name, ...(rc.uid ? { uid: rc.uid } : {}) });
  const actions: RuntimeClassPlan['actions'] = [];
  const sorted = [...observed].sort((a, b) => byName(a.name, b.name));
  if (deleting) return { actions: sorted.filter(owned).map(remove) };

  const desired = desiredRuntimeClass(shim);
  for (const rc of sorted) if (rc.name !== desired.name && owned(rc)) actions.push(remove(rc));
  const existing = sorted.find((rc) => rc.name === desired.name);
  if (existing && !owned(existing)) {
    if (!adoptable(existing, shim)) return { actions, conflict: foreignClassMessage(existing, shim) };
    actions.push(
      { type: 'adoptRuntimeClass', runtimeClass: desired, uid: existing.uid },
      {
        type: 'emitEvent',
        eventType: 'Normal',
        reason: 'RuntimeClassAdopted',
        message:
          `adopted RuntimeClass ${existing.name} (handler ${existing.handler})${existing.controller ? ` from ${existing.controller.kind} ${existing.controller.name} (${existing.controller.apiVersion})` : ''}: ` +
          `this Shim controls it now, and its pods land only on nodes where the shim is proven (${readyLabelKey(shim.metadata.name)}=true)`,
      },
    );
    return { actions };
  }
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
