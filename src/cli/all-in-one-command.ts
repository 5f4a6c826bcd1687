/**
 * `tidewater all-in-one`: starts every function in this process (all-in-one.ts), prints the
 * listeners and how to add a subscriber, and stops cleanly on SIGINT or SIGTERM: it drains
 * first (src/observability/lifecycle.ts), then closes.
 */
import { defaultConfig, type AllInOneConfig } from '../config/index.js';
import { describeWork, totalWork, type DrainResult, type Lifecycle, type WorkCounts } from '../observability/lifecycle.js';
import type { ListenerInfo } from './all-in-one.js';
import type { Output } from './output.js';

/** `listening sip udp 0.0.0.0:5060` (an IPv6 address in brackets). */
export function listenerLine(l: ListenerInfo): string {
  const address = l.address.includes(':') ? `[${l.address}]` : l.address;
  return `listening ${l.service} ${l.protocol} ${address}:${l.port}`;
}

/** Quotes a shell word when it needs it. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The command that adds a subscriber to this server's data folder and domain. */
export function addSubscriberHint(config: AllInOneConfig, file?: string): string {
  const defaults = defaultConfig();
  const words = ['npx', 'tidewater', 'subscriber', 'add', '6505550001', '--password', '<password>'];
  if (file !== undefined) words.push('--config', shellWord(file));
  if (config.dataDir !== defaults.dataDir) words.push('--data-dir', shellWord(config.dataDir));
  if (config.domain !== defaults.domain) words.push('--domain', shellWord(config.domain));
  return `add a subscriber: ${words.join(' ')}`;
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once. */
function firstSignal(out: Output): { signalled: Promise<string>; dispose(): void } {
  let count = 0;
  let resolve!: (signal: string) => void;
  const signalled = new Promise<string>((r) => (resolve = r));
  const handler = (signal: string): void => {
    count += 1;
    if (count === 1) return resolve(signal);
    out.error(`tidewater: ${signal} again, exiting without finishing the stop`);
    process.exit(1);
  };
  for (const s of SIGNALS) process.on(s, handler);
  return { signalled, dispose: () => SIGNALS.forEach((s) => process.off(s, handler)) };
}

/** Runs the all-in-one until a signal; resolves once stopped. Start-up failures reject. */
export async function runAllInOneCommand(config: AllInOneConfig, out: Output, file?: string): Promise<void> {
  const { runAllInOne } = await import('./all-in-one.js');
  await runServerCommand('all-in-one', config, out, () => runAllInOne(config), [addSubscriberHint(config, file)]);
}

/** What a server command runs: its listeners, lines to show once, and how it stops. */
export interface RunningServer {
  readonly listeners: readonly ListenerInfo[];
  readonly notices: readonly string[];
  /** Lines about the listeners (the TLS certificate's fingerprints), printed right after them. */
  readonly details?: readonly string[];
  /** A SIP node's: what answers its readiness probe and admits its new requests. */
  readonly lifecycle?: Lifecycle;
  /** A SIP node's work in flight, which a stop waits for (with `lifecycle`). */
  inFlight?(): WorkCounts;
  stop(): Promise<void>;
}

/**
 * Starts a server, prints its listeners and `tidewater <name> for <domain> ready`, and runs it
 * until SIGINT or SIGTERM; resolves once stopped. Start-up failures reject.
 *
 * The first signal drains a server that counts its work in flight (a SIP node): it turns not
 * ready and refuses new work (its `lifecycle`, wired into its proxy core and health endpoint),
 * waits up to `shutdownGraceMs` for what is in flight, then closes. Another server just closes.
 * A second signal exits at once.
 */
export async function runServerCommand(
  name: string,
  config: AllInOneConfig,
  out: Output,
  start: () => Promise<RunningServer>,
  hints: readonly string[] = [],
): Promise<void> {
  const signals = firstSignal(out);
  try {
    const running = await start();
    for (const l of running.listeners) out.line(listenerLine(l));
    for (const d of running.details ?? []) out.line(d);
    for (const n of running.notices) out.line(n);
    out.line(`tidewater ${name} for ${config.domain} ready`);
    for (const h of hints) out.line(h);
    const signal = await signals.signalled;
    const { lifecycle } = running;
    if (lifecycle && running.inFlight) await drain(running.inFlight.bind(running), lifecycle, signal, out);
    else out.line(`tidewater: ${signal}, stopping`);
    lifecycle?.markStopped();
    await running.stop();
    out.line(`tidewater ${name} stopped`);
  } finally {
    signals.dispose();
  }
}

/** Turns not ready, refuses new work and waits for `work` to end, saying so in a line before and after. */
async function drain(work: () => WorkCounts, lifecycle: Lifecycle, signal: string, out: Output): Promise<void> {
  const now = work();
  const wait = totalWork(now) > 0 ? `${describeWork(now)} in flight, waiting up to ${lifecycle.graceMs} ms` : 'nothing in flight';
  out.line(`tidewater: ${signal}, draining (not ready, new requests get 503): ${wait}`);
  out.line(drainLine(await lifecycle.drain(work)));
}

/** `tidewater: drained 1 call, 2 server transactions in 812 ms`, or what the grace period left. */
export function drainLine(result: DrainResult): string {
  const ms = Math.round(result.elapsedMs);
  if (result.drained) return totalWork(result.atStart) > 0 ? `tidewater: drained ${describeWork(result.atStart)} in ${ms} ms` : `tidewater: drained in ${ms} ms`;
  return `tidewater: grace period over after ${ms} ms, still in flight: ${describeWork(result.left)}`;
}
