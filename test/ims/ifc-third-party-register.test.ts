/**
 * Third-party registration (3GPP TS 24.229 §5.4.1.7): which application servers hear of a
 * registration, what the REGISTER they get says, and DefaultHandling when one fails.
 */
import { describe, expect, it } from 'vitest';
import { ThirdPartyRegistrar } from '../../src/ims/core/third-party-register.js';
import type { RegistrationListener } from '../../src/ims/core/registrar.js';
import { FilterCriteriaCache } from '../../src/ims/ifc/index.js';
import { makeResponse, parseMessage, SipRequest, type SipResponse } from '../../src/sip/index.js';
import type { Binding, ImplicitSet } from '../../src/storage/index.js';
import { MemoryRegistrationStore } from '../../src/storage/memory/index.js';
import { FakeClock } from '../harness/fake-clock.js';
import { RecordingContext, request } from './ims-fakes.js';

const NOW = 1_800_000_000_000;
const ALICE = 'sip:6505550001@example.com';
const ALICE_TEL = 'tel:+16505550001';
const SCSCF = 'sip:scscf.example.com';

type Event = Parameters<RegistrationListener>[0];

function registerIfc(as: string, opts: { types?: number[]; dh?: 0 | 1; asExtra?: string; priority?: number } = {}): string {
  const types = opts.types?.length ? `<Extension>${opts.types.map((t) => `<RegistrationType>${t}</RegistrationType>`).join('')}</Extension>` : '';
  return (
    `<InitialFilterCriteria><Priority>${opts.priority ?? 0}</Priority><TriggerPoint><ConditionTypeCNF>0</ConditionTypeCNF>` +
    `<SPT><Group>0</Group><Method>REGISTER</Method>${types}</SPT></TriggerPoint>` +
    `<ApplicationServer><ServerName>${as}</ServerName><DefaultHandling>${opts.dh ?? 0}</DefaultHandling>${opts.asExtra ?? ''}</ApplicationServer></InitialFilterCriteria>`
  );
}

const inviteIfc =
  '<InitialFilterCriteria><Priority>9</Priority><TriggerPoint><ConditionTypeCNF>0</ConditionTypeCNF><SPT><Group>0</Group><Method>INVITE</Method></SPT></TriggerPoint>' +
  '<ApplicationServer><ServerName>sip:mmtel.example.com</ServerName></ApplicationServer></InitialFilterCriteria>';

function set(ifcs: string): ImplicitSet {
  return {
    id: 'alice',
    serviceProfile: `<ServiceProfile><PublicIdentity><Identity>${ALICE}</Identity></PublicIdentity>${ifcs}</ServiceProfile>`,
    members: [ALICE, ALICE_TEL].map((impu) => ({ impu, implicitSetId: 'alice', barred: false })),
  };
}

function binding(expiresInS: number): Binding {
  return { contact: 'sip:alice@192.0.2.1:5060', path: [], expiresAt: NOW + expiresInS * 1000, callId: 'reg-1', cseq: 1, registeredAt: NOW };
}

function ueRegister(): SipRequest {
  return request([
    'REGISTER sip:example.com SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKr1',
    `From: <${ALICE}>;tag=f1`,
    `To: <${ALICE}>`,
    'Call-ID: reg-1',
    'CSeq: 2 REGISTER',
    'Max-Forwards: 70',
    'Contact: <sip:alice@192.0.2.1:5060>',
    'Expires: 600',
  ]);
}

function rig(ifcs: string) {
  const clock = new FakeClock();
  const registrations = new MemoryRegistrationStore();
  const sent: Array<{ request: SipRequest; answer(status: number): void }> = [];
  const changes: Event[] = [];
  const sars: string[] = [];
  const errors: unknown[] = [];
  const implicitSet = set(ifcs);
  const tpr = new ThirdPartyRegistrar({
    hss: {
      implicitSetOf: async () => implicitSet,
      serverAssignment: async (impu, type) => {
        sars.push(`${type} ${impu}`);
        return { implicitSet };
      },
    },
    registrations,
    criteria: new FilterCriteriaCache(),
    scscf: SCSCF,
    send: (req, onResponse) => sent.push({ request: req, answer: (status) => onResponse(makeResponse(req, status)) }),
    asTimeoutMs: 2000,
    clock,
    now: () => NOW,
    onChange: (e) => changes.push(e),
    onError: (e) => errors.push(e),
  });
  return { tpr, clock, registrations, sent, changes, sars, errors, implicitSet };
}

/** A UE registration as the registrar reports it, after the registrar answered through the watched context. */
async function ueRegistered(t: ReturnType<typeof rig>, cause: Event['cause'], bindings: Binding[]): Promise<SipRequest> {
  const req = ueRegister();
  const ctx = t.tpr.watch(new RecordingContext(req));
  ctx.respond(200, 'OK', [['Contact', '<sip:alice@192.0.2.1:5060>;expires=600'], ['P-Associated-URI', `<${ALICE}>`]]);
  await t.tpr.notify({ aor: ALICE, implicitSet: t.implicitSet, bindings, cause, register: { request: req, impu: ALICE } });
  return req;
}

describe('third-party registration', () => {
  it('sends each matching AS a REGISTER from the S-CSCF for the identity, with the time the set stays registered', async () => {
    const t = rig(registerIfc('sip:as1.example.com') + registerIfc('sip:as2.example.com;transport=tcp', { priority: 1 }) + inviteIfc);
    await ueRegistered(t, 'registered', [binding(600), binding(300)]);
    expect(t.sent.map((s) => s.request.uriString)).toEqual(['sip:as1.example.com', 'sip:as2.example.com;transport=tcp']);
    const reg = t.sent[0]!.request;
    expect(reg.method).toBe('REGISTER');
    expect(reg.from.uri.toString()).toBe(SCSCF);
    expect(reg.from.tag).toBeTruthy();
    expect(reg.to.uri.toString()).toBe(ALICE);
    expect(reg.get('contact')).toBe(`<${SCSCF}>`);
    expect(reg.get('expires')).toBe('600');
    expect(reg.body.length).toBe(0);
  });

  it('keeps one Call-ID per AS with a rising CSeq across refreshes, and sends Expires 0 on de-registration', async () => {
    const t = rig(registerIfc('sip:as.example.com'));
    await ueRegistered(t, 'registered', [binding(600)]);
    await ueRegistered(t, 'refreshed', [binding(500)]);
    await ueRegistered(t, 'deregistered', []);
    expect(t.sent.map((s) => [s.request.callId === t.sent[0]!.request.callId, s.request.cseq.seq, s.request.get('expires')])).toEqual([
      [true, 1, '600'],
      [true, 2, '500'],
      [true, 3, '0'],
    ]);
  });

  it('follows RegistrationType: an AS for initial registrations only hears of those', async () => {
    const t = rig(registerIfc('sip:initial.example.com', { types: [0] }) + registerIfc('sip:dereg.example.com', { types: [2], priority: 1 }));
    await ueRegistered(t, 'registered', [binding(600)]);
    await ueRegistered(t, 'refreshed', [binding(600)]);
    await t.tpr.notify({ aor: ALICE, implicitSet: undefined, bindings: [], cause: 'expired' });
    expect(t.sent.map((s) => `${s.request.uriString} ${s.request.get('expires')}`)).toEqual(['sip:initial.example.com 600', 'sip:dereg.example.com 0']);
  });

  it('tells nobody when one binding of several expired: the set stays registered', async () => {
    const t = rig(registerIfc('sip:as.example.com'));
    await t.tpr.notify({ aor: ALICE, implicitSet: undefined, bindings: [binding(100)], cause: 'expired' });
    expect(t.sent).toEqual([]);
  });

  it('carries ServiceInfo, the UE’s REGISTER and the 200 it got in a multipart body when asked', async () => {
    const t = rig(registerIfc('sip:as.example.com', { asExtra: '<ServiceInfo>tier=&lt;gold&gt;</ServiceInfo><IncludeRegisterRequest/><IncludeRegisterResponse/>' }));
    const ue = await ueRegistered(t, 'registered', [binding(600)]);
    const reg = t.sent[0]!.request;
    const type = reg.get('content-type')!;
    expect(type).toMatch(/^multipart\/mixed;boundary=/);
    const boundary = type.split('boundary=')[1]!;
    const parts = reg.body.toString().split(`--${boundary}`).slice(1, -1);
    expect(parts.map((p) => /Content-Type: (\S+)/.exec(p)![1])).toEqual(['application/3gpp-ims+xml', 'message/sip', 'message/sip']);
    expect(parts[0]).toContain('<service-info>tier=&lt;gold&gt;</service-info>');
    const embedded = (i: number) => parseMessage(Buffer.from(parts[i]!.split('\r\n\r\n').slice(1).join('\r\n\r\n').replace(/\r\n$/, '')));
    expect((embedded(1) as SipRequest).callId).toBe(ue.callId);
    const ok = embedded(2) as SipResponse;
    expect([ok.status, ok.get('p-associated-uri')]).toEqual([200, `<${ALICE}>`]);
  });

  it('SESSION_TERMINATED: an AS that fails or does not answer de-registers the set, and says so', async () => {
    for (const failure of ['500', 'timeout'] as const) {
      const t = rig(registerIfc('sip:as.example.com', { dh: 1 }));
      await t.registrations.put(ALICE, { bindings: [binding(600)] }, 0);
      await ueRegistered(t, 'registered', [binding(600)]);
      if (failure === '500') t.sent[0]!.answer(500);
      else t.clock.advance(2000);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      expect((await t.registrations.get(ALICE))?.bindings ?? [], failure).toEqual([]);
      expect(t.sars).toEqual([`USER_DEREGISTRATION ${ALICE}`]);
      expect(t.changes.map((c) => [c.aor, c.cause, c.bindings.length])).toEqual([[ALICE, 'deregistered', 0]]);
      t.sent[0]!.answer(200); // too late: nothing more happens
      expect(t.changes).toHaveLength(1);
    }
  });

  it('SESSION_CONTINUED: a failing AS changes nothing', async () => {
    const t = rig(registerIfc('sip:as.example.com', { dh: 0 }));
    await t.registrations.put(ALICE, { bindings: [binding(600)] }, 0);
    await ueRegistered(t, 'registered', [binding(600)]);
    t.sent[0]!.answer(503);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect((await t.registrations.get(ALICE))?.bindings).toHaveLength(1);
    expect(t.changes).toEqual([]);
  });

  it('passes the REGISTER answer through the watched context unchanged for the UE', async () => {
    const t = rig('');
    const ctx = new RecordingContext(ueRegister());
    t.tpr.watch(ctx).respond(200, 'OK', [['Service-Route', '<sip:orig@scscf.example.com;lr>']]);
    expect(ctx.response.status).toBe(200);
    expect(ctx.response.get('service-route')).toBe('<sip:orig@scscf.example.com;lr>');
    const refused = new RecordingContext(ueRegister());
    t.tpr.watch(refused).respond(403, 'Forbidden');
    expect(refused.response.status).toBe(403);
  });
});
