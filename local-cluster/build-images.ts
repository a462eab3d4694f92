// Builds the images a local cluster needs as OCI image-layout archives (what
// `ctr -n k8s.io images import` reads), without Docker or a registry:
//
//   shimkeeper-installer:dev, shimkeeper-controller:dev
//       The equivalent of installer-image/Dockerfile's `installer` and `controller` targets,
//       assembled "distroless"-style from this machine's files: the Node.js 24 binary the `node`
//       devDependency installed and the shared libraries it links, CA certificates, passwd/group
//       with root and node (1000), /tmp, and at /opt/shimkeeper the compiled src/ (tsc, like the
//       Dockerfile's build stage), package.json and the production node_modules. The installer
//       adds nsenter (for --restart systemd).
//   shimkeeper.test/pause:3.10   a static pause program (local-cluster/pause/pause.c) for sandboxes.
//   shimkeeper.test/busybox:1    static busybox with sh, sleep, echo, cat, ls.
//
// Layers: base (node, libraries, certificates, passwd) and app (/opt/shimkeeper) shared by both
// project images, so containerd stores and unpacks them once, plus a tools layer (nsenter) on top
// for the installer. Every layer is deterministic, and each image is cached by a hash of its
// inputs: when nothing changed, a run only hashes inputs and returns the existing archives.
//
//   node local-cluster/build-images.ts [--out DIR]     (npm run images:build)
//
// Archives go to ${SHIMKEEPER_CACHE:-$HOME/.cache/shimkeeper}/images by default, outside the repo.

import { processAlive } from './processes.ts';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, realpathSync, writeFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readdir, readFile, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildLayer, ociArchitecture, writeOciArchive, type LayerBlob, type LayerEntry, type OciRuntimeConfig } from './oci-image.ts';

/**
 * Names as containerd stores them. The CRI plugin resolves a pod's `shimkeeper-installer:dev` to
 * `docker.io/library/shimkeeper-installer:dev`, so the archives carry the normalised names.
 */
export const IMAGE_NAMES = {
  installer: 'docker.io/library/shimkeeper-installer:dev',
  controller: 'docker.io/library/shimkeeper-controller:dev',
  pause: 'shimkeeper.test/pause:3.10',
  busybox: 'shimkeeper.test/busybox:1',
} as const;

export type ImageKey = keyof typeof IMAGE_NAMES;

/** Paths of the OCI archives, one per image. */
export type BuiltImages = Record<ImageKey, string>;

export interface BuildImagesOptions {
  /** Where archives are cached; default ${SHIMKEEPER_CACHE:-$HOME/.cache/shimkeeper}/images. */
  outDir?: string;
  /** Progress lines (what is rebuilt and why, what is reused). */
  log?: (line: string) => void;
}

const repoRoot = path.resolve(import.meta.dirname, '..');
const APP_DIR = 'opt/shimkeeper';
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const NODE_UID = 1000;
const CA_CERTIFICATES = '/etc/ssl/certs/ca-certificates.crt';
const BUSYBOX_TOOLS = ['sh', 'sleep', 'echo', 'cat', 'ls'];
// Files bigger than this (the node binary is ~120 MB) enter the cache key by identity (size,
// mtime, inode) instead of by content, which would cost a good part of a cached run's budget.
const HASH_CONTENT_BELOW_BYTES = 16 * 1024 * 1024;

export function defaultImagesDir(): string {
  return path.join(process.env['SHIMKEEPER_CACHE'] || path.join(os.homedir(), '.cache', 'shimkeeper'), 'images');
}

export async function buildImages(options: BuildImagesOptions = {}): Promise<BuiltImages> {
  const outDir = path.resolve(options.outDir ?? defaultImagesDir());
  const log = options.log ?? (() => {});
  await mkdir(outDir, { recursive: true });
  await removeAbandonedWorkDirs(outDir);
  const builder = await builderFingerprint();
  const project = await buildProjectImages(outDir, builder, log);
  const pause = await buildPauseImage(outDir, builder, log);
  const busybox = await buildBusyboxImage(outDir, builder, log);
  return { ...project, pause, busybox };
}

// ---------------------------------------------------------------------------------------------
// shimkeeper-installer and shimkeeper-controller

interface RuntimeFiles {
  nodeBinary: string;
  /** Shared objects node needs, by the path the loader looks them up at (from ldd). */
  nodeLibraries: Map<string, string>;
  nsenter: string;
  nsenterLibraries: Map<string, string>;
}

async function buildProjectImages(outDir: string, builder: string, log: (line: string) => void): Promise<Pick<BuiltImages, 'installer' | 'controller'>> {
  const runtime = findRuntimeFiles();
  const key = await projectInputsKey(builder, runtime);
  const archives = { installer: archivePath(outDir, 'shimkeeper-installer', key), controller: archivePath(outDir, 'shimkeeper-controller', key) };
  if (existsSync(archives.installer) && existsSync(archives.controller)) {
    log(`installer and controller: inputs unchanged (${key.slice(0, 12)}), reusing the archives`);
    return archives;
  }
  log(`installer and controller: building (inputs ${key.slice(0, 12)})`);
  const started = performance.now();
  const work = await newWorkDir(outDir);
  try {
    const compiled = path.join(work, 'tsc');
    compileApp(compiled, work);
    log(`installer and controller: compiled src/ in ${secondsSince(started)} s`);
    const packageJson = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version?: string };

    const base = await buildLayer(await baseLayerEntries(runtime), path.join(work, 'base.tar'), 'base: node, shared libraries, CA certificates, passwd/group, /tmp');
    const appEntries: LayerEntry[] = [
      { type: 'directory', path: APP_DIR, mode: 0o755 },
      { type: 'file', path: `${APP_DIR}/package.json`, source: path.join(repoRoot, 'package.json'), mode: 0o644 },
      ...(await treeEntries(path.join(compiled, 'src'), `${APP_DIR}/dist/src`)),
      ...(await productionDependencyEntries()),
    ];
    const app = await buildLayer(appEntries, path.join(work, 'app.tar'), `app: ${APP_DIR} (dist/src, package.json, production node_modules)`);
    const alreadyInBase = new Set(runtime.nodeLibraries.keys());
    const toolsEntries: LayerEntry[] = [
      { type: 'file', path: 'usr/bin/nsenter', source: runtime.nsenter, mode: 0o755 },
      ...[...runtime.nsenterLibraries].filter(([imagePath]) => !alreadyInBase.has(imagePath)).map(([imagePath, source]): LayerEntry => ({ type: 'file', path: imagePath, source, mode: 0o755 })),
    ];
    const tools = await buildLayer(toolsEntries, path.join(work, 'tools.tar'), 'tools: nsenter (util-linux) for --restart systemd');

    // No build-inputs label: the config, like the layers, depends only on what is in the image.
    const labels = { 'org.opencontainers.image.version': packageJson.version ?? '0.0.0' };
    const common: OciRuntimeConfig = { Env: [PATH_ENV, 'NODE_ENV=production'], WorkingDir: `/${APP_DIR}` };
    await writeImage(work, archives.installer, IMAGE_NAMES.installer, [base, app, tools], {
      ...common,
      // Root: the installer edits the host's containerd config and restarts containerd.
      Entrypoint: ['/usr/local/bin/node', `/${APP_DIR}/dist/src/installer/cli.js`],
      Cmd: ['--help'],
      Labels: { ...labels, 'org.opencontainers.image.title': 'shimkeeper-installer' },
    });
    await writeImage(work, archives.controller, IMAGE_NAMES.controller, [base, app], {
      ...common,
      User: `${NODE_UID}:${NODE_UID}`,
      Entrypoint: ['/usr/local/bin/node', `/${APP_DIR}/dist/src/controller/main.js`],
      ExposedPorts: { '8080/tcp': {} },
      Labels: { ...labels, 'org.opencontainers.image.title': 'shimkeeper-controller' },
    });
    await publish(outDir, 'shimkeeper-installer', archives.installer);
    await publish(outDir, 'shimkeeper-controller', archives.controller);
    log(`installer and controller: built in ${secondsSince(started)} s`);
    return archives;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function findRuntimeFiles(): RuntimeFiles {
  // node_modules/.bin/node is a symlink into the `node` package; the image needs the ELF itself.
  const nodeBinary = realpathSync(path.join(repoRoot, 'node_modules', '.bin', 'node'));
  const nsenter = which('nsenter');
  if (!nsenter) throw new Error('nsenter is missing: apt-get install util-linux');
  return { nodeBinary, nodeLibraries: sharedLibraries(nodeBinary), nsenter, nsenterLibraries: sharedLibraries(nsenter) };
}

/** `ldd` of a dynamically linked ELF: image path (as the loader looks it up) → real file. */
function sharedLibraries(binary: string): Map<string, string> {
  const result = spawnSync('ldd', [binary], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`ldd ${binary} failed: ${result.stderr || result.stdout}`);
  const libraries = new Map<string, string>();
  for (const line of result.stdout.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)";
    // linux-vdso has no file.
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (line.includes('not found')) throw new Error(`ldd ${binary}: ${line.trim()}`);
    if (match?.[1]) libraries.set(match[1].slice(1), realpathSync(match[1]));
  }
  if (libraries.size === 0) throw new Error(`ldd ${binary} listed no libraries (is it static? then this builder needs no ldd for it)`);
  return libraries;
}

async function baseLayerEntries(runtime: RuntimeFiles): Promise<LayerEntry[]> {
  await assertElf(runtime.nodeBinary);
  const passwd = ['root:x:0:0:root:/root:/sbin/nologin', `node:x:${NODE_UID}:${NODE_UID}::/home/node:/sbin/nologin`, 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin', ''].join('\n');
  const group = ['root:x:0:', `node:x:${NODE_UID}:`, 'nogroup:x:65534:', ''].join('\n');
  return [
    { type: 'file', path: 'usr/local/bin/node', source: runtime.nodeBinary, mode: 0o755 },
    ...[...runtime.nodeLibraries].map(([imagePath, source]): LayerEntry => ({ type: 'file', path: imagePath, source, mode: 0o755 })),
    { type: 'file', path: CA_CERTIFICATES.slice(1), source: CA_CERTIFICATES, mode: 0o644 },
    { type: 'file', path: 'etc/passwd', content: passwd, mode: 0o644 },
    { type: 'file', path: 'etc/group', content: group, mode: 0o644 },
    // glibc's built-in defaults would try DNS before /etc/hosts.
    { type: 'file', path: 'etc/nsswitch.conf', content: 'passwd: files\ngroup: files\nhosts: files dns\n', mode: 0o644 },
    { type: 'directory', path: 'tmp', mode: 0o1777 },
    { type: 'directory', path: 'root', mode: 0o700 },
    { type: 'directory', path: 'home/node', mode: 0o755, uid: NODE_UID, gid: NODE_UID },
  ];
}

/**
 * Compiles src/ with the repo's tsconfig into a private directory, as the Dockerfile's build
 * stage does: the image never picks up a stale or half-written dist/ from the working tree.
 */
function compileApp(outDir: string, work: string): void {
  const tsconfig = path.join(work, 'tsconfig.images.json');
  const config = {
    extends: path.join(repoRoot, 'tsconfig.json'),
    compilerOptions: { rootDir: repoRoot, outDir, typeRoots: [path.join(repoRoot, 'node_modules', '@types')] },
    include: [path.join(repoRoot, 'src')],
  };
  writeFileSync(tsconfig, JSON.stringify(config));
  const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', tsconfig], { cwd: repoRoot, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`tsc failed compiling src/ for the images:\n${result.stdout}${result.stderr}`);
}

/** Production node_modules, as `npm ci --omit=dev` would install them (from npm's own view). */
async function productionDependencyEntries(): Promise<LayerEntry[]> {
  const result = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw new Error(`npm ls: ${result.error.message}`);
  if (/\bmissing\b|\binvalid\b/i.test(result.stderr)) throw new Error(`npm ls --omit=dev reports problems with node_modules (run npm ci):\n${result.stderr}`);
  const packageDirs = result.stdout.split('\n').map((line) => line.trim()).filter((line) => line && path.resolve(line) !== repoRoot);
  if (packageDirs.length === 0) throw new Error(`npm ls --omit=dev listed no packages:\n${result.stderr}`);
  const entries: LayerEntry[] = [];
  for (const dir of packageDirs) {
    const relative = path.relative(repoRoot, dir);
    if (relative.startsWith('..') || !relative.startsWith('node_modules')) throw new Error(`npm ls listed ${dir}, outside ${repoRoot}/node_modules`);
    if (!existsSync(path.join(dir, 'package.json'))) throw new Error(`npm ls listed ${dir}, which has no package.json (run npm ci)`);
    // A package's own node_modules holds nested dependencies, listed by npm ls on their own
    // lines when they are production ones; the rest are dev dependencies and stay out.
    entries.push(...(await treeEntries(dir, `${APP_DIR}/${relative.split(path.sep).join('/')}`, (name) => name !== 'node_modules')));
  }
  return entries;
}

async function projectInputsKey(builder: string, runtime: RuntimeFiles): Promise<string> {
  const hash = createHash('sha256');
  const add = (label: string, value: string | Buffer) => hash.update(`${label}\0${value.length}\0`).update(value);
  add('builder', builder);
  add('arch', process.arch);
  for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'node_modules/.package-lock.json']) {
    // npm rewrites node_modules/.package-lock.json whenever it changes what is installed.
    add(file, await readFile(path.join(repoRoot, file)).catch(() => 'absent'));
  }
  for (const file of await listFiles(path.join(repoRoot, 'src'))) add(path.relative(repoRoot, file), await readFile(file));
  const runtimeFiles = [runtime.nodeBinary, ...runtime.nodeLibraries.values(), runtime.nsenter, ...runtime.nsenterLibraries.values(), CA_CERTIFICATES];
  add('library paths', JSON.stringify([[...runtime.nodeLibraries.keys()], [...runtime.nsenterLibraries.keys()]]));
  for (const file of runtimeFiles) add(file, await fileFingerprint(file));
  return hash.digest('hex');
}

// ---------------------------------------------------------------------------------------------
// shimkeeper.test/pause:3.10 and shimkeeper.test/busybox:1

async function buildPauseImage(outDir: string, builder: string, log: (line: string) => void): Promise<string> {
  const source = path.join(repoRoot, 'local-cluster', 'pause', 'pause.c');
  const gcc = spawnSync('gcc', ['--version'], { encoding: 'utf8' });
  if (gcc.error || gcc.status !== 0) throw new Error('gcc is missing (the pause image is compiled from local-cluster/pause/pause.c): apt-get install gcc libc6-dev');
  const key = hashOf(builder, process.arch, gcc.stdout, await readFile(source));
  const archive = archivePath(outDir, 'pause', key);
  if (existsSync(archive)) {
    log(`pause: inputs unchanged (${key.slice(0, 12)}), reusing the archive`);
    return archive;
  }
  log(`pause: building (inputs ${key.slice(0, 12)})`);
  const work = await newWorkDir(outDir);
  try {
    const binary = path.join(work, 'pause');
    const compiled = spawnSync('gcc', ['-static', '-Os', '-s', '-Wall', '-Wextra', '-Werror', '-o', binary, source], { encoding: 'utf8' });
    if (compiled.status !== 0) throw new Error(`gcc ${source} failed (static linking needs libc6-dev):\n${compiled.stderr}`);
    const layer = await buildLayer([{ type: 'file', path: 'pause', source: binary, mode: 0o755 }], path.join(work, 'pause.tar'), 'pause: static, exits 0 on SIGTERM/SIGINT');
    // 65535 as in the Kubernetes pause image: the sandbox process needs no privileges.
    await writeImage(work, archive, IMAGE_NAMES.pause, [layer], { Entrypoint: ['/pause'], User: '65535:65535', Env: [PATH_ENV] });
    await publish(outDir, 'pause', archive);
    return archive;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function buildBusyboxImage(outDir: string, builder: string, log: (line: string) => void): Promise<string> {
  if (!existsSync('/bin/busybox')) throw new Error('static busybox is missing: apt-get install busybox-static');
  const busybox = realpathSync('/bin/busybox');
  const key = hashOf(builder, process.arch, await fileFingerprint(busybox));
  const archive = archivePath(outDir, 'busybox', key);
  if (existsSync(archive)) {
    log(`busybox: inputs unchanged (${key.slice(0, 12)}), reusing the archive`);
    return archive;
  }
  log(`busybox: building (inputs ${key.slice(0, 12)})`);
  const work = await newWorkDir(outDir);
  try {
    const entries: LayerEntry[] = [
      { type: 'file', path: 'bin/busybox', source: busybox, mode: 0o755 },
      ...BUSYBOX_TOOLS.map((tool): LayerEntry => ({ type: 'symlink', path: `bin/${tool}`, target: 'busybox' })),
      { type: 'directory', path: 'tmp', mode: 0o1777 },
    ];
    const layer = await buildLayer(entries, path.join(work, 'busybox.tar'), `busybox (static) with ${BUSYBOX_TOOLS.join(', ')}`);
    await writeImage(work, archive, IMAGE_NAMES.busybox, [layer], { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] });
    await publish(outDir, 'busybox', archive);
    return archive;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * Writes the archive in the work directory and renames it into place, so the output directory
 * only ever holds finished archives (and a killed build leaves nothing there but its work dir).
 */
async function writeImage(work: string, output: string, name: string, layers: LayerBlob[], config: OciRuntimeConfig): Promise<void> {
  const written = path.join(work, path.basename(output));
  await writeOciArchive({ output: written, name, layers, config, architecture: ociArchitecture() });
  await rename(written, output);
}

/** Archives are named by their inputs' hash: a name that exists is a finished, current build. */
function archivePath(outDir: string, image: string, key: string): string {
  return path.join(outDir, `${image}-${key.slice(0, 16)}.oci.tar`);
}

/**
 * Points `<image>.oci.tar` at the new archive (for people and scripts that want a fixed name)
 * and deletes the archives of older inputs, which would otherwise pile up at ~200 MB each.
 */
async function publish(outDir: string, image: string, archive: string): Promise<void> {
  const stable = path.join(outDir, `${image}.oci.tar`);
  const temporary = `${stable}.${process.pid}`;
  await rm(temporary, { force: true });
  await symlink(path.basename(archive), temporary);
  await rename(temporary, stable);
  const current = path.basename(archive);
  for (const name of await readdir(outDir)) {
    if (name !== current && new RegExp(`^${image}-[0-9a-f]{16}\\.oci\\.tar$`).test(name)) await rm(path.join(outDir, name), { force: true });
  }
}

async function newWorkDir(outDir: string): Promise<string> {
  // Inside the output directory: same filesystem, so layer blobs are hard-linked, not copied.
  return mkdtemp(path.join(outDir, `.build-${process.pid}-`));
}

/** Work directories of builds that were killed (their process is gone). */
async function removeAbandonedWorkDirs(outDir: string): Promise<void> {
  for (const name of await readdir(outDir)) {
    const pid = /^\.build-(\d+)-/.exec(name)?.[1];
    if (pid && !processAlive(Number(pid))) await rm(path.join(outDir, name), { recursive: true, force: true });
  }
}


/** The builder's own code is an input of every image: a change to it rebuilds them. */
async function builderFingerprint(): Promise<string> {
  return hashOf(await readFile(import.meta.filename), await readFile(path.join(repoRoot, 'local-cluster', 'oci-image.ts')));
}

async function fileFingerprint(file: string): Promise<string> {
  const info = await stat(file);
  if (info.size >= HASH_CONTENT_BELOW_BYTES) return `identity ${info.size} ${info.mtimeMs} ${info.ino}`;
  return `sha256 ${hashOf(await readFile(file))}`;
}

function secondsSince(started: number): string {
  return ((performance.now() - started) / 1000).toFixed(1);
}

function hashOf(...parts: Array<string | Buffer>): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${part.length}\0`).update(part);
  return hash.digest('hex');
}

async function assertElf(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    const { buffer } = await handle.read({ buffer: Buffer.alloc(4), position: 0 });
    if (buffer.toString('latin1') !== '\x7fELF') throw new Error(`${file} is not an ELF executable (the node devDependency should install the real binary)`);
  } finally {
    await handle.close();
  }
}

/** Files under `dir`, recursively, sorted; `keep` filters entry names at every level. */
async function listFiles(dir: string, keep: (name: string) => boolean = () => true): Promise<string[]> {
  const files: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).filter((e) => keep(e.name)).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(full, keep)));
    else files.push(full);
  }
  return files;
}

/** Layer entries for the tree at `sourceDir`, placed at `imageDir`; modes keep only "executable". */
async function treeEntries(sourceDir: string, imageDir: string, keep: (name: string) => boolean = () => true): Promise<LayerEntry[]> {
  const entries: LayerEntry[] = [{ type: 'directory', path: imageDir, mode: 0o755 }];
  for (const entry of (await readdir(sourceDir, { withFileTypes: true })).filter((e) => keep(e.name))) {
    const source = path.join(sourceDir, entry.name);
    const imagePath = `${imageDir}/${entry.name}`;
    if (entry.isDirectory()) entries.push(...(await treeEntries(source, imagePath)));
    else if (entry.isSymbolicLink()) entries.push({ type: 'symlink', path: imagePath, target: await readlink(source) });
    else if (entry.isFile()) {
      const { mode } = await lstat(source);
      entries.push({ type: 'file', path: imagePath, source, mode: mode & 0o111 ? 0o755 : 0o644 });
    }
  }
  return entries;
}

function which(command: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin', '/bin'])) {
    const candidate = path.join(dir, command);
    if (dir && existsSync(candidate)) return realpathSync(candidate);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Command line

async function main(argv: string[]): Promise<void> {
  let outDir: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--out' && argv[i + 1]) outDir = argv[++i];
    else if (arg?.startsWith('--out=')) outDir = arg.slice('--out='.length);
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write('Usage: node local-cluster/build-images.ts [--out DIR]\n');
      return;
    } else throw new Error(`unknown argument ${arg} (usage: node local-cluster/build-images.ts [--out DIR])`);
  }
  const started = performance.now();
  const images = await buildImages({ ...(outDir ? { outDir } : {}), log: (line) => process.stderr.write(`build-images: ${line}\n`) });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  for (const image of Object.keys(images) as ImageKey[]) {
    const { size } = await stat(images[image]);
    process.stdout.write(`${IMAGE_NAMES[image].padEnd(45)} ${(size / 1e6).toFixed(0).padStart(4)} MB  ${images[image]}\n`);
  }
  process.stdout.write(`done in ${seconds} s; import with: ctr -a /run/containerd/containerd.sock -n k8s.io images import <archive>\n`);
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`build-images: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
