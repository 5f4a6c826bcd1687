/**
 * The HSS services' coded errors (STYLE.md: one registry, each code mapped to an HTTP status).
 * Every error answers JSON `{ code, message }`; the Cx-mapped ones also carry the Diameter
 * `result-code` Clearwater's Homestead clients know (TS 29.229 §6.2). docs/hss-api.md lists
 * every code (a test checks it). The client-side codes (unavailable, timeout, bad answer) are
 * what {@link HttpHss} throws when the remote HSS cannot be used.
 */
import type { StorageError, StorageErrorCode } from '../storage/index.js';

/** Every HSS error: its HTTP status and, where one applies, the Diameter result code. */
export const HSS_ERRORS = Object.freeze({
  /** A path parameter, query parameter or JSON body field is missing or invalid; the message names it. */
  TW_ERR_HSS_BAD_REQUEST: { status: 400 },
  /** An XML body is not well-formed or is not the document the resource takes; the message says why. */
  TW_ERR_HSS_BAD_XML: { status: 400 },
  /** An API key is configured and `NGV-API-Key` is missing or wrong. */
  TW_ERR_HSS_UNAUTHORIZED: { status: 401 },
  /** The private identity exists but may not register the public identity (DIAMETER_ERROR_IDENTITIES_DONT_MATCH). */
  TW_ERR_HSS_IDENTITIES_DONT_MATCH: { status: 403, resultCode: 5002 },
  /** Every identity of the implicit set is barred (TS 29.228 §6.1.1; DIAMETER_AUTHORIZATION_REJECTED). */
  TW_ERR_HSS_IDENTITY_BARRED: { status: 403, resultCode: 5003 },
  /** The public identity is not known (DIAMETER_ERROR_USER_UNKNOWN). */
  TW_ERR_HSS_USER_UNKNOWN: { status: 404, resultCode: 5001 },
  /** The private identity is not known (DIAMETER_ERROR_USER_UNKNOWN). */
  TW_ERR_HSS_UNKNOWN_PRIVATE_IDENTITY: { status: 404, resultCode: 5001 },
  /** The private identity has no Digest HA1 (for `/av/digest`, `GET /private`: no MD5 HA1). */
  TW_ERR_HSS_NO_DIGEST: { status: 404 },
  /** The private identity has no IMS-AKA keys. */
  TW_ERR_HSS_NO_AKA: { status: 404 },
  /** No such provisioning resource (IRS, service profile, identity in that IRS) or path. */
  TW_ERR_HSS_NOT_FOUND: { status: 404 },
  /** The resource exists already, belongs to another IRS, or is still referred to. */
  TW_ERR_HSS_CONFLICT: { status: 409 },
  /** The body is larger than the limit. */
  TW_ERR_HSS_TOO_LARGE: { status: 413 },
  /** The body's content type cannot be parsed. */
  TW_ERR_HSS_UNSUPPORTED_MEDIA_TYPE: { status: 415 },
  /** Anything else; the details are logged, not answered. */
  TW_ERR_HSS_INTERNAL: { status: 500 },
  /** The remote HSS answered something this client does not understand (client side). */
  TW_ERR_HSS_BAD_ANSWER: { status: 502 },
  /** The subscriber store failed, or the remote HSS cannot be reached (client side). */
  TW_ERR_HSS_UNAVAILABLE: { status: 503 },
  /** The remote HSS did not answer in time (client side). */
  TW_ERR_HSS_TIMEOUT: { status: 504 },
} satisfies Record<string, { status: number; resultCode?: number }>);

export type HssErrorCode = keyof typeof HSS_ERRORS;

/** An HSS failure with a stable code. */
export class HssError extends Error {
  override readonly name = 'HssError';

  constructor(
    readonly code: HssErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get status(): number {
    return HSS_ERRORS[this.code].status;
  }

  /**
   * What a SIP service answers when this failure stops it (ProxyCore reads it): 503 while the
   * HSS or its store cannot be reached, 504 when it did not answer in time, else 500.
   */
  get sipStatus(): number {
    const status = this.status;
    return status === 503 || status === 504 ? status : 500;
  }

  /** The Diameter result code of a Cx-mapped error, if any. */
  get resultCode(): number | undefined {
    const entry: { status: number; resultCode?: number } = HSS_ERRORS[this.code];
    return entry.resultCode;
  }
}

const FROM_STORAGE: Readonly<Record<StorageErrorCode, HssErrorCode>> = {
  TW_ERR_STORAGE_EXISTS: 'TW_ERR_HSS_CONFLICT',
  TW_ERR_STORAGE_IN_USE: 'TW_ERR_HSS_CONFLICT',
  TW_ERR_STORAGE_NOT_FOUND: 'TW_ERR_HSS_NOT_FOUND',
  TW_ERR_STORAGE_INVALID: 'TW_ERR_HSS_BAD_REQUEST',
  TW_ERR_STORAGE_SCHEMA: 'TW_ERR_HSS_UNAVAILABLE',
  TW_ERR_STORAGE_UNAVAILABLE: 'TW_ERR_HSS_UNAVAILABLE',
};

/** The HSS error a storage failure answers as; the message is kept (it never holds a secret). */
export function fromStorageError(error: StorageError): HssError {
  return new HssError(FROM_STORAGE[error.code], error.message, { cause: error });
}
