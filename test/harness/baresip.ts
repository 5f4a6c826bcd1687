/**
 * Drives baresip (Debian package baresip-core) as a real softphone: one process per user, each
 * with its own config directory, commands and events over its ctrl_tcp module (netstring-framed
 * JSON). See ../shared/PEERS-softphones.md for the protocol and the quirks handled here.
 *
 * Audio uses the aubridge module (no sound card; ~1 % CPU per call), stdio is not loaded
 * (stdin is /dev/null), SIP listens on a free port of 127.0.0.1, and the UA is created with
 * `uanew` once the control connection is up so that its REGISTER_OK event is not lost.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, requireTool, startProcess, type RunningProcess } from './tools.js';

/** An event baresip sent (`{"event":true,"class":"call","type":"CALL_ESTABLISHED",...}`). */
export interface BaresipEvent {
  readonly event: true;
  readonly class: string;
  readonly type: string;
  readonly accountaor?: string;
  readonly direction?: string;
  readonly peeruri?: string;
  /** Call-ID of a call event. */
  readonly id?: string;
  readonly param?: string;
}

/** The response to a command: `ok` only means the command ran; `data` is what it printed. */
export interface BaresipResponse {
  readonly response: true;
  readonly ok: boolean;
  readonly data: string;
  readonly token: string;
}

/** A running baresip process. */
export interface Baresip {
  readonly pid: number;
  /** Runs a ctrl_tcp command (`uanew`, `dial`, `accept`, `hangup`, `quit`, ...). */
  cmd(command: string, params?: string): Promise<BaresipResponse>;
  /** Resolves with (and consumes) the first event, past or future, that `pred` accepts. */
  waitEvent(pred: (e: BaresipEvent) => boolean, timeoutMs?: number): Promise<BaresipEvent>;
  /** Removes and returns the events not consumed yet. */
  drain(): BaresipEvent[];
  /** Everything baresip printed. */
  output(): string;
  /** `quit` (un-REGISTERs), SIGKILL if it has not exited within 2 s. */
  stop(): Promise<void>;
}

/** Options of {@link startBaresip}. */
export interface BaresipOptions {
  /** MESSAGE targets (`message` sends to the first), e.g. `sip:6505550002@example.com`. */
  readonly contacts?: readonly string[];
  /** Lifetime (`-t`): the process ends by itself after this many seconds (default 300). */
  readonly lifetimeSec?: number;
}

const CONNECT_TIMEOUT_MS = 5_000;
const POLL_MS = 50;
let rtpBase = 20_000 + (process.pid % 400) * 20;

function configText(ctrlPort: number): string {
  const rtp = rtpBase;
  rtpBase = rtpBase >= 29_980 ? 20_000 : rtpBase + 20;
  return [
    'sip_listen 127.0.0.1:0',
    'net_interface 127.0.0.1',
    'audio_player aubridge,u1',
    'audio_source aubridge,u1',
    'audio_alert aubridge,alert',
    `rtp_ports ${rtp}-${rtp + 19}`,
    'ringback_disabled yes',
    'statmode_default off',
    'module_path /usr/lib/baresip/modules',
    'module g711.so',
    'module aubridge.so',
    'module_tmp account.so',
    'module_app contact.so',
    'module_app menu.so',
    'module_app ctrl_tcp.so',
    `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
    '',
  ].join('\n');
}

async function connectCtrl(port: number, proc: RunningProcess): Promise<Socket> {
  const deadline = Date.now() + CONNECT_TIMEOUT_MS;
  for (;;) {
    const sock = await new Promise<Socket | null>((resolve) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', () => resolve(null));
    });
    if (sock !== null) return sock;
    if (Date.now() > deadline) {
      await proc.stop(0);
      throw new Error(`baresip ctrl_tcp not accepting on ${port}\n${proc.stdout}${proc.stderr}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Splits netstring frames (`<len>:<json>,`) off `buf`; returns the parsed messages and the rest. */
export function parseNetstrings(buf: Buffer): { messages: unknown[]; rest: Buffer } {
  const messages: unknown[] = [];
  let rest = buf;
  for (let colon = rest.indexOf(0x3a); colon > 0; colon = rest.indexOf(0x3a)) {
    const len = Number(rest.subarray(0, colon).toString());
    if (rest.length < colon + len + 2) break;
    messages.push(JSON.parse(rest.subarray(colon + 1, colon + 1 + len).toString()));
    rest = rest.subarray(colon + len + 2);
  }
  return { messages, rest };
}

/** Starts baresip with a fresh config directory and connects to its control port. */
export async function startBaresip(opts: BaresipOptions = {}): Promise<Baresip> {
  const bin = requireTool('baresip', 'baresip-core');
  const dir = await mkdtemp(join(tmpdir(), 'tw-baresip-'));
  const ctrlPort = await freePort('tcp');
  await writeFile(join(dir, 'config'), configText(ctrlPort));
  await writeFile(join(dir, 'accounts'), '');
  await writeFile(join(dir, 'contacts'), (opts.contacts ?? []).map((c) => `<${c}>\n`).join(''));
  const proc = await startProcess(bin, ['-f', dir, '-t', String(opts.lifetimeSec ?? 300)]);
  const sock = await connectCtrl(ctrlPort, proc);
  return driver(proc, sock, dir);
}

function driver(proc: RunningProcess, sock: Socket, dir: string): Baresip {
  const events: BaresipEvent[] = [];
  const waiters = new Set<(e: BaresipEvent) => void>();
  const pending = new Map<string, (r: BaresipResponse) => void>();
  let buf: Buffer = Buffer.alloc(0);
  let token = 0;
  sock.on('data', (chunk: Buffer) => {
    const { messages, rest } = parseNetstrings(Buffer.concat([buf, chunk]));
    buf = rest;
    for (const m of messages as Array<Partial<BaresipResponse & BaresipEvent>>) {
      if (m.response === true && m.token !== undefined) {
        pending.get(m.token)?.(m as BaresipResponse);
        pending.delete(m.token);
      } else if (m.event === true) {
        events.push(m as BaresipEvent);
        for (const w of [...waiters]) w(m as BaresipEvent);
      }
    }
  });
  sock.on('error', () => undefined);
  const take = (e: BaresipEvent): BaresipEvent => {
    events.splice(events.indexOf(e), 1);
    return e;
  };
  const cmd = (command: string, params?: string): Promise<BaresipResponse> =>
    new Promise((resolve) => {
      const t = String(++token);
      const json = JSON.stringify({ command, params, token: t });
      pending.set(t, resolve);
      sock.write(`${Buffer.byteLength(json)}:${json},`);
    });
  const waitEvent = (pred: (e: BaresipEvent) => boolean, timeoutMs = 5_000): Promise<BaresipEvent> =>
    new Promise((resolve, reject) => {
      const hit = events.find(pred);
      if (hit !== undefined) return resolve(take(hit));
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`baresip: no matching event within ${timeoutMs} ms; have ${events.map((e) => `${e.type}(${e.param ?? ''})`).join(', ')}\n${proc.stdout.slice(-2000)}`));
      }, timeoutMs);
      const w = (e: BaresipEvent): void => {
        if (!pred(e)) return;
        clearTimeout(timer);
        waiters.delete(w);
        resolve(take(e));
      };
      waiters.add(w);
    });
  return {
    pid: proc.pid,
    cmd,
    waitEvent,
    drain: () => events.splice(0),
    output: () => `${proc.stdout}${proc.stderr}`,
    stop: async () => {
      const exited = proc.exited.then(() => true);
      void cmd('quit');
      const quit = await Promise.race([exited, new Promise<boolean>((r) => setTimeout(() => r(false), 2_000))]);
      if (!quit) await proc.stop(0);
      sock.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Account of a subscriber on a core, as a baresip UA string takes it. */
export interface BaresipAccount {
  readonly number: string;
  readonly password: string;
  readonly domain: string;
  /** The core's SIP port on 127.0.0.1: the outbound proxy (a loose Route, no DNS). */
  readonly proxyPort: number;
  readonly transport?: 'udp' | 'tcp';
  /** `auto` answers incoming calls at once (default `manual`). */
  readonly answermode?: 'auto' | 'manual';
  /** Registration interval asked for (default 600). */
  readonly regint?: number;
}

/** The `uanew` string for `account` (IMPI `<number>@<domain>` as the digest username). */
export function uaString(a: BaresipAccount): string {
  const transport = a.transport === 'tcp' ? ';transport=tcp' : '';
  return (
    `<sip:${a.number}@${a.domain}>;auth_user=${a.number}@${a.domain};auth_pass=${a.password}` +
    `;outbound="sip:127.0.0.1:${a.proxyPort}${transport}";regint=${a.regint ?? 600};answermode=${a.answermode ?? 'manual'}`
  );
}

/** Creates the UA and waits for its registration; rejects on REGISTER_FAIL or after `timeoutMs`. */
export async function registerBaresip(phone: Baresip, account: BaresipAccount, timeoutMs = 10_000): Promise<void> {
  await phone.cmd('uanew', uaString(account));
  const e = await phone.waitEvent((ev) => ev.type === 'REGISTER_OK' || ev.type === 'REGISTER_FAIL', timeoutMs);
  if (e.type !== 'REGISTER_OK') throw new Error(`baresip ${account.number} did not register: ${e.param ?? e.type}`);
}
