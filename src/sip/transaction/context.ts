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
  /** Calls `tx.expire()` after 64*T1 (see {@link RestQueue}). */
  rest(tx: Resting): void;
}

/** A transaction that waits out 64*T1 only to absorb retransmissions. */
export interface Resting {
  readonly id: string;
  expire(): void;
}

/**
 * The 64*T1 waits of transactions that only absorb retransmissions (RFC 3261 timer J over UDP,
 * RFC 6026 timers L and M): each lasts as long as every other, so they expire in the order they
 * began, and one queue with a single clock timer at its head keeps them, rather than a timer, its
 * handle and its closures on each transaction for 32 s. A transaction that terminated before
 * (a transport error, a shutdown) stays queued until its time and ignores `expire()`.
 * @internal
 */
export class RestQueue {
  private resting: Array<Resting | undefined> = [];
  private until: number[] = [];
  private head = 0;
  private handle: TimerHandle | undefined;
  private readonly fire: () => void;

  constructor(
    private readonly clock: Clock,
    private readonly waitMs: number,
    private readonly report: (error: unknown, context: string) => void,
  ) {
    this.fire = () => this.expireDue();
  }

  /** Transactions waiting. */
  get size(): number {
    return this.resting.length - this.head;
  }

  add(tx: Resting): void {
    this.resting.push(tx);
    this.until.push(this.clock.now() + this.waitMs);
    if (this.handle === undefined) this.arm();
  }

  /** Forgets every waiting transaction without expiring it (stack shutdown). */
  clear(): void {
    this.clock.clearTimeout(this.handle);
    this.handle = undefined;
    this.resting = [];
    this.until = [];
    this.head = 0;
  }

  private arm(): void {
    this.handle = this.clock.setTimeout(this.fire, Math.max(0, this.until[this.head]! - this.clock.now()));
  }

  private expireDue(): void {
    this.handle = undefined;
    const now = this.clock.now();
    while (this.head < this.resting.length && this.until[this.head]! <= now) {
      const tx = this.resting[this.head]!;
      this.resting[this.head] = undefined;
      this.head++;
      try {
        tx.expire();
      } catch (e) {
        this.report(e, `end of the wait of ${tx.id}`);
      }
    }
    // Drop the expired prefix once it is most of the arrays (amortised O(1) per transaction).
    if (this.head > 1024 && this.head * 2 > this.resting.length) {
      this.resting = this.resting.slice(this.head);
      this.until = this.until.slice(this.head);
      this.head = 0;
    }
    if (this.head < this.resting.length) this.arm();
  }
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

/**
 * What the four transaction machines share about their timers: a retransmission slot (A, E or
 * G) and a lifetime slot (B, F, H, then D, I or K), each made when first needed, and the 64*T1
 * wait (J, L, M) in the stack's {@link RestQueue}, where a transaction keeps neither slot.
 */
export abstract class TimedTransaction implements Resting {
  /** Timer A, E or G, made when first needed (not over a reliable transport). */
  protected retransmitSlot: TimerSlot | undefined;
  /** Timer B, F or H, then D, I or K; made when first needed. */
  protected lifetimeSlot: TimerSlot | undefined;

  constructor(
    protected readonly ctx: TransactionContext,
    readonly id: string,
  ) {}

  protected get retransmitTimer(): TimerSlot {
    return (this.retransmitSlot ??= new TimerSlot(this.ctx, 'retransmit', this.id));
  }

  protected get lifetimeTimer(): TimerSlot {
    return (this.lifetimeSlot ??= new TimerSlot(this.ctx, 'lifetime', this.id));
  }

  /** Runs `fn` after `ms`, or at once when `ms` is 0 (the reliable-transport value of D, I, J and K). */
  protected after(ms: number, fn: () => void): void {
    if (ms <= 0) fn();
    else this.lifetimeTimer.start(ms, fn);
  }

  /** Stops both timers (the slots stay for a later start). */
  protected stopTimers(): void {
    this.retransmitSlot?.stop();
    this.lifetimeSlot?.stop();
  }

  /**
   * Waits out 64*T1 in the stack's queue: no timer of its own runs any more, so its slots go (a
   * few hundred bytes of each of the thousands of waiting transactions).
   */
  protected rest(): void {
    this.stopTimers();
    this.retransmitSlot = undefined;
    this.lifetimeSlot = undefined;
    this.ctx.rest(this);
  }

  /** The end of the 64*T1 wait begun with {@link rest}. */
  expire(): void {
    this.finish();
  }

  /** Terminated: stops the timers and leaves the stack's tables. */
  protected abstract finish(): void;
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
