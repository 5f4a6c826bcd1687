/**
 * The REST API of Clearwater's Ellis (INTERFACES.md, "Portal REST API"): same paths, bodies and
 * status codes. Authenticated by the session cookie of `POST /session/` or the operator's
 * `NGV-API-Key`. A request authenticated by cookie that changes something must not be a form
 * post (a cross-site page can send those; SameSite=Strict already keeps the cookie off them).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { isOperator, mayActOn, type Principal } from './auth.js';
import { LoginBody, parseBody, rateLimit, removeAccount, signUp, type PortalContext } from './context.js';
import { PortalError } from './errors.js';
import type { OwnedNumber } from '../storage/index.js';

const NumberBody = z
  .object({
    pstn: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).optional(),
    private_id: z.string().min(1).max(1024).optional(),
  })
  .passthrough();

/** Content types a cross-site HTML form can send without a CORS preflight. */
const FORM_TYPES = /^(?:application\/x-www-form-urlencoded|multipart\/form-data|text\/plain)\b/i;

interface EmailParams {
  email: string;
}
interface NumberParams extends EmailParams {
  sip_uri: string;
}

async function authenticated(ctx: PortalContext, request: FastifyRequest): Promise<Principal> {
  const principal = await ctx.auth.principal(request);
  if (!principal) throw new PortalError('TW_ERR_PORTAL_UNAUTHORIZED', 'sign in (POST /session/) or give NGV-API-Key');
  if (principal.kind === 'account' && request.method !== 'GET' && FORM_TYPES.test(request.headers['content-type'] ?? '')) {
    throw new PortalError('TW_ERR_PORTAL_FORBIDDEN', 'send JSON: form posts are not accepted with a session cookie');
  }
  return principal;
}

/** The account email of the path, checked against the principal; 404 for an unknown account. */
async function accountOf(ctx: PortalContext, request: FastifyRequest<{ Params: EmailParams }>): Promise<string> {
  const principal = await authenticated(ctx, request);
  const email = request.params.email.toLowerCase();
  if (!mayActOn(principal, email)) throw new PortalError('TW_ERR_PORTAL_FORBIDDEN', 'this is not your account');
  if (!(await ctx.accounts.getAccount(email).catch(() => undefined))) throw new PortalError('TW_ERR_PORTAL_NOT_FOUND', `no account ${email}`);
  return email;
}

async function numberOf(ctx: PortalContext, request: FastifyRequest<{ Params: NumberParams }>): Promise<OwnedNumber> {
  const email = await accountOf(ctx, request);
  return ctx.numbers.owned(email, request.params.sip_uri);
}

function xml(reply: FastifyReply, text: string): FastifyReply {
  return reply.code(200).type('application/xml; charset=utf-8').send(text);
}

/** Registers the REST routes: accounts and sessions here, numbers and the operator listing below. */
export function registerApi(app: FastifyInstance, ctx: PortalContext): void {
  app.get('/ping', async (_req, reply) => reply.type('text/plain; charset=utf-8').send('OK'));

  app.post('/accounts/', async (request, reply) => {
    rateLimit(ctx, request, reply, 'signup');
    const account = await signUp(ctx, request.body, request.headers['ngv-signup-code']);
    return reply.code(201).send({ email: account.email, full_name: account.fullName });
  });

  app.delete<{ Params: EmailParams }>('/accounts/:email/', async (request, reply) => {
    const email = await accountOf(ctx, request);
    await removeAccount(ctx, email);
    return reply.code(204).send();
  });

  app.post('/session/', async (request, reply) => {
    rateLimit(ctx, request, reply, 'login');
    const body = parseBody(LoginBody, request.body);
    const account = await ctx.auth.check(body.email, body.password);
    if (!account) throw new PortalError('TW_ERR_PORTAL_FORBIDDEN', 'wrong email or password');
    await ctx.auth.startSession(request, reply, account);
    return reply.code(201).send({ username: account.email, email: account.email, full_name: account.fullName });
  });

  app.delete('/session/', async (request, reply) => {
    await ctx.auth.endSession(request, reply);
    return reply.code(204).send();
  });

  registerNumberRoutes(app, ctx);
  registerOperatorRoutes(app, ctx);
}

function registerNumberRoutes(app: FastifyInstance, ctx: PortalContext): void {
  const numbers = '/accounts/:email/numbers/';
  app.post<{ Params: EmailParams }>(numbers, async (request, reply) => {
    const email = await accountOf(ctx, request);
    const body = parseBody(NumberBody, request.body);
    const allocated = await ctx.numbers.allocate(email, { pstn: body.pstn === true, ...(body.private_id !== undefined && { privateId: body.private_id }) });
    request.log.info({ account: email, impu: allocated.sip_uri }, 'number allocated');
    return reply.code(201).send(allocated);
  });

  app.get<{ Params: EmailParams }>(numbers, async (request) => ({ numbers: await ctx.numbers.list(await accountOf(ctx, request)) }));

  const one = `${numbers}:sip_uri/`;
  app.delete<{ Params: NumberParams }>(one, async (request, reply) => {
    await ctx.numbers.remove(await numberOf(ctx, request));
    return reply.code(204).send();
  });

  app.post<{ Params: NumberParams }>(`${numbers}:sip_uri/password`, async (request) => {
    return { sip_password: await ctx.numbers.resetPassword(await numberOf(ctx, request)) };
  });

  app.get<{ Params: NumberParams }>(`${numbers}:sip_uri/simservs`, async (request, reply) => {
    const n = await numberOf(ctx, request);
    return xml(reply, await ctx.services.simservs(n.impu));
  });
  app.put<{ Params: NumberParams }>(`${numbers}:sip_uri/simservs`, async (request, reply) => {
    const n = await numberOf(ctx, request);
    await ctx.services.putSimservs(n.impu, request.body);
    return xml(reply, await ctx.services.simservs(n.impu));
  });

  app.get<{ Params: NumberParams }>(`${numbers}:sip_uri/ifcs`, async (request, reply) => {
    const n = await numberOf(ctx, request);
    return xml(reply, await ctx.services.ifcs(n.impu));
  });
  app.put<{ Params: NumberParams }>(`${numbers}:sip_uri/ifcs`, async (request, reply) => {
    const n = await numberOf(ctx, request);
    return xml(reply, await ctx.services.putIfcs(n.impu, request.body));
  });
}

/** `GET /subscribers/?search=`: every number with its account and registration (not in Ellis). */
function registerOperatorRoutes(app: FastifyInstance, ctx: PortalContext): void {
  app.get<{ Querystring: { search?: string } }>('/subscribers/', async (request) => {
    const principal = await authenticated(ctx, request);
    if (!isOperator(principal)) throw new PortalError('TW_ERR_PORTAL_FORBIDDEN', 'operators only');
    const page = await ctx.accounts.listNumbers({ limit: 200 }, typeof request.query.search === 'string' ? request.query.search : undefined);
    const out = [];
    for (const n of page.items) out.push({ account: n.accountEmail, ...(await ctx.numbers.view(n)) });
    return { subscribers: out };
  });
}
