import { describe, expect, it } from 'vitest';
import { EdgeService } from '../../src/ims/edge/edge.js';
import { FlowTokens } from '../../src/ims/edge/flow-token.js';
import { makeResponse, parseUri, type Flow, type ResponseContext, type SipRequest } from '../../src/sip/index.js';
import { RecordingContext, request, run } from './ims-fakes.js';

const flowA: Flow = { id: 'UDP/127.0.0.1/5060/192.0.2.1/5070', protocol: 'UDP', local: { address: '127.0.0.1', port: 5060 }, remote: { address: '192.0.2.1', port: 5070 } };
const flowB: Flow = { id: 'TCP/127.0.0.1/5060/192.0.2.2/40000', protocol: 'TCP', local: { address: '127.0.0.1', port: 5060 }, remote: { address: '192.0.2.2', port: 40000 } };

function setup(live: Flow[] = [flowA, flowB]) {
  let now = 1_000_000;
  const tokens = new FlowTokens(Buffer.alloc(32, 1));
  const edge = new EdgeService({
    host: 'pcscf.example.com',
    registrarRoute: '<sip:icscf.example.com;lr>',
    tokens,
    lookupFlow: (id) => live.find((f) => f.id === id),
    now: () => now,
  });
  return { edge, tokens, advance: (ms: number) => (now += ms) };
}

function registerReq(contact = '<sip:a@192.0.2.1:5070>'): SipRequest {
  return request([
    'REGISTER sip:example.com SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKr1',
    'From: <sip:6505550001@example.com>;tag=f1',
    'To: <sip:6505550001@example.com>',
    'Call-ID: r1',
    'CSeq: 2 REGISTER',
    `Contact: ${contact}`,
  ]);
}

function invite(extra: string[] = []): SipRequest {
  return request([
    'INVITE sip:6505550002@example.com SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKi1',
    'From: <sip:6505550001@example.com>;tag=f2',
    'To: <sip:6505550002@example.com>',
    'Call-ID: c1',
    'CSeq: 1 INVITE',
    'Contact: <sip:a@192.0.2.1:5070>',
    ...extra,
  ]);
}

/** Registers flow A through the edge: REGISTER forwarded, then the registrar's 200 seen. */
async function registerA(edge: EdgeService, contactExpires = 600, associated = '<sip:6505550001@example.com>, <sip:alias@example.com>') {
  const ctx = await run(new RecordingContext(registerReq(), flowA), (c) => edge.onInitialRequest(c));
  const res = makeResponse(ctx.request, 200, 'OK', 't');
  if (contactExpires > 0) res.append('contact', `<sip:a@192.0.2.1:5070>;expires=${contactExpires}`);
  res.append('service-route', '<sip:orig@scscf.example.com;lr>');
  res.append('p-associated-uri', associated);
  edge.onResponse({ response: res, request: ctx.request, branch: 0, replace() {}, forward() {} } as ResponseContext);
  return ctx;
}

describe('the edge (P-CSCF)', () => {
  it('forwards REGISTER to the I-CSCF with a Path naming the flow in a token only it can read', async () => {
    const { edge, tokens } = setup();
    const ctx = await registerA(edge);
    expect(ctx.outcome?.targets).toEqual([{ routes: ['<sip:icscf.example.com;lr>'] }]);
    const path = ctx.request.nameAddrs('path')[0]!;
    expect(path.uri.toString()).toMatch(/^sip:[A-Za-z0-9_-]+@pcscf\.example\.com;lr$/);
    expect(tokens.flowOf(path.uri)).toBe(flowA.id);
    expect(new FlowTokens(Buffer.alloc(32, 2)).flowOf(path.uri)).toBeUndefined();
  });

  it('marks the Path ;ob for an RFC 5626 client (reg-id)', async () => {
    const { edge } = setup();
    const ctx = await run(new RecordingContext(registerReq('<sip:a@192.0.2.1:5070>;reg-id=1;+sip.instance="<urn:uuid:1>"'), flowA), (c) => edge.onInitialRequest(c));
    expect(ctx.request.get('path')).toMatch(/;lr;ob>$/);
  });

  it('refuses a request from a flow that registered nothing with 403', async () => {
    const { edge } = setup();
    const ctx = await run(new RecordingContext(invite(), flowA), (c) => edge.onInitialRequest(c));
    expect(ctx.response.status).toBe(403);
  });

  it('answers an OPTIONS to the server itself (a keepalive or a monitor), registered or not', async () => {
    const { edge } = setup();
    const opts = request(['OPTIONS sip:example.com SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKo', 'From: <sip:mon@example.net>;tag=1', 'To: <sip:example.com>', 'Call-ID: o1', 'CSeq: 1 OPTIONS']);
    const ctx = await run(new RecordingContext(opts, flowA), (c) => edge.onInitialRequest(c));
    expect(ctx.response.status).toBe(200);
    expect(ctx.response.get('allow')).toContain('INVITE');
  });

  it('asserts the registered identity, drops the client\'s own, and routes along the Service-Route', async () => {
    const { edge, tokens } = setup();
    await registerA(edge);
    const ctx = await run(new RecordingContext(invite(['P-Asserted-Identity: <sip:boss@example.com>']), flowA), (c) => edge.onInitialRequest(c));
    expect(ctx.request.getAll('p-asserted-identity')).toEqual(['<sip:6505550001@example.com>']);
    expect(ctx.outcome?.targets).toEqual([{ routes: ['<sip:orig@scscf.example.com;lr>'] }]);
    expect(ctx.outcome?.options?.recordRouteUser).toBe(tokens.encode(flowA.id));
  });

  it('honours a P-Preferred-Identity from the registered set, and ignores one outside it', async () => {
    const { edge } = setup();
    await registerA(edge);
    let ctx = await run(new RecordingContext(invite(['P-Preferred-Identity: <sip:alias@example.com>']), flowA), (c) => edge.onInitialRequest(c));
    expect(ctx.request.getAll('p-asserted-identity')).toEqual(['<sip:alias@example.com>']);
    expect(ctx.request.has('p-preferred-identity')).toBe(false);
    ctx = await run(new RecordingContext(invite(['P-Preferred-Identity: <sip:boss@example.com>']), flowA), (c) => edge.onInitialRequest(c));
    expect(ctx.request.getAll('p-asserted-identity')).toEqual(['<sip:6505550001@example.com>']);
  });

  it('asserts each user of a flow that carries many registrations (a PBX behind one address) as that user', async () => {
    const { edge, advance } = setup();
    const user = (n: number) => `sip:65055501${String(n).padStart(2, '0')}@example.com`;
    for (let n = 0; n < 50; n++) {
      const reg = registerReq().clone();
      reg.set('from', `<${user(n)}>;tag=f${n}`);
      reg.set('to', `<${user(n)}>`);
      const ctx = await run(new RecordingContext(reg, flowA), (c) => edge.onInitialRequest(c));
      const res = makeResponse(ctx.request, 200, 'OK', 't');
      res.append('contact', `<sip:a@192.0.2.1:5070>;expires=${n === 0 ? 60 : 600}`);
      res.append('service-route', '<sip:orig@scscf.example.com;lr>');
      res.append('p-associated-uri', `<${user(n)}>, <sip:alias${n}@example.com>`);
      edge.onResponse({ response: res, request: ctx.request, branch: 0, replace() {}, forward() {} } as ResponseContext);
    }
    const from = async (identity: string, extra: string[] = []) => {
      const req = invite(extra);
      req.set('from', `<${identity}>;tag=x`);
      return (await run(new RecordingContext(req, flowA), (c) => edge.onInitialRequest(c))).request.getAll('p-asserted-identity');
    };
    expect(await from(user(37))).toEqual([`<${user(37)}>`]);
    expect(await from('sip:alias12@example.com')).toEqual(['<sip:alias12@example.com>']);
    expect(await from(user(3), ['P-Preferred-Identity: <sip:alias44@example.com>'])).toEqual(['<sip:alias44@example.com>']);
    // Not registered on this flow: the first live registration's identity.
    expect(await from('sip:stranger@example.com')).toEqual([`<${user(0)}>`]);
    advance(61_000);
    expect(await from(user(0))).toEqual([`<${user(1)}>`]);
  });

  it('keeps serving a flow as the users on it register, leave and expire, and sweeps what expired', async () => {
    const { edge, advance } = setup();
    const registerUser = async (user: string, expires: number) => {
      const reg = registerReq().clone();
      reg.set('from', `<${user}>;tag=f`);
      reg.set('to', `<${user}>`);
      const ctx = await run(new RecordingContext(reg, flowA), (c) => edge.onInitialRequest(c));
      const res = makeResponse(ctx.request, 200, 'OK', 't');
      if (expires > 0) res.append('contact', `<sip:a@192.0.2.1:5070>;expires=${expires}`);
      res.append('p-associated-uri', `<${user}>`);
      edge.onResponse({ response: res, request: ctx.request, branch: 0, replace() {}, forward() {} } as ResponseContext);
    };
    const from = async (identity: string) => {
      const req = invite();
      req.set('from', `<${identity}>;tag=x`);
      const ctx = await run(new RecordingContext(req, flowA), (c) => edge.onInitialRequest(c));
      return ctx.outcome?.kind === 'respond' ? ctx.response.status : ctx.request.getAll('p-asserted-identity')[0];
    };
    const one = 'sip:6505550001@example.com';
    const two = 'sip:6505550002@example.com';
    await registerUser(one, 600);
    expect(await from(two)).toBe(`<${one}>`);
    await registerUser(two, 600);
    expect([await from(one), await from(two)]).toEqual([`<${one}>`, `<${two}>`]);
    await registerUser(one, 0);
    expect([await from(one), await from(two)]).toEqual([`<${two}>`, `<${two}>`]);
    await registerUser(one, 60);
    expect(await from(one)).toBe(`<${one}>`);
    advance(61_000);
    edge.sweep();
    expect(edge.registeredFlows).toBe(1);
    expect(await from(one)).toBe(`<${two}>`);
    await registerUser(two, 0);
    expect(await from(two)).toBe(403);
    expect(edge.registeredFlows).toBe(0);
    await registerUser(two, 60);
    advance(61_000);
    edge.sweep();
    expect(edge.registeredFlows).toBe(0);
  });

  it('refuses the flow again once its registration expired or was removed', async () => {
    const { edge, advance } = setup();
    await registerA(edge, 60);
    advance(61_000);
    expect((await run(new RecordingContext(invite(), flowA), (c) => edge.onInitialRequest(c))).response.status).toBe(403);
    await registerA(edge, 600);
    await registerA(edge, 0);
    expect((await run(new RecordingContext(invite(), flowA), (c) => edge.onInitialRequest(c))).response.status).toBe(403);
  });

  it('delivers a request reached through its Path over the client\'s flow, Record-Routing with its token', async () => {
    const { edge, tokens } = setup();
    const route = parseUri(`sip:${tokens.encode(flowB.id)}@pcscf.example.com;lr`);
    const ctx = await run(new RecordingContext(invite(), undefined, [route], 'pcscf.example.com'), (c) => edge.onInitialRequest(c));
    expect(ctx.outcome?.targets).toEqual([{ flowId: flowB.id }]);
    expect(ctx.outcome?.options?.recordRouteUser).toBe(tokens.encode(flowB.id));
  });

  it('answers 430 Flow Failed when the client\'s connection is gone', async () => {
    const { edge, tokens } = setup([flowA]);
    const route = parseUri(`sip:${tokens.encode(flowB.id)}@pcscf.example.com;lr`);
    const ctx = await run(new RecordingContext(invite(), undefined, [route], 'pcscf.example.com'), (c) => edge.onInitialRequest(c));
    expect(ctx.response.status).toBe(430);
  });

  it('sends an in-dialog request over the other party\'s flow from the Route set', async () => {
    const { edge, tokens } = setup();
    const routes = [flowA, flowB].map((f) => parseUri(`sip:${tokens.encode(f.id)}@127.0.0.1:5060;lr`));
    const bye = request(['BYE sip:b@192.0.2.2:40000 SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKb', 'From: <sip:a@example.com>;tag=1', 'To: <sip:b@example.com>;tag=2', 'Call-ID: c1', 'CSeq: 2 BYE']);
    let ctx = await run(new RecordingContext(bye, flowA, routes), (c) => edge.onInDialogRequest(c));
    expect(ctx.outcome?.targets).toEqual([{ flowId: flowB.id }]);
    ctx = await run(new RecordingContext(bye.clone(), flowB, routes), (c) => edge.onInDialogRequest(c));
    expect(ctx.outcome?.targets).toEqual([{ flowId: flowA.id }]);
  });
});
