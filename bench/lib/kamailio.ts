/**
 * Kamailio as a benchmark target: its version, its memory managers, and a start that checks the
 * configuration first and resolves once the config's ready line is printed.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { startProcess, type RunningProcess } from '../../test/harness/tools.js';

const VERSION_LINE = /version:\s*kamailio\s+(\S+)/i;
const START_TIMEOUT_MS = 20_000;

/** Kamailio memory managers (`-x` shared, `-X` private). */
export type KamailioAllocator = 'tlsf' | 'fm' | 'qm';
export const KAMAILIO_ALLOCATORS: readonly KamailioAllocator[] = ['tlsf', 'fm', 'qm'];

/** Runs `cmd args` to its end; exit code and all output. */
export async function runToEnd(cmd: string, args: readonly string[]): Promise<{ code: number | null; output: string }> {
  const proc = await startProcess(cmd, args);
  const status = await proc.exited;
  return { code: status.code, output: proc.stdout + proc.stderr };
}

/** Kamailio version string, e.g. `5.6.3`. */
export async function kamailioVersion(): Promise<string> {
  const { output } = await runToEnd('kamailio', ['-v']);
  return VERSION_LINE.exec(output)?.[1] ?? '?';
}

/** True when Kamailio's module `name` (e.g. `db_sqlite`) is installed in a usual module folder. */
export function kamailioModuleInstalled(name: string): boolean {
  const dirs = ['/usr/lib/x86_64-linux-gnu/kamailio/modules', '/usr/lib/aarch64-linux-gnu/kamailio/modules', '/usr/lib/kamailio/modules', '/usr/local/lib64/kamailio/modules'];
  return dirs.some((dir) => existsSync(`${dir}/${name}.so`));
}

/** How to start one Kamailio instance. */
export interface KamailioStart {
  readonly cfg: string;
  /** `-A` defines, e.g. `KAM_PORT=5070`. */
  readonly defines: readonly string[];
  /** UDP workers (`-n`); one TCP worker. */
  readonly children: number;
  readonly allocator: KamailioAllocator;
  /** Shared memory, MB (`-m`). */
  readonly shmMb: number;
  readonly cpu: number;
  /** Working folder (`-w`), created if missing. */
  readonly runDir: string;
  /** A line the config prints once a worker is initialised. */
  readonly readyLine: RegExp;
}

/** Kamailio command-line options of `s` other than the config and defines (for the report). */
export function kamailioOptions(s: Pick<KamailioStart, 'children' | 'allocator' | 'shmMb'>): string[] {
  return ['-n', String(s.children), '-N', '1', '-m', String(s.shmMb), '-M', '16', '-x', s.allocator, '-X', s.allocator];
}

/** Checks the config (`kamailio -c`), then starts Kamailio pinned to `s.cpu` in the foreground. */
export async function startKamailio(s: KamailioStart): Promise<RunningProcess> {
  await mkdir(s.runDir, { recursive: true });
  const defines = s.defines.flatMap((d) => ['-A', d]);
  const check = await runToEnd('kamailio', ['-c', '-f', s.cfg, ...defines]);
  if (check.code !== 0) throw new Error(`kamailio -c rejects ${s.cfg}:\n${check.output}`);
  const args = ['-DD', '-E', '-f', s.cfg, ...kamailioOptions(s), '-w', s.runDir, ...defines];
  return startProcess('taskset', ['-c', String(s.cpu), 'kamailio', ...args], {
    readyLine: s.readyLine,
    timeoutMs: START_TIMEOUT_MS,
    cwd: s.runDir,
  });
}
