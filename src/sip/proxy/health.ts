import type { Clock } from '../clock.js';
import type { SendTarget } from '../transport/types.js';

export interface TargetHealthOptions {
  /** The clock quarantines expire on (the proxy core's). */
  clock: Clock;
  /** How long a failed target goes to the back of the order; default 30 s. */
  quarantineMs?: number;
  /** The longest quarantine a Retry-After may ask for; default 1 hour. */
  maxQuarantineMs?: number;
  /** Most targets remembered at once; default 1024. When full, expired entries go, then the oldest. */
  maxEntries?: number;
}

/**
 * Which next-hop targets failed lately, so that the next requests go straight to the others.
 * RFC 3263 §4.3 has a client try the targets in order and move on after a transport error, a
 * timeout or a 503; it leaves what to remember to the client. Remembering a dead target saves
 * every later request the wait for the same failure (a failover timeout per request while a node
 * is cut off).
 *
 * A quarantine only reorders, never removes: a quarantined target is still tried after the
 * healthy ones, and in its place when every target is quarantined, so a node that comes back is
 * found again, and a next hop whose every node failed at once is still tried. Entries expire
 * lazily when read, and the table holds at most `maxEntries` of them.
 */
export class TargetHealth {
  readonly quarantineMs: number;
  private readonly clock: Clock;
  private readonly maxQuarantineMs: number;
  private readonly maxEntries: number;
  /** Target key to the clock time its quarantine ends; insertion order is roughly expiry order. */
  private readonly until = new Map<string, number>();

  constructor(options: TargetHealthOptions) {
    this.clock = options.clock;
    this.quarantineMs = options.quarantineMs ?? 30_000;
    this.maxQuarantineMs = options.maxQuarantineMs ?? 3_600_000;
    this.maxEntries = Math.max(1, options.maxEntries ?? 1024);
  }

  /** Targets in quarantine or expired but not yet read. */
  get size(): number {
    return this.until.size;
  }

  /** Quarantines `target` for `ms` (default {@link quarantineMs}); 0 ends its quarantine. */
  quarantine(target: SendTarget, ms = this.quarantineMs): void {
    const key = keyOf(target);
    this.until.delete(key);
    if (!(ms > 0)) return;
    if (this.until.size >= this.maxEntries) this.evict();
    this.until.set(key, this.clock.now() + Math.min(ms, this.maxQuarantineMs));
  }

  isQuarantined(target: SendTarget): boolean {
    if (this.until.size === 0) return false;
    const key = keyOf(target);
    const end = this.until.get(key);
    if (end === undefined) return false;
    if (end > this.clock.now()) return true;
    this.until.delete(key);
    return false;
  }

  /**
   * `targets` with the quarantined ones moved behind the others, each part in its own order; the
   * same array when there is nothing to move (no quarantine at all, none of these, or all of them).
   */
  order<T extends SendTarget>(targets: readonly T[]): readonly T[] {
    if (this.until.size === 0) return targets;
    let first = 0;
    while (first < targets.length && !this.isQuarantined(targets[first]!)) first++;
    if (first === targets.length) return targets;
    const healthy = targets.slice(0, first);
    const quarantined = [targets[first]!];
    for (let i = first + 1; i < targets.length; i++) {
      const t = targets[i]!;
      (this.isQuarantined(t) ? quarantined : healthy).push(t);
    }
    if (healthy.length === 0) return targets;
    for (const t of quarantined) healthy.push(t);
    return healthy;
  }

  private evict(): void {
    const now = this.clock.now();
    for (const [key, end] of this.until) if (end <= now) this.until.delete(key);
    if (this.until.size < this.maxEntries) return;
    const oldest = this.until.keys().next();
    if (!oldest.done) this.until.delete(oldest.value);
  }
}

function keyOf(target: SendTarget): string {
  return 'flowId' in target ? `flow ${target.flowId}` : `${target.protocol} ${target.address} ${target.port}`;
}
