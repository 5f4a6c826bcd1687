/**
 * What the portal needs of the HSS's subscriber data and of the XDMS's documents, and nothing
 * more, so that both can live in this process (the all-in-one: the stores themselves) or in
 * others (`tidewater portal` with `hssProvisioningUrl` and `xdmsUrl`: HTTP clients).
 *
 * Documents are the store's get, put and delete: the SQLite store and the XCAP client both
 * offer them. Subscriber data is a few operations on a number rather than store calls, because
 * the provisioning API creates credentials from the password (an MD5 and a SHA-256 HA1; an HA1
 * alone can only set the MD5 one) and has no lookup from a public identity to its implicit set.
 * {@link StoreSubscribers} does them on a {@link SubscriberStore}.
 */
import { randomUUID } from 'node:crypto';
import { HssError } from '../hss/index.js';
import { Provisioner } from '../hss/provisioner.js';
import { computeHa1 } from '../sip/auth/index.js';
import type { DigestHa1, DocumentStore, SubscriberStore } from '../storage/index.js';
import { StorageError } from '../storage/index.js';

/** The documents (simservs) the portal reads and writes. */
export type PortalDocuments = Pick<DocumentStore, 'get' | 'put' | 'delete'>;

/** HA1 algorithms made from a SIP password (the S-CSCF may challenge with either, RFC 8760). */
export const PASSWORD_ALGORITHMS = ['MD5', 'SHA-256'] as const;

/** A number to provision: its IMPU, the IMPI that registers it, and the IMPI's realm. */
export interface NewNumber {
  readonly impu: string;
  readonly impi: string;
  /** The realm of the HA1s (the home domain). */
  readonly realm: string;
  /** A new IMPI with this password's HA1s; absent: `impi` exists already (a shared IMPI). */
  readonly password?: string;
}

/**
 * The portal's subscriber data. Failures reject with a {@link StorageError}: NOT_FOUND for an
 * unknown identity, INVALID (with the reason) for a refused body, UNAVAILABLE when the HSS
 * cannot be used.
 */
export interface PortalSubscribers {
  /** Whether the HSS has the public identity (provisioned by the portal or not). */
  hasPublicIdentity(impu: string): Promise<boolean>;
  hasPrivateIdentity(impi: string): Promise<boolean>;
  /**
   * A new implicit registration set (TS 23.228 §5.2.1a) whose service profile names `impu`,
   * registered by `impi` (created with the password's HA1s when one is given). All or nothing:
   * on a failure what was created is removed again, as far as the HSS can still be reached.
   */
  addNumber(number: NewNumber): Promise<void>;
  /** Replaces the HA1s of `impi` for `realm` with those of `password` (RFC 7616 §3.4.2). */
  setPassword(impi: string, realm: string, password: string): Promise<void>;
  /**
   * Removes `impu` (with its implicit set when it was the only identity), then `impi` when it
   * registers nothing else. Parts already gone are skipped, so a retry finishes a removal that
   * failed half way.
   */
  removeNumber(impi: string, impu: string): Promise<void>;
  /** The `ServiceProfile` XML of `impu`'s set with its InitialFilterCriteria (TS 29.228 Annex B). */
  filterCriteria(impu: string): Promise<string>;
  /** Replaces the filter criteria with a `ServiceProfile` body's, validated as the HSS provisioning API does. */
  putFilterCriteria(impu: string, body: unknown): Promise<string>;
}

/** The HA1s a password gives for `realm` (RFC 7616 §3.4.2); the password itself goes no further. */
export function ha1sOf(impi: string, realm: string, password: string): DigestHa1[] {
  return PASSWORD_ALGORITHMS.map((algorithm) => ({ realm, algorithm, ha1: computeHa1(algorithm, impi, realm, password) }));
}

function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The initial Filter Criterion every new number gets (INTERFACES.md, XDMS): INVITEs, in any
 * session case, to the MMTel application server at `sip:<mmtelHost>`, DefaultHandling 0
 * (SESSION_CONTINUED: the call goes on without its services when the AS fails).
 */
export function defaultFilterCriteria(mmtelHost: string): string {
  return (
    '<InitialFilterCriteria><Priority>0</Priority><TriggerPoint><ConditionTypeCNF>0</ConditionTypeCNF>' +
    '<SPT><ConditionNegated>0</ConditionNegated><Group>0</Group><Method>INVITE</Method></SPT></TriggerPoint>' +
    `<ApplicationServer><ServerName>sip:${escapeText(mmtelHost)}</ServerName><DefaultHandling>0</DefaultHandling></ApplicationServer>` +
    '</InitialFilterCriteria>'
  );
}

/** A new number's TS 29.228 Annex B ServiceProfile: its identities and the {@link defaultFilterCriteria}. */
export function newServiceProfile(impus: readonly string[], mmtelHost: string): string {
  const ids = impus.map((impu) => `<PublicIdentity><Identity>${escapeText(impu)}</Identity></PublicIdentity>`).join('');
  return `<ServiceProfile>${ids}${defaultFilterCriteria(mmtelHost)}</ServiceProfile>`;
}

/** {@link PortalSubscribers} on the HSS's store in this process. */
export class StoreSubscribers implements PortalSubscribers {
  private readonly provisioner: Provisioner;

  /** `mmtelHost`: where the default iFC of a new number sends INVITEs; default `mmtel.<homeDomain>`. */
  constructor(
    private readonly store: SubscriberStore,
    homeDomain: string,
    private readonly mmtelHost = `mmtel.${homeDomain.toLowerCase()}`,
  ) {
    this.provisioner = new Provisioner(store, homeDomain);
  }

  async hasPublicIdentity(impu: string): Promise<boolean> {
    return (await this.store.getPublicIdentity(impu)) !== undefined;
  }

  async hasPrivateIdentity(impi: string): Promise<boolean> {
    return (await this.store.getPrivateIdentity(impi)) !== undefined;
  }

  async addNumber(n: NewNumber): Promise<void> {
    const implicitSet = { id: randomUUID(), serviceProfile: newServiceProfile([n.impu], this.mmtelHost) };
    if (n.password !== undefined) {
      await this.store.addSubscriber({
        privateIdentity: { impi: n.impi, digest: ha1sOf(n.impi, n.realm, n.password) },
        implicitSet,
        publicIdentities: [{ impu: n.impu }],
      });
      return;
    }
    await this.store.createImplicitSet(implicitSet);
    try {
      await this.store.createPublicIdentity({ impu: n.impu, implicitSetId: implicitSet.id, barred: false });
      await this.store.associate(n.impi, n.impu);
    } catch (error) {
      await this.store.deletePublicIdentity(n.impu).catch(() => false);
      await this.store.deleteImplicitSet(implicitSet.id).catch(() => false);
      throw error;
    }
  }

  async setPassword(impi: string, realm: string, password: string): Promise<void> {
    await this.store.updatePrivateIdentity(impi, { digest: ha1sOf(impi, realm, password) });
  }

  async removeNumber(impi: string, impu: string): Promise<void> {
    const set = await this.store.implicitSetOf(impu);
    await this.store.deletePublicIdentity(impu);
    if (set && set.members.every((m) => m.impu === impu)) await this.store.deleteImplicitSet(set.id);
    if ((await this.store.publicIdentitiesOf(impi)).length === 0) await this.store.deletePrivateIdentity(impi);
  }

  async filterCriteria(impu: string): Promise<string> {
    const id = await this.setOf(impu);
    return this.provisioner.getFilterCriteria(id, id);
  }

  async putFilterCriteria(impu: string, body: unknown): Promise<string> {
    const id = await this.setOf(impu);
    try {
      return await this.provisioner.putFilterCriteria(id, id, body);
    } catch (error) {
      if (error instanceof HssError && error.status === 400) throw new StorageError('TW_ERR_STORAGE_INVALID', error.message);
      throw error;
    }
  }

  private async setOf(impu: string): Promise<string> {
    const set = await this.store.implicitSetOf(impu);
    if (!set) throw new StorageError('TW_ERR_STORAGE_NOT_FOUND', `no subscriber data for ${impu}`);
    return set.id;
  }
}

/** True for a {@link PortalSubscribers}, false for a subscriber store. */
export function isPortalSubscribers(value: SubscriberStore | PortalSubscribers): value is PortalSubscribers {
  return typeof (value as Partial<PortalSubscribers>).addNumber === 'function';
}
