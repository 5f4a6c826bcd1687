/**
 * `tidewater all-in-one`: starts every function in this process (all-in-one.ts), prints the
 * listeners and how to add a subscriber, and stops cleanly on SIGINT or SIGTERM.
 */
import { defaultConfig, type AllInOneConfig } from '../config/index.js';
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
  stop(): Promise<void>;
}

/**
 * Starts a server, prints its listeners and `tidewater <name> for <domain> ready`, and runs it
 * until SIGINT or SIGTERM; resolves once stopped. Start-up failures reject.
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
    out.line(`tidewater: ${signal}, stopping`);
    await running.stop();
    out.line(`tidewater ${name} stopped`);
  } finally {
    signals.dispose();
  }
}
