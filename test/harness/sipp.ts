/**
 * Drives SIPp (Debian package sip-tester) as a real SIP peer: one-shot runs in the
 * foreground (`runSipp`) and background callee instances (`startSippUas`).
 *
 * SIPp is always bound to 127.0.0.1 (SIP, media and control sockets: `-i -mi -ci`), runs
 * with `-nostdin` under a hard timeout (its own `-timeout` plus a kill a few seconds later),
 * and writes its traces into a private directory that is read back into the result.
 *
 * SIPp exit codes: 0 every call succeeded, 1 at least one call failed, 97 stopped by an
 * internal command, 99 ended without processing calls, 254 a socket could not be bound,
 * 255 fatal error (also the global timeout, because of `-timeout_error`).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  freePort,
  isPortBound,
  requireTool,
  startProcess,
  type ExitStatus,
  type PortProtocol,
  type RunningProcess,
} from './tools.js';

/** SIPp transport modes: UDP or TCP, one socket for all calls (`1`) or one per call (`n`). */
export type SippTransport = 'u1' | 't1' | 'un' | 'tn';

/** Folder of the scenario files written for Tidewater's tests (test/sipp). */
export const SCENARIO_DIR = fileURLToPath(new URL('../sipp/', import.meta.url));

/** Scenarios compiled into SIPp (`-sn`). */
const BUILT_IN_SCENARIOS = new Set(['uac', 'uas', 'regexp', 'branchc', 'branchs', '3pcc-C-A', '3pcc-C-B', '3pcc-A', '3pcc-B', 'uac_pcap']);
const BIND_FAILURE = /Unable to bind/;
const EXIT_BIND_FAILURE = 254;
const KILL_GRACE_MS = 5_000;
const BOUND_POLL_MS = 5;
const BIND_ATTEMPTS = 3;
const DIGITS = /^\d+$/;

/** Options of {@link runSipp} and {@link startSippUas}. */
export interface SippOptions {
  /**
   * A scenario file path (contains `/` or ends in `.xml`), the name of a file in
   * {@link SCENARIO_DIR} without `.xml` (`'uac-call'`), or a SIPp built-in (`'uac'`, `'uas'`).
   */
  readonly scenario: string;
  /** `host:port` SIPp sends to (the UAC's peer, e.g. the proxy); none for a UAS. */
  readonly remote?: string;
  /**
   * Value of the `[dest]` keyword, the host part of the Request-URI and To of the test/sipp
   * UAC scenarios (`sip:[service]@[dest]`). Default: `remote`. Through a proxy, set it to the
   * UAS's `host:port` so the request is not addressed to the proxy itself.
   */
  readonly dest?: string;
  /** Default `u1`. */
  readonly transport?: SippTransport;
  /** Local address for SIP, media and control (`-i`, `-mi`, `-ci`); default 127.0.0.1. */
  readonly address?: string;
  /** Local SIP port (`-p`); default a free port (and another one if it got taken meanwhile). */
  readonly localPort?: number;
  /** Calls to run before exiting (`-m`); default 1; `Infinity` for no limit. */
  readonly calls?: number;
  /** New calls per second (`-r`, `-rp 1000`); SIPp's default is 10. */
  readonly rate?: number;
  /** Maximum simultaneous calls (`-l`). */
  readonly limit?: number;
  /** Global timeout (`-timeout`, failing with `-timeout_error`); SIPp is killed 5 s later. Default 30. */
  readonly timeoutSec?: number;
  /** Per-receive timeout (`-recv_timeout`), ms. */
  readonly recvTimeoutMs?: number;
  /** User part of the Request-URI (`-s`, keyword `[service]`). */
  readonly service?: string;
  /** Digest credentials for `[authentication]` (`-au`, `-ap`). */
  readonly auth?: { readonly user: string; readonly pass: string };
  /** Extra keywords (`-key NAME VALUE`, used as `[NAME]` in the scenario). */
  readonly keys?: Readonly<Record<string, string>>;
  /** Any other SIPp arguments, appended last. */
  readonly extraArgs?: readonly string[];
  /** Trace every message into `messages` (`-trace_msg`); default true. Costly at high rates. */
  readonly traceMessages?: boolean;
  /** Record response times (`-trace_rtt`) into `rtt`; default false. */
  readonly rtt?: boolean;
  /** With `rtt`: write the response-time file every N calls (`-rtt_freq`); default 1. */
  readonly rttEvery?: number;
  /** Pin SIPp to this CPU (`taskset -c`). */
  readonly cpu?: number;
  /** Command words run in front of SIPp (e.g. `/usr/bin/time -o FILE`), relative to its trace directory. */
  readonly prefix?: readonly string[];
  /** Keep the trace files in this directory (created if needed) instead of a temporary one. */
  readonly outDir?: string;
}

/** Counters from SIPp's statistics file (`-trace_stat`), cumulative over the run. */
export interface SippStats {
  readonly created: number;
  readonly successful: number;
  readonly failed: number;
  readonly retransmissions: number;
  /** Calls failed because an expected message did not arrive in time (incl. max retransmissions). */
  readonly timeouts: number;
  /** Calls failed on an unexpected message. */
  readonly unexpected: number;
  /** Messages that matched no call. */
  readonly outOfCallMessages: number;
  /** Seconds from SIPp's start to its last statistics dump. */
  readonly elapsedSec: number;
  /** Every column of the last row, by SIPp's column name (e.g. `SuccessfulCall(C)`). */
  readonly raw: Readonly<Record<string, string>>;
}

/** What a SIPp run produced. */
export interface SippResult {
  /** SIPp's exit code (see the module comment), or null if it was killed. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when the harness had to kill SIPp because it outlived its timeout. */
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
  /** The `-trace_msg` log: every message sent and received, with SIPp's separators. */
  readonly messages: string;
  /** The `-trace_err` log: unexpected messages and errors. */
  readonly errors: string;
  readonly stats: SippStats;
  /** Response times in ms by response-time-duration number (`rtd`), with `rtt: true`. */
  readonly rtt: ReadonlyMap<number, readonly number[]>;
  /** Where the trace files are, when `outDir` was given. */
  readonly dir?: string;
}

/** A SIPp instance running in the background as a callee. */
export interface SippUas {
  /** Local port it listens on. */
  readonly port: number;
  readonly pid: number;
  /** Settles when SIPp exits by itself (after `calls` calls or its timeout) or is stopped. */
  readonly result: Promise<SippResult>;
  /** Ends SIPp (SIGTERM, which still writes its statistics; SIGKILL 5 s later) and returns its result. */
  stop(): Promise<SippResult>;
}

/** Path of `name`.xml in {@link SCENARIO_DIR}. */
export function sippScenario(name: string): string {
  return join(SCENARIO_DIR, `${name}.xml`);
}

function scenarioArgs(scenario: string): string[] {
  if (scenario.includes('/') || scenario.endsWith('.xml')) return ['-sf', resolvePath(scenario)];
  if (BUILT_IN_SCENARIOS.has(scenario)) return ['-sn', scenario];
  const file = sippScenario(scenario);
  if (!existsSync(file)) throw new Error(`unknown SIPp scenario "${scenario}" (no ${file}, not a built-in)`);
  return ['-sf', file];
}

function protocolOf(transport: SippTransport): PortProtocol {
  return transport.startsWith('t') ? 'tcp' : 'udp';
}

/** SIPp command line for `opts`, run from its trace directory. */
function sippArgs(opts: SippOptions, port: number): string[] {
  const args: string[] = opts.remote === undefined ? [] : [opts.remote];
  args.push(...scenarioArgs(opts.scenario));
  const ip = opts.address ?? '127.0.0.1';
  args.push('-t', opts.transport ?? 'u1', '-i', ip, '-mi', ip, '-ci', ip);
  args.push('-p', String(port), '-nostdin');
  const calls = opts.calls ?? 1;
  if (Number.isFinite(calls)) args.push('-m', String(calls));
  args.push('-timeout', `${opts.timeoutSec ?? 30}s`, '-timeout_error');
  if (opts.rate !== undefined) args.push('-r', String(opts.rate), '-rp', '1000');
  if (opts.limit !== undefined) args.push('-l', String(opts.limit));
  if (opts.recvTimeoutMs !== undefined) args.push('-recv_timeout', String(opts.recvTimeoutMs));
  if (opts.service !== undefined) args.push('-s', opts.service);
  if (opts.auth !== undefined) args.push('-au', opts.auth.user, '-ap', opts.auth.pass);
  args.push('-key', 'dest', opts.dest ?? opts.remote ?? `127.0.0.1:${port}`);
  for (const [name, value] of Object.entries(opts.keys ?? {})) args.push('-key', name, value);
  if (opts.traceMessages ?? true) args.push('-trace_msg', '-message_file', 'messages.log');
  args.push('-trace_err', '-error_file', 'errors.log', '-trace_stat', '-stf', 'stat.csv', '-fd', '1');
  if (opts.rtt) args.push('-trace_rtt', '-rtt_freq', String(opts.rttEvery ?? 1));
  args.push(...(opts.extraArgs ?? []));
  return args;
}

/** One message of a `-trace_msg` log. */
export interface SippTracedMessage {
  readonly direction: 'sent' | 'received';
  readonly transport: string;
  /** Request or status line. */
  readonly startLine: string;
  /** The whole message, lines joined with `\n`. */
  readonly text: string;
}

const TRACE_SEPARATOR = /^-{20,} .*$/m;
const TRACE_HEADING = /^(\w+) message (sent|received)/;
const LINE_BREAK = /\r?\n/;

/** Splits SIPp's `-trace_msg` log into its messages, in order. */
export function parseSippMessages(log: string): SippTracedMessage[] {
  const out: SippTracedMessage[] = [];
  for (const entry of log.split(TRACE_SEPARATOR)) {
    const lines = entry.split(LINE_BREAK);
    while (lines[0] === '') lines.shift();
    const heading = TRACE_HEADING.exec(lines[0] ?? '');
    if (heading === null) continue;
    const body = lines.slice(1);
    while (body[0] === '') body.shift();
    while (body.length > 0 && body[body.length - 1] === '') body.pop();
    out.push({
      direction: heading[2] as 'sent' | 'received',
      transport: heading[1] ?? '',
      startLine: body[0] ?? '',
      text: body.join('\n'),
    });
  }
  return out;
}

async function readOptional(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return '';
  }
}

const num = (value: string | undefined): number => {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
};
/** Seconds since the epoch of a SIPp time column ("date\ttime\tepoch.usec"). */
const epochOf = (value: string | undefined): number => num(value?.split('\t').pop());

/** Parses the last row of SIPp's `-trace_stat` CSV (semicolon-separated, header first). */
export function parseSippStats(csv: string): SippStats {
  const rows = csv.split('\n').filter((line) => line.trim() !== '');
  const header = (rows[0] ?? '').split(';');
  const last = rows.length > 1 ? (rows[rows.length - 1] ?? '').split(';') : [];
  const raw: Record<string, string> = {};
  header.forEach((name, i) => {
    if (name !== '') raw[name] = last[i] ?? '';
  });
  return {
    created: num(raw['TotalCallCreated']),
    successful: num(raw['SuccessfulCall(C)']),
    failed: num(raw['FailedCall(C)']),
    retransmissions: num(raw['Retransmissions(C)']),
    timeouts: num(raw['FailedTimeoutOnRecv(C)']) + num(raw['FailedMaxUDPRetrans(C)']),
    unexpected: num(raw['FailedUnexpectedMessage(C)']),
    outOfCallMessages: num(raw['OutOfCallMsgs(C)']),
    elapsedSec: Math.max(0, epochOf(raw['CurrentTime']) - epochOf(raw['StartTime'])),
    raw,
  };
}

/** Parses SIPp `-trace_rtt` files ("Date_ms;response_time_ms;rtd_no") into times by RTD. */
export function parseSippRtt(texts: readonly string[]): Map<number, number[]> {
  const byRtd = new Map<number, number[]>();
  for (const text of texts) {
    for (const line of text.split('\n')) {
      const [, ms, rtd] = line.split(';');
      if (rtd === undefined || !DIGITS.test(rtd.trim())) continue;
      const key = Number(rtd);
      let list = byRtd.get(key);
      if (list === undefined) byRtd.set(key, (list = []));
      list.push(Number(ms));
    }
  }
  return byRtd;
}

async function collect(dir: string, proc: RunningProcess, status: ExitStatus, timedOut: boolean): Promise<SippResult> {
  const files = await readdir(dir).catch(() => [] as string[]);
  const rttFiles = files.filter((f) => f.endsWith('_rtt.csv')).map((f) => readOptional(join(dir, f)));
  return {
    exitCode: status.code,
    signal: status.signal,
    timedOut,
    stdout: proc.stdout,
    stderr: proc.stderr,
    messages: await readOptional(join(dir, 'messages.log')),
    errors: await readOptional(join(dir, 'errors.log')),
    stats: parseSippStats(await readOptional(join(dir, 'stat.csv'))),
    rtt: parseSippRtt(await Promise.all(rttFiles)),
  };
}

interface Launched {
  readonly port: number;
  readonly proc: RunningProcess;
  readonly result: Promise<SippResult>;
}

/** Starts one SIPp process; `result` settles once it has exited and its files were read. */
async function launch(opts: SippOptions, port: number): Promise<Launched> {
  const sipp = requireTool('sipp', 'sip-tester');
  const dir = opts.outDir === undefined ? await mkdtemp(join(tmpdir(), 'tw-sipp-')) : resolvePath(opts.outDir);
  if (opts.outDir !== undefined) await mkdir(dir, { recursive: true });
  const args = sippArgs(opts, port);
  const pinned = opts.cpu === undefined ? [sipp, ...args] : ['taskset', '-c', String(opts.cpu), sipp, ...args];
  const [cmd, ...argv] = [...(opts.prefix ?? []), ...pinned] as [string, ...string[]];
  const proc = await startProcess(cmd, argv, { cwd: dir });
  let timedOut = false;
  const killTimer = setTimeout(() => {
    timedOut = true;
    void proc.stop(2_000);
  }, (opts.timeoutSec ?? 30) * 1000 + KILL_GRACE_MS);
  const result = proc.exited.then(async (status) => {
    clearTimeout(killTimer);
    const res = await collect(dir, proc, status, timedOut);
    if (opts.outDir !== undefined) return { ...res, dir };
    await rm(dir, { recursive: true, force: true });
    return res;
  });
  return { port, proc, result };
}

function isBindFailure(res: SippResult): boolean {
  return res.exitCode === EXIT_BIND_FAILURE && BIND_FAILURE.test(res.stdout + res.stderr);
}

/**
 * Runs SIPp in the foreground until it exits (after `calls` calls, or its timeout) and
 * returns what it did. Never rejects because calls failed: check `exitCode` and `stats`.
 */
export async function runSipp(opts: SippOptions): Promise<SippResult> {
  const protocol = protocolOf(opts.transport ?? 'u1');
  for (let attempt = 1; ; attempt++) {
    const port = opts.localPort ?? (await freePort(protocol));
    const res = await (await launch(opts, port)).result;
    if (opts.localPort !== undefined || attempt >= BIND_ATTEMPTS || !isBindFailure(res)) return res;
  }
}

/** Resolves true once `port` is bound, false if `proc` exits first. Polls /proc/net (no event exists). */
async function waitBound(port: number, protocol: PortProtocol, proc: RunningProcess, timeoutMs: number, address?: string): Promise<boolean> {
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (!exited) {
    if (await isPortBound(port, protocol, proc.pid, address)) return true;
    if (Date.now() > deadline) throw new Error(`SIPp did not bind ${protocol} port ${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, BOUND_POLL_MS));
  }
  return false;
}

/**
 * Starts a SIPp callee in the background and resolves once it listens on its port.
 * Give it `calls` so that it exits by itself, or call `stop()`. Note that a TCP UAS counts a
 * call as failed (and exits 1) when its peer closes the connection: judge TCP runs by the UAC.
 */
export async function startSippUas(opts: Omit<SippOptions, 'remote'>): Promise<SippUas> {
  const protocol = protocolOf(opts.transport ?? 'u1');
  for (let attempt = 1; ; attempt++) {
    const port = opts.localPort ?? (await freePort(protocol));
    const run = await launch(opts, port);
    const bound = await waitBound(port, protocol, run.proc, 10_000, opts.address).catch(async (err: unknown) => {
      await run.proc.stop(0);
      throw err;
    });
    if (bound) {
      return {
        port,
        pid: run.proc.pid,
        result: run.result,
        stop: async () => {
          await run.proc.stop(KILL_GRACE_MS);
          return run.result;
        },
      };
    }
    const res = await run.result;
    if (opts.localPort !== undefined || attempt >= BIND_ATTEMPTS || !isBindFailure(res)) {
      throw new Error(`SIPp UAS exited before listening (exit ${res.exitCode}):\n${res.stdout.slice(-2000)}\n${res.stderr.slice(-2000)}`);
    }
  }
}
