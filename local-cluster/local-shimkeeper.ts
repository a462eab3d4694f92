import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { buildImages } from './build-images.ts';
import { sha256, shimArchive } from './artifacts.ts';
import { startCluster, type TestCluster } from './cluster.ts';
import { writeLocalOverlay } from './deploy.ts';
import { waitFor } from './kube-helpers.ts';
import { ensureNodeContainerd } from './node-containerd.ts';
import { buildWasmImage } from './wasm-image.ts';

// shimkeeper on a local one-node cluster, as a user would have it: the project's images imported
// into the node's containerd, `kubectl apply -k` of manifests/ (through a local overlay), and a
// download site on the node serving two revisions of each of two real shims:
//   - containerd-shim-probe-v2: the node containerd's own runc shim, renamed;
//   - containerd-shim-wasmi-v1: a runwasi Wasm shim (test/fixtures/wasm-shim, built by
//     scripts/build-wasm-fixtures.sh), packed and named as runwasi releases are,
// plus two WASI app images (hello: prints a line and exits; ticker: prints a line every 2 s).
// Used by the e2e test, `npm run cluster:up` and `npm run demo`.

const SERVE = fileURLToPath(new URL('./serve-artifacts.ts', import.meta.url));
const WASM_FIXTURES = fileURLToPath(new URL('../scripts/build-wasm-fixtures.sh', import.meta.url));
const ARTIFACT_PORT = 8081;

/** The Wasm app images imported into the node. */
export const WASM_IMAGES = { hello: 'shimkeeper.test/wasm-hello:1', ticker: 'shimkeeper.test/wasm-ticker:1' } as const;
export const WASM_GREETING = 'hello from wasm via shimkeeper';
export const WASM_TICK = 'tick from wasm via shimkeeper';

interface WasmFixtures {
  binary: string;
  modules: Record<'hello' | 'ticker', { path: string; sha256: string }>;
  revisions: Array<{ version: string; archive: string; sha256: string }>;
}

export interface ShimArtifact {
  name: string;
  url: string;
  sha256: string;
}

export interface LocalShimkeeper {
  cluster: TestCluster;
  /** The kustomize overlay shimkeeper was deployed from (`kubectl delete -k` it to remove shimkeeper). */
  overlay: string;
  /** Two revisions of containerd-shim-probe-v2: the first release and its "security patch". */
  artifacts: { first: ShimArtifact; patched: ShimArtifact };
  /** Two releases of the runwasi shim containerd-shim-wasmi-v1, 0.1.0 and 0.2.0. */
  wasm: { binary: string; releases: Record<'0.1.0' | '0.2.0', ShimArtifact> };
  stop(): Promise<void>;
}

/** Builds (or finds cached) the Wasm shim's two releases and the WASI apps. */
async function wasmFixtures(): Promise<WasmFixtures> {
  // A no-op in a fraction of a second once cached; a cold build compiles the shim (about 10 min on 2 cores).
  const { stdout } = await promisify(execFile)('bash', [WASM_FIXTURES], { encoding: 'utf8', env: { ...process.env, SHIMKEEPER_WASM_REVISIONS: '0.1.0 0.2.0' }, maxBuffer: 1 << 24 });
  const manifest = /^manifest (.+)$/m.exec(stdout)?.[1];
  if (!manifest) throw new Error(`scripts/build-wasm-fixtures.sh printed no manifest line:\n${stdout}`);
  return JSON.parse(readFileSync(manifest, 'utf8')) as WasmFixtures;
}

export async function startLocalShimkeeper(options: { log?: (line: string) => void } = {}): Promise<LocalShimkeeper> {
  const say = options.log ?? (() => {});
  say('building images (cached after the first run)');
  const images = await buildImages();
  const containerd = await ensureNodeContainerd();
  say('building the Wasm shim and apps (cached after the first run)');
  const fixtures = await wasmFixtures();
  const cluster = await startCluster({ log: say, containerd });
  try {
    say('importing images into the node');
    for (const archive of [images.pause, images.busybox, images.installer, images.controller]) cluster.importImage(archive);
    // The module in an ordinary image ('file' layout, as `FROM scratch` + `COPY app.wasm /` gives):
    // it imports and runs on every containerd. The OCI Wasm artifact layout runs too, but the
    // machine's `ctr` (Debian's 1.6 client, which unpacks on the client side) fails its import
    // with "mismatched image rootfs and manifest layers" even against containerd 2.4.
    const layout = 'file';
    for (const app of ['hello', 'ticker'] as const) {
      const archive = path.join(cluster.stateDir, `wasm-${app}.tar`);
      await buildWasmImage({ output: archive, name: WASM_IMAGES[app], module: fixtures.modules[app].path, layout, modulePath: `/${app}.wasm` });
      cluster.importImage(archive);
    }

    const artifactDir = path.join(cluster.stateDir, 'artifacts');
    mkdirSync(artifactDir, { recursive: true });
    const urlOf = (name: string) => `http://${cluster.nodeIP}:${ARTIFACT_PORT}/${name}`;
    const make = (name: string, marker: string): ShimArtifact => {
      // The node containerd's own runc shim: containerd 2.3+ cannot start Debian's 1.6 one.
      const data = shimArchive('containerd-shim-probe-v2', marker, containerd.runcShim);
      writeFileSync(path.join(artifactDir, name), data);
      return { name, url: urlOf(name), sha256: sha256(data) };
    };
    const artifacts = { first: make('containerd-shim-probe-v2-1.0.0.tar.gz', 'one'), patched: make('containerd-shim-probe-v2-1.0.1.tar.gz', 'two') };
    // Laid out like a GitHub release download: .../v<version>/containerd-shim-wasmi-<arch>-linux-gnu.tar.gz
    const wasmRelease = (version: '0.1.0' | '0.2.0'): ShimArtifact => {
      const release = fixtures.revisions.find((r) => r.version === version);
      if (!release) throw new Error(`the Wasm fixtures have no release ${version}`);
      const name = `v${version}/${path.basename(release.archive)}`;
      mkdirSync(path.join(artifactDir, `v${version}`), { recursive: true });
      copyFileSync(release.archive, path.join(artifactDir, name));
      return { name, url: urlOf(name), sha256: release.sha256 };
    };
    const wasm = { binary: fixtures.binary, releases: { '0.1.0': wasmRelease('0.1.0'), '0.2.0': wasmRelease('0.2.0') } };
    cluster.launchOnNode([process.execPath, SERVE, artifactDir, cluster.nodeIP, String(ARTIFACT_PORT)], 'artifact-server');
    await waitFor('artifact server', async () => (await fetch(artifacts.first.url)).ok);

    say('deploying shimkeeper: kubectl apply -k manifests/ (local overlay)');
    const overlay = writeLocalOverlay(path.join(cluster.stateDir, 'overlay'), cluster.nodeIP);
    cluster.kubectl(['apply', '--server-side', '-k', overlay]);
    cluster.kubectl(['wait', '--for=condition=Established', 'crd/shims.runtime.shimkeeper.dev', '--timeout=60s']);
    await waitFor('the controller', () => cluster.kubectl(['get', 'deployment', 'shimkeeper-controller', '-n', 'shimkeeper-system', '-o', 'jsonpath={.status.availableReplicas}']).trim() === '1', 180_000, () => cluster.logs());
    say('shimkeeper is running');
    return { cluster, overlay, artifacts, wasm, stop: () => cluster.stop() };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/** A Shim manifest (YAML, as a user writes it) for nodes labelled `labelKey=true`; the RuntimeClass and handler take the Shim's name. */
function shimManifest(name: string, artifact: ShimArtifact, version: string, labelKey: string, runtimeOptions: Record<string, string> = {}): string {
  const options = Object.entries(runtimeOptions).map(([key, value]) => `    ${key}: ${JSON.stringify(value)}\n`).join('');
  return `apiVersion: runtime.shimkeeper.dev/v1alpha1
kind: Shim
metadata:
  name: ${name}
spec:
  nodeSelector:
    ${labelKey}: "true"
  fetchStrategy:
    type: anonymousHttp
    anonHttp:
      location: ${artifact.url}
      sha256: ${artifact.sha256}
  runtimeClass:
    name: ${name}
    handler: ${name}
  rolloutStrategy:
    type: rolling
    rolling:
      maxUpdate: 1
    maxFailedNodes: 1
  version: ${version}
${options ? `  containerdRuntimeOptions:\n${options}` : ''}`;
}

/** A Shim manifest for the probe shim on nodes labelled `labelKey=true`. */
export function probeShimManifest(artifact: ShimArtifact, version: string, labelKey: string): string {
  return shimManifest('probe', artifact, version, labelKey);
}

/**
 * A Shim manifest for the runwasi Wasm shim on nodes labelled `labelKey=true`. runwasi accepts only
 * containerd's generic runtime options and requires their `SystemdCgroup` key whenever any option
 * is set; containerd 1.7+ passes the handler's options table through (1.6 sends an empty body, and
 * the installer refuses such options there), so the options go in only when the node passes them.
 */
export function wasmShimManifest(artifact: ShimArtifact, version: string, labelKey: string, runtimeOptions: boolean): string {
  return shimManifest('wasmi', artifact, version, labelKey, runtimeOptions ? { SystemdCgroup: 'false' } : {});
}
