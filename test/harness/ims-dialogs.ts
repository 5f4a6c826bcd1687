/**
 * SIPp processes that register with the all-in-one and then keep going in the background
 * (test/sipp/ims-dlg-*.xml): a subscriber waiting for its NOTIFYs, a callee playing any
 * out-of-call role (`-oocsf`). The test waits for
 * a line the scenario logs (`<log message="...">`, `-trace_logs`) before it acts on the other
 * side, then awaits the process's result.
 *
 * test/harness/ims.ts has the same SIPp options for its foreground runs and its callees, but
 * only for the roles test/sipp/ims-callee-*.xml; this module takes any scenario and role.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sippPidIn, stopSippIn, type ImsSippOptions, type ImsSippResult, type SipCore, type TestUser } from './ims.js';
import { runSipp, sippScenario, type SippOptions, type SippResult } from './sipp.js';
import { freePort, isPortBound, type PortProtocol } from './tools.js';

const POLL_MS = 50;
const LISTEN_TIMEOUT_MS = 10_000;
/** SIPp's exit code and message when its port is taken (as test/harness/sipp.ts retries them). */
const EXIT_BIND_FAILURE = 254;
const BIND_FAILURE = /Unable to bind/;
const BIND_ATTEMPTS = 3;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Every -key the ims-*.xml and ims-dlg-*.xml scenarios use (SIPp rejects a scenario naming a
 * keyword it was not given, and both the main and the role scenario are read at start).
 */
const KEY_DEFAULTS: Readonly<Record<string, string>> = {
  ims_check: '0',
  callee: '0',
  expect: '0',
  register: '1',
  target: 'sip:0@invalid',
  method: 'OPTIONS',
};

/** Options of {@link startImsSipp}. */
export interface BackgroundSippOptions extends ImsSippOptions {
  /** Out-of-call role scenario (`-oocsf`), by name in test/sipp without `.xml`. */
  readonly role?: string;
  /**
   * SIPp's `-aa` (default true): out-of-call OPTIONS, NOTIFY, INFO and UPDATE get an automatic
   * 200 instead of starting the role. Off for a role that must take such a request itself.
   */
  readonly autoAnswer?: boolean;
}

/** A SIPp process started by {@link startImsSipp}. */
export interface BackgroundSipp {
  /** Local port: the Contact it registered is `127.0.0.1:<port>`. */
  readonly port: number;
  /** Settles once SIPp exited (its scenario done, or its timeout), with its traces and log. */
  readonly result: Promise<ImsSippResult>;
  /** Resolves once the scenario logged a line matching `line`; rejects if SIPp exits first. */
  waitForLog(line: RegExp, timeoutMs?: number): Promise<void>;
  /** Ends SIPp (SIGTERM) if it still runs and returns its result. */
  stop(): Promise<ImsSippResult>;
}

function sippOptions(core: SipCore, user: TestUser, scenario: string, opts: BackgroundSippOptions, dir: string, port: number): SippOptions {
  const extraArgs = ['-auth_uri', core.domain, '-trace_logs', '-log_file', 'ims.log'];
  if (opts.autoAnswer ?? true) extraArgs.push('-aa');
  if (opts.role !== undefined) extraArgs.push('-oocsf', sippScenario(opts.role));
  return {
    scenario,
    remote: `127.0.0.1:${core.sipPort}`,
    transport: opts.transport ?? 'u1',
    localPort: port,
    timeoutSec: opts.timeoutSec ?? 30,
    auth: { user: `${user.number}@${core.domain}`, pass: user.password },
    keys: { ...KEY_DEFAULTS, user: user.number, domain: core.domain, expires: String(opts.expires ?? 600), ...opts.keys },
    extraArgs,
    outDir: dir,
  };
}

function describeRun(res: SippResult, log: string): string {
  return `exit ${res.exitCode}\n--- log ---\n${log}\n--- errors ---\n${res.errors.slice(-3000)}\n--- messages ---\n${res.messages.slice(-4000)}`;
}

/** A started SIPp process, and whether it came to listen on its port. */
interface Launched extends BackgroundSipp {
  /** True once SIPp holds its port, false if it exited first. */
  listening(): Promise<boolean>;
}

async function launch(core: SipCore, user: TestUser, scenario: string, opts: BackgroundSippOptions, protocol: PortProtocol): Promise<Launched> {
  const dir = await mkdtemp(join(tmpdir(), 'tw-ims-dlg-'));
  const port = await freePort(protocol);
  const logFile = join(dir, 'ims.log');
  let done: ImsSippResult | undefined;
  const result = runSipp(sippOptions(core, user, scenario, opts, dir, port)).then(async (res) => {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    await rm(dir, { recursive: true, force: true });
    done = { ...res, log };
    return done;
  });
  const waitForLog = async (line: RegExp, timeoutMs = (opts.timeoutSec ?? 30) * 1000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const finished = done;
      const log = finished?.log ?? (await readFile(logFile, 'utf8').catch(() => ''));
      if (line.test(log)) return;
      if (finished) throw new Error(`SIPp ${scenario} as ${user.number} exited before logging ${line}: ${describeRun(finished, log)}`);
      if (Date.now() > deadline) {
        await stopSippIn(dir);
        const res = await result;
        throw new Error(`SIPp ${scenario} as ${user.number} did not log ${line} within ${timeoutMs} ms (stopped): ${describeRun(res, res.log)}`);
      }
      await sleep(POLL_MS);
    }
  };
  const listening = async (): Promise<boolean> => {
    const deadline = Date.now() + LISTEN_TIMEOUT_MS;
    while (done === undefined && Date.now() < deadline) {
      const pid = await sippPidIn(dir);
      if (pid !== undefined && (await isPortBound(port, protocol, pid))) return true;
      await sleep(POLL_MS);
    }
    return done === undefined;
  };
  const stop = async (): Promise<ImsSippResult> => {
    if (done === undefined) await stopSippIn(dir);
    return result;
  };
  return { port, result, waitForLog, stop, listening };
}

/**
 * Starts SIPp as `user` with `scenario` (a name in test/sipp) in the background, on a fresh
 * local port, and resolves once it listens there (another port if that one got taken meanwhile).
 */
export async function startImsSipp(core: SipCore, user: TestUser, scenario: string, opts: BackgroundSippOptions = {}): Promise<BackgroundSipp> {
  const protocol: PortProtocol = opts.transport?.startsWith('t') === true ? 'tcp' : 'udp';
  for (let attempt = 1; ; attempt++) {
    const { listening, ...run } = await launch(core, user, scenario, opts, protocol);
    if ((await listening()) || attempt >= BIND_ATTEMPTS) return run;
    const res = await run.result;
    if (!(res.exitCode === EXIT_BIND_FAILURE && BIND_FAILURE.test(res.stdout + res.stderr))) return run;
  }
}

/** A SIPp callee: registers `user` (test/sipp/ims-callee.xml), then plays `role` for the first request. */
export async function startRoleCallee(core: SipCore, user: TestUser, role: string, opts: BackgroundSippOptions = {}): Promise<BackgroundSipp> {
  const callee = await startImsSipp(core, user, 'ims-callee', { ...opts, role });
  try {
    await callee.waitForLog(/^registered/m);
  } catch (err) {
    await callee.stop();
    throw err;
  }
  return callee;
}

/** Text of the `<tag ...>` elements (with their content) of an XML document, in order. */
export function xmlElements(xml: string, tag: string): string[] {
  const re = new RegExp(`<${tag}\\b[^>]*?(?:/>|>[\\s\\S]*?</${tag}>)`, 'g');
  return xml.match(re) ?? [];
}

/** Value of attribute `name` in the first start tag of `element`. */
export function xmlAttribute(element: string, name: string): string | undefined {
  const start = /^<[^>]*>/.exec(element)?.[0] ?? '';
  return new RegExp(`\\s${name}="([^"]*)"`).exec(start)?.[1];
}
