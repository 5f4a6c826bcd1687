/**
 * What the REST API and the web UI share: the stores and services, body validation that names
 * the field at fault, the rate limit of login and signup, and account creation and removal.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Account, AccountStore } from '../storage/index.js';
import { StorageError } from '../storage/index.js';
import type { Auth } from './auth.js';
import { badField, PortalError } from './errors.js';
import type { NumberService } from './numbers.js';
import { hashPassword, secretEquals } from './passwords.js';
import type { RateLimiter } from './rate-limit.js';
import type { ServiceSettings } from './services.js';
import type { SoftphoneOptions } from './ui-softphone.js';

export interface PortalContext {
  readonly accounts: AccountStore;
  readonly auth: Auth;
  readonly numbers: NumberService;
  readonly services: ServiceSettings;
  readonly limiter: RateLimiter;
  readonly signupCode: string;
  readonly domain: string;
  /** Shown to users next to a new SIP password: where a softphone sends its requests. */
  readonly outboundProxy: string;
  /** The softphone page (WebRTC over the edge's WSS); absent, the portal shows none. */
  readonly softphone?: SoftphoneOptions;
  readonly now: () => number;
}

export const SignupBody = z.object({
  email: z.string().trim().max(254).email('must be an email address'),
  password: z.string().min(8, 'must be at least 8 characters').max(1024),
  full_name: z.string().trim().min(1, 'must not be empty').max(200).regex(/^[^\x00-\x1f\x7f]*$/, 'must not hold control characters'),
  signup_code: z.string().max(1024).optional(),
});

export const LoginBody = z.object({
  email: z.string().trim().min(1, 'must not be empty').max(254),
  password: z.string().min(1, 'must not be empty').max(1024),
});

/** Validates `body` against `schema`; a 400 naming the first field at fault otherwise. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.length > 0 ? issue.path.join('.') : 'body';
  throw badField(field, issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : issue.message);
}

/** Counts a login or signup attempt of the client address; 429 with Retry-After past the limit. */
export function rateLimit(ctx: PortalContext, request: FastifyRequest, reply: FastifyReply, what: 'login' | 'signup'): void {
  const decision = ctx.limiter.take(`${what} ${request.ip}`);
  if (decision.ok) return;
  reply.header('retry-after', String(decision.retryAfterSeconds));
  throw new PortalError('TW_ERR_PORTAL_RATE_LIMITED', `too many ${what} attempts; try again in ${decision.retryAfterSeconds} s`);
}

/**
 * Creates an account after checking the signup code (constant time). The first account of an
 * empty portal is its administrator (operator view).
 */
export async function signUp(ctx: PortalContext, body: unknown, headerCode: unknown): Promise<Account> {
  const given = parseBody(SignupBody, body);
  const code = typeof headerCode === 'string' ? headerCode : given.signup_code;
  if (!secretEquals(code, ctx.signupCode)) throw new PortalError('TW_ERR_PORTAL_FORBIDDEN', 'wrong signup code', 'signup_code');
  const account: Account = {
    email: given.email.toLowerCase(),
    fullName: given.full_name,
    passwordHash: await hashPassword(given.password),
    createdAt: ctx.now(),
    isAdmin: (await ctx.accounts.countAccounts()) === 0,
  };
  try {
    await ctx.accounts.createAccount(account);
  } catch (error) {
    if (error instanceof StorageError && error.code === 'TW_ERR_STORAGE_EXISTS') {
      throw new PortalError('TW_ERR_PORTAL_EXISTS', `an account for ${account.email} exists already`, 'email');
    }
    throw error;
  }
  return account;
}

/** Deletes an account and every number it owns (their subscriber data and simservs too). */
export async function removeAccount(ctx: PortalContext, email: string): Promise<void> {
  const account = await ctx.accounts.getAccount(email);
  if (!account) throw new PortalError('TW_ERR_PORTAL_NOT_FOUND', `no account ${email}`);
  for (const n of await ctx.accounts.numbersOf(account.email)) await ctx.numbers.remove(n);
  await ctx.accounts.deleteAccount(account.email);
}
