/**
 * Who a request acts for: the operator (the `NGV-API-Key` header, compared in constant time,
 * or a session of an admin account) or one account (its session cookie). Sessions are random
 * 32-byte tokens in a cookie that is HttpOnly, SameSite=Strict, Path=/ and Secure over TLS; the
 * store keeps only a hash of the token.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Account, AccountStore } from '../storage/index.js';
import { PortalError } from './errors.js';
import { csrfTokenOf, DUMMY_HASH, newToken, secretEquals, tokenKey, verifyPassword } from './passwords.js';

export const SESSION_COOKIE = 'tw_session';
export const API_KEY_HEADER = 'ngv-api-key';

/** The operator (API key) or a signed-in account. */
export type Principal =
  | { readonly kind: 'operator' }
  | { readonly kind: 'account'; readonly account: Account; readonly token: string; readonly csrf: string };

export interface AuthOptions {
  readonly accounts: AccountStore;
  readonly apiKey?: string;
  /** Secure cookies always (true), never (false), or when the request came over TLS (undefined). */
  readonly secureCookies?: boolean;
  readonly sessionTtlMs: number;
  readonly now: () => number;
}

export class Auth {
  constructor(private readonly opts: AuthOptions) {}

  /** Checks email and password (scrypt; an unknown email costs the same); resolves the account or undefined. */
  async check(email: string, password: string): Promise<Account | undefined> {
    const account = await this.opts.accounts.getAccount(email);
    const ok = await verifyPassword(password, account?.passwordHash ?? DUMMY_HASH);
    return ok && account ? account : undefined;
  }

  /** Opens a session for `account` and sets its cookie. */
  async startSession(request: FastifyRequest, reply: FastifyReply, account: Account): Promise<void> {
    const token = newToken();
    const now = this.opts.now();
    await this.opts.accounts.deleteExpiredSessions(now);
    await this.opts.accounts.createSession({ id: tokenKey(token), email: account.email, expiresAt: now + this.opts.sessionTtlMs });
    reply.setCookie(SESSION_COOKIE, token, {
      httpOnly: true,
      sameSite: 'strict',
      secure: this.secure(request),
      path: '/',
      maxAge: Math.floor(this.opts.sessionTtlMs / 1000),
    });
  }

  /** Whether cookies set in answer to `request` are Secure: configured, or the request came over TLS. */
  secure(request: FastifyRequest): boolean {
    return this.opts.secureCookies ?? request.protocol === 'https';
  }

  /** Ends the request's session, if any, and clears the cookie. */
  async endSession(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const token = request.cookies[SESSION_COOKIE];
    if (token) await this.opts.accounts.deleteSession(tokenKey(token)).catch(() => false);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
  }

  /** The account of the request's session cookie, if it is valid. */
  async sessionOf(request: FastifyRequest): Promise<Principal | undefined> {
    const token = request.cookies[SESSION_COOKIE];
    if (!token || token.length < 16 || token.length > 128) return undefined;
    const session = await this.opts.accounts.getSession(tokenKey(token), this.opts.now());
    const account = session && (await this.opts.accounts.getAccount(session.email));
    return account ? { kind: 'account', account, token, csrf: csrfTokenOf(token) } : undefined;
  }

  /**
   * The request's principal: the API key when the header is present (401 when wrong), else the
   * session cookie; undefined when neither.
   */
  async principal(request: FastifyRequest): Promise<Principal | undefined> {
    const key = request.headers[API_KEY_HEADER];
    if (key !== undefined) {
      if (this.opts.apiKey === undefined || !secretEquals(key, this.opts.apiKey)) {
        throw new PortalError('TW_ERR_PORTAL_UNAUTHORIZED', 'wrong NGV-API-Key');
      }
      return { kind: 'operator' };
    }
    return this.sessionOf(request);
  }
}

/** Whether `principal` may act on the account `email`: its own, or any for the operator and admins. */
export function mayActOn(principal: Principal, email: string): boolean {
  if (principal.kind === 'operator') return true;
  return principal.account.isAdmin || principal.account.email === email;
}

/** Whether the principal sees every account (operator view). */
export function isOperator(principal: Principal | undefined): boolean {
  return principal !== undefined && (principal.kind === 'operator' || principal.account.isAdmin);
}
