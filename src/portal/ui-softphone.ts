/**
 * The softphone page of a number (issue 5): a WebRTC phone in the browser, built on JsSIP, that
 * registers over the edge's secure WebSocket (RFC 7118) with short-lived credentials the portal
 * mints for the signed-in account (softphone-token.ts), so no SIP password is typed. It calls,
 * answers, hangs up, mutes, shows local and remote video and sends and receives SIP MESSAGEs.
 * The page is server-rendered HTML plus two scripts served here: the JsSIP bundle that
 * `npm run build` writes to dist/web/ and the page's own script (web/softphone.js); the page's
 * Content-Security-Policy allows only those and a WebSocket to the edge.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OwnedNumber } from '../storage/index.js';
import type { PortalContext } from './context.js';
import { PortalError } from './errors.js';
import { html, sendPage, type Html } from './html.js';
import { secretEquals } from './passwords.js';
import type { SoftphoneTokens } from './softphone-token.js';
import { page, signedIn, userOf } from './ui.js';

/** What the portal needs to serve the softphone page. */
export interface SoftphoneOptions {
  /** Mints the page's SIP credentials; the registrar must accept them (same secret). */
  readonly tokens: SoftphoneTokens;
  /** The edge's secure WebSocket port: the page connects to `wss://<host the browser used>:<wssPort>`. */
  readonly wssPort?: number;
  /** A fixed WebSocket URL instead (an edge on another host, or behind a proxy); wins over wssPort. */
  readonly wsUrl?: string;
}

/** Header the page sends its session's CSRF token in when it asks for credentials. */
export const CSRF_HEADER = 'x-csrf-token';
const JSSIP_BUNDLE = 'dist/web/jssip.min.js';
const PAGE_SCRIPT = 'src/portal/web/softphone.js';
/** A host the browser may name: a DNS name or IPv4 address, or an IPv6 address in brackets. */
const HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])$/;

/** Checks the options; throws naming the one at fault. */
export function checkSoftphone(opts: SoftphoneOptions): void {
  if (opts.wsUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(opts.wsUrl);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'wss:' && url.protocol !== 'ws:')) throw new Error(`portal: softphone.wsUrl must be a ws:// or wss:// URL, got "${opts.wsUrl}"`);
  } else if (!Number.isInteger(opts.wssPort) || opts.wssPort! < 1 || opts.wssPort! > 65535) {
    throw new Error(`portal: softphone needs wsUrl or a wssPort from 1 to 65535, got ${opts.wssPort}`);
  }
}

/** The folder holding package.json, above this module both in src/ and in dist/src/. */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('portal: no package.json above the portal module');
    dir = up;
  }
  return dir;
}

/** The WebSocket URL the page connects to: the configured one, or the edge's WSS port on the host the browser used. */
export function webSocketUrl(opts: SoftphoneOptions, request: FastifyRequest, fallbackHost: string): string {
  if (opts.wsUrl !== undefined) return opts.wsUrl;
  let host = request.hostname;
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  if (!HOST.test(host)) host = fallbackHost;
  return `wss://${host}:${opts.wssPort}`;
}

/** The page's CSP: the portal's own scripts and styles, and a WebSocket to the edge. */
function softphoneCsp(wsUrl: string): string {
  const connect = wsUrl.replace(/[;,\s]/g, '');
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "media-src 'self' blob: mediastream:",
    `connect-src 'self' ${connect}`,
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

function phoneBody(ctx: PortalContext, n: OwnedNumber, wsUrl: string, csrf: string): Html {
  return html`<section id="phone" class="phone" data-number="${n.number}" data-uri="${n.impu}" data-domain="${ctx.domain}" data-ws-url="${wsUrl}"
 data-credentials="/numbers/${n.number}/phone/credentials" data-csrf="${csrf}">
<p>This page is a phone for <strong>${n.number}</strong> (<code>${n.impu}</code>). Keep it open to receive calls and messages.</p>
<p id="reg-state" class="state" data-state="starting" role="status">Starting the phone…</p>
<noscript><p class="error">The phone needs JavaScript.</p></noscript>
<form id="dial" class="dial"><label for="peer">Number or SIP address to call or message</label>
<input type="text" id="peer" name="peer" autocomplete="off" placeholder="e.g. 6505550001">
<label class="check"><input type="checkbox" id="with-video" checked> with video</label>
<button type="submit" id="call" disabled>Call</button></form>
<div id="incoming" class="incoming" hidden><p>Incoming call from <strong id="incoming-from"></strong></p>
<button type="button" id="answer">Answer</button> <button type="button" id="decline">Decline</button></div>
<p id="call-state" class="state" data-state="idle" role="status">No call</p>
<p class="controls"><button type="button" id="hangup" disabled>Hang up</button>
<button type="button" id="mute" disabled aria-pressed="false">Mute</button>
<button type="button" id="camera" disabled aria-pressed="false">Stop video</button></p>
<div class="videos"><figure><video id="remote-video" autoplay playsinline></video><figcaption>Them</figcaption></figure>
<figure><video id="local-video" autoplay playsinline muted></video><figcaption>You</figcaption></figure></div>
<section class="chat" aria-labelledby="chat-title"><h2 id="chat-title">Messages</h2>
<ol id="messages" aria-live="polite"></ol>
<form id="chat" class="dial"><label for="chat-text">Message to the number above</label>
<input type="text" id="chat-text" name="text" autocomplete="off" maxlength="1000"> <button type="submit" id="send" disabled>Send</button></form></section>
</section>
<p><a href="/numbers">Back to your numbers</a></p>`;
}

/** Serves a file of the package once read (then from memory); a clear 500 when it is missing. */
function staticFile(relative: string, type: string, missing: string): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply> {
  let cached: Buffer | undefined;
  return async (request, reply) => {
    if (!cached) {
      const file = path.join(packageRoot(), relative);
      try {
        cached = readFileSync(file);
      } catch {
        request.log.error({ file }, `portal: ${relative} is missing: ${missing}`);
        return reply.code(500).type('text/plain; charset=utf-8').send(`${relative} is missing on the server: ${missing}\n`);
      }
    }
    return reply.type(type).header('cache-control', 'max-age=300').header('x-content-type-options', 'nosniff').send(cached);
  };
}

/** Registers the page, its credentials endpoint and its scripts (only when the portal has softphone options). */
export function registerSoftphonePages(app: FastifyInstance, ctx: PortalContext): void {
  const opts = ctx.softphone;
  if (!opts) return;
  const js = 'text/javascript; charset=utf-8';
  app.get('/static/jssip.min.js', staticFile(JSSIP_BUNDLE, js, 'run `npm run build` (it bundles JsSIP into dist/web/)'));
  app.get('/static/softphone.js', staticFile(PAGE_SCRIPT, js, 'the package is incomplete'));

  app.get<{ Params: { number: string } }>(
    '/numbers/:number/phone',
    page(ctx, async (request, reply) => {
      const p = await signedIn(ctx, request, reply);
      if (!p) return reply;
      const n = await ctx.numbers.owned(p.account.email, `sip:${request.params.number}@${ctx.domain}`);
      const wsUrl = webSocketUrl(opts, request, ctx.domain);
      return sendPage(
        reply,
        { title: `Phone ${n.number}`, user: userOf(p), scripts: ['/static/jssip.min.js', '/static/softphone.js'], csp: softphoneCsp(wsUrl) },
        phoneBody(ctx, n, wsUrl, p.csrf),
      );
    }),
  );

  app.post<{ Params: { number: string } }>('/numbers/:number/phone/credentials', async (request, reply) => {
    const p = await ctx.auth.sessionOf(request);
    if (p?.kind !== 'account') throw new PortalError('TW_ERR_PORTAL_UNAUTHORIZED', 'your portal session ended: log in again');
    if (!secretEquals(request.headers[CSRF_HEADER], p.csrf)) throw new PortalError('TW_ERR_PORTAL_FORBIDDEN', `missing or wrong ${CSRF_HEADER}: reload the page`);
    const n = await ctx.numbers.owned(p.account.email, `sip:${request.params.number}@${ctx.domain}`);
    const now = ctx.now();
    const c = opts.tokens.issue(n.privateId, n.impu, now);
    request.log.info({ account: p.account.email, impu: n.impu }, 'softphone credentials issued');
    return reply
      .header('cache-control', 'no-store')
      .type('application/json; charset=utf-8')
      .send({
        uri: n.impu,
        username: c.username,
        password: c.password,
        realm: ctx.domain,
        expires_at: new Date(c.expiresAt).toISOString(),
        renew_in: Math.ceil((c.renewAt - now) / 1000) + 1,
      });
  });
}
