import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImages } from './build-images.ts';
import { sha256, shimArchive } from './artifacts.ts';
import { startCluster, type TestCluster } from './cluster.ts';
import { writeLocalOverlay } from './deploy.ts';
import { waitFor } from './kube-helpers.ts';

// shimkeeper on a local one-node cluster, as a user would have it: the project's images imported
// into the node's containerd, `kubectl apply -k` of manifests/ (through a local overlay), and a
// download site on the node serving two revisions of a real shim (Debian's runc shim renamed).
// Used by the e2e test, `npm run cluster:up` and `npm run demo`.

const SERVE = fileURLToPath(new URL('./serve-artifacts.ts', import.meta.url));
const ARTIFACT_PORT = 8081;

export interface ShimArtifact {
  name: string;
  url: string;
  sha256: string;
}

export interface LocalShimkeeper {
  cluster: TestCluster;
  /** Two revisions of containerd-shim-probe-v2: the first release and its "security patch". */
  artifacts: { first: ShimArtifact; patched: ShimArtifact };
  stop(): Promise<void>;
}

export async function startLocalShimkeeper(options: { log?: (line: string) => void } = {}): Promise<LocalShimkeeper> {
  const say = options.log ?? (() => {});
  say('building images (cached after the first run)');
  const images = await buildImages();
  const cluster = await startCluster({ log: say });
  try {
    say('importing images into the node');
    for (const archive of [images.pause, images.busybox, images.installer, images.controller]) cluster.importImage(archive);

    const artifactDir = path.join(cluster.stateDir, 'artifacts');
    mkdirSync(artifactDir, { recursive: true });
    const make = (name: string, marker: string): ShimArtifact => {
      const data = shimArchive('containerd-shim-probe-v2', marker);
      writeFileSync(path.join(artifactDir, name), data);
      return { name, url: `http://${cluster.nodeIP}:${ARTIFACT_PORT}/${name}`, sha256: sha256(data) };
    };
    const artifacts = { first: make('containerd-shim-probe-v2-1.0.0.tar.gz', 'one'), patched: make('containerd-shim-probe-v2-1.0.1.tar.gz', 'two') };
    cluster.launchOnNode([process.execPath, SERVE, artifactDir, cluster.nodeIP, String(ARTIFACT_PORT)], 'artifact-server');
    await waitFor('artifact server', async () => (await fetch(artifacts.first.url)).ok);

    say('deploying shimkeeper: kubectl apply -k manifests/ (local overlay)');
    const overlay = writeLocalOverlay(path.join(cluster.stateDir, 'overlay'), cluster.nodeIP);
    cluster.kubectl(['apply', '--server-side', '-k', overlay]);
    cluster.kubectl(['wait', '--for=condition=Established', 'crd/shims.runtime.shimkeeper.dev', '--timeout=60s']);
    await waitFor('the controller', () => cluster.kubectl(['get', 'deployment', 'shimkeeper-controller', '-n', 'shimkeeper-system', '-o', 'jsonpath={.status.availableReplicas}']).trim() === '1', 180_000, () => cluster.logs());
    say('shimkeeper is running');
    return { cluster, artifacts, stop: () => cluster.stop() };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/** A Shim manifest for the probe shim on nodes labelled `labelKey=true`. */
export function probeShimManifest(artifact: ShimArtifact, version: string, labelKey: string): string {
  return `apiVersion: runtime.shimkeeper.dev/v1alpha1
kind: Shim
metadata:
  name: probe
spec:
  nodeSelector:
    ${labelKey}: "true"
  fetchStrategy:
    type: anonymousHttp
    anonHttp:
      location: ${artifact.url}
      sha256: ${artifact.sha256}
  runtimeClass:
    name: probe
    handler: probe
  rolloutStrategy:
    type: rolling
    rolling:
      maxUpdate: 1
    maxFailedNodes: 1
  version: ${version}
`;
}
