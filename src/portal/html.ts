/**
 * Server-rendered HTML: a tagged template that escapes every interpolated value unless it is
 * already {@link Html} (made by this module), the page layout, and the style sheet. No inline
 * script and no external asset; the Content-Security-Policy of every page allows nothing else.
 * Only the softphone page loads scripts, from the portal itself (`script-src 'self'`).
 */
import type { FastifyReply } from 'fastify';

/** Markup that is safe to insert as is. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

type Part = Html | string | number | boolean | undefined | null | readonly Part[];

function render(part: Part): string {
  if (part === undefined || part === null || part === false) return '';
  if (part instanceof Html) return part.text;
  if (Array.isArray(part)) return part.map(render).join('');
  return escapeHtml(part);
}

/** `html\`<p>${name}</p>\``: values are escaped; arrays are joined; Html is kept. */
export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => (out += render(v) + strings[i + 1]!));
  return new Html(out);
}

/** The hidden CSRF field of a form. */
export function csrfField(token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

export const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export interface PageOptions {
  readonly title: string;
  /** Signed-in user, shown with a log-out button. */
  readonly user?: { readonly email: string; readonly csrf: string; readonly isAdmin: boolean };
  readonly status?: number;
  readonly flash?: { readonly kind: 'error' | 'info'; readonly text: string };
  /** Scripts of the portal's own (`/static/...`), loaded deferred in this order. */
  readonly scripts?: readonly string[];
  /** A Content-Security-Policy other than {@link CSP} (one that allows those scripts). */
  readonly csp?: string;
}

/** Sends a whole page with the security headers; pages are never cached (they may show a password). */
export function sendPage(reply: FastifyReply, options: PageOptions, body: Html): FastifyReply {
  const user = options.user;
  const nav = user
    ? html`<nav><a href="/numbers">Your numbers</a>${user.isAdmin ? html` <a href="/operator">Operator view</a>` : ''}
        <span class="who">${user.email}</span>
        <form method="post" action="/logout" class="inline">${csrfField(user.csrf)}<button type="submit" id="logout">Log out</button></form></nav>`
    : html`<nav><a href="/login">Log in</a> <a href="/signup">Sign up</a></nav>`;
  const flash = options.flash ? html`<p class="${options.flash.kind}" role="${options.flash.kind === 'error' ? 'alert' : 'status'}">${options.flash.text}</p>` : '';
  const page = html`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} - Tidewater</title><link rel="stylesheet" href="/static/portal.css">${(options.scripts ?? []).map((src) => html`<script src="${src}" defer></script>`)}</head>
<body><header><a class="brand" href="/">Tidewater</a>${nav}</header>
<main><h1>${options.title}</h1>${flash}${body}</main></body></html>`;
  return reply
    .code(options.status ?? 200)
    .header('content-security-policy', options.csp ?? CSP)
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(page.text);
}

export const STYLE = `
body{font-family:system-ui,sans-serif;margin:0;color:#1d2a33;background:#f4f7f9}
header{display:flex;align-items:center;gap:1.5em;padding:.8em 1.5em;background:#0b4f6c;color:#fff}
header a{color:#fff}.brand{font-weight:bold;font-size:1.2em;text-decoration:none}
nav{display:flex;gap:1em;align-items:center;flex:1}.who{margin-left:auto;opacity:.8}
main{max-width:60em;margin:1.5em auto;padding:0 1.5em}
form.inline{display:inline}label{display:block;margin:.6em 0 .2em}
input[type=text],input[type=email],input[type=password],input[type=number],input[type=search]{padding:.4em;width:22em;max-width:100%}
button{padding:.4em 1em;cursor:pointer}fieldset{margin:1em 0;border:1px solid #b8c7d0;background:#fff}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border:1px solid #d0dbe1;padding:.4em .6em;text-align:left;vertical-align:top}
.error{background:#fde2e1;border:1px solid #e0a09b;padding:.6em}.info{background:#e1f3e6;border:1px solid #9bcca8;padding:.6em}
.secret{font-family:monospace;font-size:1.3em;background:#fff8d6;padding:.2em .4em}
.registered{color:#1b7a35;font-weight:bold}.unregistered{color:#8a5a00}dl.creds dt{font-weight:bold}dl.creds dd{margin:0 0 .6em 0}
.state{padding:.5em .8em;border:1px solid #b8c7d0;background:#fff;font-weight:bold}
.state[data-state=registered],.state[data-state=in-call]{background:#e1f3e6;border-color:#9bcca8;color:#1b5e2b}
.state[data-state=failed],.state[data-state=unregistered],.state[data-state=disconnected]{background:#fde2e1;border-color:#e0a09b;color:#7a1d15}
.state[data-state=calling],.state[data-state=ringing],.state[data-state=incoming],.state[data-state=connecting],.state[data-state=starting]{background:#fff8d6;border-color:#e3cf7a}
.incoming{background:#fff8d6;border:2px solid #e3cf7a;padding:.6em 1em;margin:1em 0}.incoming button{font-size:1.1em}
label.check{display:inline-block;margin:.4em 1em .4em 0}.controls button{margin-right:.5em}button[aria-pressed=true]{background:#0b4f6c;color:#fff}
.videos{display:flex;gap:1em;flex-wrap:wrap}.videos figure{margin:0}.videos video{width:320px;height:240px;background:#1d2a33;border-radius:4px}
.chat ol{list-style:none;padding:.4em;margin:0 0 .6em;background:#fff;border:1px solid #d0dbe1;min-height:4em;max-height:16em;overflow-y:auto}
.chat li{margin:.2em 0}.chat li.out{color:#0b4f6c}.chat li.failed{color:#7a1d15}.chat .who{font-weight:bold;margin-right:.4em}
`;
