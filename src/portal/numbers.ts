/**
 * What the portal does to a number's data: one IMPU `sip:<number>@<domain>` with its IMPI
 * `<number>@<domain>` (HA1s only, RFC 7616 §3.4.2) in a new implicit registration set (3GPP
 * TS 23.228 §5.2.1a) whose service profile names it, kept by the HSS, plus the default simservs
 * document (INTERFACES.md, XDMS), kept by the XDMS; both through the narrow interfaces of
 * subscribers.ts, in this process or over HTTP. Which account owns the number is the portal's own
 * data, and so are the bindings it shows (the registrar's store).
 */
import type { AccountStore, Binding, NumberRange, OwnedNumber, RegistrationStore } from '../storage/index.js';
import { StorageError } from '../storage/index.js';
import { defaultSimservs, SIMSERVS_AUID, SIMSERVS_DOCUMENT } from '../xdms/index.js';
import { badField, PortalError } from './errors.js';
import { generateSipPassword } from './passwords.js';
import type { PortalDocuments, PortalSubscribers } from './subscribers.js';

/**
 * Numbers tried (skipping ones the HSS already has, provisioned outside the portal, and ones
 * another allocation claimed first) before answering that the pool is exhausted.
 */
const MAX_ATTEMPTS = 1000;

export interface NumberServiceOptions {
  readonly accounts: AccountStore;
  readonly subscribers: PortalSubscribers;
  readonly registrations: RegistrationStore;
  readonly documents: PortalDocuments;
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

function simservsKey(impu: string) {
  return { auid: SIMSERVS_AUID, xui: impu, name: SIMSERVS_DOCUMENT };
}

export class NumberService {
  constructor(private readonly opts: NumberServiceOptions) {}

  get domain(): string {
    return this.opts.domain;
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
      if (await this.takenInHss(impu, options.privateId === undefined ? impi : undefined)) {
        if (number === range.end) break;
        start = nextNumber(number);
        continue;
      }
      if (!(await this.opts.accounts.claimNumber(record))) continue; // another allocation took it: look again
      try {
        return this.allocated(record, await this.provision(record, options.privateId === undefined));
      } catch (error) {
        await this.opts.accounts.releaseNumber(impu).catch(() => false);
        throw error;
      }
    }
    throw new PortalError('TW_ERR_PORTAL_POOL_EXHAUSTED', `no free number left in ${range.start}-${range.end}`);
  }

  /** Whether the HSS has the IMPU, or the new IMPI (`impi`), already: provisioned outside the portal. */
  private async takenInHss(impu: string, impi: string | undefined): Promise<boolean> {
    const { subscribers } = this.opts;
    return (await subscribers.hasPublicIdentity(impu)) || (impi !== undefined && (await subscribers.hasPrivateIdentity(impi)));
  }

  private allocated(n: OwnedNumber, password: string | undefined): AllocatedNumber {
    const base = { sip_uri: n.impu, sip_username: n.privateId, number: n.number, formatted_number: formatNumber(n.number), pstn: n.pstn, private_id: n.privateId };
    return password === undefined ? base : { ...base, sip_password: password };
  }

  private async checkOwnPrivateId(email: string, privateId: string): Promise<void> {
    const owned = await this.opts.accounts.numbersOf(email);
    if (!owned.some((n) => n.privateId === privateId)) throw badField('private_id', 'is not the private identity of one of your numbers');
  }

  /**
   * Creates the HSS data, then the default simservs document unless one exists (a user's
   * settings are never overwritten); resolves the new password, if any. When the document
   * cannot be written the HSS data is removed again, so a failure leaves nothing half made.
   */
  private async provision(n: OwnedNumber, newImpi: boolean): Promise<string | undefined> {
    const { subscribers } = this.opts;
    const password = newImpi ? generateSipPassword() : undefined;
    await subscribers.addNumber({ impu: n.impu, impi: n.privateId, realm: this.opts.domain, ...(password !== undefined && { password }) });
    try {
      await this.opts.documents.put(simservsKey(n.impu), defaultSimservs(), { ifNoneMatch: '*' });
    } catch (error) {
      await subscribers.removeNumber(n.privateId, n.impu).catch(() => undefined);
      throw error;
    }
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

  /**
   * One number with its live contacts (RFC 3261 §10.3: expired bindings do not count), from the
   * registrar's bindings in the portal's storage; none there is "not registered", not an error.
   */
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

  /**
   * Removes the number: its HSS data (and its IMPI when no other number uses it), simservs,
   * bindings, and last the account's ownership, so a removal that failed half way is finished
   * by trying again.
   */
  async remove(n: OwnedNumber): Promise<void> {
    const { subscribers, registrations, documents, accounts } = this.opts;
    await subscribers.removeNumber(n.privateId, n.impu);
    await documents.delete(simservsKey(n.impu));
    const record = await registrations.get(n.impu);
    if (record) await registrations.delete(n.impu, record.version);
    await accounts.releaseNumber(n.impu);
    this.opts.onSubscriberChanged?.(n.privateId, n.impu);
  }

  /** A new SIP password for the number's IMPI: new HA1s replace the old ones at once. */
  async resetPassword(n: OwnedNumber): Promise<string> {
    const password = generateSipPassword();
    await this.opts.subscribers.setPassword(n.privateId, this.opts.domain, password);
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
