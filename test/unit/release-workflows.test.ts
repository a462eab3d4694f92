// The release promises of the README ("Releases") that a linter cannot see: what a tag publishes,
// how, and with which powers. actionlint (test/integration/workflows.test.ts) checks that the
// files are valid workflows; this checks that they are the workflows we mean.
import { loadYaml } from '@kubernetes/client-node';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const workflowsDir = join(root, '.github/workflows');

interface Step { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> }
interface Job { permissions?: Record<string, string>; steps: Step[]; needs?: string | string[]; strategy?: { matrix?: Record<string, unknown> } }
interface Workflow { on: Record<string, unknown>; permissions?: Record<string, string>; jobs: Record<string, Job> }

const workflowFiles = readdirSync(workflowsDir).filter((f) => /\.ya?ml$/.test(f));
const text = (file: string) => readFileSync(join(workflowsDir, file), 'utf8');
const workflow = (file: string) => loadYaml<Workflow>(text(file));
const release = workflow('release.yml');
const stepsUsing = (job: Job, action: string) => job.steps.filter((s) => s.uses?.startsWith(`${action}@`));
const runs = (job: Job) => job.steps.map((s) => s.run ?? '').join('\n');

describe('the workflows', () => {
  it('are the CI and the release workflow', () => {
    expect(workflowFiles.sort()).toEqual(['ci.yml', 'release.yml']);
  });

  it.each(workflowFiles)('%s pins every action by commit SHA, naming the release', (file) => {
    const uses = text(file).split('\n').filter((line) => /^\s*(-\s+)?uses:/.test(line));
    expect(uses.length).toBeGreaterThan(0);
    for (const line of uses) expect(line).toMatch(/uses: [\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$/);
  });

  it.each(workflowFiles)('%s grants nothing by default and each job only what it names', (file) => {
    const parsed = workflow(file);
    expect(parsed.permissions).toEqual({});
    for (const [name, job] of Object.entries(parsed.jobs)) {
      expect(job.permissions, `job ${name}`).toBeDefined();
      for (const [scope, level] of Object.entries(job.permissions ?? {})) {
        // Only the release jobs push (packages) and sign (id-token, attestations); nothing writes the repository.
        if (scope === 'contents') expect(level, `${name}: contents`).toBe('read');
        else expect(file, `${name}: ${scope}: ${level}`).toBe('release.yml');
      }
    }
  });

  it('releases on v* tags only', () => {
    expect(release.on).toEqual({ push: { tags: ['v*'] } });
  });

  it('builds both images for amd64 and arm64 with SBOM and provenance, then signs and attests them by digest', () => {
    const images = release.jobs['images']!;
    expect(images.strategy?.matrix?.['target']).toEqual(['controller', 'installer']);
    expect(images.permissions).toEqual({ contents: 'read', packages: 'write', 'id-token': 'write', attestations: 'write' });
    const [build] = stepsUsing(images, 'docker/build-push-action');
    expect(build?.with).toMatchObject({ file: 'installer-image/Dockerfile', target: '${{ matrix.target }}', push: true, sbom: true, provenance: 'mode=max' });
    expect(text('release.yml')).toMatch(/^ {2}PLATFORMS: linux\/amd64,linux\/arm64$/m);
    expect(stepsUsing(images, 'docker/setup-qemu-action')).toHaveLength(1);
    expect(runs(images)).toContain('cosign sign --yes "$IMAGE@$DIGEST"');
    expect(stepsUsing(images, 'actions/attest-build-provenance')[0]?.with).toMatchObject({ 'subject-digest': '${{ steps.build.outputs.digest }}', 'push-to-registry': true });
    // The base is checked to be a pinned multi-arch index before anything is built.
    expect(runs(images)).toContain('docker buildx imagetools inspect "$base"');
  });

  it('publishes the chart, versioned by the tag, as a signed OCI artifact after the images', () => {
    const chart = release.jobs['chart']!;
    expect(chart.needs).toEqual(['version', 'images']);
    const script = runs(chart);
    expect(script).toContain('helm package charts/shimkeeper --version "$VERSION" --app-version "$VERSION"');
    expect(script).toContain('helm push "$CHART_FILE" "oci://$CHART_REPO"');
    expect(script).toContain('cosign sign --yes "$CHART_REPO/shimkeeper@$DIGEST"');
    expect(stepsUsing(chart, 'actions/attest-build-provenance')).toHaveLength(1);
  });

  it('CI runs what .ci/run runs, the privileged part as root', () => {
    const ci = workflow('ci.yml');
    expect(Object.keys(ci.on).sort()).toEqual(['pull_request', 'push']);
    expect(runs(ci.jobs['full']!)).toMatch(/sudo .*bash \.ci\/run/);
    expect(readFileSync(join(root, '.ci/run'), 'utf8')).toMatch(/npm ci[^\n]*\nnpm test\nnpm run test:e2e/);
  });
});

describe('the image bases', () => {
  it('are one image pinned by digest in every FROM, which Dependabot keeps current', () => {
    const dockerfile = readFileSync(join(root, 'installer-image/Dockerfile'), 'utf8');
    const bases = [...dockerfile.matchAll(/^FROM (?:--platform=\S+ )?(\S+) AS \S+$/gm)].map((m) => m[1]);
    expect(bases).toHaveLength(3);
    expect(new Set(bases).size).toBe(1);
    expect(bases[0]).toMatch(/^node:24-bookworm-slim@sha256:[0-9a-f]{64}$/);
    const dependabot = loadYaml<{ updates: Array<{ 'package-ecosystem': string; directory: string }> }>(readFileSync(join(root, '.github/dependabot.yml'), 'utf8'));
    expect(dependabot.updates.map((u) => `${u['package-ecosystem']} ${u.directory}`)).toEqual(expect.arrayContaining(['docker /installer-image', 'github-actions /']));
  });
});
