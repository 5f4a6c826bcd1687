/**
 * Test harness for real peers: system tool checks, free loopback ports and child processes
 * that cannot outlive the test run.
 *
 * Every child started here runs in its own process group (so grandchildren, e.g. the Node
 * process behind `tsx`, are stopped with it), is started under `setpriv --pdeathsig KILL`
 * when util-linux provides it (so it dies even if the test process is SIGKILLed), and is
 * killed when the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { delimiter, join } from 'node:path';

/** Transport protocol of a loopback port. */
export type PortProtocol = 'udp' | 'tcp';

const EXTRA_BIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
const LOOPBACK = '127.0.0.1';
const OUTPUT_CAP = 4 * 1024 * 1024;
const LINE_SPLIT = /\r?\n/;

/** Absolute path of the executable `name` on PATH (or in the sbin directories), if any. */
export function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_BIN_DIRS];
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * Returns the path of system tool `name`, or throws an Error naming the Debian package that
 * provides it. Call it in `beforeAll` so that a missing peer fails the suite loudly instead
 * of skipping it (`npm test` installs them first through scripts/test-setup.mjs).
 */
export function requireTool(name: string, pkg: string): string {
  const path = findTool(name);
  if (path === undefined) {
    throw new Error(
      `${name} is not installed: install the Debian package ${pkg} (apt-get install -y ${pkg}; ` +
        '`node scripts/test-setup.mjs` does it when run as root)',
    );
  }
  return path;
}

function freeTcpPort(port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: LOOPBACK, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(bound));
    });
  });
}

function freeUdpPort(port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.bind({ address: LOOPBACK, port, exclusive: true }, () => {
      const bound = socket.address().port;
      socket.close(() => resolve(bound));
    });
  });
}

/**
 * A port on 127.0.0.1 that was free for `protocol` a moment ago (bound to port 0, read,
 * closed). Another process may take it before the caller binds it: callers that can, retry.
 */
export function freePort(protocol: PortProtocol): Promise<number> {
  return protocol === 'udp' ? freeUdpPort() : freeTcpPort();
}

/**
 * A free port (see {@link freePort}) other than those in `taken`: ports probed one after the
 * other are each released before the next probe, so the kernel may hand out the same one twice,
 * which one process's listeners cannot share.
 */
export async function freePortExcept(protocol: PortProtocol, taken: readonly number[], attempts = 50): Promise<number> {
  for (let i = 0; i < attempts; i++) {
    const port = await freePort(protocol);
    if (!taken.includes(port)) return port;
  }
  throw new Error(`no free ${protocol} port other than ${taken.join(', ')} after ${attempts} attempts`);
}

/** A port on 127.0.0.1 that is free for both UDP and TCP (for servers listening on both). */
export async function freeUdpTcpPort(attempts = 50): Promise<number> {
  for (let i = 0; i < attempts; i++) {
    const port = await freeTcpPort();
    try {
      return await freeUdpPort(port);
    } catch {
      // UDP side taken: try another
    }
  }
  throw new Error(`no port free for both UDP and TCP on ${LOOPBACK} after ${attempts} attempts`);
}

const PROC_STATE_BOUND: Record<PortProtocol, string> = { udp: '07', tcp: '0A' };
const SOCKET_LINK = /^socket:\[(\d+)\]$/;
const WHITESPACE = /\s+/;

/** `pid` and its descendants, from /proc/PID/task/TID/children. */
async function withDescendants(pid: number): Promise<number[]> {
  const all: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const next = todo.pop() as number;
    all.push(next);
    const tasks = await readdir(`/proc/${next}/task`).catch(() => [] as string[]);
    for (const tid of tasks) {
      const children = await readFile(`/proc/${next}/task/${tid}/children`, 'utf8').catch(() => '');
      for (const child of children.split(' ')) if (child.trim() !== '') todo.push(Number(child));
    }
  }
  return all;
}

/** Inodes of the sockets held by process `pid` or its descendants (e.g. behind a wrapper). */
async function socketInodes(pid: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const owner of await withDescendants(pid)) {
    const fds = await readdir(`/proc/${owner}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${owner}/fd/${fd}`).catch(() => '');
      const match = SOCKET_LINK.exec(target);
      if (match?.[1] !== undefined) inodes.add(match[1]);
    }
  }
  return inodes;
}

/**
 * True when a socket is bound on `address`:`port` (IPv4, default 127.0.0.1; UDP) or listening
 * there (TCP), read from /proc/net/{udp,tcp}; with `pid`, only a socket that process or a
 * descendant holds counts, read from that process's view (/proc/PID/net), so a process in
 * another network namespace is seen in its own.
 */
export async function isPortBound(port: number, protocol: PortProtocol, pid?: number, address = '127.0.0.1'): Promise<boolean> {
  const table = await readFile(pid === undefined ? `/proc/net/${protocol}` : `/proc/${pid}/net/${protocol}`, 'utf8').catch(() => '');
  const local = `${procNetAddress(address)}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const state = PROC_STATE_BOUND[protocol];
  const owned = pid === undefined ? undefined : await socketInodes(pid);
  for (const line of table.split('\n')) {
    const fields = line.trim().split(WHITESPACE);
    if (fields[1] !== local || fields[3] !== state) continue;
    if (owned === undefined || owned.has(fields[9] ?? '')) return true;
  }
  return false;
}

/** An IPv4 address as /proc/net/{udp,tcp} print it: the 32-bit value in host (little-endian) order, hex. */
function procNetAddress(address: string): string {
  return address
    .split('.')
    .reverse()
    .map((octet) => Number(octet).toString(16).toUpperCase().padStart(2, '0'))
    .join('');
}

/** How a child process ended. */
export interface ExitStatus {
  /** Exit code, or null when it was ended by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Options of {@link startProcess}. */
export interface StartProcessOptions {
  /** Resolve once a line of stdout or stderr matches; without it, resolve once spawned. */
  readonly readyLine?: RegExp;
  /** Time allowed to become ready before the child is killed and the start rejected (10 s). */
  readonly timeoutMs?: number;
  readonly cwd?: string;
  /** Environment of the child (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
}

/** A child process started by {@link startProcess}. */
export interface RunningProcess {
  readonly pid: number;
  /** Everything written to stdout so far (the last 4 MB). */
  readonly stdout: string;
  /** Everything written to stderr so far (the last 4 MB). */
  readonly stderr: string;
  /** Settles when the child exits. */
  readonly exited: Promise<ExitStatus>;
  /** Resolves with the first output line (seen before or later) that matches `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends `signal` to the child's process group (no-op once it has exited). */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM to the process group, SIGKILL after `graceMs` (5 s); resolves once it exited. */
  stop(graceMs?: number): Promise<ExitStatus>;
}

const live = new Set<ChildProcess>();
let exitHooksInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function killAllLive(): void {
  for (const child of live) killGroup(child, 'SIGKILL');
  live.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', killAllLive);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllLive();
      process.removeListener(sig, onSignal);
      // keep the default behaviour (terminate) unless someone else handles the signal
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

let setprivPath: string | null | undefined;

/** `setpriv --pdeathsig KILL --` prefix, when util-linux's setpriv is installed. */
function deathSignalPrefix(): string[] {
  if (setprivPath === undefined) setprivPath = findTool('setpriv') ?? null;
  return setprivPath === null ? [] : [setprivPath, '--pdeathsig', 'KILL', '--'];
}

interface LineWatcher {
  readonly pattern: RegExp;
  readonly resolve: (line: string) => void;
}

class ChildOutput {
  stdout = '';
  stderr = '';
  private readonly partial = { stdout: '', stderr: '' };
  private readonly watchers = new Set<LineWatcher>();

  append(stream: 'stdout' | 'stderr', chunk: string): void {
    const text = this[stream] + chunk;
    this[stream] = text.length > OUTPUT_CAP ? text.slice(text.length - OUTPUT_CAP) : text;
    const lines = (this.partial[stream] + chunk).split(LINE_SPLIT);
    this.partial[stream] = lines.pop() ?? '';
    if (this.watchers.size === 0) return;
    for (const line of lines) this.dispatch(line);
  }

  /** First complete line already received that matches, if any. */
  find(pattern: RegExp): string | undefined {
    for (const stream of ['stdout', 'stderr'] as const) {
      const lines = this[stream].split(LINE_SPLIT);
      if (this.partial[stream] !== '') lines.pop(); // unterminated tail
      const hit = lines.find((line) => pattern.test(line));
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  /** Registers a watcher; the returned function removes it and tells whether it was still there. */
  watch(watcher: LineWatcher): () => boolean {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  /** Dispatches unterminated last lines (called once the streams have closed). */
  flush(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.partial[stream];
      this.partial[stream] = '';
      if (rest !== '') this.dispatch(rest);
    }
  }

  private dispatch(line: string): void {
    for (const watcher of this.watchers) {
      if (watcher.pattern.test(line)) {
        this.watchers.delete(watcher);
        watcher.resolve(line);
      }
    }
  }
}

function describeRun(cmd: string, args: readonly string[], output: ChildOutput): string {
  const tail = (s: string): string => s.slice(-2000).trim();
  return `${cmd} ${args.join(' ')}\n--- stdout ---\n${tail(output.stdout)}\n--- stderr ---\n${tail(output.stderr)}`;
}

function spawnChild(cmd: string, args: readonly string[], opts: StartProcessOptions): ChildProcess {
  const prefix = deathSignalPrefix();
  const [file, ...argv] = prefix.length > 0 ? [...prefix, cmd, ...args] : [cmd, ...args];
  return spawn(file as string, argv, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true, // own process group: stop() reaches grandchildren too
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * Spawns `cmd args` and resolves once it is ready: when a line of its stdout or stderr
 * matches `readyLine`, or as soon as it is spawned without one. Rejects (after killing it)
 * if it exits first or is not ready within `timeoutMs`; the error carries its output.
 */
export function startProcess(
  cmd: string,
  args: readonly string[],
  opts: StartProcessOptions = {},
): Promise<RunningProcess> {
  installExitHooks();
  const output = new ChildOutput();
  const child = spawnChild(cmd, args, opts);
  live.add(child);
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => output.append('stdout', chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => output.append('stderr', chunk));
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('close', (code, signal) => {
      live.delete(child);
      output.flush();
      killGroup(child, 'SIGKILL'); // leftovers of the group
      resolve({ code, signal });
    });
    child.once('error', () => {
      if (child.pid !== undefined) return; // a running child's errors end in 'close'
      live.delete(child);
      resolve({ code: null, signal: null });
    });
  });
  const running = makeRunning(child, output, exited);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise<RunningProcess>((resolve, reject) => {
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void running.stop(0).then(() => reject(new Error(`${why}: ${describeRun(cmd, args, output)}`)));
    };
    const ready = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(running);
    };
    const timer = setTimeout(() => fail(`not ready within ${timeoutMs} ms`), timeoutMs);
    child.once('error', (err) => fail(`cannot start (${err.message})`));
    void exited.then((st) => fail(`exited before ready (code ${st.code}, signal ${st.signal})`));
    if (opts.readyLine === undefined) child.once('spawn', ready);
    else void running.waitForLine(opts.readyLine, Number.POSITIVE_INFINITY).then(ready, () => undefined);
  });
}

function makeRunning(child: ChildProcess, output: ChildOutput, exited: Promise<ExitStatus>): RunningProcess {
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const running: RunningProcess = {
    pid: child.pid ?? -1,
    get stdout() {
      return output.stdout;
    },
    get stderr() {
      return output.stderr;
    },
    exited,
    waitForLine: (pattern, timeoutMs = 10_000) => waitForLine(output, exited, pattern, timeoutMs),
    signal: (signal) => {
      if (!done) killGroup(child, signal);
    },
    stop: async (graceMs = 5_000) => {
      if (done) return exited;
      killGroup(child, graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
      const status = await exited;
      clearTimeout(timer);
      return status;
    },
  };
  return running;
}

function waitForLine(
  output: ChildOutput,
  exited: Promise<ExitStatus>,
  pattern: RegExp,
  timeoutMs: number,
): Promise<string> {
  const seen = output.find(pattern);
  if (seen !== undefined) return Promise.resolve(seen);
  return new Promise<string>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const unwatch = output.watch({
      pattern,
      resolve: (line) => {
        clearTimeout(timer);
        resolve(line);
      },
    });
    if (Number.isFinite(timeoutMs)) {
      timer = setTimeout(() => {
        unwatch();
        reject(new Error(`no output line matching ${pattern} within ${timeoutMs} ms`));
      }, timeoutMs);
    }
    void exited.then(() => {
      // the last lines were dispatched by 'close' time; anything not matched by now never will
      if (unwatch()) {
        clearTimeout(timer);
        reject(new Error(`process exited without printing a line matching ${pattern}`));
      }
    });
  });
}
