// Lints .github/workflows/ with actionlint, built from its Go module by scripts/build-actionlint.sh
// (the `pretest` step; a cache hit here): syntax, expressions and their types, action inputs, job
// dependencies, permissions scopes, and, through shellcheck, every `run:` script. Any finding fails.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const workflowsDir = join(root, '.github/workflows');
let actionlint: string;

interface Finding { message: string; filepath: string; line: number; column: number; kind: string }

function lint(cwd: string, files: string[]): Finding[] {
  const result = spawnSync(actionlint, ['-format', '{{json .}}', ...files], { cwd, encoding: 'utf8' });
  // 0: no finding, 1: findings; anything else is actionlint failing to run.
  if (result.status !== 0 && result.status !== 1) throw new Error(`actionlint exited ${result.status}: ${result.stderr}`);
  return (JSON.parse(result.stdout || 'null') as Finding[] | null) ?? [];
}

const format = (findings: Finding[]) => findings.map((f) => `${f.filepath}:${f.line}:${f.column}: ${f.message} [${f.kind}]`).join('\n');

beforeAll(() => {
  const built = spawnSync('bash', [join(root, 'scripts/build-actionlint.sh')], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`scripts/build-actionlint.sh failed:\n${built.stderr}`);
  actionlint = built.stdout.trim();
});

describe('GitHub Actions workflows', () => {
  const files = readdirSync(workflowsDir).filter((f) => /\.ya?ml$/.test(f));

  it.each(files)('actionlint finds nothing in %s', (file) => {
    const findings = lint(root, [join('.github/workflows', file)]);
    expect(format(findings)).toBe('');
  });

  describe('the linter itself', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'shimkeeper-actionlint-'));
      mkdirSync(join(dir, '.github/workflows'), { recursive: true });
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('reports bad workflows, and shellcheck findings in run: scripts', () => {
      // A clean result above means something only if these are caught: a wrong permission scope,
      // an undefined step output, and an unquoted variable in a script (shellcheck SC2086).
      writeFileSync(join(dir, '.github/workflows/bad.yml'), [
        'on: push',
        'permissions: {}',
        'jobs:',
        '  bad:',
        '    runs-on: ubuntu-24.04',
        '    permissions:',
        '      package: write',
        '    steps:',
        '      - run: echo "${{ steps.nothing.outputs.digest }}"',
        '      - run: cp $SOURCE dist/',
        '',
      ].join('\n'));
      const findings = lint(dir, ['.github/workflows/bad.yml']);
      const kinds = findings.map((f) => f.kind);
      expect(kinds, format(findings)).toContain('permissions');
      expect(kinds, format(findings)).toContain('expression');
      expect(kinds, `shellcheck must be on PATH (scripts/install-test-deps.sh installs it)\n${format(findings)}`).toContain('shellcheck');
      expect(findings.find((f) => f.kind === 'shellcheck')?.message).toContain('SC2086');
    });
  });
});
