/**
 * The in-process {@link RegistrationStore}: for tests and single-process setups that need no
 * persistence. Versions come from one counter per store, so they never repeat for an AoR.
 *
 * Also the claims of `claimExpired` as the single-process adapters (memory, cached, SQLite) keep
 * them: in memory, next to the store, because only the one process owning the data sweeps it.
 */
import { checkExpectedVersion, pageLimit, resultLimit, type CasResult, type Page, type PageRequest } from '../common.js';
import { checkAor, checkData, checkFlowId, checkNow, leaseEnd } from '../registration-records.js';
import type {
  Binding,
  BindingRef,
  RegistrationCounts,
  RegistrationData,
  RegistrationRecord,
  RegistrationStore,
} from '../registration-store.js';
import { LocalLeases } from './leases.js';
import { RegistrationIndex } from './registration-index.js';

const DELETED: RegistrationData = Object.freeze({ bindings: Object.freeze([]) });

/** A due binding with its position in its record, the part of its claim key a BindingRef lacks. */
interface DueBinding {
  readonly aor: string;
  readonly position: number;
  readonly binding: Binding;
  readonly version: number;
}

/**
 * `claimExpired` over an in-process index (memory and cached stores). The index's expiry walk
 * yields bindings without their position in the record, and two bindings of a record may be
 * equal, so the walk only picks the AoRs: their due bindings are then taken from the records by
 * position, earliest first, skipping the claimed ones.
 */
export function claimFromIndex(index: RegistrationIndex, leases: LocalLeases, now: number, until: number, limit: number): BindingRef[] {
  const due = (count: number): DueBinding[] => {
    const candidates: DueBinding[] = [];
    const aors = new Set<string>();
    for (const { aor } of index.expired(now, count)) {
      if (aors.has(aor)) continue;
      aors.add(aor);
      const stored = index.snapshot(aor)!;
      stored.bindings.forEach((binding, position) => {
        if (binding.expiresAt <= now) candidates.push({ aor, position, binding, version: stored.version });
      });
    }
    return candidates.sort((a, b) => a.binding.expiresAt - b.binding.expiresAt);
  };
  return leases
    .claimDue(due, limit, now, until, (c) => `${c.aor}\n${c.position}`, (c) => c.version)
    .map((c) => ({ aor: c.aor, binding: c.binding, version: c.version }));
}

export class MemoryRegistrationStore implements RegistrationStore {
  private readonly index = new RegistrationIndex();
  private readonly leases = new LocalLeases();
  private lastVersion = 0;

  async get(aor: string): Promise<RegistrationRecord | undefined> {
    return this.index.snapshot(checkAor(aor));
  }

  async put(aor: string, data: RegistrationData, expectedVersion: number): Promise<CasResult> {
    checkAor(aor);
    checkExpectedVersion(expectedVersion);
    const bindings = checkData(data);
    const current = this.index.version(aor);
    if (current !== expectedVersion) return { ok: false, currentVersion: current };
    if (bindings.length === 0) {
      this.index.remove(aor);
      return { ok: true, version: 0 };
    }
    const version = ++this.lastVersion;
    this.index.set(aor, bindings, version);
    return { ok: true, version };
  }

  async delete(aor: string, expectedVersion: number): Promise<CasResult> {
    return this.put(aor, DELETED, expectedVersion);
  }

  async expiredBefore(now: number, limit: number): Promise<BindingRef[]> {
    return this.index.expired(checkNow(now), resultLimit(limit));
  }

  async claimExpired(now: number, leaseMs: number, limit: number): Promise<BindingRef[]> {
    const until = leaseEnd(checkNow(now), leaseMs);
    return claimFromIndex(this.index, this.leases, now, until, resultLimit(limit));
  }

  async nextExpiryAt(): Promise<number | undefined> {
    return this.index.nextExpiryAt();
  }

  async bindingsOfFlow(flowId: string): Promise<BindingRef[]> {
    return this.index.ofFlow(checkFlowId(flowId));
  }

  async list(page: PageRequest): Promise<Page<RegistrationRecord>> {
    return this.index.page(page.after, pageLimit(page));
  }

  async count(): Promise<RegistrationCounts> {
    return this.index.counts();
  }
}
