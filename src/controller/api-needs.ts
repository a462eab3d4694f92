// Every Kubernetes API permission the controller uses, with the reason. manifests/rbac.yaml must
// grant exactly these (test/unit/manifests.test.ts checks both directions: nothing missing, nothing
// extra), so a new API call means a new line here, and a permission nobody needs cannot creep in.

import { API_GROUP, SHIM_PLURAL } from '../api/names.ts';

export interface ApiNeed {
  /** API group; '' is the core group. */
  group: string;
  /** Plural resource, with `/subresource` where it is one. */
  resource: string;
  verbs: readonly string[];
  /** `cluster`: granted by the ClusterRole. `namespace`: by the Role in the controller's namespace. */
  scope: 'cluster' | 'namespace';
  why: string;
}

export const CONTROLLER_API_NEEDS: readonly ApiNeed[] = [
  { group: API_GROUP, resource: SHIM_PLURAL, verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'the desired state' },
  { group: API_GROUP, resource: SHIM_PLURAL, verbs: ['update', 'patch'], scope: 'cluster', why: 'adding and removing the finalizer' },
  { group: API_GROUP, resource: `${SHIM_PLURAL}/status`, verbs: ['update', 'patch'], scope: 'cluster', why: 'Shim status' },
  {
    group: API_GROUP,
    resource: `${SHIM_PLURAL}/finalizers`,
    verbs: ['update'],
    scope: 'cluster',
    // Under OwnerReferencesPermissionEnforcement (OpenShift, hardened clusters) an owner reference
    // with blockOwnerDeletion: true needs this; owner-reference.ts sets it false, so this is headroom.
    why: 'owner references to Shims with blockOwnerDeletion (not set today)',
  },
  { group: '', resource: 'nodes', verbs: ['get', 'list', 'watch'], scope: 'cluster', why: 'targeting, platform and runtime of each node' },
  { group: '', resource: 'nodes', verbs: ['patch'], scope: 'cluster', why: 'the per-shim ready label and status annotation' },
  {
    group: 'node.k8s.io',
    resource: 'runtimeclasses',
    verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
    scope: 'cluster',
    why: "each Shim's RuntimeClass, created, kept in shape and deleted with the Shim; get and update adopt one (spec.runtimeClass.adoptExisting)",
  },
  { group: 'events.k8s.io', resource: 'events', verbs: ['create', 'patch'], scope: 'cluster', why: 'events on Shims and Nodes (events.k8s.io/v1)' },
  // Cluster-scoped objects' events live in `default`, so a namespaced Role would not do.
  { group: '', resource: 'events', verbs: ['create', 'patch'], scope: 'cluster', why: 'events on Shims and Nodes (core/v1 API)' },
  { group: '', resource: 'events', verbs: ['list', 'watch'], scope: 'cluster', why: "kubelets' FailedCreatePodSandBox Events: the drift signal (field-selected)" },
  { group: 'batch', resource: 'jobs', verbs: ['get', 'list', 'watch', 'create', 'delete'], scope: 'namespace', why: 'installer Jobs' },
  { group: '', resource: 'pods', verbs: ['get', 'list', 'watch'], scope: 'namespace', why: "installer Pods' termination messages (the results)" },
  {
    group: 'coordination.k8s.io',
    resource: 'leases',
    verbs: ['get', 'list', 'watch', 'create', 'update'],
    scope: 'namespace',
    why: 'leader election between the replicas',
  },
];
