// What may stop a valid Shim from starting any install, besides its own spec: the handler it names
// belongs to another Shim, or the controller's allow-list refuses where its artifacts come from.
// A blocked Shim starts no install Job and creates or changes no RuntimeClass; uninstalls (nodes
// that stop being targets, deletion) go on, and nodes keep what they run. Pure.

import { artifactLocationAllowed, type ArtifactLocationPrefix } from '../../api/artifact-policy.ts';
import { redactUrl } from '../../api/redact.ts';
import type { Shim } from '../../api/shim.ts';
import type { OtherShim } from './model.ts';

export type BlockReason = 'HandlerConflict' | 'ArtifactNotAllowed';

export interface Block {
  reason: BlockReason;
  /** Stable for as long as the cause lasts (it is compared with the observed status to emit one Event). */
  message: string;
}

function createdAt(shim: OtherShim): number {
  const ms = Date.parse(shim.metadata.creationTimestamp ?? '');
  // Unknown age claims nothing before a Shim of known age (the API server always sets it).
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

/**
 * The Shim that owns `shim`'s handler when it is not `shim` itself: of all Shims naming the
 * handler, the one created first, then the first by name. Both sides compute the same answer from
 * the same cache, with no state to store or lose. A Shim being deleted keeps its claim until it is
 * gone (its uninstalls still run), then the next one proceeds.
 */
export function handlerOwner(shim: Shim, others: readonly OtherShim[]): string | undefined {
  const handler = shim.spec.runtimeClass?.handler;
  if (!handler) return undefined;
  const claimants: OtherShim[] = [shim, ...others.filter((o) => o.metadata.name !== shim.metadata.name && o.spec?.runtimeClass?.handler === handler)];
  claimants.sort((a, b) => createdAt(a) - createdAt(b) || (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  const owner = claimants[0]!.metadata.name;
  return owner === shim.metadata.name ? undefined : owner;
}

/** Every artifact location the Shim's nodes could be given. */
export function artifactLocations(shim: Shim): string[] {
  const fetch = shim.spec.fetchStrategy;
  const platforms = fetch?.platforms ?? [];
  if (platforms.length > 0) return platforms.map((p) => p.location);
  return fetch?.anonHttp?.location ? [fetch.anonHttp.location] : [];
}

export function shimBlock(shim: Shim, others: readonly OtherShim[], allowed: readonly ArtifactLocationPrefix[]): Block | undefined {
  const refused = [...new Set(artifactLocations(shim).filter((location) => !artifactLocationAllowed(location, allowed)))];
  if (refused.length > 0) {
    return {
      reason: 'ArtifactNotAllowed',
      message:
        `artifact location ${refused.map(redactUrl).join(', ')} is not allowed by the controller (SHIMKEEPER_ALLOWED_ARTIFACT_URLS: ` +
        `${allowed.map((p) => p.text).join(', ')}); no install starts until the location or the allow-list changes`,
    };
  }
  const owner = handlerOwner(shim, others);
  if (owner !== undefined) {
    const handler = shim.spec.runtimeClass.handler;
    return {
      reason: 'HandlerConflict',
      message:
        `handler ${handler} belongs to Shim ${owner}, created first; one handler belongs to one Shim, so no install ` +
        `starts until Shim ${owner} is deleted or one of the two names another handler`,
    };
  }
  return undefined;
}
