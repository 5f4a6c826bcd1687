/**
 * The services page of a number: forms (not XML) for communication diversion (3GPP TS 24.604:
 * unconditional, busy, no answer with its timer, not registered, not reachable), incoming and
 * outgoing barring (TS 24.611: all, international) and caller ID restriction (OIR, TS 24.607
 * default behaviour), read from and written to the simservs document. Rules the form does not
 * model (media conditions, identities, validity) are kept as they are. Also the operator view.
 */
import type { FastifyInstance } from 'fastify';
import type {
  BarringRule,
  BarringService,
  DiversionCondition,
  DiversionRule,
  DiversionService,
  SimservsSettings,
} from '../xdms/index.js';
import type { PortalContext } from './context.js';
import { badField, PortalError } from './errors.js';
import { csrfField, html, sendPage, type Html } from './html.js';
import { checkCsrf, page, signedIn, userOf, type SignedIn } from './ui.js';

type Body = Record<string, unknown> | undefined;

/** The diversion kinds of the form: field name, condition (none: unconditional), label. */
const FORWARDS: readonly { field: string; condition?: DiversionCondition; label: string }[] = [
  { field: 'cfu', label: 'Always (unconditional)' },
  { field: 'cfb', condition: 'busy', label: 'When busy' },
  { field: 'cfnr', condition: 'no-answer', label: 'When not answered' },
  { field: 'cfnrg', condition: 'not-registered', label: 'When not registered' },
  { field: 'cfnrc', condition: 'not-reachable', label: 'When not reachable' },
];
const TARGET = /^(?:sips?:[^\s<>"@]+@[^\s<>"]+|tel:\+?[0-9*#().-]+|\+?[0-9*#]{1,32})$/i;

/** A rule the form models: active, any media, no extra conditions, at most one condition. */
function isSimple(rule: DiversionRule | BarringRule): boolean {
  return !rule.deactivated && rule.media.length === 0 && rule.extraConditions.length === 0 && rule.conditions.length <= 1;
}

function forwardOf(cdiv: DiversionService | undefined, condition: DiversionCondition | undefined): string {
  const rule = cdiv?.rules.find((r) => isSimple(r) && r.conditions[0] === condition);
  return rule?.target ?? '';
}

function barringOf(service: BarringService | undefined): { all: boolean; international: boolean } {
  const barred = (service?.active ?? false) ? service!.rules.filter((r) => isSimple(r) && !r.allow) : [];
  return { all: barred.some((r) => r.conditions.length === 0), international: barred.some((r) => r.conditions[0] === 'international') };
}

function targetOf(ctx: PortalContext, field: string, value: unknown): string | undefined {
  const text = typeof value === 'string' ? value.trim() : '';
  if (text === '') return undefined;
  if (!TARGET.test(text)) throw badField(field, `"${text}" is not a number or a sip: or tel: address`);
  return /^[+0-9*#]/.test(text) ? `sip:${text}@${ctx.domain}` : text;
}

function diversionFrom(ctx: PortalContext, body: Body, current: DiversionService | undefined): DiversionService {
  const rules: DiversionRule[] = (current?.rules ?? []).filter((r) => !isSimple(r));
  for (const f of FORWARDS) {
    const target = targetOf(ctx, f.field, body?.[f.field]);
    if (target === undefined) continue;
    rules.push({ id: f.field, deactivated: false, media: [], extraConditions: [], conditions: f.condition ? [f.condition] : [], target });
  }
  const timerText = String(body?.no_reply_timer ?? '30').trim();
  const timer = /^\d{1,3}$/.test(timerText) ? Number(timerText) : Number.NaN;
  if (!(timer >= 5 && timer <= 180)) throw badField('no_reply_timer', 'must be a whole number of seconds from 5 to 180');
  return { active: true, noReplyTimer: timer, rules };
}

function barringFrom(body: Body, prefix: 'icb' | 'ocb', current: BarringService | undefined): BarringService {
  const kept = (current?.rules ?? []).filter((r) => !isSimple(r));
  const base = { deactivated: false, media: [], extraConditions: [] };
  const rules: BarringRule[] = [...kept];
  if (body?.[`${prefix}_all`] === 'on') rules.push({ ...base, id: `${prefix}-all`, conditions: [], allow: false });
  else if (body?.[`${prefix}_international`] === 'on') rules.push({ ...base, id: `${prefix}-international`, conditions: ['international'], allow: false });
  else rules.push({ ...base, id: 'rule0', conditions: [], allow: true });
  return { active: true, rules };
}

/** The new settings from the form, keeping what the form does not show. */
export function settingsFromForm(ctx: PortalContext, body: Body, current: SimservsSettings): SimservsSettings {
  const restricted = body?.oir === 'restricted';
  return {
    ...current,
    oir: { active: restricted, defaultBehaviour: restricted ? 'presentation-restricted' : 'presentation-not-restricted' },
    cdiv: diversionFrom(ctx, body, current.cdiv),
    icb: barringFrom(body, 'icb', current.icb),
    ocb: barringFrom(body, 'ocb', current.ocb),
  };
}

function checkbox(name: string, label: string, checked: boolean): Html {
  return html`<label><input type="checkbox" name="${name}" id="${name}" ${checked ? html`checked` : ''}> ${label}</label>`;
}

function servicesForm(p: SignedIn, number: string, s: SimservsSettings, etag: string): Html {
  const restricted = s.oir?.active === true && s.oir.defaultBehaviour === 'presentation-restricted';
  const icb = barringOf(s.icb);
  const ocb = barringOf(s.ocb);
  const forwards = FORWARDS.map(
    (f) => html`<label for="${f.field}">${f.label}</label><input type="text" id="${f.field}" name="${f.field}" value="${forwardOf(s.cdiv, f.condition)}" placeholder="number or sip: address">`,
  );
  return html`<form method="post" action="/numbers/${number}/services">${csrfField(p.csrf)}<input type="hidden" name="etag" value="${etag}">
<fieldset><legend>Call forwarding</legend><p>Leave a field empty for no forwarding in that case.</p>${forwards}
<label for="no_reply_timer">Ring for (seconds) before "not answered"</label><input type="number" id="no_reply_timer" name="no_reply_timer" min="5" max="180" value="${s.cdiv?.noReplyTimer ?? 30}"></fieldset>
<fieldset><legend>Incoming call barring</legend>${checkbox('icb_all', 'Bar all incoming calls', icb.all)}${checkbox('icb_international', 'Bar incoming international calls', icb.international)}</fieldset>
<fieldset><legend>Outgoing call barring</legend>${checkbox('ocb_all', 'Bar all outgoing calls', ocb.all)}${checkbox('ocb_international', 'Bar outgoing international calls', ocb.international)}</fieldset>
<fieldset><legend>Caller ID</legend>
<label><input type="radio" name="oir" value="shown" id="oir-shown" ${restricted ? '' : html`checked`}> Show my number to the people I call</label>
<label><input type="radio" name="oir" value="restricted" id="oir-restricted" ${restricted ? html`checked` : ''}> Hide my number by default</label></fieldset>
<p><button type="submit" id="save-services">Save</button> <a href="/numbers">Back to your numbers</a></p></form>`;
}

function operatorTable(rows: { account: string; number: string; sip_uri: string; registered: boolean; contacts: { contact: string; user_agent?: string; expires: number }[] }[]): Html {
  if (rows.length === 0) return html`<p>No subscribers found.</p>`;
  return html`<table id="subscribers"><thead><tr><th>Number</th><th>Account</th><th>Registration</th></tr></thead><tbody>${rows.map(
    (r) => html`<tr><td><code>${r.sip_uri}</code></td><td>${r.account}</td><td>${r.registered ? html`<span class="registered">registered</span>` : 'not registered'}<ul>${r.contacts.map(
      (c) => html`<li><code>${c.contact}</code> ${c.user_agent ?? ''} (expires in ${c.expires} s)</li>`,
    )}</ul></td></tr>`,
  )}</tbody></table>`;
}

/** Registers the services page and the operator view. */
export function registerServicePages(app: FastifyInstance, ctx: PortalContext): void {
  const path = '/numbers/:number/services';
  app.get<{ Params: { number: string } }>(
    path,
    page(ctx, async (request, reply) => {
      const p = await signedIn(ctx, request, reply);
      if (!p) return reply;
      const n = await ctx.numbers.owned(p.account.email, `sip:${request.params.number}@${ctx.domain}`);
      const { settings, etag } = await ctx.services.settings(n.impu);
      return sendPage(reply, { title: `Services of ${n.number}`, user: userOf(p) }, servicesForm(p, n.number, settings, etag));
    }),
  );
  app.post<{ Params: { number: string } }>(
    path,
    page(ctx, async (request, reply) => {
      const p = await signedIn(ctx, request, reply);
      if (!p) return reply;
      checkCsrf(p, request.body as Body);
      const n = await ctx.numbers.owned(p.account.email, `sip:${request.params.number}@${ctx.domain}`);
      const body = request.body as Body;
      const current = await ctx.services.settings(n.impu);
      const title = `Services of ${n.number}`;
      try {
        const settings = settingsFromForm(ctx, body, current.settings);
        const read = typeof body?.etag === 'string' ? body.etag : current.etag;
        await ctx.services.putSettings(n.impu, settings, read);
        const saved = await ctx.services.settings(n.impu);
        return sendPage(reply, { title, user: userOf(p), flash: { kind: 'info', text: 'Saved.' } }, servicesForm(p, n.number, saved.settings, saved.etag));
      } catch (error) {
        if (!(error instanceof PortalError)) throw error;
        const flash = { kind: 'error' as const, text: error.message };
        return sendPage(reply, { title, user: userOf(p), status: error.status, flash }, servicesForm(p, n.number, current.settings, current.etag));
      }
    }),
  );

  app.get<{ Querystring: { q?: string } }>(
    '/operator',
    page(ctx, async (request, reply) => {
      const p = await signedIn(ctx, request, reply);
      if (!p) return reply;
      if (!p.account.isAdmin) throw new PortalError('TW_ERR_PORTAL_FORBIDDEN', 'the operator view is for administrators');
      const q = typeof request.query.q === 'string' ? request.query.q.trim().slice(0, 64) : '';
      const found = await ctx.accounts.listNumbers({ limit: 200 }, q === '' ? undefined : q);
      const rows = [];
      for (const n of found.items) rows.push({ account: n.accountEmail, ...(await ctx.numbers.view(n)) });
      return sendPage(
        reply,
        { title: 'Operator view', user: userOf(p) },
        html`<form method="get" action="/operator"><label for="q">Search by number</label><input type="search" id="q" name="q" value="${q}"> <button type="submit" id="search">Search</button></form>
${operatorTable(rows)}${found.next ? html`<p>Showing the first 200; narrow the search.</p>` : ''}`,
      );
    }),
  );
}
