import type { Clock, TimerHandle } from '../clock.js';
import type { Flow, SendTarget } from '../transport/types.js';
import type { ServerTransaction, ServerTransactionFailure, TimerValues } from './types.js';

/**
 * What a transaction object needs from the layer that owns it: the clock, the timer values, a way
 * to send bytes, somewhere to report errors, and a hook to leave the transaction table.
 * @internal
 */
export interface TransactionContext {
  readonly clock: Clock;
  readonly timers: Readonly<TimerValues>;
  /** Delay of the automatic 100 Trying of an INVITE server transaction, or false (§17.2.1). */
  readonly autoTrying: number | false;
  send(data: Buffer, target: SendTarget): Promise<Flow>;
  /** Logs an error that has nowhere else to go (a throwing callback, a failed retransmission). */
  report(error: unknown, context: string): void;
  /** Tells the TU that a server transaction failed (timer H, transport error). */
  serverFailed(tx: ServerTransaction, failure: ServerTransactionFailure): void;
  /** The transaction reached Terminated: drop it from the tables. */
  removed(tx: { readonly id: string }): void;
}

/**
 * One running timer of a transaction. Restarting replaces the pending timer; the callback runs
 * inside a try/catch that reports to the context, so a throwing handler cannot escape the clock.
 * @internal
 */
export class TimerSlot {
  private handle: TimerHandle | undefined;
  private fn: (() => void) | undefined;
  /**
   * Created once per slot, not per start: a transaction restarts its timers many times. Made in
   * the constructor rather than as a class field: V8 names a class field's arrow function at run
   * time, which turns each one into a dictionary-mode object of some 250 bytes.
   */
  private readonly fire: () => void;

  constructor(
    private readonly ctx: TransactionContext,
    /** What the timer is for, e.g. `retransmit`; with the owner's id, only used in error reports. */
    private readonly name: string,
    private readonly owner: string,
  ) {
    this.fire = () => {
      this.handle = undefined;
      const fn = this.fn;
      this.fn = undefined;
      try {
        fn?.();
      } catch (e) {
        this.ctx.report(e, `timer ${this.name} of ${this.owner}`);
      }
    };
  }

  get running(): boolean {
    return this.handle !== undefined;
  }

  start(ms: number, fn: () => void): void {
    this.stop();
    this.fn = fn;
    this.handle = this.ctx.clock.setTimeout(this.fire, ms);
  }

  stop(): void {
    if (this.handle === undefined) return;
    this.ctx.clock.clearTimeout(this.handle);
    this.handle = undefined;
    this.fn = undefined;
  }
}

/** Sends and turns a synchronous throw into a rejection, so every failure takes one path. */
export function safeSend(ctx: TransactionContext, data: Buffer, target: SendTarget): Promise<Flow> {
  try {
    return ctx.send(data, target);
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Bytes a transaction keeps while it only waits out its timers (up to 64*T1 = 32 s over UDP), as
 * a one-byte string on the JS heap rather than a Buffer: a Buffer costs three objects besides
 * its bytes, and puts the bytes outside the heap, in malloc's arenas, where tens of thousands
 * freed out of order keep the process's memory at its peak. Lossless: latin1 maps each byte to
 * one character and back. A small Buffer is also a slice of a shared 8 KiB pool (and a received
 * TCP message a slice of its read chunk), which keeping it would keep whole.
 */
export function keep(bytes: Buffer): string {
  return bytes.toString('latin1');
}

/** The bytes {@link keep} kept. */
export function kept(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

/** Wraps anything thrown or rejected into an Error for the TU. */
export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** 64*T1: timers B, F, H, J (unreliable) of RFC 3261 Table 4, and L and M of RFC 6026 §7. */
export function sixtyFourT1(t: Readonly<TimerValues>): number {
  return 64 * t.T1;
}
