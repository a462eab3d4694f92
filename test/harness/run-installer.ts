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

export interface KilledRun {
  /** True when the run was killed at the step line; false when it ended without printing it. */
  killed: boolean;
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the installer CLI and SIGKILLs it the moment it prints `line` on stderr (the installer
 * logs `step: <name> start|done` for every step that reads or changes the node, steps.ts). The
 * kill lands a few milliseconds after the line: wherever the run got to in that time.
 */
export function runInstallerKilledAt(args: string[], line: string, env: Record<string, string> = {}): Promise<KilledRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!killed && stderr.split('\n').includes(line)) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ killed, code, stdout, stderr }));
  });
}
