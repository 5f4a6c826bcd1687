/**
 * The in-process {@link SubscriberStore}: for tests and for code that needs HSS data without a
 * database. Every call is synchronous inside, so each is atomic.
 */
import { checkExpectedVersion, pageLimit, type CasResult, type Page, type PageRequest } from '../common.js';
import { StorageError } from '../errors.js';
import {
  MAX_SQN,
  checkAkaKeys,
  checkAssignment,
  checkDigest,
  checkImpi,
  checkImpu,
  checkPrivateIdentity,
  checkPublicIdentity,
  checkServiceProfile,
  checkSetId,
  checkSqn,
  checkSqnStep,
  copyAka,
  copyPrivateIdentity,
} from '../subscriber-records.js';
import type {
  AuthVectorLookup,
  ImplicitSet,
  ImplicitSetData,
  ImplicitSetState,
  ImpuRegistration,
  NewSubscriber,
  PrivateIdentity,
  PrivateIdentityUpdate,
  PublicIdentity,
  RegistrationCheck,
  ScscfAssignment,
  SubscriberStore,
} from '../subscriber-store.js';

interface SetRow {
  readonly id: string;
  serviceProfile: string;
  assignment: ScscfAssignment;
  version: number;
  /** IMPUs in the order they were added. */
  readonly members: Set<string>;
}

interface ImpuRow {
  identity: PublicIdentity;
  readonly impis: Set<string>;
}

interface ImpiRow {
  identity: PrivateIdentity;
  readonly impus: Set<string>;
}

function exists(what: string): StorageError {
  return new StorageError('TW_ERR_STORAGE_EXISTS', `${what} already exists`);
}

function notFound(what: string): StorageError {
  return new StorageError('TW_ERR_STORAGE_NOT_FOUND', `${what} does not exist`);
}

/** One sorted page of `keys` after `after`, mapped by `view`. */
function pageOf<T>(keys: Iterable<string>, page: PageRequest, view: (key: string) => T): Page<T> {
  const limit = pageLimit(page);
  const selected: string[] = [];
  for (const key of keys) if (page.after === undefined || key > page.after) selected.push(key);
  selected.sort();
  const items = selected.slice(0, limit).map(view);
  return selected.length > limit ? { items, next: selected[limit - 1]! } : { items };
}

export class MemorySubscriberStore implements SubscriberStore {
  private readonly impis = new Map<string, ImpiRow>();
  private readonly impus = new Map<string, ImpuRow>();
  private readonly sets = new Map<string, SetRow>();
  private lastVersion = 0;

  async addSubscriber(subscriber: NewSubscriber): Promise<void> {
    const identity = checkPrivateIdentity(subscriber.privateIdentity);
    const setId = checkSetId(subscriber.implicitSet?.id);
    const profile = checkServiceProfile(subscriber.implicitSet.serviceProfile);
    const publics = (subscriber.publicIdentities ?? []).map((p) =>
      checkPublicIdentity({ impu: p.impu, implicitSetId: setId, barred: p.barred === true }),
    );
    if (publics.length === 0) throw new StorageError('TW_ERR_STORAGE_INVALID', 'a subscriber needs a public identity');
    if (this.impis.has(identity.impi)) throw exists(`private identity ${identity.impi}`);
    if (this.sets.has(setId)) throw exists(`implicit set ${setId}`);
    const seen = new Set<string>();
    for (const { impu } of publics) {
      if (this.impus.has(impu) || seen.has(impu)) throw exists(`public identity ${impu}`);
      seen.add(impu);
    }
    this.insertSet(setId, profile);
    this.impis.set(identity.impi, { identity, impus: new Set() });
    for (const p of publics) {
      this.insertImpu(p);
      this.link(identity.impi, p.impu);
    }
  }

  async createPrivateIdentity(identity: PrivateIdentity): Promise<void> {
    const checked = checkPrivateIdentity(identity);
    if (this.impis.has(checked.impi)) throw exists(`private identity ${checked.impi}`);
    this.impis.set(checked.impi, { identity: checked, impus: new Set() });
  }

  async getPrivateIdentity(impi: string): Promise<PrivateIdentity | undefined> {
    const row = this.impis.get(checkImpi(impi));
    return row && copyPrivateIdentity(row.identity);
  }

  async updatePrivateIdentity(impi: string, update: PrivateIdentityUpdate): Promise<void> {
    const row = this.impiRow(impi);
    const digest = update.digest === undefined ? row.identity.digest : checkDigest(update.digest);
    let aka = row.identity.aka;
    if (update.aka === null) aka = undefined;
    else if (update.aka !== undefined) aka = { ...checkAkaKeys(update.aka), sqn: aka?.sqn ?? 0 };
    row.identity = aka === undefined ? { impi: row.identity.impi, digest } : { impi: row.identity.impi, digest, aka };
  }

  async deletePrivateIdentity(impi: string): Promise<boolean> {
    const row = this.impis.get(checkImpi(impi));
    if (!row) return false;
    for (const impu of row.impus) this.impus.get(impu)?.impis.delete(impi);
    this.impis.delete(impi);
    return true;
  }

  async listPrivateIdentities(page: PageRequest): Promise<Page<PrivateIdentity>> {
    return pageOf(this.impis.keys(), page, (impi) => copyPrivateIdentity(this.impis.get(impi)!.identity));
  }

  async createImplicitSet(set: ImplicitSetData): Promise<void> {
    const id = checkSetId(set?.id);
    const profile = checkServiceProfile(set.serviceProfile);
    if (this.sets.has(id)) throw exists(`implicit set ${id}`);
    this.insertSet(id, profile);
  }

  async getImplicitSet(id: string): Promise<ImplicitSet | undefined> {
    const row = this.sets.get(checkSetId(id));
    return row && this.setView(row);
  }

  async updateServiceProfile(id: string, serviceProfile: string): Promise<void> {
    const profile = checkServiceProfile(serviceProfile);
    const row = this.sets.get(checkSetId(id));
    if (!row) throw notFound(`implicit set ${id}`);
    row.serviceProfile = profile;
  }

  async deleteImplicitSet(id: string): Promise<boolean> {
    const row = this.sets.get(checkSetId(id));
    if (!row) return false;
    if (row.members.size > 0) {
      throw new StorageError('TW_ERR_STORAGE_IN_USE', `implicit set ${id} still has ${row.members.size} public identities`);
    }
    this.sets.delete(id);
    return true;
  }

  async createPublicIdentity(identity: PublicIdentity): Promise<void> {
    const checked = checkPublicIdentity(identity);
    if (this.impus.has(checked.impu)) throw exists(`public identity ${checked.impu}`);
    if (!this.sets.has(checked.implicitSetId)) throw notFound(`implicit set ${checked.implicitSetId}`);
    this.insertImpu(checked);
  }

  async getPublicIdentity(impu: string): Promise<PublicIdentity | undefined> {
    const row = this.impus.get(checkImpu(impu));
    return row && { ...row.identity };
  }

  async updatePublicIdentity(identity: PublicIdentity): Promise<void> {
    const checked = checkPublicIdentity(identity);
    const row = this.impus.get(checked.impu);
    if (!row) throw notFound(`public identity ${checked.impu}`);
    const target = this.sets.get(checked.implicitSetId);
    if (!target) throw notFound(`implicit set ${checked.implicitSetId}`);
    if (row.identity.implicitSetId !== checked.implicitSetId) {
      this.sets.get(row.identity.implicitSetId)?.members.delete(checked.impu);
      target.members.add(checked.impu);
    }
    row.identity = checked;
  }

  async deletePublicIdentity(impu: string): Promise<boolean> {
    const row = this.impus.get(checkImpu(impu));
    if (!row) return false;
    for (const impi of row.impis) this.impis.get(impi)?.impus.delete(impu);
    this.sets.get(row.identity.implicitSetId)?.members.delete(impu);
    this.impus.delete(impu);
    return true;
  }

  async listPublicIdentities(page: PageRequest): Promise<Page<PublicIdentity>> {
    return pageOf(this.impus.keys(), page, (impu) => ({ ...this.impus.get(impu)!.identity }));
  }

  async associate(impi: string, impu: string): Promise<void> {
    this.impiRow(impi);
    this.impuRow(impu);
    this.link(impi, impu);
  }

  async dissociate(impi: string, impu: string): Promise<boolean> {
    const row = this.impis.get(checkImpi(impi));
    if (!row || !row.impus.delete(checkImpu(impu))) return false;
    this.impus.get(impu)?.impis.delete(impi);
    return true;
  }

  async publicIdentitiesOf(impi: string): Promise<string[]> {
    return [...(this.impis.get(checkImpi(impi))?.impus ?? [])].sort();
  }

  async privateIdentitiesOf(impu: string): Promise<string[]> {
    return [...(this.impus.get(checkImpu(impu))?.impis ?? [])].sort();
  }

  async implicitSetOf(impu: string): Promise<ImplicitSet | undefined> {
    const row = this.impus.get(checkImpu(impu));
    return row && this.setView(this.sets.get(row.identity.implicitSetId)!);
  }

  async authVector(impi: string, impu: string): Promise<AuthVectorLookup> {
    const privateRow = this.impis.get(checkImpi(impi));
    if (!privateRow) return { ok: false, reason: 'unknown-private-identity' };
    if (!this.impus.has(checkImpu(impu))) return { ok: false, reason: 'unknown-public-identity' };
    if (!privateRow.impus.has(impu)) return { ok: false, reason: 'identities-dont-match' };
    const { digest, aka } = copyPrivateIdentity(privateRow.identity);
    return aka === undefined ? { ok: true, impi, digest: [...digest] } : { ok: true, impi, digest: [...digest], aka };
  }

  async nextAkaSqn(impi: string, step = 1): Promise<number> {
    checkSqnStep(step);
    const row = this.impiRow(impi);
    const aka = row.identity.aka;
    if (!aka) throw notFound(`AKA keys of ${impi}`);
    const sqn = aka.sqn + step;
    if (sqn > MAX_SQN) throw new StorageError('TW_ERR_STORAGE_INVALID', `SQN of ${impi} would pass 2^48-1`);
    row.identity = { ...row.identity, aka: { ...copyAka(aka), sqn } };
    return sqn;
  }

  async setAkaSqn(impi: string, sqn: number): Promise<void> {
    checkSqn(sqn);
    const row = this.impiRow(impi);
    const aka = row.identity.aka;
    if (!aka) throw notFound(`AKA keys of ${impi}`);
    row.identity = { ...row.identity, aka: { ...copyAka(aka), sqn } };
  }

  async getRegistrationState(impu: string): Promise<ImpuRegistration | undefined> {
    const row = this.impus.get(checkImpu(impu));
    if (!row) return undefined;
    return this.registrationOf(this.sets.get(row.identity.implicitSetId)!);
  }

  async registrationCheck(impi: string, impu: string): Promise<RegistrationCheck | undefined> {
    checkImpi(impi);
    const row = this.impus.get(checkImpu(impu));
    if (!row) return undefined;
    const set = this.sets.get(row.identity.implicitSetId)!;
    const linked = row.impis.has(impi);
    return {
      registration: this.registrationOf(set),
      barred: row.identity.barred,
      setHasUnbarred: [...set.members].some((m) => !this.impus.get(m)!.identity.barred),
      linked,
      privateIdentityKnown: linked || this.impis.has(impi),
    };
  }

  async implicitSetStateOf(impu: string): Promise<ImplicitSetState | undefined> {
    const row = this.impus.get(checkImpu(impu));
    if (!row) return undefined;
    const set = this.sets.get(row.identity.implicitSetId)!;
    return { implicitSet: this.setView(set), registration: this.registrationOf(set) };
  }

  async setRegistrationState(impu: string, assignment: ScscfAssignment, expectedVersion: number): Promise<CasResult> {
    checkExpectedVersion(expectedVersion);
    const checked = checkAssignment(assignment);
    const set = this.sets.get(this.impuRow(impu).identity.implicitSetId)!;
    if (set.version !== expectedVersion) return { ok: false, currentVersion: set.version };
    set.assignment = checked;
    set.version = ++this.lastVersion;
    return { ok: true, version: set.version };
  }

  private impiRow(impi: string): ImpiRow {
    const row = this.impis.get(checkImpi(impi));
    if (!row) throw notFound(`private identity ${impi}`);
    return row;
  }

  private impuRow(impu: string): ImpuRow {
    const row = this.impus.get(checkImpu(impu));
    if (!row) throw notFound(`public identity ${impu}`);
    return row;
  }

  private insertSet(id: string, serviceProfile: string): void {
    const version = ++this.lastVersion;
    this.sets.set(id, { id, serviceProfile, assignment: { state: 'NOT_REGISTERED' }, version, members: new Set() });
  }

  private insertImpu(identity: PublicIdentity): void {
    this.impus.set(identity.impu, { identity, impis: new Set() });
    this.sets.get(identity.implicitSetId)!.members.add(identity.impu);
  }

  private link(impi: string, impu: string): void {
    this.impis.get(impi)!.impus.add(impu);
    this.impus.get(impu)!.impis.add(impi);
  }

  private registrationOf(set: SetRow): ImpuRegistration {
    return { ...set.assignment, implicitSetId: set.id, version: set.version };
  }

  private setView(row: SetRow): ImplicitSet {
    const members = [...row.members].map((impu) => ({ ...this.impus.get(impu)!.identity }));
    return { id: row.id, serviceProfile: row.serviceProfile, members };
  }
}
