// The API clients the controller talks through, made once from one KubeConfig (and so sharing its
// keep-alive agent, kubeconfig.ts).

import { BatchV1Api, CoreV1Api, CustomObjectsApi, NodeV1Api, type KubeConfig } from '@kubernetes/client-node';

export interface ApiClients {
  core: CoreV1Api;
  batch: BatchV1Api;
  custom: CustomObjectsApi;
  node: NodeV1Api;
}

export function makeApiClients(kc: KubeConfig): ApiClients {
  return {
    core: kc.makeApiClient(CoreV1Api),
    batch: kc.makeApiClient(BatchV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    node: kc.makeApiClient(NodeV1Api),
  };
}
