/**
 * The XDMS: an XCAP server (RFC 4825) for the simservs application usage (3GPP TS 24.623),
 * compatible with Clearwater's Homer: `GET|PUT|DELETE /org.etsi.ngn.simservs/users/<IMPU>/
 * simservs.xml`, plus node selectors after `/~~/` (RFC 4825 §6.3) for one element or
 * attribute, entity tags with If-Match / If-None-Match (RFC 4825 §7.11, RFC 9110 §13), and a
 * 409 with an XCAP error document (RFC 4825 §11) when a write would leave an invalid document.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import fastify, { type FastifyError, type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Document } from '@xmldom/xmldom';
import { StorageError, STORAGE_ERROR_STATUS } from '../storage/errors.js';
import type { DocumentKey, DocumentStore, StoredDocument } from '../storage/document-store.js';
import { XdmsError, xcapErrorBody } from './errors.js';
import { parseNamespaceBindings, parseNodeSelector } from './selector.js';
import { readSimservs, SimservsInvalid, SIMSERVS_AUID, SIMSERVS_DOCUMENT, SIMSERVS_MEDIA_TYPE } from './simservs.js';
import { ATTRIBUTE_MEDIA_TYPE, deleteNode, ELEMENT_MEDIA_TYPE, getNode, nodeExists, putAttribute, putElement, type NodeContext } from './xcap-ops.js';
import { parseXml, serializeXml } from './xml.js';

export interface XcapOptions {
  readonly store: DocumentStore;
  /** When set, every request but `/ping` needs it in `NGV-API-Key`. */
  readonly apiKey?: string;
  /** Largest request body in bytes; default 256 KiB. */
  readonly bodyLimit?: number;
}

const USERS_PREFIX = `/${SIMSERVS_AUID}/users/`;
const DOCUMENT_TYPES = new Set([SIMSERVS_MEDIA_TYPE, 'application/xml', 'text/xml']);
/** Read-modify-write attempts before giving up with TW_ERR_XDMS_BUSY. */
const ATTEMPTS = 5;

/** The resource an XCAP URI names. */
interface Target {
  readonly key: DocumentKey;
  readonly documentPath: string;
  readonly selectorText?: string;
  readonly query: string;
}

/** The outcome of one write: the status, and the new content (undefined: delete the document). */
interface Change {
  readonly status: number;
  readonly content?: string;
}

function bad(message: string): XdmsError {
  return new XdmsError('TW_ERR_XDMS_BAD_REQUEST', message);
}

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw bad(`the ${what} is not validly percent-encoded`);
  }
}

/** Splits the raw request URI (RFC 4825 §6: document selector, `/~~/`, node selector, query). */
function parseTarget(url: string): Target {
  const queryAt = url.indexOf('?');
  const path = queryAt < 0 ? url : url.slice(0, queryAt);
  const query = queryAt < 0 ? '' : decode(url.slice(queryAt + 1), 'query');
  if (!path.startsWith(USERS_PREFIX)) throw bad('not an XCAP URI of this server');
  const rest = path.slice(USERS_PREFIX.length);
  const slash = rest.indexOf('/');
  const xui = decode(slash < 0 ? rest : rest.slice(0, slash), 'XUI');
  if (!/^(?:sips?|tel):[^\s]+$/i.test(xui)) throw bad(`the XUI must be a URL-encoded SIP or tel URI (the IMPU), got "${xui}"`);
  const after = slash < 0 ? '' : rest.slice(slash + 1);
  const separator = after.indexOf('/~~/');
  const name = decode(separator < 0 ? after : after.slice(0, separator), 'document name');
  if (name !== SIMSERVS_DOCUMENT) throw new XdmsError('TW_ERR_XDMS_NOT_FOUND', `no document "${name}": this server keeps ${SIMSERVS_DOCUMENT} only`);
  const documentPath = path.slice(0, USERS_PREFIX.length + slash + 1 + SIMSERVS_DOCUMENT.length);
  const key = { auid: SIMSERVS_AUID, xui, name };
  if (separator < 0) return { key, documentPath, query };
  return { key, documentPath, query, selectorText: decode(after.slice(separator + 4), 'node selector') };
}

/** The entity tags of an If-Match / If-None-Match header; `*` as is; weak tags never match. */
function entityTags(header: string | string[] | undefined): string[] | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text.trim() === '*') return ['*'];
  return [...text.matchAll(/(W\/)?"([^"]*)"/g)].filter((m) => !m[1]).map((m) => m[2]!);
}

/**
 * RFC 9110 §13.2.2: If-Match, then If-None-Match, evaluated against the document's entity tag;
 * `*` asks whether the target (document or node) exists.
 */
function checkPreconditions(request: FastifyRequest, etag: string | undefined, exists: boolean): void {
  const ifMatch = entityTags(request.headers['if-match']);
  if (ifMatch && !(ifMatch[0] === '*' ? exists : etag !== undefined && ifMatch.includes(etag))) {
    throw new XdmsError('TW_ERR_XDMS_PRECONDITION_FAILED', 'If-Match does not match');
  }
  const ifNoneMatch = entityTags(request.headers['if-none-match']);
  if (ifNoneMatch && (ifNoneMatch[0] === '*' ? exists : etag !== undefined && ifNoneMatch.includes(etag))) {
    throw new XdmsError('TW_ERR_XDMS_PRECONDITION_FAILED', 'If-None-Match matches');
  }
}

function mediaType(request: FastifyRequest): string {
  return (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The request body as UTF-8 text (RFC 4825 §8.2.1: `<not-utf-8>` otherwise). */
function bodyText(request: FastifyRequest): string {
  const body = request.body;
  if (body === undefined || body === null) return '';
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body as Buffer);
  } catch {
    throw new XdmsError('TW_ERR_XDMS_NOT_UTF8', 'the body is not UTF-8');
  }
}

function requireType(request: FastifyRequest, allowed: ReadonlySet<string>, what: string): void {
  const type = mediaType(request);
  if (type !== '' && !allowed.has(type)) {
    throw new XdmsError('TW_ERR_XDMS_UNSUPPORTED_MEDIA_TYPE', `${what} takes ${[...allowed].join(' or ')}, not ${type}`);
  }
}

function parseDocument(text: string): Document {
  try {
    return parseXml(text);
  } catch (error) {
    throw new XdmsError('TW_ERR_XDMS_NOT_WELL_FORMED', `not well-formed XML: ${(error as Error).message}`);
  }
}

/** Validates a whole document (TS 24.623 §6); a failure is a 409 `<schema-validation-error>`. */
function validate(document: Document): void {
  try {
    readSimservs(document);
  } catch (error) {
    if (error instanceof SimservsInvalid) throw new XdmsError('TW_ERR_XDMS_SCHEMA_VALIDATION', error.message);
    throw error;
  }
}

function withEtag(reply: FastifyReply, etag: string | undefined): FastifyReply {
  return etag === undefined ? reply : reply.header('etag', `"${etag}"`);
}

/** Builds the node context of a request on a loaded document. */
function nodeContext(request: FastifyRequest, target: Target, document: Document): NodeContext {
  const selector = parseNodeSelector(target.selectorText!);
  const bindings = parseNamespaceBindings(target.query);
  const base = `${request.protocol}://${request.host}${target.documentPath}`;
  const uriAt = (depth: number): string =>
    depth === 0 ? base : `${base}/~~/${selector.steps.slice(0, depth).map((s) => encodeURI(s.text)).join('/')}`;
  return { document, selector, bindings, uriAt };
}

/**
 * Read, check, change, compare-and-set: retried when another writer changed the document in
 * between, so concurrent XCAP edits of different nodes both apply.
 */
async function mutate(store: DocumentStore, key: DocumentKey, change: (current: StoredDocument | undefined) => Change): Promise<{ status: number; etag?: string }> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const current = await store.get(key);
    const outcome = change(current);
    const condition = current ? { ifMatch: current.etag } : { ifNoneMatch: '*' as const };
    if (outcome.content === undefined) {
      if (!current) throw new XdmsError('TW_ERR_XDMS_NOT_FOUND', `no simservs document for ${key.xui}`);
      const deleted = await store.delete(key, { ifMatch: current.etag });
      if (deleted.ok) return { status: outcome.status };
      continue;
    }
    const put = await store.put(key, outcome.content, condition);
    if (put.ok) return { status: outcome.status, etag: put.etag };
  }
  throw new XdmsError('TW_ERR_XDMS_BUSY', 'the document kept changing during the update; retry');
}

function documentChange(request: FastifyRequest, current: StoredDocument | undefined): Change {
  checkPreconditions(request, current?.etag, current !== undefined);
  if (request.method === 'DELETE') {
    if (!current) throw new XdmsError('TW_ERR_XDMS_NOT_FOUND', 'no such document');
    return { status: 204 };
  }
  requireType(request, DOCUMENT_TYPES, 'a document');
  const text = bodyText(request);
  validate(parseDocument(text));
  return { status: current ? 200 : 201, content: text };
}

function nodeChange(request: FastifyRequest, target: Target, current: StoredDocument | undefined): Change {
  if (!current) {
    if (request.method === 'DELETE') throw new XdmsError('TW_ERR_XDMS_NOT_FOUND', 'no such document');
    throw new XdmsError('TW_ERR_XDMS_NO_PARENT', 'the document does not exist', `${request.protocol}://${request.host}${USERS_PREFIX}${encodeURIComponent(target.key.xui)}/`);
  }
  const ctx = nodeContext(request, target, parseXml(current.content));
  checkPreconditions(request, current.etag, nodeExists(ctx));
  let created = false;
  if (request.method === 'DELETE') deleteNode(ctx);
  else if (ctx.selector.attribute) {
    requireType(request, new Set([ATTRIBUTE_MEDIA_TYPE]), 'an attribute');
    created = putAttribute(ctx, bodyText(request));
  } else {
    requireType(request, new Set([ELEMENT_MEDIA_TYPE]), 'an element');
    created = putElement(ctx, bodyText(request));
  }
  validate(ctx.document);
  return { status: created ? 201 : 200, content: serializeXml(ctx.document) };
}

async function handleRead(request: FastifyRequest, reply: FastifyReply, store: DocumentStore, target: Target): Promise<FastifyReply> {
  const current = await store.get(target.key);
  if (!current) throw new XdmsError('TW_ERR_XDMS_NOT_FOUND', `no simservs document for ${target.key.xui}`);
  withEtag(reply, current.etag);
  if (target.selectorText === undefined) {
    const ifNoneMatch = entityTags(request.headers['if-none-match']);
    if (ifNoneMatch && (ifNoneMatch[0] === '*' || ifNoneMatch.includes(current.etag))) return reply.code(304).send();
    checkPreconditions(request, current.etag, true);
    return reply.type(SIMSERVS_MEDIA_TYPE).send(current.content);
  }
  const ctx = nodeContext(request, target, parseXml(current.content));
  const node = getNode(ctx);
  checkPreconditions(request, current.etag, true);
  return reply.type(node.contentType).send(node.body);
}

async function handle(request: FastifyRequest, reply: FastifyReply, store: DocumentStore): Promise<FastifyReply> {
  const target = parseTarget(request.raw.url ?? '');
  if (request.method === 'GET') return handleRead(request, reply, store, target);
  const result = await mutate(store, target.key, (current) => {
    withEtag(reply, current?.etag); // so that a failed precondition still tells the current tag
    return target.selectorText === undefined ? documentChange(request, current) : nodeChange(request, target, current);
  });
  if (result.etag === undefined) reply.removeHeader('etag');
  return withEtag(reply, result.etag).code(result.status).send();
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Compares the API key in constant time (digests of equal length). */
function keyMatches(given: unknown, expected: Buffer): boolean {
  return typeof given === 'string' && timingSafeEqual(sha256(given), expected);
}

/** Maps any failure to its registry entry: a 409 carries the XCAP error document. */
function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof StorageError) {
    return reply.code(STORAGE_ERROR_STATUS[error.code].http).send({ code: error.code, message: error.message });
  }
  const xdms = error instanceof XdmsError ? error : fromFastify(error as FastifyError, request);
  const xml = xcapErrorBody(xdms);
  if (xml) return reply.code(xdms.status).type('application/xcap-error+xml').send(xml);
  return reply.code(xdms.status).send({ code: xdms.code, message: xdms.message });
}

function fromFastify(error: FastifyError, request: FastifyRequest): XdmsError {
  if (error.validation) return bad(error.message);
  if (error.statusCode === 413) return new XdmsError('TW_ERR_XDMS_TOO_LARGE', 'the body is too large');
  if (error.statusCode === 415) return new XdmsError('TW_ERR_XDMS_UNSUPPORTED_MEDIA_TYPE', error.message);
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return bad(error.message);
  request.log.error({ err: error }, 'XDMS request failed');
  return new XdmsError('TW_ERR_XDMS_INTERNAL', 'internal error');
}

const WILDCARD_SCHEMA = {
  params: { type: 'object', properties: { '*': { type: 'string', maxLength: 8192 } } },
  headers: {
    type: 'object',
    properties: { 'if-match': { type: 'string', maxLength: 4096 }, 'if-none-match': { type: 'string', maxLength: 4096 } },
  },
} as const;

/** The XCAP routes and `/ping`, as a fastify plugin (register it on any instance). */
export const xcapPlugin: FastifyPluginAsync<XcapOptions> = async (app, options) => {
  const { store } = options;
  const expectedKey = options.apiKey === undefined ? undefined : sha256(options.apiKey);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: options.bodyLimit ?? 256 * 1024 }, (_request, body, done) => done(null, body));
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  app.addHook('onRequest', async (request) => {
    if (!expectedKey || (request.routeOptions.config as { public?: boolean }).public === true) return;
    if (!keyMatches(request.headers['ngv-api-key'], expectedKey)) throw new XdmsError('TW_ERR_XDMS_UNAUTHORIZED', 'a valid NGV-API-Key header is required');
  });
  app.get('/ping', { config: { public: true }, schema: { response: { 200: { type: 'string' } } } }, async (_request, reply) => reply.type('text/plain').send('OK'));
  app.route({
    method: ['GET', 'PUT', 'DELETE'],
    url: `${USERS_PREFIX}*`,
    schema: WILDCARD_SCHEMA,
    handler: (request, reply) => handle(request, reply, store),
  });
};

/** A fastify instance serving only the XDMS (for `tidewater xdms` and tests). */
export async function buildXdmsServer(options: XcapOptions & { readonly logger?: boolean }): Promise<FastifyInstance> {
  const app = fastify({ logger: options.logger ?? false });
  await app.register(xcapPlugin, options);
  return app;
}
