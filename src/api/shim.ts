// The `Shim` resource (runtime.shimkeeper.dev/v1alpha1, cluster-scoped).
//
// The spec is a superset of the upstream runtime-class-manager (kwasm / spinkube) Shim: an upstream
// manifest applies after changing its apiVersion (its old spellings included, as deprecated
// aliases), provided it carries a sha256 (or opts out of verification explicitly, see
// `FetchStrategy.insecureSkipChecksum`); it installs once it has a nodeSelector, which upstream took
// as every node when absent (README: "Migrating from runtime-class-manager"). Field names and
// nesting follow upstream exactly; everything shimkeeper adds is optional.

import { API_GROUP, API_VERSION, SHIM_KIND } from './names.ts';

export const SHIM_API_VERSION = `${API_GROUP}/${API_VERSION}`;

/** The only fetch strategy there is (upstream spells it this way in its samples). */
export const FETCH_STRATEGY_ANONYMOUS_HTTP = 'anonymousHttp';
/**
 * Deprecated spelling of {@link FETCH_STRATEGY_ANONYMOUS_HTTP}: the kwasm-operator samples that
 * runtime-class-manager grew from wrote `type: annonymousHttp`. Accepted so those manifests apply;
 * it means the same (the type selects nothing, anonHttp or platforms do).
 */
export const FETCH_STRATEGY_ANONYMOUS_HTTP_MISSPELT = 'annonymousHttp';
export const FETCH_STRATEGY_TYPES = [FETCH_STRATEGY_ANONYMOUS_HTTP, FETCH_STRATEGY_ANONYMOUS_HTTP_MISSPELT] as const;

export type RolloutStrategyType = 'rolling' | 'recreate';

/** An integer, or a percentage string such as `"25%"` (Kubernetes int-or-string). */
export type IntOrPercent = number | string;

export interface AnonHttpSpec {
  /** http(s):// or file:// URL of the shim archive (a .tar.gz holding `containerd-shim-*-v2` or runwasi's `-v1`) or binary. */
  location: string;
  /** Lowercase hex sha256 of the artifact at `location`. shimkeeper addition; required unless opted out. */
  sha256?: string;
}

/** One artifact per node platform. Upstream name and shape: `{os, arch, location, sha256}`. */
export interface PlatformArtifact {
  /** Matches the node's `kubernetes.io/os` label, e.g. `linux`. */
  os: string;
  /** Matches the node's `kubernetes.io/arch`; `x86_64` = `amd64` and `aarch64` = `arm64`. */
  arch: string;
  location: string;
  sha256?: string;
}

export interface FetchStrategy {
  /** Upstream requires it; shimkeeper accepts it missing. Only `anonymousHttp` exists (`annonymousHttp`: deprecated spelling). */
  type?: (typeof FETCH_STRATEGY_TYPES)[number];
  /** The single artifact for every node. Ignored when `platforms` is non-empty (as upstream). */
  anonHttp?: AnonHttpSpec;
  /** Per-platform artifacts. A node whose platform is not listed is reported unsupported. */
  platforms?: PlatformArtifact[];
  /**
   * shimkeeper addition. Every artifact needs a sha256 unless this is `true`; then artifacts without
   * one are installed unverified (a given sha256 is still checked). Named after Kubernetes'
   * `insecureSkipTLSVerify` so the risk is visible in review.
   */
  insecureSkipChecksum?: boolean;
}

export interface RuntimeClassSpec {
  /** Name of the RuntimeClass shimkeeper creates (DNS subdomain). */
  name: string;
  /** containerd runtime handler, e.g. `spin` (DNS label); also the RuntimeClass `handler`. */
  handler: string;
  /**
   * shimkeeper addition. Without it the installer never replaces a runtime already configured for
   * the handler in a node's containerd (the default runtime, or a stanza someone wrote by hand), and
   * the API refuses handlers that are the node default ({@link NODE_DEFAULT_HANDLERS}). Set it only
   * to deliberately take over such a handler; the replaced stanza is restored on uninstall.
   */
  takeOverExistingHandler?: boolean;
  /**
   * shimkeeper addition, for moving from runtime-class-manager: take over an existing RuntimeClass
   * of this name that shimkeeper did not create (runtime-class-manager's, or one made by hand), when
   * its handler is this handler. Its controller owner reference is replaced by this Shim's and its
   * scheduling by shimkeeper's. Without it such a class is never touched (RuntimeClassConflict); a
   * class of another Shim or with another handler is refused even with it.
   */
  adoptExisting?: boolean;
}

/** Handlers that are a node's default runtime: a Shim may name them only with takeOverExistingHandler. */
export const NODE_DEFAULT_HANDLERS: readonly string[] = ['runc'];

export interface RollingSpec {
  /**
   * How many nodes may install or uninstall at once: an integer ≥ 1, or a percentage of the nodes the
   * Shim manages (its targets plus nodes it still has to uninstall from), rounded down, at least 1.
   * Default 1.
   */
  maxUpdate?: IntOrPercent;
}

export interface RolloutStrategy {
  type: RolloutStrategyType;
  rolling?: RollingSpec;
  /**
   * shimkeeper addition: the failure budget. When this many target nodes have failed to install the
   * desired revision, no new install starts (Progressing=False, reason RolloutPaused) until the spec
   * changes the revision or raises the budget, or the failed node's status annotation is removed.
   * Integer ≥ 1 or percentage of target nodes; default 1.
   */
  maxFailedNodes?: IntOrPercent;
}

export interface ShimSpec {
  /** Nodes with all these labels are targets. Empty or absent: only nodes that opt in by annotation. */
  nodeSelector?: Record<string, string>;
  /** shimkeeper addition: semver of the shim, passed to the installer and reported back. */
  version?: string;
  fetchStrategy: FetchStrategy;
  runtimeClass: RuntimeClassSpec;
  /** Upstream requires it; shimkeeper defaults it to `{type: rolling, rolling: {maxUpdate: 1}}`. */
  rolloutStrategy?: RolloutStrategy;
  /** containerd runtime `options` for this handler, e.g. `{SystemdCgroup: "true"}`. */
  containerdRuntimeOptions?: Record<string, string>;
  /**
   * Deprecated: the name some runtime-class-manager releases gave containerdRuntimeOptions. Read
   * only through {@link effectiveRuntimeOptions}; validation refuses both set to different maps.
   */
  runtimeOptions?: Record<string, string>;
  /** shimkeeper addition: the `containerd-shim-*-v1` or `-v2` file inside the archive, when it holds several. */
  shimBinary?: string;
}

/** metav1.Condition. */
export interface Condition {
  type: ShimConditionType | string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  /** RFC 3339, second precision (the API server truncates to seconds). */
  lastTransitionTime: string;
  observedGeneration?: number;
}

export type ShimConditionType = 'Ready' | 'Progressing' | 'Degraded';

export interface FailingNode {
  node: string;
  message: string;
}

/** The revision nodes of one platform get. With a single anonHttp artifact every platform has the same one. */
export interface PlatformRevision {
  /** `os/arch` with Go arch names, e.g. `linux/amd64`. */
  platform: string;
  revision: string;
}

/** How many target nodes run one revision (status.versions). */
export interface VersionSummary {
  /** The version those nodes report, when known (the Shim names none, or no node reported it). */
  version?: string;
  revision: string;
  /** Target nodes on which this revision is installed and working. */
  nodes: number;
}

export interface ShimStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  /** Target nodes (upstream field). */
  nodes?: number;
  /** Target nodes carrying the ready label (upstream field): a working version is installed. */
  nodesReady?: number;
  /** Target nodes that run the desired revision. */
  nodesUpdated?: number;
  /** Nodes whose last install or uninstall failed (see failingNodes). */
  nodesFailed?: number;
  /** Target nodes that can never get the shim (Windows, not containerd, no artifact for their platform). */
  nodesUnsupported?: number;
  /** Desired revision per platform among the target nodes, sorted by platform. */
  revisions?: PlatformRevision[];
  /** At most {@link MAX_FAILING_NODES} failing nodes, sorted by name. */
  failingNodes?: FailingNode[];
  /**
   * Which revisions (and versions) the target nodes run, the desired ones first, then newest
   * version first; at most {@link MAX_VERSIONS} entries.
   */
  versions?: VersionSummary[];
}

export const MAX_FAILING_NODES = 10;
/** A rollout has two revisions per platform at a time; more entries are leftovers of failed ones. */
export const MAX_VERSIONS = 8;

export interface ShimMetadata {
  name: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Shim {
  apiVersion: typeof SHIM_API_VERSION | string;
  kind: typeof SHIM_KIND | string;
  metadata: ShimMetadata;
  spec: ShimSpec;
  status?: ShimStatus;
}

export const DEFAULT_MAX_UPDATE = 1;
export const DEFAULT_MAX_FAILED_NODES = 1;

/**
 * Patterns shared by the CRD schema (RE2, evaluated by the API server) and validate.ts (JavaScript),
 * so both enforce the same rules. Each is valid in both dialects.
 */
export const PATTERNS = {
  /** RFC 1123 subdomain (object names, RuntimeClass name). */
  dnsSubdomain: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
  /** RFC 1123 label: what Kubernetes requires of a RuntimeClass handler. */
  dnsLabel: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
  /** What the installer can fetch. */
  location: '^(https?|file)://[^\\s]+$',
  sha256: '^[a-f0-9]{64}$',
  /** Semantic version 2.0 with an optional leading `v` (shim releases are tagged `v0.19.0`). */
  semver:
    '^v?(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?$',
  /** `os` and `arch` as Kubernetes and uname spell them (lowercase). */
  platformPart: '^[a-z0-9_]+$',
  /** Percentages for int-or-string fields: 1% to 100%. */
  percent: '^(100|[1-9][0-9]?)%$',
  /**
   * A file name only: the installer looks it up inside the archive. containerd's shim naming is
   * `containerd-shim-<name>-v<major>`: `-v2` for Go shims (runc, Spin), `-v1` for runwasi's
   * (`containerd-shim-wasmtime-v1`, runtime type `io.containerd.wasmtime.v1`).
   */
  shimBinary: '^containerd-shim-[a-z0-9][a-z0-9._-]*-v[12]$',
  /** containerd runtime option names are TOML bare keys (e.g. SystemdCgroup, BinaryName). */
  runtimeOptionKey: '^[A-Za-z0-9_-]+$',
  /** Label values (nodeSelector). */
  labelValue: '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$',
  /** Label keys (nodeSelector): optional DNS-subdomain prefix and a name. */
  labelKey:
    '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$',
} as const;

/**
 * Limits shared by schema and validation. A Shim's name must be a DNS label of at most 63
 * characters (not the 253-character subdomain Kubernetes allows for cluster-scoped objects): it is
 * a label value on the RuntimeClass and installer Jobs (max 63), the first part of the node label
 * and annotation keys `<name>.shim.runtime.shimkeeper.dev/…`, and a directory and file name part on
 * every node (`<install-dir>/<name>/…`, `<install-dir>/backups/<config>.<time>.<name>.bak`, max 255
 * bytes each). test/unit/names-property.test.ts checks every place against this limit.
 */
export const LIMITS = {
  shimName: 63,
  dnsSubdomain: 253,
  dnsLabel: 63,
  location: 2048,
  platforms: 16,
  runtimeOptions: 32,
  runtimeOptionKey: 128,
  runtimeOptionValue: 1024,
  nodeSelector: 32,
  labelKey: 317,
  labelValue: 63,
  version: 128,
  platformPart: 32,
  /** A file name on nodes, with room for the installer's `.partial` and temp-file suffixes (255 bytes). */
  shimBinary: 128,
} as const;

export interface EffectiveRollout {
  type: RolloutStrategyType;
  maxUpdate: IntOrPercent;
  maxFailedNodes: IntOrPercent;
}

/** The containerd runtime options, under their current name or the deprecated one (runtimeOptions). */
export function effectiveRuntimeOptions(spec: Pick<ShimSpec, 'containerdRuntimeOptions' | 'runtimeOptions'>): Record<string, string> {
  return spec.containerdRuntimeOptions ?? spec.runtimeOptions ?? {};
}

/** The rollout strategy with shimkeeper's defaults filled in. */
export function effectiveRolloutStrategy(spec: ShimSpec): EffectiveRollout {
  const strategy = spec.rolloutStrategy;
  return {
    type: strategy?.type ?? 'rolling',
    maxUpdate: strategy?.rolling?.maxUpdate ?? DEFAULT_MAX_UPDATE,
    maxFailedNodes: strategy?.maxFailedNodes ?? DEFAULT_MAX_FAILED_NODES,
  };
}
