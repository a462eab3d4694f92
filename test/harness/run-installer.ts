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
      const { result } = parsedResult(stdout);
      if (result) resolve({ code: code ?? -1, stdout, stderr, result });
      else reject(new Error(`installer printed no JSON result (exit ${code}):\n${stdout}\n${stderr}`));
    });
  });
}

export interface KilledRun {
  /** True when the run was signalled at the step line; false when it ended without printing it. */
  killed: boolean;
  code: number | null;
  stdout: string;
  stderr: string;
  /** The JSON result, when the run printed one (it does when it is asked to stop, not when it is killed). */
  result?: InstallerRun['result'];
}

/**
 * Runs the installer CLI and sends it `signal` (SIGKILL unless told) the moment it prints `line` on
 * stderr (the installer logs `step: <name> start|done` for every step that reads or changes the
 * node, steps.ts). The signal lands a few milliseconds after the line: wherever the run got to in
 * that time.
 */
export function runInstallerKilledAt(args: string[], line: string, env: Record<string, string> = {}, signal: NodeJS.Signals = 'SIGKILL'): Promise<KilledRun> {
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
        child.kill(signal);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ killed, code, stdout, stderr, ...parsedResult(stdout) }));
  });
}

function parsedResult(stdout: string): { result?: InstallerRun['result'] } {
  try {
    return { result: JSON.parse(stdout.trim().split('\n').pop() ?? '') as InstallerRun['result'] };
  } catch {
    return {};
  }
}
