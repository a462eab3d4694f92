// runtime-class-manager's (and kwasm-operator's) own sample Shims, as their repositories have them
// (trailing space after the apiVersion included), for the migration test. Data, not a test.

/** kwasm-operator config/samples/test_shim_spin.yaml: the `annonymousHttp` spelling. */
export const KWASM_SPIN = `apiVersion: runtime.kwasm.sh/v1alpha1 
kind: Shim
metadata:
  name: wasmtime-spin-v2
  labels:
    app.kubernetes.io/name: wasmtime-spin-v2
    app.kubernetes.io/instance: wasmtime-spin-v2
    app.kubernetes.io/part-of: kwasm-operator
    app.kubernetes.io/managed-by: kustomize
    app.kubernetes.io/created-by: kwasm-operator
spec:
  nodeSelector:
    spin: "true"

  fetchStrategy:
    type: annonymousHttp
    anonHttp:
      location: "https://github.com/deislabs/containerd-wasm-shims/releases/download/v0.10.0/containerd-wasm-shims-v2-spin-linux-aarch64.tar.gz"

  runtimeClass:
    name: wasmtime-spin-v2
    handler: spin

  rolloutStrategy:
    type: recreate
`;

/** spinframework/runtime-class-manager config/samples/test_shim_spin.yaml. */
export const RCM_SPIN = `apiVersion: runtime.spinkube.dev/v1alpha1 
kind: Shim
metadata:
  name: spin-v2
  labels:
    app.kubernetes.io/name: spin-v2
    app.kubernetes.io/instance: spin-v2
    app.kubernetes.io/part-of: runtime-class-manager
    app.kubernetes.io/managed-by: kustomize
    app.kubernetes.io/created-by: runtime-class-manager
spec:
  nodeSelector:
    spin: "true"

  fetchStrategy:
    type: anonymousHttp
    anonHttp:
      location: "https://github.com/spinframework/containerd-shim-spin/releases/download/v0.19.0/containerd-shim-spin-v2-linux-aarch64.tar.gz"

  containerdRuntimeOptions:
    SystemdCgroup: "true"

  runtimeClass:
    # Note: this name is used by the Spin Operator project as its default:
    # https://github.com/spinframework/spin-operator/blob/main/config/samples/spin-shim-executor.yaml
    name: wasmtime-spin-v2
    handler: spin-v2

  rolloutStrategy:
    type: recreate
`;

/** runtime-class-manager config/samples/sample_shim_wasmtime.yaml: per-platform artifacts, no sha256. */
export const RCM_WASMTIME = `apiVersion: runtime.spinkube.dev/v1alpha1 
kind: Shim
metadata:
  name: wasmtime-v1
spec:
  nodeSelector:
    wasmtime: "true"

  fetchStrategy:
    platforms:
      - os: linux
        arch: aarch64
        location: "https://github.com/containerd/runwasi/releases/download/containerd-shim-wasmtime%2Fv0.6.0/containerd-shim-wasmtime-aarch64-linux-musl.tar.gz"
      - os: linux
        arch: x86_64
        location: "https://github.com/containerd/runwasi/releases/download/containerd-shim-wasmtime%2Fv0.6.0/containerd-shim-wasmtime-x86_64-linux-musl.tar.gz"

  runtimeClass:
    name: wasmtime-v1
    handler: wasmtime

  rolloutStrategy:
    type: recreate
`;

/** Enough of runtime-class-manager's CRD to hold its Shims (and their uids, which its RuntimeClasses point to). */
export const RCM_CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: shims.runtime.spinkube.dev
spec:
  group: runtime.spinkube.dev
  names: {kind: Shim, listKind: ShimList, plural: shims, singular: shim}
  scope: Cluster
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`;
