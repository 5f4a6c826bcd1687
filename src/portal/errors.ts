/**
 * The portal's coded errors (STYLE.md: one registry, each code mapped to an HTTP status). The
 * REST API answers `{ code, status, message, field?, error: true }` (Ellis answered `status`,
 * `message` and `error` too); docs/portal.md lists every code.
 */
import { STORAGE_ERROR_STATUS, StorageError } from '../storage/index.js';

export const PORTAL_ERRORS = Object.freeze({
  /** A body or path value is missing or malformed; `field` names it. */
  TW_ERR_PORTAL_BAD_REQUEST: { status: 400 },
  /** No session cookie and no `NGV-API-Key`, or a wrong key. */
  TW_ERR_PORTAL_UNAUTHORIZED: { status: 401 },
  /** Wrong signup code, wrong email or password, another user's account, or a cross-site form post. */
  TW_ERR_PORTAL_FORBIDDEN: { status: 403 },
  /** No such account or number (of this account). */
  TW_ERR_PORTAL_NOT_FOUND: { status: 404 },
  /** The account exists already. */
  TW_ERR_PORTAL_EXISTS: { status: 409 },
  /** A services form was saved after the settings changed elsewhere (XCAP); reload and save again. */
  TW_ERR_PORTAL_CHANGED: { status: 409 },
  /** Too many login or signup attempts from this address; see Retry-After. */
  TW_ERR_PORTAL_RATE_LIMITED: { status: 429 },
  /** Every number of the pool is taken. */
  TW_ERR_PORTAL_POOL_EXHAUSTED: { status: 503 },
  /** Storage failed or is gone: the portal's database, or the HSS or XDMS it reaches by URL. */
  TW_ERR_PORTAL_UNAVAILABLE: { status: 503 },
  /** Anything else; details are logged, not answered. */
  TW_ERR_PORTAL_INTERNAL: { status: 500 },
} satisfies Record<string, { status: number }>);

export type PortalErrorCode = keyof typeof PORTAL_ERRORS;

export class PortalError extends Error {
  override readonly name = 'PortalError';

  constructor(
    readonly code: PortalErrorCode,
    message: string,
    /** The body field or path parameter at fault. */
    readonly field?: string,
  ) {
    super(message);
  }

  get status(): number {
    return PORTAL_ERRORS[this.code].status;
  }
}

/** A 400 naming the field. */
export function badField(field: string, message: string): PortalError {
  return new PortalError('TW_ERR_PORTAL_BAD_REQUEST', `${field}: ${message}`, field);
}

/** The portal error a storage failure stands for. */
export function fromStorage(error: StorageError): PortalError {
  const status = STORAGE_ERROR_STATUS[error.code].http;
  if (status === 404) return new PortalError('TW_ERR_PORTAL_NOT_FOUND', error.message);
  if (status === 409) return new PortalError('TW_ERR_PORTAL_EXISTS', error.message);
  if (status === 400) return new PortalError('TW_ERR_PORTAL_BAD_REQUEST', error.message);
  if (status === 503) return new PortalError('TW_ERR_PORTAL_UNAVAILABLE', 'storage unavailable (the database, the HSS or the XDMS); try again later');
  return new PortalError('TW_ERR_PORTAL_INTERNAL', 'internal error');
}
