// The Shim CustomResourceDefinition, built here as the single source of truth.
// scripts/generate-manifests.ts writes it to manifests/crd.yaml; test/unit/crd.test.ts proves the
// file and this object agree. Rules mirror validate.ts (same patterns, limits and messages).
// Longer than 300 lines on purpose: it is one declarative schema (each field's description,
// pattern and CEL rule), and `kubectl explain` reads it top to bottom as it is written here.

import { ARCH_ALIASES } from './artifact.ts';
import { API_GROUP, API_VERSION, SHIM_KIND, SHIM_PLURAL } from './names.ts';
import { FETCH_STRATEGY_ANONYMOUS_HTTP, FETCH_STRATEGY_ANONYMOUS_HTTP_MISSPELT, FETCH_STRATEGY_TYPES, LIMITS, MAX_FAILING_NODES, MAX_VERSIONS, NODE_DEFAULT_HANDLERS, PATTERNS } from './shim.ts';
import { MESSAGES } from './validate.ts';

export interface ValidationRule {
  rule: string;
  message: string;
  fieldPath?: string;
}

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps this CRD uses. */
export interface SchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'boolean';
  description?: string;
  format?: string;
  properties?: Record<string, SchemaProps>;
  additionalProperties?: SchemaProps;
  items?: SchemaProps;
  required?: string[];
  enum?: string[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maxItems?: number;
  maxProperties?: number;
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-list-type'?: 'atomic' | 'map' | 'set';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: ValidationRule[];
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames: string[]; categories: string[] };
    scope: 'Cluster';
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: SchemaProps };
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
    }>;
  };
}

function str(description: string, rule: { pattern?: keyof typeof PATTERNS; maxLength: number }): SchemaProps {
  const schema: SchemaProps = { type: 'string', description, minLength: 1, maxLength: rule.maxLength };
  if (rule.pattern) schema.pattern = PATTERNS[rule.pattern];
  return schema;
}

/** CEL string literal for a pattern: raw strings keep the regex backslashes as they are. */
function celRegex(pattern: string): string {
  if (pattern.includes("'")) throw new Error(`pattern ${pattern} cannot be a CEL raw string`);
  return `r'${pattern}'`;
}

/** CEL expression mapping uname architecture names to Kubernetes ones, as normalizeArch does. */
function celCanonicalArch(variable: string): string {
  return Object.entries(ARCH_ALIASES).reduceRight(
    (otherwise, [alias, canonical]) => `(${variable} == '${alias}' ? '${canonical}' : ${otherwise})`,
    variable,
  );
}

function intOrPercent(description: string): SchemaProps {
  return {
    description,
    'x-kubernetes-int-or-string': true,
    'x-kubernetes-validations': [
      { rule: `type(self) == int ? self >= 1 : self.matches(${celRegex(PATTERNS.percent)})`, message: MESSAGES.intOrPercent },
    ],
  };
}

const SKIP_CHECKSUM = '(has(self.insecureSkipChecksum) && self.insecureSkipChecksum)';
const HAS_PLATFORMS = '(has(self.platforms) && size(self.platforms) > 0)';

function fetchStrategySchema(): SchemaProps {
  const location = str('http://, https:// or file:// URL of the shim archive or binary.', { pattern: 'location', maxLength: LIMITS.location });
  const sha256 = str('Lowercase hex sha256 of the artifact.', { pattern: 'sha256', maxLength: 64 });
  const platformPart = { pattern: 'platformPart', maxLength: LIMITS.platformPart } as const;
  return {
    type: 'object',
    description:
      'Where nodes download the shim from: one anonHttp artifact for every node, or one per platform. Every artifact needs a sha256 unless insecureSkipChecksum is true.',
    properties: {
      type: {
        type: 'string',
        description: `Fetch strategy; the only one is ${FETCH_STRATEGY_ANONYMOUS_HTTP}, and it may be left out. ${FETCH_STRATEGY_ANONYMOUS_HTTP_MISSPELT} (the spelling of early kwasm-operator samples) is a deprecated alias, accepted so those manifests apply.`,
        enum: [...FETCH_STRATEGY_TYPES],
      },
      anonHttp: {
        type: 'object',
        description: 'A single artifact for every node, fetched without credentials. Ignored when platforms is non-empty.',
        required: ['location'],
        properties: { location, sha256 },
      },
      platforms: {
        type: 'array',
        description: 'One artifact per node platform (kubernetes.io/os and kubernetes.io/arch). Nodes of other platforms are reported unsupported.',
        maxItems: LIMITS.platforms,
        items: {
          type: 'object',
          required: ['os', 'arch', 'location'],
          properties: {
            os: str('Node OS, e.g. linux.', platformPart),
            arch: str('Node architecture, e.g. amd64 or arm64 (x86_64 and aarch64 are accepted as aliases).', platformPart),
            location,
            sha256,
          },
        },
        'x-kubernetes-validations': [
          {
            rule: `self.all(p, self.exists_one(q, q.os == p.os && ${celCanonicalArch('q.arch')} == ${celCanonicalArch('p.arch')}))`,
            message: MESSAGES.uniquePlatforms,
          },
        ],
      },
      insecureSkipChecksum: {
        type: 'boolean',
        description: 'Install artifacts that have no sha256 without verifying them. Insecure: prefer giving a sha256.',
      },
    },
    'x-kubernetes-validations': [
      { rule: `has(self.anonHttp) || ${HAS_PLATFORMS}`, message: MESSAGES.fetchSource },
      { rule: `${SKIP_CHECKSUM} || ${HAS_PLATFORMS} || !has(self.anonHttp) || has(self.anonHttp.sha256)`, message: MESSAGES.anonHttpSha256 },
      { rule: `${SKIP_CHECKSUM} || !has(self.platforms) || self.platforms.all(p, has(p.sha256))`, message: MESSAGES.platformSha256 },
    ],
  };
}

function runtimeOptionsSchema(field: string, description: string): SchemaProps {
  return {
    type: 'object',
    description,
    maxProperties: LIMITS.runtimeOptions,
    additionalProperties: { type: 'string', maxLength: LIMITS.runtimeOptionValue },
    'x-kubernetes-validations': [
      {
        rule: `self.all(k, k.size() <= ${LIMITS.runtimeOptionKey} && k.matches(${celRegex(PATTERNS.runtimeOptionKey)}))`,
        message: `${field} keys must be letters, digits, _ or -`,
      },
    ],
  };
}

function specSchema(): SchemaProps {
  return {
    type: 'object',
    description: 'ShimSpec: which nodes get which shim artifact, wired to which RuntimeClass, how fast.',
    required: ['fetchStrategy', 'runtimeClass'],
    'x-kubernetes-validations': [
      {
        rule: '!has(self.runtimeOptions) || !has(self.containerdRuntimeOptions) || self.runtimeOptions == self.containerdRuntimeOptions',
        message: MESSAGES.runtimeOptionsAlias,
      },
    ],
    properties: {
      nodeSelector: {
        type: 'object',
        description:
          'Nodes carrying all these labels are targets. Nodes may also opt in with the annotation runtime.shimkeeper.dev/shims. Empty or absent: annotation opt-in only, so no node unless one opts in (runtime-class-manager took absent as every node; for every Linux node use kubernetes.io/os: linux).',
        maxProperties: LIMITS.nodeSelector,
        additionalProperties: { type: 'string', maxLength: LIMITS.labelValue, pattern: PATTERNS.labelValue },
        'x-kubernetes-validations': [
          {
            rule: `self.all(k, k.size() <= ${LIMITS.labelKey} && k.matches(${celRegex(PATTERNS.labelKey)}))`,
            message: 'nodeSelector keys must be valid label keys',
          },
        ],
      },
      version: str('Semantic version of the shim (e.g. 0.19.0), passed to the installer and reported per node.', {
        pattern: 'semver',
        maxLength: LIMITS.version,
      }),
      fetchStrategy: fetchStrategySchema(),
      runtimeClass: {
        type: 'object',
        description: 'The RuntimeClass shimkeeper creates; pods using it land only on nodes where the shim works.',
        required: ['name', 'handler'],
        properties: {
          name: str(
            'RuntimeClass name. shimkeeper creates it and deletes it with the Shim; a RuntimeClass of that name that shimkeeper did not create for this Shim is never changed or deleted (the Shim reports RuntimeClassConflict) unless adoptExisting is true.',
            { pattern: 'dnsSubdomain', maxLength: LIMITS.dnsSubdomain },
          ),
          handler: str(
            'containerd runtime handler name, e.g. spin. One handler belongs to one Shim: of several Shims naming it, the oldest (then the first by name) installs, the others report HandlerConflict.',
            { pattern: 'dnsLabel', maxLength: LIMITS.dnsLabel },
          ),
          takeOverExistingHandler: {
            type: 'boolean',
            description: `Replace a runtime that a node's containerd already has for this handler (its default runtime, e.g. ${NODE_DEFAULT_HANDLERS.join(', ')}, a hand-written stanza, or runtime-class-manager's); the replaced stanza is restored on uninstall. Default false: the installer refuses such nodes, and handlers that are a node default are refused at admission.`,
          },
          adoptExisting: {
            type: 'boolean',
            description:
              'Take over an existing RuntimeClass of this name that shimkeeper did not create (one runtime-class-manager created, or one made by hand) when its handler is this handler: its controller owner reference becomes this Shim and its scheduling shimkeeper\'s, other labels and fields stay. For moving from runtime-class-manager. A class of another Shim, or with another handler, is refused even so. Default false: such a class is never touched (RuntimeClassConflict).',
          },
        },
        'x-kubernetes-validations': [
          {
            rule: `!(self.handler in [${NODE_DEFAULT_HANDLERS.map((h) => `'${h}'`).join(', ')}]) || (has(self.takeOverExistingHandler) && self.takeOverExistingHandler)`,
            message: MESSAGES.defaultHandler,
          },
        ],
      },
      rolloutStrategy: {
        type: 'object',
        description: 'How changes reach nodes. Default: rolling, one node at a time, pause after one failed node.',
        required: ['type'],
        properties: {
          type: { type: 'string', description: 'rolling: maxUpdate nodes at a time; recreate: all nodes at once.', enum: ['rolling', 'recreate'] },
          rolling: {
            type: 'object',
            properties: {
              maxUpdate: intOrPercent(
                'Nodes installing or uninstalling at once: integer, or percentage of the nodes the Shim manages (targets and nodes still to uninstall from), rounded down, at least 1. Default 1.',
              ),
            },
          },
          maxFailedNodes: intOrPercent(
            'Failure budget: once this many target nodes failed the desired revision, no new install starts until the revision changes. Integer or percentage of target nodes (rounded down, at least 1). Default 1.',
          ),
        },
      },
      containerdRuntimeOptions: runtimeOptionsSchema('containerdRuntimeOptions', 'containerd runtime options for the handler, e.g. SystemdCgroup: "true".'),
      runtimeOptions: runtimeOptionsSchema(
        'runtimeOptions',
        'Deprecated: the name some runtime-class-manager releases gave containerdRuntimeOptions, accepted so their manifests apply. Use containerdRuntimeOptions.',
      ),
      shimBinary: str('The containerd-shim-*-v2 (or runwasi-style -v1) file to install from the archive, when it holds more than one.', {
        pattern: 'shimBinary',
        maxLength: LIMITS.shimBinary,
      }),
    },
  };
}

function conditionSchema(): SchemaProps {
  return {
    type: 'object',
    description: 'metav1.Condition.',
    required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
    properties: {
      type: { type: 'string', description: 'Ready, Progressing or Degraded.', maxLength: 316 },
      status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
      reason: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' },
      message: { type: 'string', maxLength: 32768 },
      lastTransitionTime: { type: 'string', format: 'date-time' },
      observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
    },
  };
}

function statusSchema(): SchemaProps {
  const count = (description: string): SchemaProps => ({ type: 'integer', format: 'int32', minimum: 0, description });
  return {
    type: 'object',
    description: 'ShimStatus: what runs where, written by the controller.',
    properties: {
      observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
      conditions: {
        type: 'array',
        items: conditionSchema(),
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
      },
      nodes: count('Target nodes.'),
      nodesReady: count('Target nodes where a working version of the shim is installed.'),
      nodesUpdated: count('Target nodes running the desired revision.'),
      nodesFailed: count('Nodes whose last install or uninstall failed.'),
      nodesUnsupported: count('Target nodes that cannot get the shim (Windows, not containerd, no artifact for the platform).'),
      revisions: {
        type: 'array',
        description: 'Desired revision per platform of the target nodes.',
        items: {
          type: 'object',
          required: ['platform', 'revision'],
          properties: { platform: { type: 'string' }, revision: { type: 'string' } },
        },
      },
      versions: {
        type: 'array',
        description: `Which revision (and version) how many target nodes run, installed and working: the desired revisions first, then the newest version. At most ${MAX_VERSIONS} entries.`,
        maxItems: MAX_VERSIONS,
        items: {
          type: 'object',
          required: ['revision', 'nodes'],
          properties: {
            version: { type: 'string', description: 'The version the nodes report; absent when unknown.' },
            revision: { type: 'string' },
            nodes: count('Target nodes running this revision.'),
          },
        },
      },
      failingNodes: {
        type: 'array',
        description: `Up to ${MAX_FAILING_NODES} failing nodes with their last error.`,
        maxItems: MAX_FAILING_NODES,
        items: {
          type: 'object',
          required: ['node', 'message'],
          properties: { node: { type: 'string' }, message: { type: 'string' } },
        },
      },
    },
  };
}

/** The Shim CRD as an object, ready to serialize or to apply. */
export function buildShimCrd(): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${SHIM_PLURAL}.${API_GROUP}`,
      labels: { 'app.kubernetes.io/name': 'shimkeeper', 'app.kubernetes.io/part-of': 'shimkeeper' },
    },
    spec: {
      group: API_GROUP,
      names: {
        kind: SHIM_KIND,
        listKind: `${SHIM_KIND}List`,
        plural: SHIM_PLURAL,
        singular: SHIM_KIND.toLowerCase(),
        // `kubectl get shims` is ambiguous when upstream runtime-class-manager is installed too.
        shortNames: ['sks'],
        categories: ['shimkeeper'],
      },
      scope: 'Cluster',
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                `Shim installs a containerd shim on the nodes it targets and creates its RuntimeClass. A Shim is root on every node it targets: grant create and update on shims to cluster administrators only. Its name must be a DNS label of at most ${LIMITS.shimName} characters, because it becomes a label value, part of node label keys, and a directory and file name on every node.`,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: specSchema(),
                status: statusSchema(),
              },
              // metadata is not part of the schema proper: the name rule has to sit at the root.
              'x-kubernetes-validations': [
                {
                  rule: `self.metadata.name.size() <= ${LIMITS.shimName} && self.metadata.name.matches(${celRegex(PATTERNS.dnsLabel)})`,
                  message: MESSAGES.shimName,
                },
              ],
            },
          },
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'RuntimeClass', type: 'string', jsonPath: '.spec.runtimeClass.name' },
            { name: 'Version', type: 'string', jsonPath: '.spec.version' },
            { name: 'Ready', type: 'integer', jsonPath: '.status.nodesReady', description: 'Target nodes where the shim works' },
            { name: 'Nodes', type: 'integer', jsonPath: '.status.nodes', description: 'Target nodes' },
            // As a Deployment's UP-TO-DATE: a paused or failing upgrade never looks like success.
            { name: 'Up-to-date', type: 'integer', jsonPath: '.status.nodesUpdated', description: 'Target nodes proven at the desired revision and version' },
            { name: 'Failed', type: 'integer', jsonPath: '.status.nodesFailed', description: 'Nodes whose last attempt failed' },
            { name: 'Rollout', type: 'string', jsonPath: '.status.conditions[?(@.type=="Progressing")].reason', description: 'RollingOut, RolloutComplete, RolloutPaused, ...' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
            { name: 'Message', type: 'string', jsonPath: '.status.conditions[?(@.type=="Degraded")].message', description: 'What is wrong, when something is', priority: 1 },
          ],
        },
      ],
    },
  };
}
