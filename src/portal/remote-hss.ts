/**
 * {@link PortalSubscribers} over the provisioning API of an HSS in another process (Clearwater's
 * Homestead-prov, as Ellis used it; docs/hss-api.md). A number is made in Ellis's order: an
 * implicit registration set (IRS), the private identity with the password (the HSS keeps its
 * MD5 and SHA-256 HA1s for the realm and drops it), the IMPI linked to the IRS, the IRS's
 * service profile, the public identity in it, the default iFC.
 *
 * The API has no lookup from a public identity to its IRS, so the portal remembers the IRS and
 * service profile of each number it made, in its own storage (a document of AUID
 * `tidewater.portal` in the data folder's document store, next to its accounts).
 */
import type { HssProvisioningClient } from '../hss/index.js';
import { StorageError } from '../storage/index.js';
import { newServiceProfile, type NewNumber, type PortalDocuments, type PortalSubscribers } from './subscribers.js';

/** Where a number's IRS is remembered: one small JSON document per IMPU. */
const INDEX_AUID = 'tidewater.portal';
const INDEX_DOCUMENT = 'hss-irs.json';

interface ProfileRef {
  readonly irs: string;
  readonly sp: string;
}

/** The IRS and service profile of each number the portal made, by IMPU. */
export class ImplicitSetIndex {
  constructor(private readonly documents: PortalDocuments) {}

  private key(impu: string) {
    return { auid: INDEX_AUID, xui: impu, name: INDEX_DOCUMENT };
  }

  async get(impu: string): Promise<ProfileRef | undefined> {
    const doc = await this.documents.get(this.key(impu));
    if (!doc) return undefined;
    const ref = JSON.parse(doc.content) as Partial<ProfileRef>;
    return typeof ref.irs === 'string' && typeof ref.sp === 'string' ? { irs: ref.irs, sp: ref.sp } : undefined;
  }

  async set(impu: string, ref: ProfileRef): Promise<void> {
    await this.documents.put(this.key(impu), JSON.stringify({ irs: ref.irs, sp: ref.sp }));
  }

  async delete(impu: string): Promise<void> {
    await this.documents.delete(this.key(impu));
  }
}

export class RemoteHssSubscribers implements PortalSubscribers {
  private readonly index: ImplicitSetIndex;

  /**
   * `documents`: the portal's own document store, where it remembers each number's IRS.
   * `mmtelHost`: where the default iFC of a new number sends INVITEs; default `mmtel.<realm>`.
   */
  constructor(
    private readonly hss: HssProvisioningClient,
    documents: PortalDocuments,
    private readonly mmtelHost?: string,
  ) {
    this.index = new ImplicitSetIndex(documents);
  }

  async hasPublicIdentity(impu: string): Promise<boolean> {
    return (await this.hss.associatedPrivateIds(impu)) !== undefined;
  }

  async hasPrivateIdentity(impi: string): Promise<boolean> {
    return (await this.hss.associatedPublicIds(impi)) !== undefined;
  }

  async addNumber(n: NewNumber): Promise<void> {
    let irs: string | undefined;
    let createdImpi = false;
    try {
      irs = await this.hss.createIrs();
      if (n.password !== undefined) {
        await this.hss.putPrivate(n.impi, { plaintext_password: n.password, realm: n.realm });
        createdImpi = true;
      }
      await this.hss.linkPrivate(irs, n.impi);
      const sp = await this.hss.createServiceProfile(irs);
      await this.index.set(n.impu, { irs, sp });
      await this.hss.putPublicId(irs, sp, n.impu);
      // The default iFC (INTERFACES.md), as a number made in this process gets it.
      await this.hss.putFilterCriteria(irs, sp, newServiceProfile([n.impu], this.mmtelHost ?? `mmtel.${n.realm.toLowerCase()}`));
    } catch (error) {
      await this.undoAdd(n, irs, createdImpi);
      throw error;
    }
  }

  /** Best effort: with the HSS gone, what it kept makes the portal skip this number later. */
  private async undoAdd(n: NewNumber, irs: string | undefined, createdImpi: boolean): Promise<void> {
    const ignore = () => undefined;
    if (irs !== undefined) await this.hss.deleteIrs(irs).catch(ignore);
    if (createdImpi) await this.hss.deletePrivate(n.impi).catch(ignore);
    await this.index.delete(n.impu).catch(ignore);
  }

  async setPassword(impi: string, realm: string, password: string): Promise<void> {
    if (!(await this.hasPrivateIdentity(impi))) throw new StorageError('TW_ERR_STORAGE_NOT_FOUND', `no private identity ${impi}`);
    await this.hss.putPrivate(impi, { plaintext_password: password, realm });
  }

  async removeNumber(impi: string, impu: string): Promise<void> {
    const ref = await this.index.get(impu);
    if (ref) {
      const members = await this.hss.publicIds(ref.irs);
      if (members !== undefined && members.every((m) => m === impu)) await this.hss.deleteIrs(ref.irs);
      else if (members !== undefined) await this.hss.deletePublicId(ref.irs, ref.sp, impu);
    } else if (await this.hasPublicIdentity(impu)) {
      throw new Error(`cannot remove ${impu} from the HSS: the portal has no record of its implicit registration set`);
    }
    if ((await this.hss.associatedPublicIds(impi))?.length === 0) await this.hss.deletePrivate(impi);
    await this.index.delete(impu);
  }

  async filterCriteria(impu: string): Promise<string> {
    const ref = await this.refOf(impu);
    return this.hss.getFilterCriteria(ref.irs, ref.sp);
  }

  async putFilterCriteria(impu: string, body: unknown): Promise<string> {
    if (typeof body !== 'string' || body.trim() === '') throw new StorageError('TW_ERR_STORAGE_INVALID', 'the body must be a ServiceProfile XML document');
    const ref = await this.refOf(impu);
    return this.hss.putFilterCriteria(ref.irs, ref.sp, body);
  }

  private async refOf(impu: string): Promise<ProfileRef> {
    const ref = await this.index.get(impu);
    if (!ref) throw new StorageError('TW_ERR_STORAGE_NOT_FOUND', `no subscriber data for ${impu}`);
    return ref;
  }
}
