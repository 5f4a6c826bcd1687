/**
 * XML documents as an XCAP server keeps them (RFC 4825 §6.2): one document per application
 * usage (AUID), user (XUI, here the IMPU) and document name, with an entity tag that changes on
 * every write (RFC 4825 §7.11, RFC 9110 §8.8.3).
 *
 * Writes are compare-and-set on the entity tag, so two clients editing the same document
 * through XCAP (a read, a change of one element, a write) never lose each other's change: the
 * second writer's condition fails and it re-reads. An entity tag is opaque and never handed
 * out twice for the same key, even after a delete and a re-create (no ABA).
 */
import { randomBytes } from 'node:crypto';
import { invalid } from './errors.js';

/** Identifies one document. */
export interface DocumentKey {
  /** Application usage, e.g. `org.etsi.ngn.simservs`. */
  readonly auid: string;
  /** XCAP user identifier: the IMPU, e.g. `sip:6505550000@example.com`. */
  readonly xui: string;
  /** Document name, e.g. `simservs.xml`. */
  readonly name: string;
}

/** A stored document. */
export interface StoredDocument extends DocumentKey {
  /** The XML text as written. */
  readonly content: string;
  /** Opaque entity tag (no quotes); changes on every write. */
  readonly etag: string;
}

/** A document of a user, without its content (see {@link DocumentStore.listByUser}). */
export interface DocumentSummary extends DocumentKey {
  readonly etag: string;
}

/**
 * Precondition of a write (RFC 9110 §13.1.1, §13.1.2). `ifMatch`: the current entity tag, or
 * `*` for "any existing document". `ifNoneMatch: '*'`: only when no document exists.
 */
export interface WriteCondition {
  readonly ifMatch?: string;
  readonly ifNoneMatch?: '*';
}

/** The put was applied: the document's new entity tag, and whether it was created. */
export interface PutApplied {
  readonly ok: true;
  readonly etag: string;
  readonly created: boolean;
}

/** A delete was applied; `deleted` is false when there was no document (and no condition). */
export interface DeleteApplied {
  readonly ok: true;
  readonly deleted: boolean;
}

/** The condition failed; nothing was written. `currentEtag` is absent when no document exists. */
export interface ConditionFailed {
  readonly ok: false;
  readonly currentEtag?: string;
}

export type PutResult = PutApplied | ConditionFailed;
export type DeleteResult = DeleteApplied | ConditionFailed;

/** Largest document a store accepts, in UTF-16 code units: 1 MiB. */
export const MAX_DOCUMENT_LENGTH = 1024 * 1024;

/** XCAP documents. Every method rejects (never throws) with a StorageError. */
export interface DocumentStore {
  /** The document, or undefined. */
  get(key: DocumentKey): Promise<StoredDocument | undefined>;
  /**
   * Creates or replaces the document when `condition` holds, atomically across every node
   * sharing the store. Rejects with TW_ERR_STORAGE_INVALID for a bad key, a non-string or a
   * content longer than {@link MAX_DOCUMENT_LENGTH}, or a condition with both fields.
   */
  put(key: DocumentKey, content: string, condition?: WriteCondition): Promise<PutResult>;
  /** Deletes the document when `condition` holds (an `ifMatch` on a missing document fails). */
  delete(key: DocumentKey, condition?: Pick<WriteCondition, 'ifMatch'>): Promise<DeleteResult>;
  /** Every document of `xui`, in any application usage, ordered by AUID then name. */
  listByUser(xui: string): Promise<DocumentSummary[]>;
}

const CONTROL = /[\x00-\x1f\x7f]/;

function checkPart(value: unknown, what: string, slashFree: boolean): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 1024 || CONTROL.test(value)) {
    throw invalid(`${what} must be a non-empty string of at most 1024 characters without control characters`);
  }
  if (slashFree && value.includes('/')) throw invalid(`${what} must not contain "/", got ${value}`);
  return value;
}

/** Validates a key; returns a plain copy. */
export function checkDocumentKey(key: DocumentKey): DocumentKey {
  if (typeof key !== 'object' || key === null) throw invalid('a document key is an object {auid, xui, name}');
  return { auid: checkPart(key.auid, 'auid', true), xui: checkPart(key.xui, 'xui', false), name: checkPart(key.name, 'document name', false) };
}

/** Validates a user identifier for {@link DocumentStore.listByUser}. */
export function checkXui(xui: unknown): string {
  return checkPart(xui, 'xui', false);
}

/** Validates document content. */
export function checkContent(content: unknown): string {
  if (typeof content !== 'string') throw invalid('document content must be a string');
  if (content.length > MAX_DOCUMENT_LENGTH) throw invalid(`document content exceeds ${MAX_DOCUMENT_LENGTH} characters`);
  return content;
}

/** Validates a write condition; returns a plain copy. */
export function checkCondition(condition: WriteCondition | undefined): WriteCondition {
  if (condition === undefined) return {};
  const { ifMatch, ifNoneMatch } = condition;
  if (ifMatch !== undefined && (typeof ifMatch !== 'string' || ifMatch.length === 0)) throw invalid('ifMatch must be a non-empty string');
  if (ifNoneMatch !== undefined && ifNoneMatch !== '*') throw invalid('ifNoneMatch can only be "*"');
  if (ifMatch !== undefined && ifNoneMatch !== undefined) throw invalid('give ifMatch or ifNoneMatch, not both');
  return { ...(ifMatch !== undefined && { ifMatch }), ...(ifNoneMatch !== undefined && { ifNoneMatch }) };
}

/** True when a document whose entity tag is `current` (undefined: absent) satisfies `condition`. */
export function conditionHolds(condition: WriteCondition, current: string | undefined): boolean {
  if (condition.ifNoneMatch === '*') return current === undefined;
  if (condition.ifMatch === undefined) return true;
  if (current === undefined) return false;
  return condition.ifMatch === '*' || condition.ifMatch === current;
}

/**
 * A fresh entity tag: 128 random bits, base64url. Collisions are negligible, so a tag is never
 * handed out twice for a key, across nodes too, without a shared counter.
 */
export function newEtag(): string {
  return randomBytes(16).toString('base64url');
}
