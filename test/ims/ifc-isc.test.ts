/**
 * The S-CSCF's ISC interface (3GPP TS 24.229 §5.4.3.2, §5.4.3.3) on the proxy core over a fake
 * UDP network, with fake clock: application servers that proxy, answer, redirect, act as B2BUA,
 * fail or stay silent, and the DefaultHandling of their iFC.
 */
import { describe, expect, it } from 'vitest';
import { Isc, continuationRoutes } from '../../src/ims/core/isc.js';
import { Registrar } from '../../src/ims/core/registrar.js';
import { ScscfService } from '../../src/ims/core/scscf.js';
import { LocalHss } from '../../src/ims/hss-local.js';
import { HomeDomain } from '../../src/ims/identity.js';
import {
  DigestVerifier,
  makeResponse,
  NonceManager,
  parseMessage,
  parseUri,
  SipRequest,
  SipResponse,
  Via,
  type Flow,
  type ProxyService,
} from '../../src/sip/index.js';
import { MemoryNonceCountStore, MemoryRegistrationStore, MemorySubscriberStore } from '../../src/storage/memory/index.js';
import type { FakeEndpoint } from '../harness/fake-transport.js';
import { PROXY, proxyRig, request, requests, send, statuses } from '../sip/proxy/harness.js';

const DOMAIN = 'example.com';
const SCSCF = 'scscf.example.com';
const ALICE = 'sip:6505550001@example.com';
const BOB = 'sip:6505550002@example.com';
const CAROL = 'sip:6505550003@example.com';
const AS = { address: '10.0.0.30', port: 5060 };
const AS_URI = `sip:${AS.address}:${AS.port}`;
const AS_TIMEOUT = 2000;
/** A host on the network that is no peer of the core (not the edge, I-CSCF or an AS). */
const STRANGER = '10.0.0.66';

interface IfcSpec {
  readonly as?: string;
  /** SessionCase SPT value; absent: any session case. */
  readonly sessionCase?: number;
  readonly dh?: 0 | 1;
  readonly priority?: number;
}

function profile(impu: string, ifcs: IfcSpec[]): string {
  const list = ifcs.map((i, n) => {
    const trigger =
      i.sessionCase === undefined
        ? '<TriggerPoint><ConditionTypeCNF>1</ConditionTypeCNF><SPT><Group>0</Group><Method>INVITE</Method></SPT></TriggerPoint>'
        : `<TriggerPoint><ConditionTypeCNF>1</ConditionTypeCNF><SPT><Group>0</Group><Method>INVITE</Method></SPT><SPT><Group>1</Group><SessionCase>${i.sessionCase}</SessionCase></SPT></TriggerPoint>`;
    return `<InitialFilterCriteria><Priority>${i.priority ?? n}</Priority>${trigger}<ApplicationServer><ServerName>${i.as ?? AS_URI}</ServerName><DefaultHandling>${i.dh ?? 0}</DefaultHandling></ApplicationServer></InitialFilterCriteria>`;
  });
  return `<ServiceProfile><PublicIdentity><Identity>${impu}</Identity></PublicIdentity>${list.join('')}</ServiceProfile>`;
}

interface RigOptions {
  readonly alice?: IfcSpec[];
  readonly bob?: IfcSpec[];
  readonly carol?: IfcSpec[];
  /** Carol is provisioned but not registered. */
  readonly carolUnregistered?: boolean;
  readonly extraServices?: ProxyService[];
  /** Isc's returnHost: the S-CSCF's own address, as a cluster core has it. */
  readonly returnHost?: string;
}

async function rig(o: RigOptions = {}) {
  const subscribers = new MemorySubscriberStore();
  const registrations = new MemoryRegistrationStore();
  const users: Array<[string, IfcSpec[] | undefined, string]> = [
    [ALICE, o.alice, '10.0.0.10'],
    [BOB, o.bob, '10.0.0.20'],
    [CAROL, o.carol, '10.0.0.40'],
  ];
  for (const [impu, ifcs, address] of users) {
    const impi = `${impu.slice(4)}`;
    await subscribers.addSubscriber({
      privateIdentity: { impi, digest: [] },
      implicitSet: { id: impi, serviceProfile: profile(impu, ifcs ?? []) },
      publicIdentities: [{ impu }],
    });
    if (impu === CAROL && o.carolUnregistered) continue;
    const state = await subscribers.getRegistrationState(impu);
    await subscribers.setRegistrationState(impu, { state: 'REGISTERED', scscf: `sip:${SCSCF}` }, state!.version);
    const binding = { contact: `sip:${impu.slice(4, 14)}@${address}:5060`, path: [], expiresAt: Date.now() + 600_000, callId: `reg-${impi}`, cseq: 1, registeredAt: Date.now() };
    await registrations.put(impu, { bindings: [binding] }, 0);
  }
  const hss = new LocalHss(subscribers);
  const home = new HomeDomain(DOMAIN);
  const clockRef: { now?: () => number } = {};
  const registrar = new Registrar({
    home,
    realm: DOMAIN,
    hss,
    registrations,
    verifier: new DigestVerifier({
      nonces: new NonceManager({ key: Buffer.alloc(32, 7), clock: { now: Date.now }, lifetimeSeconds: 300 }),
      nonceCounts: new MemoryNonceCountStore({ clock: { now: Date.now } }),
    }),
    algorithms: ['MD5'],
    limits: { minExpires: 60, maxExpires: 3600, defaultExpires: 600 },
    scscf: `sip:${SCSCF}`,
    serviceRoute: `<sip:orig@${SCSCF};lr>`,
  });
  const inProcess = new Set<string>((o.extraServices ?? []).flatMap((s) => s.hosts));
  const isc = new Isc({ host: SCSCF, ...(o.returnHost ? { returnHost: o.returnHost } : {}), asTimeoutMs: AS_TIMEOUT, inProcess: (u) => inProcess.has(u.host), now: () => clockRef.now?.() ?? 0 });
  // The test's UAs play the edge and the I-CSCF, peers of the S-CSCF; application servers are not.
  const trusted = (flow: Flow): boolean => flow.remote.address !== AS.address && flow.remote.address !== STRANGER;
  const scscf = new ScscfService({ host: SCSCF, home, hss, registrations, registrar, icscf: 'sip:icscf.example.com', name: `sip:${SCSCF}`, isc, trusted });
  // A cluster core's S-CSCF also takes what is addressed to the node itself (ISC returns).
  const r = proxyRig({ services: [scscf, ...(o.extraServices ?? [])], ...(o.returnHost ? { defaultService: scscf } : {}) });
  clockRef.now = () => r.clock.now();
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 12; i++) await r.net.flush();
  };
  const [alice, bob, carol] = [r.ua('10.0.0.10'), r.ua('10.0.0.20'), r.ua('10.0.0.40')];
  return { r, isc, registrations, subscribers, settle, alice, bob, carol };
}

/** Alice's INVITE as the edge hands it over: Service-Route, asserted identity. */
function originating(alice: FakeEndpoint, to = BOB): SipRequest {
  return request(alice, 'INVITE', to, [
    ['Route', `<sip:orig@${SCSCF};lr>`],
    ['P-Asserted-Identity', `<${ALICE}>`],
  ]);
}

/** A terminating INVITE as the I-CSCF hands it over. */
function terminating(from: FakeEndpoint, to = BOB): SipRequest {
  return request(from, 'INVITE', to, [['Route', `<sip:${SCSCF};lr>`]]);
}

let asBranch = 0;

/**
 * An AS that proxies (RFC 3261 §16): removes its own Route value, adds its Via (and `header`),
 * optionally retargets, sends the request back; relays responses the other way.
 */
function proxyingAs(as: FakeEndpoint, opts: { header?: [string, string]; retarget?: string } = {}): void {
  as.onMessage = ({ data }) => {
    const m = parseMessage(data);
    if (m instanceof SipResponse) {
      const res = m.clone();
      res.popVia();
      return send(as, res);
    }
    if (m.method === 'ACK') return;
    const fwd = m.clone();
    fwd.popFirstValue('route');
    const via = new Via('UDP', AS.address, AS.port);
    via.params.set('branch', `z9hG4bKas${++asBranch}`);
    fwd.pushVia(via);
    if (opts.header) fwd.append(...opts.header);
    if (opts.retarget) fwd.uri = parseUri(opts.retarget);
    send(as, fwd);
  };
}

/** An AS that answers every INVITE itself with `status` (and `headers`). */
function answeringAs(as: FakeEndpoint, status: number, headers: Array<[string, string]> = []): void {
  as.onMessage = ({ data }) => {
    const m = parseMessage(data);
    if (!(m instanceof SipRequest) || m.method !== 'INVITE') return;
    const res = makeResponse(m, status, undefined, 'as-tag');
    for (const [n, v] of headers) res.append(n, v);
    send(as, res);
  };
}

/** Answers the last INVITE `ua` received with `status`, back to the proxy. */
function answerInvite(ua: FakeEndpoint, status: number): void {
  const got = requests(ua, 'INVITE');
  send(ua, makeResponse(got[got.length - 1]!, status, undefined, `t-${ua.local.address}`));
}

describe('ISC: a terminating application server', () => {
  it('that proxies: the callee gets the call with what the AS added, the AS saw P-Served-User, the caller gets 200', async () => {
    const t = await rig({ bob: [{ sessionCase: 1 }] });
    const as = t.r.ua(AS.address, AS.port);
    proxyingAs(as, { header: ['X-Service', 'screened'] });
    send(t.alice, originating(t.alice));
    await t.settle();
    const atAs = requests(as, 'INVITE')[0]!;
    expect(atAs.get('p-served-user')).toBe(`<${BOB}>;sescase=term;regstate=reg`);
    const routes = atAs.getAll('route');
    expect(routes[0]).toBe(`<${AS_URI};lr>`);
    expect(routes[1]).toMatch(new RegExp(`^<sip:odi-[A-Za-z0-9_-]+@${SCSCF};lr>$`));
    const atBob = requests(t.bob, 'INVITE');
    expect(atBob).toHaveLength(1);
    expect(atBob[0]!.get('x-service')).toBe('screened');
    expect(atBob[0]!.has('p-served-user')).toBe(false);
    expect(atBob[0]!.uriString).toBe('sip:6505550002@10.0.0.20:5060');
    expect(t.isc.tokenCount).toBe(1);
    answerInvite(t.bob, 200);
    await t.settle();
    expect(statuses(t.alice)).toEqual([100, 200]);
    // The AS has answered: the service state of its invocation is gone, not kept for the TTL.
    expect(t.isc.tokenCount).toBe(0);
  });

  it('runs the caller’s originating criteria, then the callee’s terminating ones, each with its served user', async () => {
    const t = await rig({ alice: [{ sessionCase: 0 }], bob: [{ sessionCase: 1 }] });
    const as = t.r.ua(AS.address, AS.port);
    proxyingAs(as);
    send(t.alice, originating(t.alice));
    await t.settle();
    expect(requests(as, 'INVITE').map((r) => r.get('p-served-user'))).toEqual([`<${ALICE}>;sescase=orig;regstate=reg`, `<${BOB}>;sescase=term;regstate=reg`]);
    expect(requests(t.bob, 'INVITE')).toHaveLength(1);
  });

  it('on a request from the I-CSCF, runs the callee’s terminating criteria', async () => {
    const t = await rig({ bob: [{ sessionCase: 1 }] });
    const as = t.r.ua(AS.address, AS.port);
    proxyingAs(as);
    send(t.carol, terminating(t.carol));
    await t.settle();
    expect(requests(as, 'INVITE').map((r) => r.get('p-served-user'))).toEqual([`<${BOB}>;sescase=term;regstate=reg`]);
    expect(requests(t.bob, 'INVITE')).toHaveLength(1);
  });

  it('is left out when no criterion matches: the call goes straight to the callee', async () => {
    const t = await rig({ bob: [{ sessionCase: 0 }] });
    const as = t.r.ua(AS.address, AS.port);
    send(t.alice, originating(t.alice));
    await t.settle();
    expect(requests(as, 'INVITE')).toHaveLength(0);
    expect(requests(t.bob, 'INVITE')).toHaveLength(1);
    expect(t.isc.tokenCount).toBe(0);
  });

  it('that answers as a UA: its 404 reaches the caller whatever the DefaultHandling (an answer, not a failure)', async () => {
    for (const dh of [0, 1] as const) {
      const t = await rig({ bob: [{ sessionCase: 1, dh }] });
      answeringAs(t.r.ua(AS.address, AS.port), 404);
      send(t.alice, originating(t.alice));
      await t.settle();
      expect(statuses(t.alice), `DefaultHandling ${dh}`).toEqual([100, 404]);
      expect(requests(t.bob, 'INVITE')).toHaveLength(0);
    }
  });

  it('that redirects: the 302 and its Contact reach the caller', async () => {
    const t = await rig({ bob: [{ sessionCase: 1 }] });
    answeringAs(t.r.ua(AS.address, AS.port), 302, [['Contact', '<sip:voicemail@example.com>']]);
    send(t.alice, originating(t.alice));
    await t.settle();
    const final = t.alice.received((m) => m instanceof SipResponse && m.status === 302);
    expect((final[0]!.message as SipResponse).get('contact')).toBe('<sip:voicemail@example.com>');
    expect(requests(t.bob, 'INVITE')).toHaveLength(0);
  });
});

describe('ISC: DefaultHandling', () => {
  it('SESSION_CONTINUED: an AS answering 503 is skipped and the call reaches the callee', async () => {
    const t = await rig({ bob: [{ sessionCase: 1, dh: 0 }] });
    answeringAs(t.r.ua(AS.address, AS.port), 503);
    send(t.alice, originating(t.alice));
    await t.settle();
    expect(requests(t.bob, 'INVITE')).toHaveLength(1);
    answerInvite(t.bob, 200);
    await t.settle();
    expect(statuses(t.alice)).toEqual([100, 200]);
  });

  it('SESSION_TERMINATED: an AS answering 503 ends the call (500 to the caller, RFC 3261 §16.7)', async () => {
    const t = await rig({ bob: [{ sessionCase: 1, dh: 1 }] });
    answeringAs(t.r.ua(AS.address, AS.port), 503);
    send(t.alice, originating(t.alice));
    await t.settle();
    expect(statuses(t.alice)).toEqual([100, 500]);
    expect(requests(t.bob, 'INVITE')).toHaveLength(0);
  });

  it('an AS that does not answer within asTimeoutMs: continued without it, or 408', async () => {
    for (const [dh, outcome] of [
      [0, 'callee'],
      [1, '408'],
    ] as const) {
      const t = await rig({ bob: [{ sessionCase: 1, dh }] });
      // no endpoint at the AS address: the INVITE is lost
      send(t.alice, originating(t.alice));
      await t.settle();
      t.r.clock.advance(AS_TIMEOUT - 10);
      await t.settle();
      expect(requests(t.bob, 'INVITE')).toHaveLength(0);
      t.r.clock.advance(20);
      await t.settle();
      if (outcome === 'callee') {
        expect(requests(t.bob, 'INVITE')).toHaveLength(1);
      } else {
        expect(statuses(t.alice)).toEqual([100, 408]);
        expect(requests(t.bob, 'INVITE')).toHaveLength(0);
      }
    }
  });

  it('a cluster core (returning to its own address): an AS that answers after the timeout does not start the call twice', async () => {
    const t = await rig({ bob: [{ sessionCase: 1, dh: 0 }], returnHost: `${PROXY.address}:${PROXY.port}` });
    const as = t.r.ua(AS.address, AS.port);
    const held: SipRequest[] = [];
    as.onMessage = ({ data }) => {
      const m = parseMessage(data);
      if (m instanceof SipRequest && m.method === 'INVITE') held.push(m);
    };
    send(t.alice, originating(t.alice));
    await t.settle();
    expect(held).toHaveLength(1);
    expect(held[0]!.getAll('route').join()).toContain(`@${PROXY.address}:${PROXY.port};lr`);
    t.r.clock.advance(AS_TIMEOUT + 10);
    await t.settle();
    // Continued without the AS, inside the S-CSCF: the callee has the call once.
    expect(requests(t.bob, 'INVITE')).toHaveLength(1);
    // The AS wakes up and proxies the INVITE back: the session already went on without it.
    const late = held[0]!.clone();
    late.popFirstValue('route');
    const via = new Via('UDP', AS.address, AS.port);
    via.params.set('branch', 'z9hG4bKlate1');
    late.pushVia(via);
    send(as, late);
    await t.settle();
    expect(statuses(as)).toContain(480);
    expect(requests(t.bob, 'INVITE')).toHaveLength(1);
  });

  it('an AS that rang (alive) and then failed is not skipped: its failure reaches the caller', async () => {
    const t = await rig({ bob: [{ sessionCase: 1, dh: 0 }] });
    const as = t.r.ua(AS.address, AS.port);
    send(t.alice, originating(t.alice));
    await t.settle();
    const inv = requests(as, 'INVITE')[0]!;
    send(as, makeResponse(inv, 180, undefined, 'as'));
    await t.settle();
    t.r.clock.advance(AS_TIMEOUT * 2);
    await t.settle();
    send(as, makeResponse(inv, 503, undefined, 'as'));
    await t.settle();
    expect(statuses(t.alice)).toEqual([100, 180, 500]);
    expect(requests(t.bob, 'INVITE')).toHaveLength(0);
  });

  it('an AS the core cannot route to (a host name it does not serve) is skipped at once', async () => {
    const t = await rig({ bob: [{ sessionCase: 1, dh: 0, as: 'sip:mmtel.example.com' }] });
    send(t.alice, originating(t.alice));
    await t.settle();
    expect(requests(t.bob, 'INVITE')).toHaveLength(1);
  });
});

describe('ISC: what comes back', () => {
  it('a B2BUA’s new leg with the token continues the services and reaches the callee', async () => {
    const t = await rig({ bob: [{ sessionCase: 1 }] });
    const as = t.r.ua(AS.address, AS.port);
    send(t.alice, originating(t.alice));
    await t.settle();
    const leg1 = requests(as, 'INVITE')[0]!;
    const back = leg1.getAll('route')[1]!;
    send(as, makeResponse(leg1, 100));
    const leg2 = request(as, 'INVITE', BOB, [['Route', back]]);
    send(as, leg2);
    await t.settle();
    t.r.clock.advance(AS_TIMEOUT * 2); // alive: the new leg stopped the timer
    await t.settle();
    // (retransmitted over UDP while bob does not answer)
    expect([...new Set(requests(t.bob, 'INVITE').map((r) => r.callId))]).toEqual([leg2.callId]);
    expect(statuses(t.alice)).toEqual([100]);
  });

  it('a B2BUA’s new leg without the token but with P-Served-User continues the pending invocation', async () => {
    const t = await rig({ bob: [{ sessionCase: 1 }] });
    const as = t.r.ua(AS.address, AS.port);
    send(t.alice, originating(t.alice));
    await t.settle();
    send(as, request(as, 'INVITE', BOB, [['Route', `<sip:${SCSCF};lr>`], ['P-Served-User', `<${BOB}>;sescase=term;regstate=reg`]]));
    await t.settle();
    expect(requests(as, 'INVITE')).toHaveLength(1); // not sent to the AS a second time
    expect(requests(t.bob, 'INVITE')).toHaveLength(1);
  });

  it('refuses a request sent straight from the network by a stranger, whatever identity it asserts', async () => {
    const t = await rig({ alice: [{}] });
    const mallory = t.r.ua(STRANGER);
    send(mallory, originating(mallory));
    send(mallory, terminating(mallory));
    await t.settle();
    expect(statuses(mallory)).toEqual([100, 403, 100, 403]);
    expect(requests(t.bob, 'INVITE')).toEqual([]);
    expect(requests(t.r.ua(AS.address, AS.port), 'INVITE')).toEqual([]);
  });

  it('refuses P-Served-User from an AS when no service invocation of that user is pending', async () => {
    const t = await rig({ bob: [{ sessionCase: 1 }] });
    const as = t.r.ua(AS.address, AS.port);
    send(as, request(as, 'INVITE', BOB, [['Route', `<sip:${SCSCF};lr>`], ['P-Served-User', `<${ALICE}>;sescase=orig;regstate=reg`]]));
    await t.settle();
    expect(statuses(as)).toEqual([100, 403]);
    expect(requests(t.bob, 'INVITE')).toEqual([]);
  });

  it('a terminating AS that changes the Request-URI diverts: the diverting user’s orig-cdiv criteria, then the new target', async () => {
    const t = await rig({ bob: [{ sessionCase: 1 }, { sessionCase: 4 }] });
    const as = t.r.ua(AS.address, AS.port);
    let n = 0;
    as.onMessage = ({ data }) => {
      const m = parseMessage(data);
      if (m instanceof SipRequest && m.method === 'INVITE') {
        const fwd = m.clone();
        fwd.popFirstValue('route');
        const via = new Via('UDP', AS.address, AS.port);
        via.params.set('branch', `z9hG4bKdiv${++n}`);
        fwd.pushVia(via);
        if (n === 1) fwd.uri = parseUri(CAROL);
        send(as, fwd);
      }
    };
    send(t.alice, originating(t.alice));
    await t.settle();
    expect(requests(as, 'INVITE').map((r) => r.get('p-served-user'))).toEqual([`<${BOB}>;sescase=term;regstate=reg`, `<${BOB}>;sescase=orig;regstate=reg;orig-cdiv`]);
    expect(requests(t.bob, 'INVITE')).toHaveLength(0);
    expect(requests(t.carol, 'INVITE')).toHaveLength(1);
  });

  it('refuses the relay hop to a request from the network (it would be an open relay)', async () => {
    const t = await rig();
    const as = t.r.ua(AS.address, AS.port);
    send(as, request(as, 'INVITE', BOB, [['Route', `<sip:isc@${SCSCF};lr>`], ['Route', '<sip:10.0.0.99;lr>']]));
    await t.settle();
    expect(statuses(as)).toEqual([100, 403]);
  });

  it('a request back with an unknown token gets 480', async () => {
    const t = await rig();
    const as = t.r.ua(AS.address, AS.port);
    send(as, request(as, 'INVITE', BOB, [['Route', `<sip:odi-nosuchtoken@${SCSCF};lr>`]]));
    await t.settle();
    expect(statuses(as)).toEqual([100, 480]);
  });

  it('a callee with services for the unregistered state is served here: its AS gets the call', async () => {
    const t = await rig({ carol: [{ sessionCase: 2 }], carolUnregistered: true });
    const as = t.r.ua(AS.address, AS.port);
    answeringAs(as, 200);
    send(t.alice, originating(t.alice, CAROL));
    await t.settle();
    expect(requests(as, 'INVITE')[0]!.get('p-served-user')).toBe(`<${CAROL}>;sescase=term;regstate=unreg`);
    expect(statuses(t.alice)).toEqual([100, 200]);
  });

  it('an AS in this process is reached without the relay hop, and comes back with continuationRoutes', async () => {
    const seen: string[] = [];
    const mmtel: ProxyService = {
      hosts: ['mmtel.example.com'],
      onInitialRequest(ctx) {
        seen.push(ctx.request.get('p-served-user') ?? '');
        ctx.request.append('X-Mmtel', 'seen');
        ctx.forward({ routes: continuationRoutes(ctx) }, { recordRoute: false });
      },
    };
    const t = await rig({ bob: [{ sessionCase: 1, as: 'sip:mmtel.example.com' }], extraServices: [mmtel] });
    send(t.alice, originating(t.alice));
    await t.settle();
    expect(seen).toEqual([`<${BOB}>;sescase=term;regstate=reg`]);
    const atBob = requests(t.bob, 'INVITE');
    expect(atBob[0]!.get('x-mmtel')).toBe('seen');
    // caller, S-CSCF, S-CSCF to the AS, the AS, S-CSCF to the callee: no relay hop in between
    expect(atBob[0]!.vias.length).toBe(4);
    expect(t.r.net.packets.every((p) => p.to.address !== AS.address)).toBe(true);
    expect(PROXY.address).toBe('10.0.0.1');
  });
});
