/**
 * Overload control by latency (the idea of Clearwater's load monitor): new work is admitted
 * through a token bucket whose rate follows the latency the node actually achieves. While the
 * measured latency stays under the target, the rate creeps up (additively); once it goes over,
 * the rate is cut (multiplicatively), so the node settles at the rate it can serve within the
 * target instead of queueing without bound. What does not get a token is refused at once
 * (503 with Retry-After, ProxyCoreOptions.admit) at almost no cost, which is what keeps
 * accepted work flowing under several times the capacity.
 *
 * Latency is what the caller of {@link LoadMonitor.record} measures: the proxy wiring records
 * the event-loop delay sampled by a timer, which is where every kind of overload shows up
 * (CPU, GC, synchronous storage). Every figure is a plain number; the state is O(1).
 */
import type { Clock } from '../clock.js';
import type { Admission } from './core.js';

export interface LoadMonitorOptions {
  /** Latency to stay under, ms; default 100. */
  readonly targetLatencyMs?: number;
  /** Admission rate at start, requests/s; default 1000. */
  readonly initialRate?: number;
  /** Bounds of the rate, requests/s; default 10 .. 100 000. */
  readonly minRate?: number;
  readonly maxRate?: number;
  /** Burst: tokens the bucket holds at most, in seconds of the current rate; default 0.5. */
  readonly burstSeconds?: number;
  /** How often the rate is adjusted from the latencies recorded since, ms; default 500. */
  readonly adjustEveryMs?: number;
  /** Retry-After of a refusal, s; default 1. */
  readonly retryAfterSeconds?: number;
  readonly clock: Pick<Clock, 'now'>;
}

/** A snapshot for metrics. */
export interface LoadStats {
  readonly rate: number;
  readonly admitted: number;
  readonly refused: number;
  /** Smoothed latency, ms. */
  readonly latencyMs: number;
}

const OVERLOADED = 'Service Unavailable - overloaded';
const ADMITTED: Admission = { ok: true };

export class LoadMonitor {
  private readonly target: number;
  private readonly min: number;
  private readonly max: number;
  private readonly burst: number;
  private readonly every: number;
  private readonly refusal: Admission;
  private readonly clock: Pick<Clock, 'now'>;
  private rate: number;
  private tokens: number;
  private lastRefill: number;
  private lastAdjust: number;
  /** Exponentially smoothed latency, and the worst since the last adjustment. */
  private smoothed = 0;
  private worst = 0;
  private samples = 0;
  private admittedCount = 0;
  private refusedCount = 0;
  private admittedSinceAdjust = 0;

  constructor(opts: LoadMonitorOptions) {
    this.target = positive(opts.targetLatencyMs ?? 100, 'targetLatencyMs');
    this.min = positive(opts.minRate ?? 10, 'minRate');
    this.max = positive(opts.maxRate ?? 100_000, 'maxRate');
    if (this.min > this.max) throw new RangeError('load monitor: minRate must not exceed maxRate');
    this.rate = Math.min(this.max, Math.max(this.min, positive(opts.initialRate ?? 1000, 'initialRate')));
    this.burst = positive(opts.burstSeconds ?? 0.5, 'burstSeconds');
    this.every = positive(opts.adjustEveryMs ?? 500, 'adjustEveryMs');
    const retry = opts.retryAfterSeconds ?? 1;
    this.refusal = { ok: false, retryAfterSeconds: positive(retry, 'retryAfterSeconds'), reason: OVERLOADED };
    this.clock = opts.clock;
    this.lastRefill = this.lastAdjust = this.clock.now();
    this.tokens = this.rate * this.burst;
  }

  /** Admits one request if a token is left (ProxyCoreOptions.admit). */
  admit(): Admission {
    const now = this.clock.now();
    this.refill(now);
    if (now - this.lastAdjust >= this.every) this.adjust(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.admittedCount += 1;
      this.admittedSinceAdjust += 1;
      return ADMITTED;
    }
    this.refusedCount += 1;
    return this.refusal;
  }

  /** One latency measurement, ms. */
  record(latencyMs: number): void {
    if (!(latencyMs >= 0)) return;
    this.smoothed = this.samples === 0 ? latencyMs : 0.8 * this.smoothed + 0.2 * latencyMs;
    if (latencyMs > this.worst) this.worst = latencyMs;
    this.samples += 1;
  }

  get stats(): LoadStats {
    return { rate: this.rate, admitted: this.admittedCount, refused: this.refusedCount, latencyMs: this.smoothed };
  }

  private refill(now: number): void {
    const elapsed = now - this.lastRefill;
    if (elapsed <= 0) return;
    this.lastRefill = now;
    this.tokens = Math.min(this.rate * this.burst, this.tokens + (elapsed / 1000) * this.rate);
  }

  /**
   * Additive increase while under the target (only when the admitted load came near the rate:
   * an idle node proves nothing about a higher one), multiplicative decrease when over it.
   */
  private adjust(now: number): void {
    const seconds = (now - this.lastAdjust) / 1000;
    this.lastAdjust = now;
    const observed = Math.max(this.smoothed, this.samples > 0 ? this.worst * 0.5 : 0);
    const busy = this.admittedSinceAdjust >= 0.5 * this.rate * seconds;
    if (this.samples > 0 && observed > this.target) {
      this.rate = Math.max(this.min, this.rate * Math.max(0.5, this.target / observed));
    } else if (busy) {
      this.rate = Math.min(this.max, this.rate + Math.max(1, this.rate * 0.05));
    }
    this.worst = 0;
    this.admittedSinceAdjust = 0;
    this.tokens = Math.min(this.tokens, this.rate * this.burst);
  }
}

function positive(value: number, key: string): number {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`load monitor: ${key} must be a positive number, got ${value}`);
  return value;
}
