/**
 * What both HSS HTTP plugins share: the `NGV-API-Key` check, the error registry applied to
 * every failure (validation, storage, unknown paths), and XML bodies read as text.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { StorageError } from '../storage/index.js';
import { fromStorageError, HssError, type HssErrorCode } from './errors.js';

/** The header Clearwater's components sent their shared API key in. */
export const API_KEY_HEADER = 'ngv-api-key';

/** JSON schema of every error answer. */
export const ERROR_SCHEMA = {
  type: 'object',
  properties: { code: { type: 'string' }, message: { type: 'string' }, 'result-code': { type: 'integer' } },
  required: ['code', 'message'],
} as const;

/** Response schemas for the errors any route can answer with. */
export const ERROR_RESPONSES = { '4xx': ERROR_SCHEMA, '5xx': ERROR_SCHEMA } as const;

/** Schema of an identity in a path (percent-encoded identities arrive decoded). */
export const IDENTITY_PARAM = { type: 'string', minLength: 1, maxLength: 1024 } as const;

function digestOf(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * True when `given` equals `expected`. Both are hashed first so the comparison runs on two
 * equal-length buffers in constant time, telling nothing of the key's length either.
 */
export function apiKeyMatches(given: string | string[] | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false;
  return timingSafeEqual(digestOf(given), digestOf(expected));
}

/** Answers `error` as `{ code, message, result-code? }` with its status. */
export function sendError(reply: FastifyReply, error: HssError): FastifyReply {
  const body: Record<string, unknown> = { code: error.code, message: error.message };
  if (error.resultCode !== undefined) body['result-code'] = error.resultCode;
  return reply.code(error.status).type('application/json').send(body);
}

/** The registry error an error thrown in a route stands for. */
export function asHssError(error: FastifyError | Error): HssError {
  if (error instanceof HssError) return error;
  if (error instanceof StorageError) return fromStorageError(error);
  const fe = error as FastifyError;
  if (fe.validation) return new HssError('TW_ERR_HSS_BAD_REQUEST', fe.message);
  const status = fe.statusCode ?? 500;
  const code: HssErrorCode | undefined =
    status === 413 ? 'TW_ERR_HSS_TOO_LARGE' : status === 415 ? 'TW_ERR_HSS_UNSUPPORTED_MEDIA_TYPE' : status >= 400 && status < 500 ? 'TW_ERR_HSS_BAD_REQUEST' : undefined;
  return code ? new HssError(code, fe.message) : new HssError('TW_ERR_HSS_INTERNAL', 'internal error');
}

/** Installs the API key check (when `apiKey` is set), the error handler and the 404 handler. */
export function installCommon(app: FastifyInstance, apiKey: string | undefined): void {
  if (apiKey !== undefined) {
    if (apiKey.length === 0) throw new Error('apiKey must not be empty (leave it out to accept requests without a key)');
    app.addHook('onRequest', async (request, reply) => {
      if (!apiKeyMatches(request.headers[API_KEY_HEADER], apiKey)) {
        return sendError(reply, new HssError('TW_ERR_HSS_UNAUTHORIZED', 'missing or wrong NGV-API-Key header'));
      }
    });
  }
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const hssError = asHssError(error);
    if (hssError.code === 'TW_ERR_HSS_INTERNAL' || hssError.code === 'TW_ERR_HSS_UNAVAILABLE') {
      request.log.error({ err: error, url: request.routeOptions.url }, 'HSS request failed');
    }
    return sendError(reply, hssError);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new HssError('TW_ERR_HSS_NOT_FOUND', `no such resource: ${request.method} ${request.url.split('?')[0]}`)),
  );
}

/** Reads XML bodies (and bodies without a known content type) as text. */
export function acceptXmlBodies(app: FastifyInstance): void {
  const asText = (_req: unknown, body: string, done: (err: Error | null, body?: string) => void) => done(null, body);
  app.addContentTypeParser(['application/xml', 'text/xml'], { parseAs: 'string' }, asText);
  app.addContentTypeParser('*', { parseAs: 'string' }, asText);
}
