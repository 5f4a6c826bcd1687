/**
 * The MMTel AS for a caller (sescase=orig): outgoing barring (TS 24.611) and identity
 * restriction (TS 24.607); and a forwarding chain through an S-CSCF hosted in the same process,
 * stopped after the fifth diversion (TS 24.604 §4.5.2.6.1).
 */
import { describe, expect, it } from 'vitest';
import { makeResponse, parseUri, SipResponse, type ProxyService } from '../../src/sip/index.js';
import { answer, request, send } from '../sip/proxy/harness.js';
import { ALICE, AS_HOST, BOB, barringService, diversion, forwarded, got, isc, mmtelRig, oir, responses } from './mmtel-rig.js';

describe('MMTel AS, originating: outgoing barring', () => {
  it('bars every outgoing call and message with an allow=false rule without conditions (603)', async () => {
    const t = mmtelRig();
    await t.simservs(ALICE, barringService('outgoing', [{ allow: false }]));
    send(t.scscf, isc(t.scscf, { sescase: 'orig' }));
    send(t.scscf, isc(t.scscf, { sescase: 'orig', method: 'MESSAGE' }));
    await t.settle();
    expect(forwarded(t.scscf)).toHaveLength(0);
    expect(forwarded(t.scscf, 'MESSAGE')).toHaveLength(0);
    expect(responses(t.scscf, 603).map((r) => r.reason)).toEqual(['Decline - outgoing communication barred', 'Decline - outgoing communication barred']);
  });

  it('bars international numbers (00, 011, another country code) while national ones pass', async () => {
    const t = mmtelRig();
    await t.simservs(ALICE, barringService('outgoing', [{ conditions: ['international'], allow: false }]));
    const international = ['sip:00442079460000@example.com;user=phone', 'sip:011442079460000@example.com', 'tel:+44-20-7946-0000', 'sip:+33123456789@example.com'];
    const national = [BOB, 'tel:+16505550002', 'sip:6505550099@example.com;user=phone', 'sip:bob@elsewhere.example.net'];
    for (const uri of [...international, ...national]) send(t.scscf, isc(t.scscf, { sescase: 'orig', uri }));
    await t.settle();
    expect(forwarded(t.scscf).map((r) => r.uriString).sort()).toEqual([...national].sort());
    expect(responses(t.scscf, 603)).toHaveLength(international.length);
  });

  it('applies the diverting user’s outgoing barring to the diverted call (orig-cdiv) but not its identity restriction', async () => {
    const t = mmtelRig();
    await t.simservs(ALICE, barringService('outgoing', [{ conditions: ['international'], allow: false }]) + oir(true));
    send(t.scscf, isc(t.scscf, { sescase: 'orig', psuParams: ';orig-cdiv', uri: 'tel:+442079460000' }));
    send(t.scscf, isc(t.scscf, { sescase: 'orig', psuParams: ';orig-cdiv' }));
    await t.settle();
    expect(responses(t.scscf, 603)).toHaveLength(1);
    const fwd = forwarded(t.scscf);
    expect(fwd).toHaveLength(1);
    expect(fwd[0]!.get('from')).toMatch(/^<sip:alice@example.com>;tag=/);
  });
});

describe('MMTel AS, originating: identity restriction', () => {
  it('withholds the caller’s identity when OIR is active: anonymous From with the same tag, Privacy id', async () => {
    const t = mmtelRig();
    await t.simservs(ALICE, oir(true));
    const req = isc(t.scscf, { sescase: 'orig' });
    const tag = req.from.tag;
    send(t.scscf, req);
    await t.settle();
    const fwd = forwarded(t.scscf)[0]!;
    expect(fwd.get('from')).toBe(`"Anonymous" <sip:anonymous@anonymous.invalid>;tag=${tag}`);
    expect(fwd.get('privacy')).toBe('id');
    // kept inside the trust domain; the callee's AS removes it (see the terminating tests)
    expect(fwd.get('p-asserted-identity')).toBe(`<${ALICE}>`);
    answer(t.scscf, 'INVITE', 180);
    await t.settle();
    const ringing = responses(t.scscf, 180)[0]!;
    expect(ringing.from.uri.toString()).toBe('sip:alice@example.com');
    expect(ringing.from.tag).toBe(tag);
  });

  it('presents the identity when OIR is off or the caller asks for it with Privacy: none', async () => {
    const t = mmtelRig();
    await t.simservs(ALICE, oir(false));
    send(t.scscf, isc(t.scscf, { sescase: 'orig' }));
    await t.settle();
    await t.simservs(ALICE, oir(true));
    send(t.scscf, isc(t.scscf, { sescase: 'orig', headers: [['Privacy', 'none']] }));
    await t.settle();
    expect(forwarded(t.scscf).map((r) => r.from.uri.toString())).toEqual(['sip:alice@example.com', 'sip:alice@example.com']);
  });

  it('withholds the identity for a caller that sent Privacy: id even with OIR off', async () => {
    const t = mmtelRig();
    await t.simservs(ALICE, oir(false));
    send(t.scscf, isc(t.scscf, { sescase: 'orig', headers: [['Privacy', 'id;user']] }));
    await t.settle();
    const fwd = forwarded(t.scscf)[0]!;
    expect(fwd.from.uri.toString()).toBe('sip:anonymous@anonymous.invalid');
    expect(fwd.get('privacy')).toBe('user;id');
  });
});

/** Users 6505550020.. whose contacts are 10.0.0.50:5060. */
const user = (n: number): string => `sip:65055500${20 + n}@example.com`;

/**
 * A minimal S-CSCF in the same process: a request for a target the AS has not seen yet goes to
 * the AS as terminating (token route naming the target); one the AS sent back for the same
 * target goes to the callee's contact.
 */
function miniScscf(): ProxyService {
  return {
    hosts: ['scscf.example.com'],
    onInitialRequest: (ctx) => {
      const req = ctx.request;
      const target = req.uri.kind === 'sip' ? req.uri.user! : '';
      const token = ctx.consumedRoutes.find((u) => u.kind === 'sip' && u.user?.startsWith('odi-'));
      if (token?.kind === 'sip' && token.user === `odi-${target}`) {
        req.remove('p-served-user');
        return ctx.forward({ uri: parseUri(`sip:${target}@10.0.0.50:5060`) }, { recordRoute: false });
      }
      req.set('p-served-user', `<sip:${target}@example.com>;sescase=term;regstate=reg`);
      ctx.forward({ routes: [`<sip:${AS_HOST};lr>`, `<sip:odi-${target}@scscf.example.com;lr>`] }, { recordRoute: false });
    },
  };
}

describe('MMTel AS, a forwarding chain through an S-CSCF in the same process', () => {
  it('follows five diversions to the sixth user, with History-Info at each step', async () => {
    const t = mmtelRig({ extraServices: [miniScscf()] });
    for (let i = 0; i < 5; i++) await t.simservs(user(i), diversion([{ target: user(i + 1) }]));
    const caller = t.r.ua('10.0.0.2');
    const callee = t.r.ua('10.0.0.50');
    send(caller, request(caller, 'INVITE', user(0), [['Route', '<sip:scscf.example.com;lr>']]));
    for (let i = 0; i < 4; i++) await t.settle();
    const got6 = forwarded(callee);
    expect(got6).toHaveLength(1);
    expect(got6[0]!.uriString).toBe('sip:6505550025@10.0.0.50:5060');
    const hi = got6[0]!.getAll('history-info');
    expect(hi).toHaveLength(6);
    expect(hi.filter((h) => /;cause=302[>?]/.test(h))).toHaveLength(5);
    expect(hi[5]).toBe(`<${user(5)};cause=302>;index=1.1.1.1.1.1;mp=1.1.1.1.1`);
    expect(got(caller).filter((s) => s === 181)).toHaveLength(5);
    send(callee, makeResponse(got6[0]!, 200, undefined, 'callee'));
    for (let i = 0; i < 4; i++) await t.settle();
    expect(got(caller).at(-1)).toBe(200);
  });

  it('stops a chain of six forwarding users at the fifth diversion with 480, not a hang', async () => {
    const t = mmtelRig({ extraServices: [miniScscf()] });
    for (let i = 0; i < 6; i++) await t.simservs(user(i), diversion([{ target: user(i + 1) }]));
    const caller = t.r.ua('10.0.0.2');
    const callee = t.r.ua('10.0.0.50');
    send(caller, request(caller, 'INVITE', user(0), [['Route', '<sip:scscf.example.com;lr>']]));
    for (let i = 0; i < 4; i++) await t.settle();
    expect(forwarded(callee)).toHaveLength(0);
    const finals = caller.received((m) => m instanceof SipResponse && m.status >= 200).map((x) => x.message as SipResponse);
    expect(finals.map((r) => `${r.status} ${r.reason}`)).toEqual(['480 Temporarily Unavailable - too many diversions']);
    expect(got(caller).filter((s) => s === 181)).toHaveLength(5);
  });
});
