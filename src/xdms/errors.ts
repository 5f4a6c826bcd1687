/**
 * The XDMS's coded errors (STYLE.md: one registry, each code mapped to an HTTP status). A 409
 * carries an XCAP error document (RFC 4825 §11, media type `application/xcap-error+xml`)
 * naming the condition; every other error answers JSON `{ code, message }`. docs/xdms-api.md
 * lists every code (a test checks it).
 */

/** Every XDMS error: its HTTP status and, for a 409, the RFC 4825 §11 error element. */
export const XDMS_ERRORS = Object.freeze({
  /** The request URI is not an XCAP URI of this server, or its node selector does not parse. */
  TW_ERR_XDMS_BAD_REQUEST: { status: 400 },
  /** An API key is configured and `NGV-API-Key` is missing or wrong. */
  TW_ERR_XDMS_UNAUTHORIZED: { status: 401 },
  /** No such document, or the node selector selects no node (or more than one). */
  TW_ERR_XDMS_NOT_FOUND: { status: 404 },
  /** If-Match or If-None-Match does not hold (RFC 9110 §13.1, RFC 4825 §7.11). */
  TW_ERR_XDMS_PRECONDITION_FAILED: { status: 412 },
  /** The body is larger than the limit. */
  TW_ERR_XDMS_TOO_LARGE: { status: 413 },
  /** The body's content type does not fit the resource (RFC 4825 §7.1, §7.2, §7.3). */
  TW_ERR_XDMS_UNSUPPORTED_MEDIA_TYPE: { status: 415 },
  /** The body is not well-formed XML (RFC 4825 §11.3 `<not-well-formed>`). */
  TW_ERR_XDMS_NOT_WELL_FORMED: { status: 409, xcap: 'not-well-formed' },
  /** The body is not UTF-8 (RFC 4825 §11.3 `<not-utf-8>`). */
  TW_ERR_XDMS_NOT_UTF8: { status: 409, xcap: 'not-utf-8' },
  /** An element PUT whose body is not exactly one element (`<not-xml-frag>`). */
  TW_ERR_XDMS_NOT_XML_FRAG: { status: 409, xcap: 'not-xml-frag' },
  /** An attribute PUT whose body is not an attribute value (`<not-xml-att-value>`). */
  TW_ERR_XDMS_NOT_XML_ATT_VALUE: { status: 409, xcap: 'not-xml-att-value' },
  /** The resulting document is not a valid simservs document (`<schema-validation-error>`). */
  TW_ERR_XDMS_SCHEMA_VALIDATION: { status: 409, xcap: 'schema-validation-error' },
  /** The parent of the node to create does not exist (`<no-parent>` with `<ancestor>`). */
  TW_ERR_XDMS_NO_PARENT: { status: 409, xcap: 'no-parent' },
  /** The element put would not be selected by its URI afterwards (`<cannot-insert>`, §8.2.3). */
  TW_ERR_XDMS_CANNOT_INSERT: { status: 409, xcap: 'cannot-insert' },
  /** After the delete the URI would select another node (`<cannot-delete>`, §8.2.4). */
  TW_ERR_XDMS_CANNOT_DELETE: { status: 409, xcap: 'cannot-delete' },
  /** The document kept changing under a read-modify-write; retry. */
  TW_ERR_XDMS_BUSY: { status: 503 },
  /** Anything else; the details are logged, not answered. */
  TW_ERR_XDMS_INTERNAL: { status: 500 },
} satisfies Record<string, { status: number; xcap?: string }>);

export type XdmsErrorCode = keyof typeof XDMS_ERRORS;

/** An XDMS failure with a stable code; `ancestor` is the closest existing ancestor of `<no-parent>`. */
export class XdmsError extends Error {
  override readonly name = 'XdmsError';

  constructor(
    readonly code: XdmsErrorCode,
    message: string,
    readonly ancestor?: string,
  ) {
    super(message);
  }

  get status(): number {
    return XDMS_ERRORS[this.code].status;
  }
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Escapes text for an XML attribute value or element content. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!);
}

/** The XCAP error document of a 409 (RFC 4825 §11.2), the message in the `phrase` attribute. */
export function xcapErrorBody(error: XdmsError): string | undefined {
  const entry: { status: number; xcap?: string } = XDMS_ERRORS[error.code];
  if (!entry.xcap) return undefined;
  const phrase = `phrase="${escapeXml(error.message)}"`;
  const inner =
    error.ancestor === undefined
      ? `<${entry.xcap} ${phrase}/>`
      : `<${entry.xcap} ${phrase}><ancestor>${escapeXml(error.ancestor)}</ancestor></${entry.xcap}>`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<xcap-error xmlns="urn:ietf:params:xml:ns:xcap-error">${inner}</xcap-error>\n`;
}
