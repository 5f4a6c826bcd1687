/**
 * Removes bindings nobody refreshed (RFC 3261 §10.3: an expired binding is removed; TS 24.229
 * §5.4.1.7: the S-CSCF de-registers the set when its last binding expires, SAR with
 * TIMEOUT_DEREGISTRATION), and those of edge flows that failed (RFC 5626 §5.3), with no client
 * traffic needed.
 *
 * Every core node sharing the registration store runs a sweeper, and any of them may expire
 * any binding. Each due binding is claimed by one node for a lease
 * (RegistrationStore.claimExpired), so the nodes split the work instead of all reading and
 * attempting every binding; a node that died holding a claim leaves its bindings to another
 * node once the lease is over. The compare-and-set write still guards the removal: a binding
 * refreshed after the claim is kept, and a de-registration is reported by the one writer that
 * emptied the AoR.
 */
import type { Clock, TimerHandle } from '../../sip/index.js';
import { updateRegistration, type BindingRef, type RegistrationStore } from '../../storage/index.js';
import type { Hss } from '../hss.js';
import type { RegistrationChange, RegistrationListener } from './registrar.js';

export interface BindingExpiryOptions {
  readonly registrations: RegistrationStore;
  readonly hss: Hss;
  readonly scscf: string;
  readonly clock: Clock;
  /** Wall clock, ms. */
  readonly now?: () => number;
  /** How often to look for expired bindings; default 1000 ms. */
  readonly intervalMs?: number;
  /** Most bindings removed per sweep; default 1000. */
  readonly batch?: number;
  /**
   * How long a sweep's claim on the bindings it took keeps other nodes off them; default
   * 10 000 ms. Longer than a sweep of a full batch takes, or another node may expire a binding
   * this one is still working on (harmless, CAS decides, but wasted); short enough that the
   * bindings of a node that died are expired soon after.
   */
  readonly leaseMs?: number;
  readonly onChange?: RegistrationListener;
  readonly onError?: (e: unknown) => void;
}

export class BindingExpiry {
  private timer: TimerHandle | undefined;
  private running = false;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly opts: BindingExpiryOptions) {
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.opts.clock.clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.opts.clock.setTimeout(() => {
      void this.sweep()
        .catch((e: unknown) => this.opts.onError?.(e))
        .finally(() => this.schedule());
    }, this.opts.intervalMs ?? 1000);
  }

  /**
   * Claims what expired by now (up to a batch, for the lease) and removes it; resolves with
   * how many bindings went.
   */
  async sweep(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      const now = this.now();
      const expired = await this.opts.registrations.claimExpired(now, this.opts.leaseMs ?? 10_000, this.opts.batch ?? 1000);
      return await this.remove(expired, 'expired', (b) => b.expiresAt <= now);
    } finally {
      this.running = false;
    }
  }

  /** The edge flow failed: its bindings go (RFC 5626 §5.3). */
  async flowFailed(flowId: string): Promise<number> {
    const refs = await this.opts.registrations.bindingsOfFlow(flowId);
    return this.remove(refs, 'flow-failed', (b) => b.flowId === flowId);
  }

  private async remove(refs: readonly BindingRef[], cause: RegistrationChange, gone: (b: BindingRef['binding']) => boolean): Promise<number> {
    const aors = new Set(refs.map((r) => r.aor));
    let removed = 0;
    const now = this.now();
    for (const aor of aors) {
      let count = 0;
      const outcome = await updateRegistration(this.opts.registrations, aor, (current) => {
        if (!current) return undefined;
        const keep = current.bindings.filter((b) => !gone(b) && b.expiresAt > now);
        count = current.bindings.length - keep.length;
        return count ? { bindings: keep } : undefined;
      });
      if (outcome.status !== 'written') continue;
      removed += count;
      const assignment = outcome.bindings.length === 0 ? await this.opts.hss.serverAssignment(aor, 'TIMEOUT_DEREGISTRATION', this.opts.scscf) : undefined;
      this.opts.onChange?.({ aor, implicitSet: assignment?.implicitSet, bindings: outcome.bindings, cause });
    }
    return removed;
  }
}
