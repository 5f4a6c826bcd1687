/**
 * The in-process {@link RegistrationStore}: for tests and single-process setups that need no
 * persistence. Versions come from one counter per store, so they never repeat for an AoR.
 */
import { checkExpectedVersion, pageLimit, resultLimit, type CasResult, type Page, type PageRequest } from '../common.js';
import { checkAor, checkData, checkFlowId, checkNow } from '../registration-records.js';
import type {
  BindingRef,
  RegistrationCounts,
  RegistrationData,
  RegistrationRecord,
  RegistrationStore,
} from '../registration-store.js';
import { RegistrationIndex } from './registration-index.js';

const DELETED: RegistrationData = Object.freeze({ bindings: Object.freeze([]) });

export class MemoryRegistrationStore implements RegistrationStore {
  private readonly index = new RegistrationIndex();
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
