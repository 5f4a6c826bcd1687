/**
 * The web UI: sign up, log in, log out, your numbers with their registration state, allocating
 * a number (its SIP password shown once, with what a softphone needs), resetting a SIP
 * password and deleting a number. Every form post carries a CSRF token in a hidden field: the
 * session's (derived from its secret token) once signed in, or a double-submit cookie on the
 * sign-up and log-in forms.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from './auth.js';
import { LoginBody, parseBody, rateLimit, signUp, type PortalContext } from './context.js';
import { StorageError } from '../storage/index.js';
import { fromStorage, PortalError } from './errors.js';
import { csrfField, html, sendPage, STYLE, type Html, type PageOptions } from './html.js';
import type { AllocatedNumber, NumberView } from './numbers.js';
import { newToken, secretEquals } from './passwords.js';
import { registerServicePages } from './ui-services.js';
import { registerSoftphonePages } from './ui-softphone.js';

type Body = Record<string, unknown> | undefined;
export type SignedIn = Extract<Principal, { kind: 'account' }>;
const FORM_CSRF_COOKIE = 'tw_form_csrf';

/** Runs a page handler; a PortalError becomes an error page with its status (and Retry-After kept). */
export function page<R extends FastifyRequest>(
  ctx: PortalContext,
  handler: (request: R, reply: FastifyReply) => Promise<FastifyReply | undefined>,
  title = 'Error',
): (request: R, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  return async (request, reply) => {
    try {
      return await handler(request, reply);
    } catch (caught) {
      const error = caught instanceof StorageError ? fromStorage(caught) : caught;
      if (!(error instanceof PortalError)) throw error;
      if (error.status >= 500) request.log.error({ err: caught, url: request.routeOptions.url }, 'portal page failed');
      const principal = await ctx.auth.sessionOf(request).catch(() => undefined);
      const user = principal?.kind === 'account' ? userOf(principal) : undefined;
      return sendPage(reply, { title, status: error.status, flash: { kind: 'error', text: error.message }, ...(user && { user }) }, html`<p><a href="/">Back</a></p>`);
    }
  };
}

export function userOf(p: SignedIn): NonNullable<PageOptions['user']> {
  return { email: p.account.email, csrf: p.csrf, isAdmin: p.account.isAdmin };
}

/** The signed-in account, or undefined after redirecting to the log-in page. */
export async function signedIn(ctx: PortalContext, request: FastifyRequest, reply: FastifyReply): Promise<SignedIn | undefined> {
  const p = await ctx.auth.sessionOf(request);
  if (p?.kind === 'account') return p;
  await reply.redirect('/login', 303);
  return undefined;
}

/** Checks the form's CSRF token against the session's (constant time); 403 otherwise. */
export function checkCsrf(p: SignedIn, body: Body): void {
  if (!secretEquals(body?._csrf, p.csrf)) throw new PortalError('TW_ERR_PORTAL_FORBIDDEN', 'the form expired or came from another site; reload the page and try again');
}

/** The double-submit token of the anonymous forms: set as a cookie, echoed in the form. */
function formToken(ctx: PortalContext, request: FastifyRequest, reply: FastifyReply): string {
  const existing = request.cookies[FORM_CSRF_COOKIE];
  if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  const token = newToken();
  reply.setCookie(FORM_CSRF_COOKIE, token, { httpOnly: true, sameSite: 'strict', path: '/', secure: ctx.auth.secure(request) });
  return token;
}

function checkFormToken(request: FastifyRequest): void {
  const cookie = request.cookies[FORM_CSRF_COOKIE];
  if (!cookie || !secretEquals((request.body as Body)?._csrf, cookie)) {
    throw new PortalError('TW_ERR_PORTAL_FORBIDDEN', 'the form expired or came from another site; reload the page and try again');
  }
}

function signupForm(token: string, values: Body = {}): Html {
  return html`<form method="post" action="/signup">${csrfField(token)}
<label for="full_name">Full name</label><input type="text" id="full_name" name="full_name" required maxlength="200" value="${String(values?.full_name ?? '')}">
<label for="email">Email</label><input type="email" id="email" name="email" required value="${String(values?.email ?? '')}">
<label for="password">Password (at least 8 characters)</label><input type="password" id="password" name="password" required minlength="8" autocomplete="new-password">
<label for="signup_code">Signup code</label><input type="password" id="signup_code" name="signup_code" required>
<p><button type="submit" id="signup">Sign up</button></p></form><p>Have an account? <a href="/login">Log in</a>.</p>`;
}

function loginForm(token: string, email = ''): Html {
  return html`<form method="post" action="/login">${csrfField(token)}
<label for="email">Email</label><input type="email" id="email" name="email" required value="${email}" autocomplete="username">
<label for="password">Password</label><input type="password" id="password" name="password" required autocomplete="current-password">
<p><button type="submit" id="login">Log in</button></p></form><p>New here? <a href="/signup">Sign up</a>.</p>`;
}

function registrationCell(n: NumberView): Html {
  if (!n.registered) return html`<span class="unregistered">not registered</span>`;
  return html`<span class="registered">registered</span><ul>${n.contacts.map(
    (c) => html`<li><code>${c.contact}</code>${c.user_agent ? html`<br>${c.user_agent}` : ''}<br>expires in ${c.expires} s${c.received_from ? html`, from ${c.received_from}` : ''}</li>`,
  )}</ul>`;
}

function numbersTable(p: SignedIn, numbers: NumberView[], phone: boolean): Html {
  if (numbers.length === 0) return html`<p>You have no numbers yet.</p>`;
  const rows = numbers.map(
    (n) => html`<tr data-number="${n.number}"><td>${n.formatted_number}<br><code>${n.sip_uri}</code></td><td>${n.sip_username}</td><td>${registrationCell(n)}</td>
<td>${phone ? html`<a href="/numbers/${n.number}/phone" class="phone-link">Phone</a> ` : ''}<a href="/numbers/${n.number}/services">Services</a>
<form method="post" action="/numbers/${n.number}/password">${csrfField(p.csrf)}<button type="submit" class="reset">Reset SIP password</button></form>
<form method="post" action="/numbers/${n.number}/delete">${csrfField(p.csrf)}<button type="submit" class="delete">Delete</button></form></td></tr>`,
  );
  return html`<table id="numbers"><thead><tr><th>Number</th><th>Username</th><th>Registration</th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
}

function credentials(ctx: PortalContext, n: Pick<AllocatedNumber, 'sip_uri' | 'sip_username' | 'formatted_number'>, password: string): Html {
  return html`<p>Copy the password now: it is shown only this once. Type these into your softphone:</p>
<dl class="creds"><dt>Number</dt><dd>${n.formatted_number} (<code id="sip-uri">${n.sip_uri}</code>)</dd>
<dt>Username (authorization name)</dt><dd><code id="sip-username">${n.sip_username}</code></dd>
<dt>Password</dt><dd><span class="secret" id="sip-password">${password}</span></dd>
<dt>Domain (realm)</dt><dd><code id="sip-domain">${ctx.domain}</code></dd>
<dt>Outbound proxy</dt><dd><code id="outbound-proxy">${ctx.outboundProxy}</code></dd></dl>
<p><a href="/numbers">Back to your numbers</a></p>`;
}

function registerAccountPages(app: FastifyInstance, ctx: PortalContext): void {
  app.get('/', async (request, reply) => reply.redirect((await ctx.auth.sessionOf(request)) ? '/numbers' : '/signup', 303));
  app.get('/static/portal.css', async (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'max-age=3600').send(STYLE));

  app.get('/signup', async (request, reply) => sendPage(reply, { title: 'Sign up' }, signupForm(formToken(ctx, request, reply))));
  app.post(
    '/signup',
    page(ctx, async (request, reply) => {
      const token = formToken(ctx, request, reply);
      try {
        checkFormToken(request);
        rateLimit(ctx, request, reply, 'signup');
        const account = await signUp(ctx, request.body, undefined);
        await ctx.auth.startSession(request, reply, account);
        return reply.redirect('/numbers', 303);
      } catch (error) {
        if (!(error instanceof PortalError)) throw error;
        const flash = { kind: 'error' as const, text: error.message };
        return sendPage(reply, { title: 'Sign up', status: error.status, flash }, signupForm(token, request.body as Body));
      }
    }),
  );

  app.get('/login', async (request, reply) => sendPage(reply, { title: 'Log in' }, loginForm(formToken(ctx, request, reply))));
  app.post(
    '/login',
    page(ctx, async (request, reply) => {
      const token = formToken(ctx, request, reply);
      const email = String((request.body as Body)?.email ?? '');
      try {
        checkFormToken(request);
        rateLimit(ctx, request, reply, 'login');
        const body = parseBody(LoginBody, request.body);
        const account = await ctx.auth.check(body.email, body.password);
        if (!account) throw new PortalError('TW_ERR_PORTAL_FORBIDDEN', 'wrong email or password');
        await ctx.auth.startSession(request, reply, account);
        return reply.redirect('/numbers', 303);
      } catch (error) {
        if (!(error instanceof PortalError)) throw error;
        return sendPage(reply, { title: 'Log in', status: error.status, flash: { kind: 'error', text: error.message } }, loginForm(token, email));
      }
    }),
  );

  app.post(
    '/logout',
    page(ctx, async (request, reply) => {
      const p = await ctx.auth.sessionOf(request);
      if (p?.kind === 'account') checkCsrf(p, request.body as Body);
      await ctx.auth.endSession(request, reply);
      return reply.redirect('/login', 303);
    }),
  );
}

/**
 * A form post that changes what a softphone relies on asks first: without `confirm=yes` it
 * answers a page repeating the post with it. Resolves true when confirmed.
 */
function confirmed(reply: FastifyReply, p: SignedIn, body: Body, action: string, question: string): boolean {
  if (body?.confirm === 'yes') return true;
  void sendPage(
    reply,
    { title: 'Are you sure?', user: userOf(p) },
    html`<p>${question}</p><form method="post" action="${action}">${csrfField(p.csrf)}<input type="hidden" name="confirm" value="yes">
<button type="submit" id="confirm">Yes, go ahead</button> <a href="/numbers">No, back to your numbers</a></form>`,
  );
  return false;
}

function registerNumberPages(app: FastifyInstance, ctx: PortalContext): void {
  app.get(
    '/numbers',
    page(ctx, async (request, reply) => {
      const p = await signedIn(ctx, request, reply);
      if (!p) return reply;
      const numbers = await ctx.numbers.list(p.account.email);
      return sendPage(
        reply,
        { title: 'Your numbers', user: userOf(p) },
        html`${numbersTable(p, numbers, ctx.softphone !== undefined)}
<p>Softphone settings: username as above, domain <code>${ctx.domain}</code>, outbound proxy <code>${ctx.outboundProxy}</code>.</p>
<form method="post" action="/numbers/new">${csrfField(p.csrf)}<p><button type="submit" id="allocate">Get a new number</button></p></form>`,
      );
    }),
  );

  app.post(
    '/numbers/new',
    page(ctx, async (request, reply) => {
      const p = await signedIn(ctx, request, reply);
      if (!p) return reply;
      checkCsrf(p, request.body as Body);
      const n = await ctx.numbers.allocate(p.account.email, {});
      request.log.info({ account: p.account.email, impu: n.sip_uri }, 'number allocated');
      return sendPage(reply, { title: 'Your new number', user: userOf(p), status: 201 }, credentials(ctx, n, n.sip_password ?? ''));
    }),
  );

  registerNumberActions(app, ctx);
}

/** Reset a SIP password, delete a number: each asks for confirmation first. */
function registerNumberActions(app: FastifyInstance, ctx: PortalContext): void {
  app.post<{ Params: { number: string } }>(
    '/numbers/:number/password',
    page(ctx, async (request, reply) => {
      const p = await signedIn(ctx, request, reply);
      if (!p) return reply;
      checkCsrf(p, request.body as Body);
      const n = await ctx.numbers.owned(p.account.email, `sip:${request.params.number}@${ctx.domain}`);
      const question = `Make a new SIP password for ${n.number}? Softphones using the old one stop working.`;
      if (!confirmed(reply, p, request.body as Body, `/numbers/${n.number}/password`, question)) return reply;
      const password = await ctx.numbers.resetPassword(n);
      const view = await ctx.numbers.view(n);
      return sendPage(reply, { title: 'New SIP password', user: userOf(p) }, credentials(ctx, view, password));
    }),
  );

  app.post<{ Params: { number: string } }>(
    '/numbers/:number/delete',
    page(ctx, async (request, reply) => {
      const p = await signedIn(ctx, request, reply);
      if (!p) return reply;
      checkCsrf(p, request.body as Body);
      const n = await ctx.numbers.owned(p.account.email, `sip:${request.params.number}@${ctx.domain}`);
      const question = `Delete ${n.number}? It stops working at once and may be given to someone else.`;
      if (!confirmed(reply, p, request.body as Body, `/numbers/${n.number}/delete`, question)) return reply;
      await ctx.numbers.remove(n);
      return reply.redirect('/numbers', 303);
    }),
  );
}

/** Registers every page. */
export function registerUi(app: FastifyInstance, ctx: PortalContext): void {
  registerAccountPages(app, ctx);
  registerNumberPages(app, ctx);
  registerServicePages(app, ctx);
  registerSoftphonePages(app, ctx);
}
