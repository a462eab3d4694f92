// The owner reference every object the controller creates for a Shim carries (installer Jobs, the
// RuntimeClass): one builder, so the two cannot drift apart.

import type { V1OwnerReference } from '@kubernetes/client-node';
import { SHIM_KIND } from '../api/names.ts';
import { SHIM_API_VERSION, type Shim } from '../api/shim.ts';

/**
 * `controller: true` marks the Shim as the managing owner, and lets the garbage collector remove
 * leftovers if the Shim is ever removed without the controller (finalizer stripped by hand).
 * Deletion order is the finalizer's job: the Shim stays until every uninstall Job has run and been
 * consumed, so `blockOwnerDeletion` would add nothing but the need for update on shims/finalizers.
 */
export function shimOwnerReference(shim: { metadata: Pick<Shim['metadata'], 'name' | 'uid'> }): V1OwnerReference {
  return { apiVersion: SHIM_API_VERSION, kind: SHIM_KIND, name: shim.metadata.name, uid: shim.metadata.uid ?? '', controller: true, blockOwnerDeletion: false };
}
