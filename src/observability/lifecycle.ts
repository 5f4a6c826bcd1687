/**
 * A server process's lifecycle: starting, ready, draining, stopped. It answers the readiness
 * probe (`/health/ready`, http.ts), refuses new work once draining (the proxy core's `admit`:
 * 503 with Retry-After, RFC 3261 §21.5.4, so that clients and peers go to another node), and
 * waits for the work in flight to finish, for at most a grace period, before the process closes
 * its listeners and stores.
 */
import type { Admission, SipRequest } from '../sip/index.js';
import type { Readiness } from './http.js';

export type LifecyclePhase = 'starting' | 'ready' | 'draining' | 'stopped';

/**
 * Work in flight by kind, e.g. `{ call: 1, 'server transaction': 2 }`: singular nouns, which
 * {@link describeWork} counts in words.
 */
export type WorkCounts = Readonly<Record<string, number>>;

/** A dependency the process needs to take work (a store, a peer); answers quickly. */
export type ReadinessCheck = () => Readiness | Promise<Readiness>;

/** What {@link Lifecycle.drain} found. */
export interface DrainResult {
  /** True when nothing was left in flight; false when the grace period ran out first. */
  readonly drained: boolean;
  readonly elapsedMs: number;
  /** In flight when draining started. */
  readonly atStart: WorkCounts;
  /** Still in flight at the end (nothing when drained). */
  readonly left: WorkCounts;
}

export interface LifecycleOptions {
  /** How long {@link Lifecycle.drain} waits for the work in flight, ms. */
  readonly graceMs: number;
  /** Retry-After of a refusal while draining, s; default a whole number from 1 to 5, spread so retries do not arrive together. */
  readonly retryAfterSeconds?: () => number;
  /** How often the work in flight is counted while draining, ms; default 50. */
  readonly pollMs?: number;
  /** Time allowed to a readiness check, ms; default 1000. A slower one counts as failed. */
  readonly checkTimeoutMs?: number;
  /** Default `Date.now`. */
  readonly now?: () => number;
}

const DRAINING_REASON = 'Service Unavailable - draining';
/** The answer that lets a request in. */
export const ADMITTED: Admission = { ok: true };

/** `1 call, 2 server transactions`, or `nothing`. */
export function describeWork(counts: WorkCounts): string {
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([noun, n]) => `${n} ${noun}${n === 1 ? '' : 's'}`);
  return parts.length ? parts.join(', ') : 'nothing';
}

/** The sum of the counts. */
export function totalWork(counts: WorkCounts): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

export class Lifecycle {
  readonly graceMs: number;
  private current: LifecyclePhase = 'starting';
  private readonly checks: Array<{ name: string; check: ReadinessCheck }> = [];
  private readonly retryAfter: () => number;
  private readonly pollMs: number;
  private readonly checkTimeoutMs: number;
  private readonly now: () => number;

  constructor(opts: LifecycleOptions) {
    if (!Number.isInteger(opts.graceMs) || opts.graceMs < 0) throw new RangeError(`shutdownGraceMs must be a whole number of ms from 0, got ${opts.graceMs}`);
    this.graceMs = opts.graceMs;
    this.retryAfter = opts.retryAfterSeconds ?? (() => 1 + Math.floor(Math.random() * 5));
    this.pollMs = opts.pollMs ?? 50;
    this.checkTimeoutMs = opts.checkTimeoutMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  get phase(): LifecyclePhase {
    return this.current;
  }

  /** Started: ready unless a check fails. Once draining or stopped, stays so. */
  markReady(): void {
    if (this.current === 'starting') this.current = 'ready';
  }

  /** Adds a dependency check to the readiness probe, named in its reason when it fails. */
  addCheck(name: string, check: ReadinessCheck): void {
    this.checks.push({ name, check });
  }

  /** The readiness probe's answer: the phase first, then every check. */
  readonly readiness = async (): Promise<Readiness> => {
    if (this.current !== 'ready') return { ready: false, reason: this.current };
    for (const { name, check } of this.checks) {
      const answer = await this.run(name, check);
      if (!answer.ready) return { ready: false, reason: `${name}: ${answer.reason ?? 'not ready'}` };
    }
    return { ready: true };
  };

  /** The proxy core's admission (ProxyCoreOptions.admit): everything until draining, nothing after. */
  readonly admit = (): Admission => {
    if (this.current !== 'draining' && this.current !== 'stopped') return ADMITTED;
    return { ok: false, retryAfterSeconds: this.retryAfter(), reason: DRAINING_REASON };
  };

  /**
   * Turns not ready and refuses new work at once, then waits until `work` counts nothing in
   * flight or the grace period is over, whichever comes first.
   */
  async drain(work: () => WorkCounts = () => ({})): Promise<DrainResult> {
    this.current = 'draining';
    const start = this.now();
    const atStart = work();
    let left = atStart;
    while (totalWork(left) > 0) {
      const remaining = this.graceMs - (this.now() - start);
      if (remaining <= 0) return { drained: false, elapsedMs: this.now() - start, atStart, left };
      await new Promise((r) => setTimeout(r, Math.min(this.pollMs, remaining)));
      left = work();
    }
    return { drained: true, elapsedMs: this.now() - start, atStart, left };
  }

  /** Closed: not ready, refusing everything. */
  markStopped(): void {
    this.current = 'stopped';
  }

  private async run(name: string, check: ReadinessCheck): Promise<Readiness> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Readiness>((resolve) => {
      timer = setTimeout(() => resolve({ ready: false, reason: `no answer within ${this.checkTimeoutMs} ms` }), this.checkTimeoutMs);
    });
    try {
      return await Promise.race([Promise.resolve().then(check), late]);
    } catch (e) {
      return { ready: false, reason: e instanceof Error ? e.message : String(e) };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** One admission from several (draining, overload control): the first refusal wins. */
export function admitAll(...checks: ReadonlyArray<(request: SipRequest) => Admission>): (request: SipRequest) => Admission {
  return (request) => {
    for (const check of checks) {
      const answer = check(request);
      if (!answer.ok) return answer;
    }
    return ADMITTED;
  };
}
