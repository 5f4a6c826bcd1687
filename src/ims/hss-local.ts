/**
 * The HSS answered in-process from the subscriber store (the all-in-one's embedded HSS).
 */
import type { SubscriberStore } from '../storage/index.js';
import type { Hss, LocationInfo, ServerAssignment, ServerAssignmentType, UserAuthorization } from './hss.js';

const MAX_CAS_ATTEMPTS = 5;

export class LocalHss implements Hss {
  constructor(private readonly store: SubscriberStore) {}

  async userAuthorization(impi: string, impu: string): Promise<UserAuthorization> {
    // One read for the whole check: it runs for every REGISTER at the I-CSCF.
    const check = await this.store.registrationCheck(impi, impu);
    if (!check) return { ok: false, reason: 'unknown-user' };
    if (!check.linked) return { ok: false, reason: check.privateIdentityKnown ? 'identities-dont-match' : 'unknown-user' };
    // TS 29.228 §6.1.1: a barred identity may register only with other, non-barred ones.
    if (check.barred && !check.setHasUnbarred) return { ok: false, reason: 'barred' };
    const reg = check.registration;
    return reg.scscf && reg.state !== 'NOT_REGISTERED' ? { ok: true, scscf: reg.scscf } : { ok: true };
  }

  authVector(impi: string, impu: string) {
    return this.store.authVector(impi, impu);
  }

  async serverAssignment(impu: string, type: ServerAssignmentType, scscf: string): Promise<ServerAssignment | undefined> {
    const registering = type === 'REGISTRATION' || type === 'RE_REGISTRATION';
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      // The set is read with its state: a change of state leaves its members as they are.
      const current = await this.store.implicitSetStateOf(impu);
      if (!current) return undefined;
      const reg = current.registration;
      const wanted = registering ? { state: 'REGISTERED' as const, scscf } : { state: 'NOT_REGISTERED' as const };
      const unchanged = reg.state === wanted.state && reg.scscf === (registering ? scscf : undefined);
      if (!unchanged) {
        const result = await this.store.setRegistrationState(impu, wanted, reg.version);
        if (!result.ok) continue;
      }
      return { implicitSet: current.implicitSet };
    }
    throw new Error(`registration state of ${impu} kept changing under the S-CSCF`);
  }

  implicitSetOf(impu: string) {
    return this.store.implicitSetOf(impu);
  }

  async locationInfo(impu: string): Promise<LocationInfo | undefined> {
    const current = await this.store.implicitSetStateOf(impu);
    if (!current) return undefined;
    const { implicitSet: set, registration: reg } = current;
    const self = set.members.find((m) => m.impu === impu);
    if (!self) return undefined;
    return { state: reg.state, scscf: reg.scscf || undefined, defaultImpu: set.members[0]!.impu, barred: self.barred };
  }
}
