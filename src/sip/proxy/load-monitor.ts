/**
 * Overload control by queueing delay (the idea of Clearwater's load monitor: a target latency,
 * and new work refused once the node no longer serves within it). New work is admitted while the
 * delay a request waits before this node starts on it stays within the target, and refused at
 * once while it is over (503 with Retry-After, before any state is kept: SipStackOptions.admit).
 * Over means a standing queue: the delay has stayed over the target for at least twice the
 * target, so a garbage-collector pause or a burst that drains sooner refuses nothing. Twice, not
 * once: an old-generation collection of a process pinned to one core takes about half of it for
 * some 200 ms (incremental marking, then a pause of tens of ms), which held the delay over a 50 ms
 * target for 80-100 ms and refused 100-340 requests at 1,000 REGISTERs or calls per second and
 * 65-80 % of the core; with the longer hold those steps refuse none, and under three times the
 * capacity the queue peaks about one target higher (set-up p50 148 ms rather than 124 ms).
 * A refusal costs a small fraction of what serving costs, so under several times its capacity
 * the node keeps serving close to its capacity with its queue held near the target, instead of
 * queueing until clients retransmit (RFC 3261 Timers A and E, from T1 = 500 ms) and everything
 * times out.
 *
 * A gate on the delay measured now, rather than a token bucket whose rate follows the latency
 * (Clearwater's sprout): a rate adjusted every period from a delayed, noisy measurement either
 * lags a step in the offered load (the queue grows past T1 before the rate comes down) or is cut
 * below the capacity and climbs back slowly; at 3x the all-in-one's capacity in calls that kept
 * 55-75 % of the capacity with p99 set-up times over 1 s, where the gate keeps about 80 %.
 *
 * The delay is what the caller of {@link LoadMonitor.record} measures
 * (src/observability/overload.ts: a probe through the SIP listener's own socket). O(1) state.
 */
import type { Clock } from '../clock.js';
import type { Admission } from '../transaction/types.js';

export interface LoadMonitorOptions {
  /** Queueing delay to stay within, ms; default 50 (overload.targetLatencyMs). */
  readonly targetLatencyMs?: number;
  /** Retry-After of a refusal, s; default 1. */
  readonly retryAfterSeconds?: number;
  readonly clock: Pick<Clock, 'now'>;
}

/** A snapshot for metrics. */
export interface LoadStats {
  readonly admitted: number;
  readonly refused: number;
  /** The queueing delay last recorded, ms. */
  readonly latencyMs: number;
}

const OVERLOADED = 'Service Unavailable - overloaded';
const ADMITTED: Admission = { ok: true };

export class LoadMonitor {
  readonly targetLatencyMs: number;
  private readonly refusal: Admission;
  private readonly clock: Pick<Clock, 'now'>;
  private latency = 0;
  /** Since when every recorded delay has been over the target. */
  private overSince: number | undefined;
  private overloaded = false;
  private admittedCount = 0;
  private refusedCount = 0;

  constructor(opts: LoadMonitorOptions) {
    this.targetLatencyMs = positive(opts.targetLatencyMs ?? 50, 'targetLatencyMs');
    const retry = positive(opts.retryAfterSeconds ?? 1, 'retryAfterSeconds');
    this.refusal = { ok: false, retryAfterSeconds: retry, reason: OVERLOADED };
    this.clock = opts.clock;
  }

  /** Admits one request unless the queue stands over the target (SipStackOptions.admit). */
  admit(): Admission {
    if (!this.overloaded) {
      this.admittedCount += 1;
      return ADMITTED;
    }
    this.refusedCount += 1;
    return this.refusal;
  }

  /** The queueing delay measured now, ms. */
  record(latencyMs: number): void {
    if (!(latencyMs >= 0)) return;
    this.latency = latencyMs;
    if (latencyMs <= this.targetLatencyMs) {
      this.overSince = undefined;
      this.overloaded = false;
      return;
    }
    const now = this.clock.now();
    this.overSince ??= now;
    this.overloaded = now - this.overSince >= 2 * this.targetLatencyMs;
  }

  get stats(): LoadStats {
    return { admitted: this.admittedCount, refused: this.refusedCount, latencyMs: this.latency };
  }
}

function positive(value: number, key: string): number {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`load monitor: ${key} must be a positive number, got ${value}`);
  return value;
}
