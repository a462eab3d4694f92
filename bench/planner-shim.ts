// The Shim the planner benchmarks plan: rolling 10% over every node labelled spin=true.

import type { Shim } from '../src/api/shim.ts';
import { FINALIZER } from '../src/controller/planner/model.ts';

export function benchShim(): Shim {
  return {
    apiVersion: 'runtime.shimkeeper.dev/v1alpha1',
    kind: 'Shim',
    metadata: { name: 'spin', uid: 'uid-spin', generation: 1, finalizers: [FINALIZER] },
    spec: {
      nodeSelector: { spin: 'true' },
      version: '0.19.0',
      fetchStrategy: { type: 'anonymousHttp', anonHttp: { location: 'https://example.com/containerd-shim-spin-v0.19.0.tar.gz', sha256: 'a'.repeat(64) } },
      runtimeClass: { name: 'wasmtime-spin-v2', handler: 'spin' },
      rolloutStrategy: { type: 'rolling', rolling: { maxUpdate: '10%' } },
    },
  };
}
