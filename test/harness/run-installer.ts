import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Runs the installer CLI as a separate process, the way the Job's container runs it.

const CLI = fileURLToPath(new URL('../../src/installer/cli.ts', import.meta.url));

export interface InstallerRun {
  code: number;
  stdout: string;
  stderr: string;
  result: Record<string, unknown> & { ok: boolean };
}

export function runInstaller(args: string[], env: Record<string, string> = {}): Promise<InstallerRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const lastLine = stdout.trim().split('\n').pop() ?? '';
      let result: InstallerRun['result'];
      try {
        result = JSON.parse(lastLine) as InstallerRun['result'];
      } catch {
        reject(new Error(`installer printed no JSON result (exit ${code}):\n${stdout}\n${stderr}`));
        return;
      }
      resolve({ code: code ?? -1, stdout, stderr, result });
    });
  });
}
