/**
 * Test harness for the all-in-one IMS core: starts `node bin/tidewater.js all-in-one` on free
 * loopback ports, provisions subscribers through the CLI, and drives SIPp through the
 * test/sipp/ims-*.xml scenarios (REGISTER with Digest, then call, cancel, message...).
 *
 * `bin/tidewater.js` runs the compiled code in dist/ (built by `npm install`'s prepare step):
 * after changing src/, run `npm run build` before these tests.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseSippMessages, runSipp, sippScenario, type SippResult, type SippTransport } from './sipp.js';
import { freePort, freePortExcept, freeUdpTcpPort, startProcess, type ExitStatus, type RunningProcess } from './tools.js';

const run = promisify(execFile);

/** Repository root (where bin/tidewater.js is). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CLI = join(REPO_ROOT, 'bin', 'tidewater.js');
const READY_LINE = /^tidewater all-in-one for \S+ ready/;
const REGISTERED_LINE = /^registered/m;
const METRICS_LINE = /^listening metrics http \S+:(\d+)$/m;
const POLL_MS = 50;
const DIGITS = /^\d+$/;
/** Every -key an ims-*.xml scenario uses must be given (SIPp rejects an unknown keyword). */
const SCENARIO_KEY_DEFAULTS: Readonly<Record<string, string>> = { ims_check: '0', callee: '0', expect: '0', register: '1' };

/** Options of {@link startAllInOne}. */
export interface AllInOneOptions {
  /** Data directory (default: a fresh temporary one, removed by `dispose()`). */
  readonly dataDir?: string;
  /** Home domain (default example.com). */
  readonly domain?: string;
  /** Written to `<dataDir>/config.yaml` and passed as `--config` (JSON is valid YAML). */
  readonly config?: Readonly<Record<string, unknown>>;
  /** More command-line arguments, appended last. */
  readonly extraArgs?: readonly string[];
  /** Time allowed to print the ready line (20 s). */
  readonly timeoutMs?: number;
}

/** What a SIP client needs to reach a core: the all-in-one, or a stand-in registrar. */
export interface SipCore {
  /** UDP and TCP port on 127.0.0.1. */
  readonly sipPort: number;
  readonly domain: string;
}

/** A running all-in-one started by {@link startAllInOne}. */
export interface AllInOne extends SipCore {
  readonly wsPort: number;
  /** SIP over TLS on 127.0.0.1 (the certificate: `<dataDir>/tls/cert.pem` unless configured). */
  readonly tlsPort: number;
  /** SIP over secure WebSocket on 127.0.0.1, same certificate. */
  readonly wssPort: number;
  readonly dataDir: string;
  /** `tidewater subscriber add NUMBER --password PASSWORD`; resolves with its stdout. */
  addSubscriber(number: string, password: string): Promise<string>;
  /** `tidewater subscriber show IMPU`; resolves with its stdout. */
  showSubscriber(impu: string): Promise<string>;
  /** Everything the server printed so far (stdout, then stderr). */
  output(): string;
  /** SIGTERM, then waits for the exit (SIGKILL after 5 s). */
  stop(): Promise<ExitStatus>;
  /** Stops, then starts again on the same ports with the same data directory. */
  restart(): Promise<void>;
  /** Stops and removes the data directory if this harness created it. */
  dispose(): Promise<void>;
  /** Sends `signal` to the server without waiting (a graceful stop under way, test/e2e/lifecycle.test.ts). */
  signal(signal: NodeJS.Signals): void;
  /** Settles when the server started last exits. */
  exited(): Promise<ExitStatus>;
  /** Resolves with the first line of the server's output (seen before or later) that matches. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Port of the metrics and health listener, from its `listening metrics http` line. */
  metricsPort(): number;
  /** Process id of the server started last (to pin it to a CPU, read its /proc entries). */
  pid(): number;
}

/** Runs one `tidewater` CLI command; rejects with its output when it fails. */
export async function tidewaterCli(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, timeout: 20_000 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`tidewater ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

interface Ports {
  readonly sip: number;
  readonly ws: number;
  readonly tls: number;
  readonly wss: number;
}

function serverArgs(dataDir: string, domain: string, ports: Ports, configFile: string | undefined, extra: readonly string[]): string[] {
  const args = [CLI, 'all-in-one', '--data-dir', dataDir, '--bind', '127.0.0.1', '--domain', domain];
  args.push('--sip-port', String(ports.sip), '--ws-port', String(ports.ws), '--tls-port', String(ports.tls), '--wss-port', String(ports.wss));
  for (const flag of ['--hss-port', '--hss-provisioning-port', '--xdms-port', '--portal-port', '--metrics-port']) args.push(flag, '0');
  if (configFile !== undefined) args.push('--config', configFile);
  return [...args, ...extra];
}

/**
 * Starts the all-in-one on free ports (SIP UDP and TCP on the same port) and resolves once it
 * printed its ready line; rejects with its output if it does not within the timeout.
 */
export async function startAllInOne(opts: AllInOneOptions = {}): Promise<AllInOne> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'tw-aio-')));
  const domain = opts.domain ?? 'example.com';
  let configFile: string | undefined;
  if (opts.config !== undefined) {
    configFile = join(dataDir, 'config.yaml');
    await writeFile(configFile, `${JSON.stringify(opts.config, null, 2)}\n`);
  }
  // One process's listeners: four distinct ports (the config refuses two TCP listeners on one).
  const sip = await freeUdpTcpPort();
  const ws = await freePortExcept('tcp', [sip]);
  const tls = await freePortExcept('tcp', [sip, ws]);
  const ports: Ports = { sip, ws, tls, wss: await freePortExcept('tcp', [sip, ws, tls]) };
  const args = serverArgs(dataDir, domain, ports, configFile, opts.extraArgs ?? []);
  const launch = (): Promise<RunningProcess> =>
    startProcess(process.execPath, args, { cwd: REPO_ROOT, readyLine: READY_LINE, timeoutMs: opts.timeoutMs ?? 20_000 });
  let proc = await launch();
  let previousOutput = '';
  const configArgs = configFile === undefined ? [] : ['--config', configFile];
  const core: AllInOne = {
    sipPort: ports.sip,
    wsPort: ports.ws,
    tlsPort: ports.tls,
    wssPort: ports.wss,
    dataDir,
    domain,
    addSubscriber: (number, password) =>
      tidewaterCli(['subscriber', 'add', number, '--password', password, '--data-dir', dataDir, ...configArgs]),
    showSubscriber: (impu) => tidewaterCli(['subscriber', 'show', impu, '--data-dir', dataDir, ...configArgs]),
    output: () => `${previousOutput}${proc.stdout}${proc.stderr}`,
    stop: () => proc.stop(),
    restart: async () => {
      await proc.stop();
      previousOutput += `${proc.stdout}${proc.stderr}--- restart ---\n`;
      proc = await launch();
    },
    dispose: async () => {
      await proc.stop();
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
    signal: (signal) => proc.signal(signal),
    exited: () => proc.exited,
    waitForLine: (pattern, timeoutMs) => proc.waitForLine(pattern, timeoutMs),
    metricsPort: () => {
      const m = METRICS_LINE.exec(proc.stdout);
      if (!m) throw new Error(`no metrics listener in the output:\n${proc.stdout}`);
      return Number(m[1]);
    },
    pid: () => proc.pid,
  };
  return core;
}

/** A subscriber as SIPp uses it: number and SIP password. */
export interface TestUser {
  readonly number: string;
  readonly password: string;
}

/** Options shared by the IMS SIPp runs. */
export interface ImsSippOptions {
  /** Default `u1`. */
  readonly transport?: SippTransport;
  /** Expires asked for in REGISTER (default 600). */
  readonly expires?: number;
  /** SIPp's global timeout in seconds (default 30). */
  readonly timeoutSec?: number;
  /** More `-key` values (e.g. `ims_check`, `expect`, `register`). */
  readonly keys?: Readonly<Record<string, string>>;
}

/** A SIPp run plus its `-trace_logs` output (the scenario's <log> lines). */
export interface ImsSippResult extends SippResult {
  readonly log: string;
}

function imsOptions(core: SipCore, user: TestUser, scenario: string, opts: ImsSippOptions, outDir: string, ooc?: string) {
  // -aa: 200 to out-of-call OPTIONS/NOTIFY/INFO/UPDATE (e.g. an edge's keep-alives), which would
  // otherwise start (and fail) the out-of-call role scenario
  const extraArgs = ['-auth_uri', core.domain, '-aa', '-trace_logs', '-log_file', 'ims.log'];
  if (ooc !== undefined) extraArgs.push('-oocsf', sippScenario(ooc));
  return {
    scenario,
    remote: `127.0.0.1:${core.sipPort}`,
    transport: opts.transport ?? 'u1',
    timeoutSec: opts.timeoutSec ?? 30,
    auth: { user: `${user.number}@${core.domain}`, pass: user.password },
    keys: { ...SCENARIO_KEY_DEFAULTS, user: user.number, domain: core.domain, expires: String(opts.expires ?? 600), ...opts.keys },
    extraArgs,
    outDir,
  } as const;
}

async function withLog(result: SippResult, dir: string): Promise<ImsSippResult> {
  const log = await readFile(join(dir, 'ims.log'), 'utf8').catch(() => '');
  await rm(dir, { recursive: true, force: true });
  return { ...result, log };
}

/**
 * Runs one IMS scenario in the foreground as `user` (e.g. `ims-register`,
 * `ims-caller-call` with `keys: { callee }`) and returns what SIPp did.
 */
export async function runImsSipp(core: SipCore, user: TestUser, scenario: string, opts: ImsSippOptions = {}): Promise<ImsSippResult> {
  const dir = await mkdtemp(join(tmpdir(), 'tw-ims-sipp-'));
  return withLog(await runSipp(imsOptions(core, user, scenario, opts, dir)), dir);
}

/** What a registered SIPp callee can do once called (the -oocsf role scenario; `fail` answers with the `status` key). */
export type CalleeRole = 'answer' | 'answer-webrtc' | 'busy' | 'ring' | 'message' | 'fail';

/** A SIPp callee started by {@link startImsCallee}, registered and waiting. */
export interface ImsCallee {
  /** SIPp's local port (the Contact it registered). */
  readonly port: number;
  /** Settles when SIPp exits: after its role completed, or at its timeout. */
  readonly result: Promise<ImsSippResult>;
  /** Ends SIPp early (SIGTERM) and returns what it did. */
  stop(): Promise<ImsSippResult>;
}

async function waitRegistered(logFile: string, exited: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    if (REGISTERED_LINE.test(log)) return;
    if (exited()) throw new Error('exited before registering');
    if (Date.now() > deadline) throw new Error(`not registered within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function describeFailure(res: SippResult): string {
  return `exit ${res.exitCode}\n${res.errors.slice(-3000)}\n${res.messages.slice(-3000)}`;
}

/**
 * Starts a SIPp process that registers `user` (ims-callee.xml) and then plays `role` for the
 * first request that reaches it; resolves once the registration got its 200. The process
 * exits by itself once its role completed (exit code 0), so `await callee.result` after the
 * caller finished. Over TCP the requests come back over the connection used to register.
 */
export async function startImsCallee(core: SipCore, user: TestUser, role: CalleeRole, opts: ImsSippOptions = {}): Promise<ImsCallee> {
  const dir = await mkdtemp(join(tmpdir(), 'tw-ims-callee-'));
  const port = await freePort(opts.transport?.startsWith('t') === true ? 'tcp' : 'udp');
  const sipp = runSipp({ ...imsOptions(core, user, 'ims-callee', opts, dir, `ims-callee-${role}`), localPort: port });
  let done: SippResult | undefined;
  const settled = sipp.then((res) => {
    done = res;
    return res;
  });
  try {
    await waitRegistered(join(dir, 'ims.log'), () => done !== undefined, (opts.timeoutSec ?? 30) * 1000);
  } catch (err) {
    if (done === undefined) await stopSippIn(dir);
    const res = await settled;
    await rm(dir, { recursive: true, force: true });
    throw new Error(`SIPp callee ${user.number} (${role}): ${(err as Error).message}: ${describeFailure(res)}`);
  }
  const result = settled.then((res) => withLog(res, dir));
  return {
    port,
    result,
    stop: async () => {
      if (done === undefined) await stopSippIn(dir);
      return result;
    },
  };
}

/** The SIPp process whose working directory is `dir` (found through /proc: runSipp does not expose its pid). */
export async function sippPidIn(dir: string): Promise<number | undefined> {
  for (const pid of await readdir('/proc')) {
    if (!DIGITS.test(pid)) continue;
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '');
    const exe = await readlink(`/proc/${pid}/exe`).catch(() => '');
    if (cwd === dir && exe.endsWith('/sipp')) return Number(pid);
  }
  return undefined;
}

/** SIGTERM to the SIPp process whose working directory is `dir`. */
export async function stopSippIn(dir: string): Promise<void> {
  const pid = await sippPidIn(dir);
  if (pid !== undefined) process.kill(pid, 'SIGTERM');
}

/** The messages of a SIPp trace that `pattern` matches on their start line, in order. */
export function tracedMessages(res: SippResult, direction: 'sent' | 'received', startLine: RegExp): string[] {
  return parseSippMessages(res.messages)
    .filter((m) => m.direction === direction && startLine.test(m.startLine))
    .map((m) => m.text);
}

/** Body of a traced message (after the blank line). */
export function bodyOf(text: string): string {
  const i = text.indexOf('\n\n');
  return i < 0 ? '' : text.slice(i + 2);
}

/** Values of header `name` (case-insensitive, compact forms not expanded) in a traced message. */
export function headerValues(text: string, name: string): string[] {
  const head = text.split('\n\n')[0] ?? '';
  const prefix = `${name.toLowerCase()}:`;
  return head
    .split('\n')
    .filter((line) => line.toLowerCase().startsWith(prefix))
    .map((line) => line.slice(prefix.length).trim());
}

/**
 * Provisions fresh subscribers on a core, numbered from `first` up, each with its own password:
 * a test file takes its own range so no binding of one test is seen by another.
 */
export function userFactory(first: number): (core: AllInOne) => Promise<TestUser> {
  let next = first;
  return async (core) => {
    const number = String(next++);
    const user = { number, password: `pw-${number}-secret` };
    await core.addSubscriber(user.number, user.password);
    return user;
  };
}

/** The IMPU of a test user in `domain`. */
export function impuOf(user: TestUser, domain = 'example.com'): string {
  return `sip:${user.number}@${domain}`;
}
