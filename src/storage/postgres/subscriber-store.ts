/**
 * {@link SubscriberStore} on PostgreSQL: the HSS data of a cluster, shared by every HSS node.
 * A single-row change is one statement; what touches several rows (a new subscriber, new
 * credentials) is one transaction. The registration state is compare-and-set in one UPDATE
 * guarded by the version the writer read, so of two nodes writing from the same version exactly
 * one wins, and an SQN step is one UPDATE of the row, so no two vectors share an SQN.
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
import { checkStorableText, constraintOf, sqlState, type PostgresDatabase, type Queryable } from './database.js';
import { importSubscribers, type ImportOptions, type ImportReport } from './subscriber-import.js';
import {
  S,
  digestJson,
  toImplicitSet,
  toPrivateIdentity,
  toPublicIdentity,
  toRegistration,
  type AuthRow,
  type ImpiRow,
  type ImpuRow,
  type RegistrationCheckRow,
  type SetRow,
  type SetStateRow,
  type StateRow,
} from './subscriber-statements.js';

function exists(what: string): StorageError {
  return new StorageError('TW_ERR_STORAGE_EXISTS', `${what} already exists`);
}

function notFound(what: string): StorageError {
  return new StorageError('TW_ERR_STORAGE_NOT_FOUND', `${what} does not exist`);
}

/** Runs `statement`, turning a unique or foreign-key violation into the error `map` gives. */
async function mapped<T>(run: Promise<T>, map: { unique?: () => StorageError; foreignKey?: (constraint?: string) => StorageError }): Promise<T> {
  try {
    return await run;
  } catch (error) {
    const code = sqlState(error);
    if (code === '23505' && map.unique) throw map.unique();
    if (code === '23503' && map.foreignKey) throw map.foreignKey(constraintOf(error));
    throw error;
  }
}

/** A service profile PostgreSQL can store exactly. */
function checkProfile(profile: unknown): string {
  return checkStorableText(checkServiceProfile(profile), 'serviceProfile');
}

export class PostgresSubscriberStore implements SubscriberStore {
  constructor(private readonly db: PostgresDatabase) {}

  async addSubscriber(subscriber: NewSubscriber): Promise<void> {
    const identity = checkPrivateIdentity(subscriber.privateIdentity);
    const setId = checkSetId(subscriber.implicitSet?.id);
    const profile = checkProfile(subscriber.implicitSet.serviceProfile);
    const publics = (subscriber.publicIdentities ?? []).map((p) =>
      checkPublicIdentity({ impu: p.impu, implicitSetId: setId, barred: p.barred === true }),
    );
    if (publics.length === 0) throw new StorageError('TW_ERR_STORAGE_INVALID', 'a subscriber needs a public identity');
    await this.db.transaction('addSubscriber', async (q) => {
      if ((await q.query(S.insertSet, [setId, profile])).rowCount === 0) throw exists(`implicit set ${setId}`);
      await this.insertPrivate(q, identity);
      const impus = publics.map((p) => p.impu);
      await mapped(q.query(S.insertImpus, [setId, impus, publics.map((p) => p.barred)]), {
        unique: () => exists(`a public identity of ${impus.join(', ')}`),
      });
      await q.query(S.insertLinks, [identity.impi, impus]);
    });
  }

  async createPrivateIdentity(identity: PrivateIdentity): Promise<void> {
    const checked = checkPrivateIdentity(identity);
    await this.db.run('createPrivateIdentity', (q) => this.insertPrivate(q, checked));
  }

  async getPrivateIdentity(impi: string): Promise<PrivateIdentity | undefined> {
    checkImpi(impi);
    const { rows } = await this.db.query<ImpiRow>('getPrivateIdentity', S.selectImpi, [impi]);
    return rows[0] && toPrivateIdentity(rows[0]);
  }

  async updatePrivateIdentity(impi: string, update: PrivateIdentityUpdate): Promise<void> {
    checkImpi(impi);
    const digest = update.digest === undefined ? undefined : checkDigest(update.digest);
    const aka = update.aka === undefined || update.aka === null ? update.aka : checkAkaKeys(update.aka);
    await this.db.transaction('updatePrivateIdentity', async (q) => {
      if ((await q.query(S.lockImpi, [impi])).rowCount === 0) throw notFound(`private identity ${impi}`);
      if (digest) await q.query(S.setDigest, [impi, digestJson(digest)]);
      if (aka === null) await q.query(S.clearAka, [impi]);
      else if (aka) await q.query(S.setAkaKeys, [impi, aka.k, aka.opc, aka.amf]);
    });
  }

  async deletePrivateIdentity(impi: string): Promise<boolean> {
    checkImpi(impi);
    return (await this.db.query('deletePrivateIdentity', S.deleteImpi, [impi])).rowCount === 1;
  }

  async listPrivateIdentities(page: PageRequest): Promise<Page<PrivateIdentity>> {
    const limit = pageLimit(page);
    const { rows } = await this.db.query<ImpiRow>('listPrivateIdentities', S.pageImpis, [page.after ?? '', limit + 1]);
    return pageOf(rows, limit, (row) => row.impi, toPrivateIdentity);
  }

  async createImplicitSet(set: ImplicitSetData): Promise<void> {
    const id = checkSetId(set?.id);
    const profile = checkProfile(set.serviceProfile);
    if ((await this.db.query('createImplicitSet', S.insertSet, [id, profile])).rowCount === 0) throw exists(`implicit set ${id}`);
  }

  async getImplicitSet(id: string): Promise<ImplicitSet | undefined> {
    checkSetId(id);
    const { rows } = await this.db.query<SetRow>('getImplicitSet', S.selectSet, [id]);
    return rows[0] && toImplicitSet(rows[0]);
  }

  async updateServiceProfile(id: string, serviceProfile: string): Promise<void> {
    checkSetId(id);
    const profile = checkProfile(serviceProfile);
    if ((await this.db.query('updateServiceProfile', S.updateProfile, [id, profile])).rowCount === 0) throw notFound(`implicit set ${id}`);
  }

  async deleteImplicitSet(id: string): Promise<boolean> {
    checkSetId(id);
    return this.db.run('deleteImplicitSet', async (q) => {
      const inUse = (members: string) => new StorageError('TW_ERR_STORAGE_IN_USE', `implicit set ${id} still has ${members} public identities`);
      // A member added while the set is deleted fails the delete's foreign-key check.
      const deleted = await mapped(q.query(S.deleteEmptySet, [id]), { foreignKey: () => inUse('new') });
      if (deleted.rowCount === 1) return true;
      const members = (await q.query<{ members: number }>(S.countMembers, [id])).rows[0]?.members ?? 0;
      if (members > 0) throw inUse(String(members));
      return false;
    });
  }

  async createPublicIdentity(identity: PublicIdentity): Promise<void> {
    const p = checkPublicIdentity(identity);
    await this.db.run('createPublicIdentity', (q) =>
      mapped(q.query(S.insertImpu, [p.impu, p.implicitSetId, p.barred]), {
        unique: () => exists(`public identity ${p.impu}`),
        foreignKey: () => notFound(`implicit set ${p.implicitSetId}`),
      }),
    );
  }

  async getPublicIdentity(impu: string): Promise<PublicIdentity | undefined> {
    checkImpu(impu);
    const { rows } = await this.db.query<ImpuRow>('getPublicIdentity', S.selectImpu, [impu]);
    return rows[0] && toPublicIdentity(rows[0]);
  }

  async updatePublicIdentity(identity: PublicIdentity): Promise<void> {
    const p = checkPublicIdentity(identity);
    const result = await this.db.run('updatePublicIdentity', (q) =>
      mapped(q.query(S.updateImpu, [p.impu, p.implicitSetId, p.barred]), { foreignKey: () => notFound(`implicit set ${p.implicitSetId}`) }),
    );
    if (result.rowCount === 0) throw notFound(`public identity ${p.impu}`);
  }

  async deletePublicIdentity(impu: string): Promise<boolean> {
    checkImpu(impu);
    return (await this.db.query('deletePublicIdentity', S.deleteImpu, [impu])).rowCount === 1;
  }

  async listPublicIdentities(page: PageRequest): Promise<Page<PublicIdentity>> {
    const limit = pageLimit(page);
    const { rows } = await this.db.query<ImpuRow>('listPublicIdentities', S.pageImpus, [page.after ?? '', limit + 1]);
    return pageOf(rows, limit, (row) => row.impu, toPublicIdentity);
  }

  async associate(impi: string, impu: string): Promise<void> {
    checkImpi(impi);
    checkImpu(impu);
    await this.db.run('associate', (q) =>
      mapped(q.query(S.insertLink, [impi, impu]), {
        foreignKey: (constraint) => (constraint?.includes('impi') ? notFound(`private identity ${impi}`) : notFound(`public identity ${impu}`)),
      }),
    );
  }

  async dissociate(impi: string, impu: string): Promise<boolean> {
    checkImpi(impi);
    checkImpu(impu);
    return (await this.db.query('dissociate', S.deleteLink, [impi, impu])).rowCount === 1;
  }

  async publicIdentitiesOf(impi: string): Promise<string[]> {
    checkImpi(impi);
    return (await this.db.query<{ impu: string }>('publicIdentitiesOf', S.impusOf, [impi])).rows.map((r) => r.impu);
  }

  async privateIdentitiesOf(impu: string): Promise<string[]> {
    checkImpu(impu);
    return (await this.db.query<{ impi: string }>('privateIdentitiesOf', S.impisOf, [impu])).rows.map((r) => r.impi);
  }

  async implicitSetOf(impu: string): Promise<ImplicitSet | undefined> {
    return (await this.implicitSetStateOf(impu))?.implicitSet;
  }

  async authVector(impi: string, impu: string): Promise<AuthVectorLookup> {
    checkImpi(impi);
    checkImpu(impu);
    const row = (await this.db.query<AuthRow>('authVector', S.authVector, [impi, impu])).rows[0];
    if (!row || row.impi === null) return { ok: false, reason: 'unknown-private-identity' };
    if (!row.impu_known) return { ok: false, reason: 'unknown-public-identity' };
    if (!row.linked) return { ok: false, reason: 'identities-dont-match' };
    const { digest, aka } = toPrivateIdentity({ ...row, impi: row.impi });
    return aka === undefined ? { ok: true, impi, digest: [...digest] } : { ok: true, impi, digest: [...digest], aka };
  }

  async nextAkaSqn(impi: string, step = 1): Promise<number> {
    checkImpi(impi);
    checkSqnStep(step);
    return this.db.run('nextAkaSqn', async (q) => {
      const advanced = await q.query<{ aka_sqn: number }>(S.advanceSqn, [impi, step, MAX_SQN - step]);
      if (advanced.rows[0]) return advanced.rows[0].aka_sqn;
      const row = (await q.query<{ has_aka: boolean }>(S.akaOf, [impi])).rows[0];
      if (!row) throw notFound(`private identity ${impi}`);
      if (!row.has_aka) throw notFound(`AKA keys of ${impi}`);
      throw new StorageError('TW_ERR_STORAGE_INVALID', `SQN of ${impi} would pass 2^48-1`);
    });
  }

  async setAkaSqn(impi: string, sqn: number): Promise<void> {
    checkImpi(impi);
    checkSqn(sqn);
    await this.db.run('setAkaSqn', async (q) => {
      if ((await q.query(S.setSqn, [impi, sqn])).rowCount === 1) return;
      const row = (await q.query(S.akaOf, [impi])).rows[0];
      throw notFound(row ? `AKA keys of ${impi}` : `private identity ${impi}`);
    });
  }

  async getRegistrationState(impu: string): Promise<ImpuRegistration | undefined> {
    checkImpu(impu);
    const { rows } = await this.db.query<StateRow>('getRegistrationState', S.selectStateOf, [impu]);
    return rows[0] && toRegistration(rows[0]);
  }

  async registrationCheck(impi: string, impu: string): Promise<RegistrationCheck | undefined> {
    checkImpi(impi);
    checkImpu(impu);
    const row = (await this.db.query<RegistrationCheckRow>('registrationCheck', S.registrationCheck, [impi, impu])).rows[0];
    return (
      row && {
        registration: toRegistration(row),
        barred: row.barred,
        setHasUnbarred: row.set_has_unbarred,
        linked: row.linked,
        privateIdentityKnown: row.has_impi,
      }
    );
  }

  async implicitSetStateOf(impu: string): Promise<ImplicitSetState | undefined> {
    checkImpu(impu);
    const row = (await this.db.query<SetStateRow>('implicitSetStateOf', S.selectSetStateOf, [impu])).rows[0];
    return row && { implicitSet: toImplicitSet(row), registration: toRegistration(row) };
  }

  async setRegistrationState(impu: string, assignment: ScscfAssignment, expectedVersion: number): Promise<CasResult> {
    checkImpu(impu);
    checkExpectedVersion(expectedVersion);
    const a = checkAssignment(assignment);
    return this.db.run('setRegistrationState', async (q): Promise<CasResult> => {
      const updated = await q.query<{ version: number }>(S.casState, [impu, a.state, a.scscf ?? null, expectedVersion]);
      if (updated.rows[0]) return { ok: true, version: updated.rows[0].version };
      const current = (await q.query<StateRow>(S.selectStateOf, [impu])).rows[0];
      if (!current) throw notFound(`public identity ${impu}`);
      return { ok: false, currentVersion: current.version };
    });
  }

  /**
   * Provisions many subscribers fast (`tidewater subscriber import`): multi-row inserts in
   * batches, one transaction per batch; re-running the same rows changes nothing. See
   * {@link importSubscribers}.
   */
  importSubscribers(rows: readonly NewSubscriber[], options?: ImportOptions): Promise<ImportReport> {
    return importSubscribers(this.db, rows, options);
  }

  private async insertPrivate(q: Queryable, identity: PrivateIdentity): Promise<void> {
    const aka = identity.aka;
    const values = [identity.impi, digestJson(identity.digest), aka?.k ?? null, aka?.opc ?? null, aka?.amf ?? null, aka?.sqn ?? null];
    if ((await q.query(S.insertImpi, values)).rowCount === 0) throw exists(`private identity ${identity.impi}`);
  }
}

/** A page from `rows` (fetched with limit + 1 to learn whether more follow). */
function pageOf<R, T>(rows: R[], limit: number, key: (row: R) => string, view: (row: R) => T): Page<T> {
  const items = rows.slice(0, limit).map(view);
  return rows.length > limit ? { items, next: key(rows[limit - 1]!) } : { items };
}
