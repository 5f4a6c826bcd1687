// Runs the real `tidewater` CLI (src/cli/main.ts through tsx) as a child process.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment without any TIDEWATER_ setting of the caller's, plus `extra`. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TIDEWATER_')));
  return { ...env, ...extra };
}

/** Runs `node <entry> ...args` in the repository and resolves with its exit code and output. */
export function runNode(entry: readonly string[], args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...entry, ...args], { cwd: repoRoot, env: cleanEnv(env), timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `tidewater ...args`, from the TypeScript sources. */
export function tidewater(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runNode(['--import', 'tsx', path.join(repoRoot, 'src/cli/main.ts')], args, env);
}

/** A fresh data folder under the system's temporary folder. */
export function tempDataDir(): string {
  return path.join(mkdtempSync(path.join(tmpdir(), 'tw-cli-')), 'data');
}
