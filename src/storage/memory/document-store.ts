/** In-process {@link DocumentStore}: documents grouped by user, so listing a user's is cheap. */
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

/** The key of a document among its user's: AUID and name cannot hold a NUL. */
function slot(key: DocumentKey): string {
  return `${key.auid}\0${key.name}`;
}

export class MemoryDocumentStore implements DocumentStore {
  private readonly users = new Map<string, Map<string, StoredDocument>>();

  async get(key: DocumentKey): Promise<StoredDocument | undefined> {
    const checked = checkDocumentKey(key);
    return this.users.get(checked.xui)?.get(slot(checked));
  }

  async put(key: DocumentKey, content: string, condition?: WriteCondition): Promise<PutResult> {
    const checked = checkDocumentKey(key);
    const text = checkContent(content);
    const when = checkCondition(condition);
    const documents = this.users.get(checked.xui) ?? new Map<string, StoredDocument>();
    const current = documents.get(slot(checked));
    if (!conditionHolds(when, current?.etag)) return conflict(current);
    const etag = newEtag();
    documents.set(slot(checked), { ...checked, content: text, etag });
    this.users.set(checked.xui, documents);
    return { ok: true, etag, created: current === undefined };
  }

  async delete(key: DocumentKey, condition?: Pick<WriteCondition, 'ifMatch'>): Promise<DeleteResult> {
    const checked = checkDocumentKey(key);
    const when = checkCondition(condition === undefined ? undefined : { ifMatch: condition.ifMatch });
    const documents = this.users.get(checked.xui);
    const current = documents?.get(slot(checked));
    if (!conditionHolds(when, current?.etag)) return conflict(current);
    if (!documents || !current) return { ok: true, deleted: false };
    documents.delete(slot(checked));
    if (documents.size === 0) this.users.delete(checked.xui);
    return { ok: true, deleted: true };
  }

  async listByUser(xui: string): Promise<DocumentSummary[]> {
    const documents = this.users.get(checkXui(xui));
    if (!documents) return [];
    return [...documents.values()]
      .map(({ auid, xui: user, name, etag }) => ({ auid, xui: user, name, etag }))
      .sort((a, b) => compare(a.auid, b.auid) || compare(a.name, b.name));
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function conflict(current: StoredDocument | undefined): PutResult & DeleteResult {
  return current === undefined ? { ok: false } : { ok: false, currentEtag: current.etag };
}
