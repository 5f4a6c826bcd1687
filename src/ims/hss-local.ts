/**
 * The HSS answered in-process from the subscriber store (the all-in-one's embedded HSS).
 */
import type { SubscriberStore } from '../storage/index.js';
import type { Hss, LocationInfo, ServerAssignment, ServerAssignmentType, UserAuthorization } from './hss.js';

const MAX_CAS_ATTEMPTS = 5;

export class LocalHss implements Hss {
  constructor(private readonly store: SubscriberStore) {}

  async userAuthorization(impi: string, impu: string): Promise<UserAuthorization> {
    const pub = await this.store.getPublicIdentity(impu);
    if (!pub) return { ok: false, reason: 'unknown-user' };
    const impis = await this.store.privateIdentitiesOf(impu);
    if (!impis.includes(impi)) {
      const priv = await this.store.getPrivateIdentity(impi);
      return { ok: false, reason: priv ? 'identities-dont-match' : 'unknown-user' };
    }
    if (pub.barred) {
      // TS 29.228 §6.1.1: a barred identity may register only with other, non-barred ones.
      const set = await this.store.implicitSetOf(impu);
      if (!set?.members.some((m) => !m.barred)) return { ok: false, reason: 'barred' };
    }
    const reg = await this.store.getRegistrationState(impu);
    return reg?.scscf && reg.state !== 'NOT_REGISTERED' ? { ok: true, scscf: reg.scscf } : { ok: true };
  }

  authVector(impi: string, impu: string) {
    return this.store.authVector(impi, impu);
  }

  async serverAssignment(impu: string, type: ServerAssignmentType, scscf: string): Promise<ServerAssignment | undefined> {
    const registering = type === 'REGISTRATION' || type === 'RE_REGISTRATION';
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await this.store.getRegistrationState(impu);
      if (!current) return undefined;
      const wanted = registering ? { state: 'REGISTERED' as const, scscf } : { state: 'NOT_REGISTERED' as const };
      const unchanged = current.state === wanted.state && current.scscf === (registering ? scscf : undefined);
      if (!unchanged) {
        const result = await this.store.setRegistrationState(impu, wanted, current.version);
        if (!result.ok) continue;
      }
      const implicitSet = await this.store.implicitSetOf(impu);
      return implicitSet ? { implicitSet } : undefined;
    }
    throw new Error(`registration state of ${impu} kept changing under the S-CSCF`);
  }

  implicitSetOf(impu: string) {
    return this.store.implicitSetOf(impu);
  }

  async locationInfo(impu: string): Promise<LocationInfo | undefined> {
    const set = await this.store.implicitSetOf(impu);
    const self = set?.members.find((m) => m.impu === impu);
    if (!set || !self) return undefined;
    const reg = await this.store.getRegistrationState(impu);
    return {
      state: reg?.state ?? 'NOT_REGISTERED',
      ...(reg?.scscf ? { scscf: reg.scscf } : {}),
      defaultImpu: set.members[0]!.impu,
      barred: self.barred,
    };
  }
}
