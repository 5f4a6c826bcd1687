/**
 * {@link SubscriberStore} on SQLite: the all-in-one's embedded HSS data, also read and written by
 * the `tidewater subscriber` commands while the server runs (WAL lets readers and one writer
 * share the file). Each operation is one statement or one IMMEDIATE transaction.
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
import { guard, type SqliteDatabase } from './database.js';
import type { GroupCommit } from './group-commit.js';
import {
  prepareSubscriberStatements,
  toPrivateIdentity,
  toPublicIdentity,
  toRegistration,
  type DigestRow,
  type ImpiRow,
  type SetRow,
  type SubscriberStatements,
} from './subscriber-statements.js';

function exists(what: string): StorageError {
  return new StorageError('TW_ERR_STORAGE_EXISTS', `${what} already exists`);
}

function notFound(what: string): StorageError {
  return new StorageError('TW_ERR_STORAGE_NOT_FOUND', `${what} does not exist`);
}

export class SqliteSubscriberStore implements SubscriberStore {
  private readonly s: SubscriberStatements;
  /** Runs `fn` in one IMMEDIATE transaction (the write lock taken up front). */
  private readonly atomically: <T>(fn: () => T) => T;
  /** Runs `fn` in one DEFERRED transaction: a consistent snapshot, no write lock. */
  private readonly snapshot: <T>(fn: () => T) => T;
  /** The connection's group commit, for the write every registration makes (server assignment). */
  private readonly commits: GroupCommit;

  constructor(database: SqliteDatabase) {
    const db = database.connection;
    this.commits = database.writes;
    this.s = prepareSubscriberStatements(db);
    const tx = db.transaction((fn: () => unknown) => fn());
    this.atomically = <T>(fn: () => T): T => tx.immediate(fn) as T;
    this.snapshot = <T>(fn: () => T): T => tx.deferred(fn) as T;
  }

  async addSubscriber(subscriber: NewSubscriber): Promise<void> {
    const identity = checkPrivateIdentity(subscriber.privateIdentity);
    const setId = checkSetId(subscriber.implicitSet?.id);
    const profile = checkServiceProfile(subscriber.implicitSet.serviceProfile);
    const publics = (subscriber.publicIdentities ?? []).map((p) =>
      checkPublicIdentity({ impu: p.impu, implicitSetId: setId, barred: p.barred === true }),
    );
    if (publics.length === 0) throw new StorageError('TW_ERR_STORAGE_INVALID', 'a subscriber needs a public identity');
    this.write('addSubscriber', () => {
      if (this.s.selectSet.get(setId)) throw exists(`implicit set ${setId}`);
      this.insertPrivate(identity);
      this.s.insertSet.run(setId, profile, this.s.nextCounter.get('subscriber_version')!);
      for (const p of publics) {
        this.insertPublic(p);
        this.s.insertLink.run(identity.impi, p.impu);
      }
    });
  }

  async createPrivateIdentity(identity: PrivateIdentity): Promise<void> {
    const checked = checkPrivateIdentity(identity);
    this.write('createPrivateIdentity', () => this.insertPrivate(checked));
  }

  async getPrivateIdentity(impi: string): Promise<PrivateIdentity | undefined> {
    checkImpi(impi);
    return this.read('getPrivateIdentity', () => {
      const row = this.s.selectImpi.get(impi);
      return row && toPrivateIdentity(row, this.s.selectDigests.all(impi));
    });
  }

  async updatePrivateIdentity(impi: string, update: PrivateIdentityUpdate): Promise<void> {
    checkImpi(impi);
    const digest = update.digest === undefined ? undefined : checkDigest(update.digest);
    const aka = update.aka === undefined || update.aka === null ? update.aka : checkAkaKeys(update.aka);
    this.write('updatePrivateIdentity', () => {
      if (!this.s.selectImpi.get(impi)) throw notFound(`private identity ${impi}`);
      if (digest) {
        this.s.deleteDigests.run(impi);
        for (const d of digest) this.s.insertDigest.run(impi, d.realm, d.algorithm, d.ha1);
      }
      if (aka === null) this.s.clearAka.run(impi);
      else if (aka) this.s.setAkaKeys.run(aka.k, aka.opc, aka.amf, impi);
    });
  }

  async deletePrivateIdentity(impi: string): Promise<boolean> {
    checkImpi(impi);
    return guard('deletePrivateIdentity', () => this.s.deleteImpi.run(impi).changes === 1);
  }

  async listPrivateIdentities(page: PageRequest): Promise<Page<PrivateIdentity>> {
    const limit = pageLimit(page);
    return this.read('listPrivateIdentities', () =>
      pageOf(this.s.pageImpis.all(page.after ?? '', limit + 1), limit, (row: ImpiRow) => row.impi, (row) =>
        toPrivateIdentity(row, this.s.selectDigests.all(row.impi)),
      ),
    );
  }

  async createImplicitSet(set: ImplicitSetData): Promise<void> {
    const id = checkSetId(set?.id);
    const profile = checkServiceProfile(set.serviceProfile);
    this.write('createImplicitSet', () => {
      if (this.s.selectSet.get(id)) throw exists(`implicit set ${id}`);
      this.s.insertSet.run(id, profile, this.s.nextCounter.get('subscriber_version')!);
    });
  }

  async getImplicitSet(id: string): Promise<ImplicitSet | undefined> {
    checkSetId(id);
    return this.read('getImplicitSet', () => {
      const row = this.s.selectSet.get(id);
      return row && this.setView(row);
    });
  }

  async updateServiceProfile(id: string, serviceProfile: string): Promise<void> {
    checkSetId(id);
    const profile = checkServiceProfile(serviceProfile);
    guard('updateServiceProfile', () => {
      if (this.s.updateProfile.run(profile, id).changes === 0) throw notFound(`implicit set ${id}`);
    });
  }

  async deleteImplicitSet(id: string): Promise<boolean> {
    checkSetId(id);
    return this.write('deleteImplicitSet', () => {
      const members = this.s.countMembers.get(id)!;
      if (members > 0) throw new StorageError('TW_ERR_STORAGE_IN_USE', `implicit set ${id} still has ${members} public identities`);
      return this.s.deleteSet.run(id).changes === 1;
    });
  }

  async createPublicIdentity(identity: PublicIdentity): Promise<void> {
    const checked = checkPublicIdentity(identity);
    this.write('createPublicIdentity', () => {
      if (!this.s.selectSet.get(checked.implicitSetId)) throw notFound(`implicit set ${checked.implicitSetId}`);
      this.insertPublic(checked);
    });
  }

  async getPublicIdentity(impu: string): Promise<PublicIdentity | undefined> {
    checkImpu(impu);
    return guard('getPublicIdentity', () => {
      const row = this.s.selectImpu.get(impu);
      return row && toPublicIdentity(row);
    });
  }

  async updatePublicIdentity(identity: PublicIdentity): Promise<void> {
    const p = checkPublicIdentity(identity);
    this.write('updatePublicIdentity', () => {
      const row = this.s.selectImpu.get(p.impu);
      if (!row) throw notFound(`public identity ${p.impu}`);
      if (!this.s.selectSet.get(p.implicitSetId)) throw notFound(`implicit set ${p.implicitSetId}`);
      // Joining another set puts the identity last in it, as for a new member.
      const seq = row.set_id === p.implicitSetId ? row.member_seq : this.s.nextCounter.get('member_seq')!;
      this.s.updateImpu.run(p.implicitSetId, p.barred ? 1 : 0, seq, p.impu);
    });
  }

  async deletePublicIdentity(impu: string): Promise<boolean> {
    checkImpu(impu);
    return guard('deletePublicIdentity', () => this.s.deleteImpu.run(impu).changes === 1);
  }

  async listPublicIdentities(page: PageRequest): Promise<Page<PublicIdentity>> {
    const limit = pageLimit(page);
    return guard('listPublicIdentities', () =>
      pageOf(this.s.pageImpus.all(page.after ?? '', limit + 1), limit, (row) => row.impu, toPublicIdentity),
    );
  }

  async associate(impi: string, impu: string): Promise<void> {
    checkImpi(impi);
    checkImpu(impu);
    this.write('associate', () => {
      if (!this.s.selectImpi.get(impi)) throw notFound(`private identity ${impi}`);
      if (!this.s.selectImpu.get(impu)) throw notFound(`public identity ${impu}`);
      this.s.insertLink.run(impi, impu);
    });
  }

  async dissociate(impi: string, impu: string): Promise<boolean> {
    checkImpi(impi);
    checkImpu(impu);
    return guard('dissociate', () => this.s.deleteLink.run(impi, impu).changes === 1);
  }

  async publicIdentitiesOf(impi: string): Promise<string[]> {
    checkImpi(impi);
    return guard('publicIdentitiesOf', () => this.s.impusOf.all(impi));
  }

  async privateIdentitiesOf(impu: string): Promise<string[]> {
    checkImpu(impu);
    return guard('privateIdentitiesOf', () => this.s.impisOf.all(impu));
  }

  async implicitSetOf(impu: string): Promise<ImplicitSet | undefined> {
    return (await this.implicitSetStateOf(impu))?.implicitSet;
  }

  async registrationCheck(impi: string, impu: string): Promise<RegistrationCheck | undefined> {
    checkImpi(impi);
    checkImpu(impu);
    return guard('registrationCheck', () => {
      const row = this.s.selectRegistrationCheck.get(impi, impi, impu);
      return (
        row && {
          registration: toRegistration(row),
          barred: row.barred === 1,
          setHasUnbarred: row.set_has_unbarred === 1,
          linked: row.linked === 1,
          privateIdentityKnown: row.has_impi === 1,
        }
      );
    });
  }

  async implicitSetStateOf(impu: string): Promise<ImplicitSetState | undefined> {
    checkImpu(impu);
    return guard('implicitSetStateOf', () => {
      const rows = this.s.selectSetStateOf.all(impu);
      const first = rows[0];
      return (
        first && {
          implicitSet: { id: first.set_id, serviceProfile: first.service_profile, members: rows.map(toPublicIdentity) },
          registration: toRegistration({ id: first.set_id, state: first.state, scscf: first.scscf, version: first.version }),
        }
      );
    });
  }

  async authVector(impi: string, impu: string): Promise<AuthVectorLookup> {
    checkImpi(impi);
    checkImpu(impu);
    return guard('authVector', (): AuthVectorLookup => {
      // one row per digest credential (one with NULLs when there is none)
      const rows = this.s.selectAuth.all(impu, impu, impi);
      const row = rows[0];
      if (!row) return { ok: false, reason: 'unknown-private-identity' };
      if (!row.has_impu) return { ok: false, reason: 'unknown-public-identity' };
      if (!row.linked) return { ok: false, reason: 'identities-dont-match' };
      const digests = row.realm === null ? [] : (rows as DigestRow[]);
      const { digest, aka } = toPrivateIdentity(row, digests);
      return aka === undefined ? { ok: true, impi, digest: [...digest] } : { ok: true, impi, digest: [...digest], aka };
    });
  }

  async nextAkaSqn(impi: string, step = 1): Promise<number> {
    checkImpi(impi);
    checkSqnStep(step);
    return this.write('nextAkaSqn', () => {
      const sqn = this.s.advanceSqn.get(step, impi, MAX_SQN - step);
      if (sqn !== undefined) return sqn;
      const row = this.s.selectImpi.get(impi);
      if (!row) throw notFound(`private identity ${impi}`);
      if (row.aka_sqn === null) throw notFound(`AKA keys of ${impi}`);
      throw new StorageError('TW_ERR_STORAGE_INVALID', `SQN of ${impi} would pass 2^48-1`);
    });
  }

  async setAkaSqn(impi: string, sqn: number): Promise<void> {
    checkImpi(impi);
    checkSqn(sqn);
    this.write('setAkaSqn', () => {
      if (this.s.setSqn.run(sqn, impi).changes === 1) return;
      throw notFound(this.s.selectImpi.get(impi) ? `AKA keys of ${impi}` : `private identity ${impi}`);
    });
  }

  async getRegistrationState(impu: string): Promise<ImpuRegistration | undefined> {
    checkImpu(impu);
    return guard('getRegistrationState', () => {
      const row = this.s.selectStateOf.get(impu);
      return row && toRegistration(row);
    });
  }

  async setRegistrationState(impu: string, assignment: ScscfAssignment, expectedVersion: number): Promise<CasResult> {
    checkImpu(impu);
    checkExpectedVersion(expectedVersion);
    const a = checkAssignment(assignment);
    // On the signalling path (SAR, once per registration and de-registration): committed with
    // the binding and nonce-count writes of the same moment rather than in a transaction of its own.
    return this.commits.submit('setRegistrationState', (): CasResult => {
      const set = this.s.selectStateOf.get(impu);
      if (!set) throw notFound(`public identity ${impu}`);
      if (set.version !== expectedVersion) return { ok: false, currentVersion: set.version };
      const version = this.s.nextCounter.get('subscriber_version')!;
      this.s.updateState.run(a.state, a.scscf ?? null, version, set.id, expectedVersion);
      return { ok: true, version };
    });
  }

  /** Runs `fn` atomically, mapping driver failures to TW_ERR_STORAGE_UNAVAILABLE. */
  private write<T>(what: string, fn: () => T): T {
    return guard(what, () => this.atomically(fn));
  }

  /** Runs the reads of `fn` on one snapshot, mapping driver failures as {@link write} does. */
  private read<T>(what: string, fn: () => T): T {
    return guard(what, () => this.snapshot(fn));
  }

  private insertPrivate(identity: PrivateIdentity): void {
    if (this.s.selectImpi.get(identity.impi)) throw exists(`private identity ${identity.impi}`);
    const aka = identity.aka;
    this.s.insertImpi.run(identity.impi, aka?.k ?? null, aka?.opc ?? null, aka?.amf ?? null, aka?.sqn ?? null);
    for (const d of identity.digest) this.s.insertDigest.run(identity.impi, d.realm, d.algorithm, d.ha1);
  }

  private insertPublic(p: PublicIdentity): void {
    if (this.s.selectImpu.get(p.impu)) throw exists(`public identity ${p.impu}`);
    this.s.insertImpu.run(p.impu, p.implicitSetId, p.barred ? 1 : 0, this.s.nextCounter.get('member_seq')!);
  }

  private setView(row: SetRow): ImplicitSet {
    const members = this.s.selectMembers.all(row.id).map(toPublicIdentity);
    return { id: row.id, serviceProfile: row.service_profile, members };
  }
}

/** A page from `rows` (fetched with limit + 1 to learn whether more follow). */
function pageOf<R, T>(rows: R[], limit: number, key: (row: R) => string, view: (row: R) => T): Page<T> {
  const items = rows.slice(0, limit).map(view);
  return rows.length > limit ? { items, next: key(rows[limit - 1]!) } : { items };
}
