/**
 * Clearwater's provisioning model (private identities, implicit registration sets, service
 * profiles, public identities, filter criteria) on the {@link SubscriberStore}:
 * - an IRS is an implicit set; its one service profile has the IRS's id and is the set's
 *   `serviceProfile` XML (TS 29.228 Annex B), kept listing exactly the set's members;
 * - an IMPI linked to an IRS is associated with every IMPU of the set; linked while the set
 *   has no IMPU yet (Clearwater's order), it waits in the profile's `Extension` and is
 *   associated with the first IMPU added.
 * Writes to one IRS are read-modify-write, last writer wins, as provisioning is in the store.
 */
import { randomUUID } from 'node:crypto';
import { computeHa1 } from '../sip/auth/index.js';
import type { DigestHa1, ImplicitSet, PublicIdentity, SubscriberStore } from '../storage/index.js';
import { HssError } from './errors.js';
import { parsePublicIdentityBody, parseServiceProfile, pendingPrivateIds, publicIdentityXml, publishedProfile, storedProfile } from './xml.js';

/** `PUT /private/<impi>` body. */
export interface PrivateBody {
  readonly digest_ha1?: string;
  readonly plaintext_password?: string;
  readonly realm?: string;
}

/** What `GET /private/<impi>` answers: the MD5 HA1, never a password. */
export interface PrivateAnswer {
  readonly digest_ha1: string;
  readonly realm: string;
}

/** HA1s computed from a plaintext password; the password itself is dropped here. */
const FROM_PASSWORD = ['MD5', 'SHA-256'] as const;

function notFound(what: string): HssError {
  return new HssError('TW_ERR_HSS_NOT_FOUND', what);
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export class Provisioner {
  constructor(
    private readonly store: SubscriberStore,
    private readonly homeDomain: string,
  ) {}

  /** Creates or replaces the credentials of `impi` for one realm (RFC 7616 §3.4.2: HA1 only). */
  async putPrivate(impi: string, body: PrivateBody): Promise<PrivateAnswer> {
    const hasHa1 = body.digest_ha1 !== undefined;
    if (hasHa1 === (body.plaintext_password !== undefined)) {
      throw new HssError('TW_ERR_HSS_BAD_REQUEST', 'body needs exactly one of digest_ha1 and plaintext_password');
    }
    const realm = body.realm ?? this.homeDomain;
    const fresh: DigestHa1[] = hasHa1
      ? [{ realm, algorithm: 'MD5', ha1: body.digest_ha1!.toLowerCase() }]
      : FROM_PASSWORD.map((algorithm) => ({ realm, algorithm, ha1: computeHa1(algorithm, impi, realm, body.plaintext_password!) }));
    const existing = await this.store.getPrivateIdentity(impi);
    if (existing) {
      await this.store.updatePrivateIdentity(impi, { digest: [...existing.digest.filter((d) => d.realm !== realm), ...fresh] });
    } else {
      await this.store.createPrivateIdentity({ impi, digest: fresh });
    }
    return { digest_ha1: fresh[0]!.ha1, realm };
  }

  async getPrivate(impi: string): Promise<PrivateAnswer> {
    const identity = await this.store.getPrivateIdentity(impi);
    if (!identity) throw notFound(`no private identity ${impi}`);
    const md5 = identity.digest.filter((d) => d.algorithm === 'MD5');
    const main = md5.find((d) => d.realm === this.homeDomain) ?? md5[0];
    if (!main) throw new HssError('TW_ERR_HSS_NO_DIGEST', `${impi} has no MD5 Digest HA1`);
    return { digest_ha1: main.ha1, realm: main.realm };
  }

  async deletePrivate(impi: string): Promise<void> {
    if (!(await this.store.deletePrivateIdentity(impi))) throw notFound(`no private identity ${impi}`);
  }

  /** A new, empty IRS; its id. */
  async createIrs(): Promise<string> {
    const id = randomUUID();
    await this.store.createImplicitSet({ id, serviceProfile: '<ServiceProfile/>' });
    return id;
  }

  /** Removes the IRS with its public identities (and their associations). */
  async deleteIrs(irs: string): Promise<void> {
    const set = await this.irs(irs);
    for (const m of set.members) await this.store.deletePublicIdentity(m.impu);
    await this.store.deleteImplicitSet(irs);
  }

  async publicIds(irs: string): Promise<string[]> {
    return (await this.irs(irs)).members.map((m) => m.impu);
  }

  async privateIds(irs: string): Promise<string[]> {
    return this.linkedPrivateIds(await this.irs(irs));
  }

  /** Lets `impi` register every identity of the IRS. */
  async linkPrivate(irs: string, impi: string): Promise<void> {
    const set = await this.irs(irs);
    if (!(await this.store.getPrivateIdentity(impi))) throw notFound(`no private identity ${impi}`);
    for (const m of set.members) await this.store.associate(impi, m.impu);
    if (set.members.length === 0) {
      const pending = pendingPrivateIds(set.serviceProfile);
      if (!pending.includes(impi)) await this.saveProfile(set, { pending: [...pending, impi] });
    }
  }

  async unlinkPrivate(irs: string, impi: string): Promise<void> {
    const set = await this.irs(irs);
    let linked = false;
    for (const m of set.members) linked = (await this.store.dissociate(impi, m.impu)) || linked;
    const pending = pendingPrivateIds(set.serviceProfile);
    if (pending.includes(impi)) {
      linked = true;
      await this.saveProfile(set, { pending: pending.filter((p) => p !== impi) });
    }
    if (!linked) throw notFound(`private identity ${impi} is not linked to IRS ${irs}`);
  }

  /** The IRS's service profile: there is one per IRS, and its id is the IRS's. */
  async createServiceProfile(irs: string): Promise<string> {
    await this.irs(irs);
    return irs;
  }

  /** Adds (or re-bars) a public identity in the IRS, linked to the IRS's private identities. */
  async putPublicId(irs: string, sp: string, impu: string, body: unknown): Promise<string> {
    const set = await this.serviceProfile(irs, sp);
    const given = parsePublicIdentityBody(body);
    if (given.impu !== impu) throw new HssError('TW_ERR_HSS_BAD_REQUEST', `body Identity ${given.impu} does not match the path's ${impu}`);
    const existing = await this.store.getPublicIdentity(impu);
    if (existing && existing.implicitSetId !== irs) throw new HssError('TW_ERR_HSS_CONFLICT', `${impu} belongs to another IRS (${existing.implicitSetId})`);
    const identity: PublicIdentity = { impu, implicitSetId: irs, barred: given.barred };
    if (existing) await this.store.updatePublicIdentity(identity);
    else await this.store.createPublicIdentity(identity);
    for (const impi of await this.linkedPrivateIds(set)) await this.store.associate(impi, impu);
    await this.saveProfile(await this.irs(irs), { pending: [] });
    return publicIdentityXml(identity);
  }

  async getPublicId(irs: string, sp: string, impu: string): Promise<string> {
    return publicIdentityXml(await this.member(irs, sp, impu));
  }

  /** Removes the public identity; the IRS keeps its private identities even when left empty. */
  async deletePublicId(irs: string, sp: string, impu: string): Promise<void> {
    const set = await this.serviceProfile(irs, sp);
    await this.member(irs, sp, impu);
    const lastOne = set.members.length === 1;
    const keep = lastOne ? await this.linkedPrivateIds(set) : undefined;
    await this.store.deletePublicIdentity(impu);
    await this.saveProfile(await this.irs(irs), keep ? { pending: keep } : {});
  }

  /** Replaces the profile's filter criteria with those of a validated ServiceProfile body. */
  async putFilterCriteria(irs: string, sp: string, body: unknown): Promise<string> {
    const replacement = parseServiceProfile(body);
    const set = await this.serviceProfile(irs, sp);
    const profile = await this.saveProfile(set, { replacement });
    return publishedProfile(profile, set.members);
  }

  async getFilterCriteria(irs: string, sp: string): Promise<string> {
    const set = await this.serviceProfile(irs, sp);
    return publishedProfile(set.serviceProfile, set.members);
  }

  async associatedPrivateIds(impu: string): Promise<string[]> {
    if (!(await this.store.getPublicIdentity(impu))) throw notFound(`no public identity ${impu}`);
    return this.store.privateIdentitiesOf(impu);
  }

  async associatedPublicIds(impi: string): Promise<string[]> {
    if (!(await this.store.getPrivateIdentity(impi))) throw notFound(`no private identity ${impi}`);
    return this.store.publicIdentitiesOf(impi);
  }

  private async irs(irs: string): Promise<ImplicitSet> {
    const set = await this.store.getImplicitSet(irs);
    if (!set) throw notFound(`no IRS ${irs}`);
    return set;
  }

  private async serviceProfile(irs: string, sp: string): Promise<ImplicitSet> {
    const set = await this.irs(irs);
    if (sp !== irs) throw notFound(`IRS ${irs} has no service profile ${sp}`);
    return set;
  }

  private async member(irs: string, sp: string, impu: string): Promise<PublicIdentity> {
    const set = await this.serviceProfile(irs, sp);
    const found = set.members.find((m) => m.impu === impu);
    if (!found) throw notFound(`no public identity ${impu} in IRS ${irs}`);
    return found;
  }

  /** IMPIs associated with any member, and those pending, that still exist; sorted. */
  private async linkedPrivateIds(set: ImplicitSet): Promise<string[]> {
    const all = new Set<string>();
    for (const m of set.members) for (const impi of await this.store.privateIdentitiesOf(m.impu)) all.add(impi);
    for (const impi of pendingPrivateIds(set.serviceProfile)) {
      if (await this.store.getPrivateIdentity(impi)) all.add(impi);
    }
    return [...all].sort(byString);
  }

  private async saveProfile(set: ImplicitSet, parts: { pending?: readonly string[]; replacement?: ReturnType<typeof parseServiceProfile> }): Promise<string> {
    const profile = storedProfile(set.serviceProfile, { members: set.members, ...parts });
    await this.store.updateServiceProfile(set.id, profile);
    return profile;
  }
}
