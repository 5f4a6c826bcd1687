/**
 * {@link DocumentStore} on PostgreSQL: the XDMS documents of a cluster. Every conditional write
 * is one statement whose WHERE clause is the condition (`etag = $n`, or `ON CONFLICT DO
 * NOTHING` for If-None-Match), so the check and the write are atomic across nodes; only when
 * the condition failed does a second statement read the current entity tag to report it.
 */
import {
  checkCondition,
  checkContent,
  checkDocumentKey,
  checkXui,
  newEtag,
  type DeleteResult,
  type DocumentKey,
  type DocumentStore,
  type DocumentSummary,
  type PutResult,
  type StoredDocument,
  type WriteCondition,
} from '../document-store.js';
import { checkStorableText, sql, type PostgresDatabase, type Queryable } from './database.js';

type KeyParams = [string, string, string];
const KEY = 'auid = $1 AND xui = $2 AND name = $3';

const SELECT = sql('doc_select', `SELECT auid, xui, name, content, etag FROM documents WHERE ${KEY}`);
const SELECT_ETAG = sql('doc_select_etag', `SELECT etag FROM documents WHERE ${KEY}`);
/** Unconditional write; `xmax = 0` holds for a row this statement inserted rather than updated. */
const UPSERT = sql(
  'doc_upsert',
  `INSERT INTO documents (auid, xui, name, content, etag) VALUES ($1, $2, $3, $4, $5)
   ON CONFLICT (auid, xui, name) DO UPDATE SET content = EXCLUDED.content, etag = EXCLUDED.etag
   RETURNING (xmax = 0) AS created`,
);
/** If-None-Match: * */
const CREATE = sql('doc_create', 'INSERT INTO documents (auid, xui, name, content, etag) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING');
/** If-Match: $6 is the entity tag, NULL for `*` (any existing document). */
const REPLACE = sql(
  'doc_replace',
  `UPDATE documents SET content = $4, etag = $5 WHERE ${KEY} AND ($6::text IS NULL OR etag = $6::text)`,
);
const DELETE = sql('doc_delete', `DELETE FROM documents WHERE ${KEY} AND ($4::text IS NULL OR etag = $4::text)`);
const LIST = sql('doc_list', 'SELECT auid, xui, name, etag FROM documents WHERE xui = $1 ORDER BY auid, name');

export class PostgresDocumentStore implements DocumentStore {
  constructor(private readonly db: PostgresDatabase) {}

  async get(key: DocumentKey): Promise<StoredDocument | undefined> {
    const { rows } = await this.db.query<StoredDocument>('get document', SELECT, keyParams(key));
    const row = rows[0];
    return row && { auid: row.auid, xui: row.xui, name: row.name, content: row.content, etag: row.etag };
  }

  async put(key: DocumentKey, content: string, condition?: WriteCondition): Promise<PutResult> {
    const params = keyParams(key);
    const text = checkStorableText(checkContent(content), 'document content');
    const when = checkCondition(condition);
    const etag = newEtag();
    return this.db.run('put document', async (q): Promise<PutResult> => {
      if (when.ifNoneMatch === '*') {
        if ((await q.query(CREATE, [...params, text, etag])).rowCount === 1) return { ok: true, etag, created: true };
        return conflict(q, params);
      }
      if (when.ifMatch !== undefined) {
        const match = when.ifMatch === '*' ? null : when.ifMatch;
        if ((await q.query(REPLACE, [...params, text, etag, match])).rowCount === 1) return { ok: true, etag, created: false };
        return conflict(q, params);
      }
      const { rows } = await q.query<{ created: boolean }>(UPSERT, [...params, text, etag]);
      return { ok: true, etag, created: rows[0]?.created === true };
    });
  }

  async delete(key: DocumentKey, condition?: Pick<WriteCondition, 'ifMatch'>): Promise<DeleteResult> {
    const params = keyParams(key);
    const when = checkCondition(condition === undefined ? undefined : { ifMatch: condition.ifMatch });
    return this.db.run('delete document', async (q): Promise<DeleteResult> => {
      const match = when.ifMatch === undefined || when.ifMatch === '*' ? null : when.ifMatch;
      const deleted = (await q.query(DELETE, [...params, match])).rowCount === 1;
      if (deleted || when.ifMatch === undefined) return { ok: true, deleted };
      return conflict(q, params);
    });
  }

  async listByUser(xui: string): Promise<DocumentSummary[]> {
    const user = checkXui(xui);
    const { rows } = await this.db.query<DocumentSummary>('list documents', LIST, [user]);
    return rows.map((r) => ({ auid: r.auid, xui: r.xui, name: r.name, etag: r.etag }));
  }
}

function keyParams(key: DocumentKey): KeyParams {
  const { auid, xui, name } = checkDocumentKey(key);
  return [checkStorableText(auid, 'auid'), checkStorableText(xui, 'xui'), checkStorableText(name, 'document name')];
}

/** The condition failed: report the entity tag stored now (absent when there is no document). */
async function conflict(q: Queryable, params: KeyParams): Promise<PutResult & DeleteResult> {
  const current = (await q.query<{ etag: string }>(SELECT_ETAG, params)).rows[0]?.etag;
  return current === undefined ? { ok: false } : { ok: false, currentEtag: current };
}
