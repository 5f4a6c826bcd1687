/**
 * A small fixed-window limiter for login and signup attempts per client address: `max`
 * attempts per `windowMs`; the next one is refused until the window ends (429 with
 * Retry-After, RFC 6585 §4). In memory, per process.
 */
export interface RateLimitOptions {
  /** Attempts allowed per window; default 10. */
  readonly max?: number;
  /** Window length; default 60 000 ms. */
  readonly windowMs?: number;
  /** Clock, ms; default `Date.now`. */
  readonly now?: () => number;
}

/** Outcome of {@link RateLimiter.take}: allowed, or refused with the seconds to wait. */
export type RateDecision = { readonly ok: true } | { readonly ok: false; readonly retryAfterSeconds: number };

const MAX_KEYS = 100_000;

export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  private readonly max: number;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(options: RateLimitOptions = {}) {
    this.max = options.max ?? 10;
    this.windowMs = options.windowMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Counts one attempt for `key` and says whether it may go ahead. */
  take(key: string): RateDecision {
    const now = this.now();
    let window = this.windows.get(key);
    if (!window || now - window.start >= this.windowMs) {
      if (this.windows.size >= MAX_KEYS) this.prune(now);
      window = { start: now, count: 0 };
      this.windows.set(key, window);
    }
    window.count++;
    if (window.count <= this.max) return { ok: true };
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((window.start + this.windowMs - now) / 1000)) };
  }

  private prune(now: number): void {
    for (const [key, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(key);
    if (this.windows.size >= MAX_KEYS) this.windows.clear();
  }
}
