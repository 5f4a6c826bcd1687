/**
 * What the portal does to subscriber data, in-process on the stores: a number is one IMPU
 * `sip:<number>@<domain>` with its IMPI `<number>@<domain>` (HA1 only, RFC 7616 §3.4.2) in a
 * new implicit registration set (3GPP TS 23.228 §5.2.1a) whose service profile names it, plus
 * the default simservs document (INTERFACES.md, XDMS).
 */
import { randomUUID } from 'node:crypto';
import { computeHa1 } from '../sip/auth/index.js';
import type {
  AccountStore,
  Binding,
  DigestHa1,
  DocumentStore,
  NumberRange,
  OwnedNumber,
  RegistrationStore,
  SubscriberStore,
} from '../storage/index.js';
import { StorageError } from '../storage/index.js';
import { provisionDefaultDocument, removeDocument } from '../xdms/index.js';
import { badField, PortalError } from './errors.js';
import { generateSipPassword } from './passwords.js';

/** HA1 algorithms stored for every number (the S-CSCF may challenge with either). */
const STORED_ALGORITHMS = ['MD5', 'SHA-256'] as const;
/**
 * Numbers tried (skipping ones the HSS already has, provisioned outside the portal, and ones
 * another allocation claimed first) before answering that the pool is exhausted.
 */
const MAX_ATTEMPTS = 1000;

export interface NumberServiceOptions {
  readonly accounts: AccountStore;
  readonly subscribers: SubscriberStore;
  readonly registrations: RegistrationStore;
  readonly documents: DocumentStore;
  readonly domain: string;
  readonly pool: NumberRange;
  readonly pstnPool?: NumberRange;
  readonly now: () => number;
  /** Called after a number's credentials or identities changed (e.g. to drop an HSS cache entry). */
  readonly onSubscriberChanged?: (impi: string, impu: string) => void;
}

/** A registered contact as the portal shows it. */
export interface ContactView {
  readonly contact: string;
  readonly user_agent?: string;
  /** Seconds until the binding expires. */
  readonly expires: number;
  readonly received_from?: string;
}

/** A number as the REST API lists it (Ellis's fields plus the registration state). */
export interface NumberView {
  readonly sip_uri: string;
  readonly sip_username: string;
  readonly private_id: string;
  readonly number: string;
  readonly formatted_number: string;
  readonly pstn: boolean;
  readonly registered: boolean;
  readonly contacts: ContactView[];
}

/** The answer to an allocation: the SIP password appears here only. */
export interface AllocatedNumber {
  readonly sip_uri: string;
  readonly sip_username: string;
  readonly sip_password?: string;
  readonly number: string;
  readonly formatted_number: string;
  readonly pstn: boolean;
  readonly private_id: string;
}

/** `(650) 555-0000` for a ten-digit North American number; the digits otherwise. */
export function formatNumber(number: string): string {
  const m = /^1?(\d{3})(\d{3})(\d{4})$/.exec(number);
  return m ? `(${m[1]}) ${m[2]}-${m[3]}` : number;
}

function nextNumber(number: string): string {
  return (BigInt(number) + 1n).toString().padStart(number.length, '0');
}

/** A minimal TS 29.228 Annex B ServiceProfile naming one identity, with no filter criteria. */
function emptyServiceProfile(impu: string): string {
  const escaped = impu.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<ServiceProfile><PublicIdentity><Identity>${escaped}</Identity></PublicIdentity></ServiceProfile>`;
}

export class NumberService {
  constructor(private readonly opts: NumberServiceOptions) {}

  get domain(): string {
    return this.opts.domain;
  }

  private ha1s(impi: string, password: string): DigestHa1[] {
    const realm = this.opts.domain;
    return STORED_ALGORITHMS.map((algorithm) => ({ realm, algorithm, ha1: computeHa1(algorithm, impi, realm, password) }));
  }

  /**
   * Allocates the lowest free number of the pool (or the PSTN pool) to `email`: with a new IMPI
   * and a generated password, or, given `privateId` (an IMPI of one of the account's numbers),
   * registered by that IMPI with no new password.
   */
  async allocate(email: string, options: { pstn?: boolean; privateId?: string }): Promise<AllocatedNumber> {
    const range = options.pstn ? this.opts.pstnPool : this.opts.pool;
    if (!range) throw badField('pstn', 'no PSTN number range is configured');
    if (options.privateId !== undefined) await this.checkOwnPrivateId(email, options.privateId);
    let start = range.start;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const number = await this.opts.accounts.firstFreeNumber({ start, end: range.end });
      if (number === undefined) break;
      const impu = `sip:${number}@${this.opts.domain}`;
      const impi = options.privateId ?? `${number}@${this.opts.domain}`;
      const record: OwnedNumber = { number, impu, privateId: impi, accountEmail: email, pstn: options.pstn === true, createdAt: this.opts.now() };
      if ((await this.opts.subscribers.getPublicIdentity(impu)) || (!options.privateId && (await this.opts.subscribers.getPrivateIdentity(impi)))) {
        if (number === range.end) break;
        start = nextNumber(number);
        continue;
      }
      if (!(await this.opts.accounts.claimNumber(record))) continue; // another allocation took it: look again
      const password = await this.provision(record, options.privateId === undefined).catch(async (error: unknown) => {
        await this.opts.accounts.releaseNumber(impu);
        throw error;
      });
      return this.allocated(record, password);
    }
    throw new PortalError('TW_ERR_PORTAL_POOL_EXHAUSTED', `no free number left in ${range.start}-${range.end}`);
  }

  private allocated(n: OwnedNumber, password: string | undefined): AllocatedNumber {
    const base = { sip_uri: n.impu, sip_username: n.privateId, number: n.number, formatted_number: formatNumber(n.number), pstn: n.pstn, private_id: n.privateId };
    return password === undefined ? base : { ...base, sip_password: password };
  }

  private async checkOwnPrivateId(email: string, privateId: string): Promise<void> {
    const owned = await this.opts.accounts.numbersOf(email);
    if (!owned.some((n) => n.privateId === privateId)) throw badField('private_id', 'is not the private identity of one of your numbers');
  }

  /** Creates the HSS data and the simservs document; resolves the new password, if any. */
  private async provision(n: OwnedNumber, newImpi: boolean): Promise<string | undefined> {
    const { subscribers } = this.opts;
    const setId = randomUUID();
    let password: string | undefined;
    if (newImpi) {
      password = generateSipPassword();
      await subscribers.addSubscriber({
        privateIdentity: { impi: n.privateId, digest: this.ha1s(n.privateId, password) },
        implicitSet: { id: setId, serviceProfile: emptyServiceProfile(n.impu) },
        publicIdentities: [{ impu: n.impu }],
      });
    } else {
      await subscribers.createImplicitSet({ id: setId, serviceProfile: emptyServiceProfile(n.impu) });
      await subscribers.createPublicIdentity({ impu: n.impu, implicitSetId: setId, barred: false });
      await subscribers.associate(n.privateId, n.impu);
    }
    await provisionDefaultDocument(this.opts.documents, n.impu);
    this.opts.onSubscriberChanged?.(n.privateId, n.impu);
    return password;
  }

  /** The number `impu` if `email` owns it (any account's when `email` is undefined: operator). */
  async owned(email: string | undefined, impu: string): Promise<OwnedNumber> {
    const n = await this.opts.accounts.getNumber(impu).catch((e: unknown) => {
      if (e instanceof StorageError && e.code === 'TW_ERR_STORAGE_INVALID') return undefined;
      throw e;
    });
    if (!n || (email !== undefined && n.accountEmail !== email)) {
      throw new PortalError('TW_ERR_PORTAL_NOT_FOUND', `no number ${impu} on this account`);
    }
    return n;
  }

  /** The account's numbers with their registration state. */
  async list(email: string): Promise<NumberView[]> {
    const out: NumberView[] = [];
    for (const n of await this.opts.accounts.numbersOf(email)) out.push(await this.view(n));
    return out;
  }

  /** One number with its live contacts (RFC 3261 §10.3: expired bindings do not count). */
  async view(n: OwnedNumber): Promise<NumberView> {
    const now = this.opts.now();
    const record = await this.opts.registrations.get(n.impu);
    const live = (record?.bindings ?? []).filter((b) => b.expiresAt > now);
    return {
      sip_uri: n.impu,
      sip_username: n.privateId,
      private_id: n.privateId,
      number: n.number,
      formatted_number: formatNumber(n.number),
      pstn: n.pstn,
      registered: live.length > 0,
      contacts: live.map((b) => contactView(b, now)),
    };
  }

  /** Removes the number: its HSS data (and its IMPI when no other number uses it), simservs, bindings. */
  async remove(n: OwnedNumber): Promise<void> {
    const { subscribers, registrations, documents, accounts } = this.opts;
    const set = await subscribers.implicitSetOf(n.impu);
    await subscribers.deletePublicIdentity(n.impu);
    if (set && set.members.every((m) => m.impu === n.impu)) await subscribers.deleteImplicitSet(set.id);
    if ((await subscribers.publicIdentitiesOf(n.privateId)).length === 0) await subscribers.deletePrivateIdentity(n.privateId);
    await removeDocument(documents, n.impu);
    const record = await registrations.get(n.impu);
    if (record) await registrations.delete(n.impu, record.version);
    await accounts.releaseNumber(n.impu);
    this.opts.onSubscriberChanged?.(n.privateId, n.impu);
  }

  /** A new SIP password for the number's IMPI: new HA1s replace the old ones at once. */
  async resetPassword(n: OwnedNumber): Promise<string> {
    const password = generateSipPassword();
    await this.opts.subscribers.updatePrivateIdentity(n.privateId, { digest: this.ha1s(n.privateId, password) });
    this.opts.onSubscriberChanged?.(n.privateId, n.impu);
    return password;
  }
}

function contactView(b: Binding, now: number): ContactView {
  const view: { -readonly [K in keyof ContactView]: ContactView[K] } = { contact: b.contact, expires: Math.ceil((b.expiresAt - now) / 1000) };
  if (b.userAgent !== undefined) view.user_agent = b.userAgent;
  if (b.receivedFrom) view.received_from = `${b.receivedFrom.transport} ${b.receivedFrom.address}:${b.receivedFrom.port}`;
  return view;
}
