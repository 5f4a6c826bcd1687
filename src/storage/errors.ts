/**
 * Errors every storage adapter reports. A contract method never throws synchronously: it
 * rejects with a {@link StorageError}. A compare-and-set conflict is not an error; it is a
 * {@link CasResult} the caller is expected to handle (re-read and retry).
 */
export type StorageErrorCode =
  /** Creating something whose key already exists. HTTP 409. */
  | 'TW_ERR_STORAGE_EXISTS'
  /** Updating, linking or deleting something that does not exist. HTTP 404. */
  | 'TW_ERR_STORAGE_NOT_FOUND'
  /** Deleting something others still refer to (an implicit set with members). HTTP 409. */
  | 'TW_ERR_STORAGE_IN_USE'
  /** A malformed value: bad URI scheme, HA1 not hex of the right length, key sizes. HTTP 400. */
  | 'TW_ERR_STORAGE_INVALID'
  /** The database was written by a newer Tidewater, or a migration failed. HTTP 500. */
  | 'TW_ERR_STORAGE_SCHEMA'
  /** The backend failed or is gone (I/O error, busy, closed). HTTP 503, SIP 503 (RFC 3261 §21.5.4). */
  | 'TW_ERR_STORAGE_UNAVAILABLE';

/** The HTTP and SIP status each code maps to, for the service layers' error registry. */
export const STORAGE_ERROR_STATUS: Readonly<Record<StorageErrorCode, { readonly http: number; readonly sip: number }>> =
  Object.freeze({
    TW_ERR_STORAGE_EXISTS: { http: 409, sip: 500 },
    TW_ERR_STORAGE_NOT_FOUND: { http: 404, sip: 404 },
    TW_ERR_STORAGE_IN_USE: { http: 409, sip: 500 },
    TW_ERR_STORAGE_INVALID: { http: 400, sip: 500 },
    TW_ERR_STORAGE_SCHEMA: { http: 500, sip: 500 },
    TW_ERR_STORAGE_UNAVAILABLE: { http: 503, sip: 503 },
  });

/** A storage failure with a stable code. */
export class StorageError extends Error {
  override readonly name = 'StorageError';

  constructor(
    readonly code: StorageErrorCode,
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }

  /** What a SIP service answers when this failure stops it (ProxyCore reads it). */
  get sipStatus(): number {
    return STORAGE_ERROR_STATUS[this.code].sip;
  }
}

/** Wraps a backend failure as `TW_ERR_STORAGE_UNAVAILABLE`, keeping a {@link StorageError} as is. */
export function asStorageError(what: string, cause: unknown): StorageError {
  if (cause instanceof StorageError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new StorageError('TW_ERR_STORAGE_UNAVAILABLE', `${what} failed: ${detail}`, cause);
}

/** Shorthand for a `TW_ERR_STORAGE_INVALID` error. */
export function invalid(message: string): StorageError {
  return new StorageError('TW_ERR_STORAGE_INVALID', message);
}
