// Names fixed by DESIGN.md. Every part (controller, installer, manifests, tests) takes them from here.

export const API_GROUP = 'runtime.shimkeeper.dev';
export const API_VERSION = 'v1alpha1';
export const SHIM_KIND = 'Shim';
export const SHIM_PLURAL = 'shims';

/** Node annotation whose comma-separated value names the Shims the node opts into (or `*`). */
export const OPT_IN_ANNOTATION = `${API_GROUP}/shims`;

/** Node label `<shim>.shim.runtime.shimkeeper.dev/ready`: `true` while a working version is installed. */
export function readyLabelKey(shimName: string): string {
  return `${shimName}.shim.${API_GROUP}/ready`;
}

/** Node label `<shim>.shim.runtime.shimkeeper.dev/version`: the version the node runs (for `kubectl get nodes -L`). */
export function versionLabelKey(shimName: string): string {
  return `${shimName}.shim.${API_GROUP}/version`;
}

/** Node annotation `<shim>.shim.runtime.shimkeeper.dev/status`: JSON of {@link NodeShimStatus}. */
export function statusAnnotationKey(shimName: string): string {
  return `${shimName}.shim.${API_GROUP}/status`;
}

export type NodeShimState = 'installing' | 'installed' | 'failed' | 'uninstalling';

export interface NodeShimStatus {
  state: NodeShimState;
  version?: string;
  revision?: string;
  sha256?: string;
  containerd?: string;
  message?: string;
  time: string;
}
