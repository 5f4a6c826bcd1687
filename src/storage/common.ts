/**
 * Shapes shared by the storage contracts: compare-and-set results and keyset paging.
 *
 * Every store may later be shared by many nodes (issue 7: Redis, PostgreSQL), so writes that
 * race carry the version the writer read, and the store applies them only if nothing changed
 * in between (compare-and-set). Version numbers are positive integers; 0 stands for "absent".
 * An adapter never hands the same key the same version twice, even after a delete and a
 * re-create, so a writer holding a stale version can never overwrite a newer record (no ABA).
 */
import { invalid } from './errors.js';

/** The version a writer passes when it saw no record. */
export const ABSENT_VERSION = 0;

/** Largest page a list operation returns, whatever the caller asks. */
export const MAX_PAGE_SIZE = 1000;

/** The write was applied; `version` is the record's new version (0 after a delete). */
export interface CasApplied {
  readonly ok: true;
  readonly version: number;
}

/**
 * The write was refused because the record changed since the writer read it. Nothing was
 * written. `currentVersion` is the version now stored (0: absent); re-read and retry.
 */
export interface CasConflict {
  readonly ok: false;
  readonly currentVersion: number;
}

/** Outcome of a compare-and-set write. */
export type CasResult = CasApplied | CasConflict;

/**
 * One page of a listing in key order. `after` is the `next` of the previous page (absent for
 * the first page); it is an opaque cursor, not necessarily a key.
 */
export interface PageRequest {
  readonly after?: string;
  /** 1 to {@link MAX_PAGE_SIZE}. */
  readonly limit: number;
}

/** A page of results; `next` is set when more may follow. */
export interface Page<T> {
  readonly items: T[];
  readonly next?: string;
}

/** Validates a page request and returns its limit; rejects with TW_ERR_STORAGE_INVALID otherwise. */
export function pageLimit(page: PageRequest): number {
  const { limit } = page;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw invalid(`page limit must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${limit}`);
  }
  return limit;
}

/** Validates a result limit (expiry and flow queries): a positive safe integer. */
export function resultLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) throw invalid(`limit must be a positive integer, got ${limit}`);
  return limit;
}

/** Validates an expected version: a non-negative safe integer. */
export function checkExpectedVersion(version: number): void {
  if (!Number.isSafeInteger(version) || version < 0) {
    throw invalid(`expected version must be a non-negative integer, got ${version}`);
  }
}
