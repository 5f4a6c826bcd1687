/**
 * {@link DocumentStore} on SQLite (all-in-one): the condition check and the write of a put or
 * delete run in one IMMEDIATE transaction, so they are atomic even with another process (the
 * CLI) writing the same file.
 */
import type Database from 'better-sqlite3';
import {
  checkCondition,
  checkContent,
  checkDocumentKey,
  checkXui,
  conditionHolds,
  newEtag,
  type DeleteResult,
  type DocumentKey,
  type DocumentStore,
  type DocumentSummary,
  type PutResult,
  type StoredDocument,
  type WriteCondition,
} from '../document-store.js';
import { guard, type SqliteDatabase } from './database.js';

type KeyParams = [string, string, string];

interface DocumentRow {
  auid: string;
  xui: string;
  name: string;
  content: string;
  etag: string;
}

export class SqliteDocumentStore implements DocumentStore {
  private readonly selectOne: Database.Statement<KeyParams, DocumentRow>;
  private readonly selectEtag: Database.Statement<KeyParams, string>;
  private readonly upsert: Database.Statement<[string, string, string, string, string]>;
  private readonly remove: Database.Statement<KeyParams>;
  private readonly selectByUser: Database.Statement<[string], DocumentSummary>;
  private readonly atomically: <T>(fn: () => T) => T;

  constructor(database: SqliteDatabase) {
    const db = database.connection;
    this.selectOne = db.prepare('SELECT auid, xui, name, content, etag FROM documents WHERE auid = ? AND xui = ? AND name = ?');
    this.selectEtag = db.prepare<KeyParams, string>('SELECT etag FROM documents WHERE auid = ? AND xui = ? AND name = ?').pluck();
    this.upsert = db.prepare(
      `INSERT INTO documents (auid, xui, name, content, etag) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (auid, xui, name) DO UPDATE SET content = excluded.content, etag = excluded.etag`,
    );
    this.remove = db.prepare('DELETE FROM documents WHERE auid = ? AND xui = ? AND name = ?');
    this.selectByUser = db.prepare('SELECT auid, xui, name, etag FROM documents WHERE xui = ? ORDER BY auid, name');
    const tx = db.transaction((fn: () => unknown) => fn());
    this.atomically = <T>(fn: () => T): T => tx.immediate(fn) as T;
  }

  async get(key: DocumentKey): Promise<StoredDocument | undefined> {
    const params = keyParams(key);
    const row = guard('get document', () => this.selectOne.get(...params));
    return row && { auid: row.auid, xui: row.xui, name: row.name, content: row.content, etag: row.etag };
  }

  async put(key: DocumentKey, content: string, condition?: WriteCondition): Promise<PutResult> {
    const params = keyParams(key);
    const text = checkContent(content);
    const when = checkCondition(condition);
    return guard('put document', () =>
      this.atomically((): PutResult => {
        const current = this.selectEtag.get(...params);
        if (!conditionHolds(when, current)) return conflict(current);
        const etag = newEtag();
        this.upsert.run(...params, text, etag);
        return { ok: true, etag, created: current === undefined };
      }),
    );
  }

  async delete(key: DocumentKey, condition?: Pick<WriteCondition, 'ifMatch'>): Promise<DeleteResult> {
    const params = keyParams(key);
    const when = checkCondition(condition === undefined ? undefined : { ifMatch: condition.ifMatch });
    return guard('delete document', () =>
      this.atomically((): DeleteResult => {
        const current = this.selectEtag.get(...params);
        if (!conditionHolds(when, current)) return conflict(current);
        if (current === undefined) return { ok: true, deleted: false };
        this.remove.run(...params);
        return { ok: true, deleted: true };
      }),
    );
  }

  async listByUser(xui: string): Promise<DocumentSummary[]> {
    const user = checkXui(xui);
    return guard('list documents', () => this.selectByUser.all(user));
  }
}

function keyParams(key: DocumentKey): KeyParams {
  const { auid, xui, name } = checkDocumentKey(key);
  return [auid, xui, name];
}

function conflict(current: string | undefined): PutResult & DeleteResult {
  return current === undefined ? { ok: false } : { ok: false, currentEtag: current };
}
