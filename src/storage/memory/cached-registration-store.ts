/**
 * Registration bindings served from memory and written through to a persistent store: the
 * all-in-one's registration store (issue 3: "keeps them in memory and persists them to SQLite,
 * so a restart loses no registration").
 *
 * Why a cache in front rather than SQLite alone: every routed request reads the callee's
 * bindings and the expiry sweeper scans the expiry index; from memory those are a map lookup
 * and a heap walk, with no SQL, no row decoding and no event-loop time spent in the synchronous
 * SQLite driver. Only writes (REGISTER, expiry, flow failure) touch the backing store.
 *
 * Consistency: a write is applied to memory only after the backing store accepted it, so
 * memory never holds what a restart would lose; a write whose backing write fails leaves
 * memory unchanged and rejects. The backing store's compare-and-set stays the authority: if
 * it reports a conflict (another process changed the record), the entry is reloaded from it
 * and the conflict returned. Writes to one AoR are serialised in this process.
 *
 * Reads may be stale if another process writes the backing store, so this is for a backing
 * store this process owns (the all-in-one's SQLite file). A cluster (issue 7) uses the shared
 * store directly, where every node sees every write.
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
import { RegistrationIndex } from './registration-index.js';
import { LocalLeases } from './leases.js';
import { claimFromIndex } from './registration-store.js';

/** Options of {@link CachedRegistrationStore.open}. */
export interface CachedRegistrationStoreOptions {
  /** Records read per page while loading; default 500. */
  readonly loadPageSize?: number;
}

const NO_BINDINGS: readonly Binding[] = Object.freeze([]);

export class CachedRegistrationStore implements RegistrationStore {
  private readonly index = new RegistrationIndex();
  /**
   * The claims of `claimExpired`, served from memory like `expiredBefore` rather than by the
   * backing store: this process owns the backing store, so its sweeper is the only claimer.
   */
  private readonly leases = new LocalLeases();
  /** AoR -> the tail of its queue of writes in progress. */
  private readonly queues = new Map<string, Promise<unknown>>();

  private constructor(private readonly backing: RegistrationStore) {}

  /** Loads every record of `backing` into memory and returns the store in front of it. */
  static async open(backing: RegistrationStore, options: CachedRegistrationStoreOptions = {}): Promise<CachedRegistrationStore> {
    const store = new CachedRegistrationStore(backing);
    const limit = options.loadPageSize ?? 500;
    let after: string | undefined;
    do {
      const page = await backing.list(after === undefined ? { limit } : { after, limit });
      for (const record of page.items) store.apply(record.aor, checkData(record), record.version);
      after = page.next;
    } while (after !== undefined);
    return store;
  }

  async get(aor: string): Promise<RegistrationRecord | undefined> {
    return this.index.snapshot(checkAor(aor));
  }

  async put(aor: string, data: RegistrationData, expectedVersion: number): Promise<CasResult> {
    checkAor(aor);
    checkExpectedVersion(expectedVersion);
    const bindings = checkData(data);
    return this.serialise(aor, () => this.writeThrough(aor, bindings, expectedVersion));
  }

  async delete(aor: string, expectedVersion: number): Promise<CasResult> {
    checkAor(aor);
    checkExpectedVersion(expectedVersion);
    return this.serialise(aor, () => this.writeThrough(aor, NO_BINDINGS, expectedVersion));
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

  private async writeThrough(aor: string, bindings: readonly Binding[], expectedVersion: number): Promise<CasResult> {
    const cached = this.index.version(aor);
    if (cached !== expectedVersion) return { ok: false, currentVersion: cached };
    const result = await this.backing.put(aor, { bindings }, expectedVersion);
    if (result.ok) this.apply(aor, bindings, result.version);
    else await this.reload(aor);
    return result;
  }

  private async reload(aor: string): Promise<void> {
    const record = await this.backing.get(aor);
    if (record) this.apply(aor, checkData(record), record.version);
    else this.index.remove(aor);
  }

  private apply(aor: string, bindings: readonly Binding[], version: number): void {
    if (bindings.length === 0) this.index.remove(aor);
    else this.index.set(aor, bindings, version);
  }

  /** Runs `write` after every earlier write to `aor` in this process has settled. */
  private serialise<T>(aor: string, write: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(aor);
    const run = previous ? previous.then(write, write) : write();
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(aor, tail);
    void tail.then(() => {
      if (this.queues.get(aor) === tail) this.queues.delete(aor);
    });
    return run;
  }
}
