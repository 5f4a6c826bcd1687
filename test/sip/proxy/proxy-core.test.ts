import { describe, expect, it } from 'vitest';
import { parseUri, SipUri } from '../../../src/sip/message/uri.js';
import type { ProxyService } from '../../../src/sip/proxy/service.js';
import { answer, cancelOf, PROXY, proxyRig, request, requests, send, statuses } from './harness.js';

const forwardTo = (...uris: string[]): ProxyService => ({
  hosts: [],
  onInitialRequest: (ctx) => ctx.forward(uris.map((u) => ({ uri: parseUri(u) }))),
});

describe('stateful proxy core (RFC 3261 §16)', () => {
  it('forks in parallel, passes the first 200 up and CANCELs the other ringing branch', async () => {
    const r = proxyRig({ defaultService: forwardTo('sip:bob@10.0.0.3', 'sip:bob@10.0.0.4') });
    const alice = r.ua('10.0.0.2');
    const b1 = r.ua('10.0.0.3');
    const b2 = r.ua('10.0.0.4');
    send(alice, request(alice, 'INVITE', 'sip:bob@example.com'));
    await r.net.flush();
    expect(requests(b1, 'INVITE').length).toBe(1);
    expect(requests(b2, 'INVITE').length).toBe(1);
    const fwd = requests(b1, 'INVITE')[0]!;
    expect(fwd.vias.length).toBe(2);
    expect(fwd.maxForwards).toBe(69);
    expect(fwd.recordRoutes[0]!.uri.toString()).toBe(`sip:${PROXY.address}:${PROXY.port};lr`);
    answer(b1, 'INVITE', 180);
    answer(b2, 'INVITE', 180);
    await r.net.flush();
    answer(b1, 'INVITE', 200);
    await r.net.flush();
    expect(statuses(alice)).toEqual([100, 180, 180, 200]);
    expect(requests(b2, 'CANCEL').length).toBe(1);
    expect(requests(b1, 'CANCEL').length).toBe(0);
    expect(r.errors).toEqual([]);
  });

  it('lets a 6xx end the fork: the other branches are CANCELled and the 6xx wins (§16.7 step 5-6)', async () => {
    const r = proxyRig({ defaultService: forwardTo('sip:bob@10.0.0.3', 'sip:bob@10.0.0.4') });
    const [alice, b1, b2] = [r.ua('10.0.0.2'), r.ua('10.0.0.3'), r.ua('10.0.0.4')];
    send(alice, request(alice, 'INVITE', 'sip:bob@example.com'));
    await r.net.flush();
    answer(b1, 'INVITE', 180);
    await r.net.flush();
    answer(b2, 'INVITE', 603);
    await r.net.flush();
    expect(requests(b1, 'CANCEL').length).toBe(1);
    answer(b1, 'INVITE', 487);
    await r.net.flush();
    expect(statuses(alice)).toEqual([100, 180, 603]);
  });

  it('picks the best final response when every branch fails (§16.7: lowest class, 503 becomes 500)', async () => {
    const r = proxyRig({ defaultService: forwardTo('sip:bob@10.0.0.3', 'sip:bob@10.0.0.4') });
    const [alice, b1, b2] = [r.ua('10.0.0.2'), r.ua('10.0.0.3'), r.ua('10.0.0.4')];
    send(alice, request(alice, 'INVITE', 'sip:bob@example.com'));
    await r.net.flush();
    answer(b1, 'INVITE', 503);
    await r.net.flush();
    answer(b2, 'INVITE', 486);
    await r.net.flush();
    expect(statuses(alice)).toEqual([100, 486]);

    const r2 = proxyRig({ defaultService: forwardTo('sip:bob@10.0.0.3') });
    const [a2, c1] = [r2.ua('10.0.0.2'), r2.ua('10.0.0.3')];
    send(a2, request(a2, 'OPTIONS', 'sip:bob@example.com'));
    await r2.net.flush();
    answer(c1, 'OPTIONS', 503);
    await r2.net.flush();
    expect(statuses(a2)).toEqual([500]);
  });

  it('forks sequentially: the next target is tried after a failure', async () => {
    const r = proxyRig({
      defaultService: {
        hosts: [],
        onInitialRequest: (ctx) =>
          ctx.forward([{ uri: parseUri('sip:bob@10.0.0.3') }, { uri: parseUri('sip:bob@10.0.0.4') }], { mode: 'sequential' }),
      },
    });
    const [alice, b1, b2] = [r.ua('10.0.0.2'), r.ua('10.0.0.3'), r.ua('10.0.0.4')];
    send(alice, request(alice, 'INVITE', 'sip:bob@example.com'));
    await r.net.flush();
    expect(requests(b2, 'INVITE').length).toBe(0);
    answer(b1, 'INVITE', 480);
    await r.net.flush();
    expect(requests(b2, 'INVITE').length).toBe(1);
    answer(b2, 'INVITE', 200);
    await r.net.flush();
    expect(statuses(alice)).toEqual([100, 200]);
  });

  it('relays an upstream CANCEL to the ringing branch and answers 487', async () => {
    const r = proxyRig({ defaultService: forwardTo('sip:bob@10.0.0.3') });
    const [alice, b1] = [r.ua('10.0.0.2'), r.ua('10.0.0.3')];
    const invite = request(alice, 'INVITE', 'sip:bob@example.com');
    send(alice, invite);
    await r.net.flush();
    answer(b1, 'INVITE', 180);
    await r.net.flush();
    send(alice, cancelOf(invite));
    await r.net.flush();
    expect(requests(b1, 'CANCEL').length).toBe(1);
    expect(statuses(alice)).toEqual([100, 180, 200, 487]);
  });

  it('CANCELs a branch only after it sent a provisional response (§9.1)', async () => {
    const r = proxyRig({ defaultService: forwardTo('sip:bob@10.0.0.3', 'sip:bob@10.0.0.4') });
    const [alice, b1, b2] = [r.ua('10.0.0.2'), r.ua('10.0.0.3'), r.ua('10.0.0.4')];
    send(alice, request(alice, 'INVITE', 'sip:bob@example.com'));
    await r.net.flush();
    answer(b1, 'INVITE', 200);
    await r.net.flush();
    expect(requests(b2, 'CANCEL').length).toBe(0);
    answer(b2, 'INVITE', 180);
    await r.net.flush();
    expect(requests(b2, 'CANCEL').length).toBe(1);
  });

  it('answers 408 and CANCELs a branch that rings past timer C', async () => {
    const r = proxyRig({ defaultService: forwardTo('sip:bob@10.0.0.3'), timerC: 181_000 });
    const [alice, b1] = [r.ua('10.0.0.2'), r.ua('10.0.0.3')];
    send(alice, request(alice, 'INVITE', 'sip:bob@example.com'));
    await r.net.flush();
    answer(b1, 'INVITE', 180);
    await r.net.flush();
    r.clock.advance(180_000);
    await r.net.flush();
    expect(statuses(alice)).toEqual([100, 180]);
    r.clock.advance(1_000);
    await r.net.flush();
    expect(requests(b1, 'CANCEL').length).toBe(1);
    expect(statuses(alice)).toEqual([100, 180, 408]);
  });

  it.each([
    ['483 when Max-Forwards is 0', [['Max-Forwards', '0']], 483],
    ['420 listing an unsupported Proxy-Require', [['Proxy-Require', 'foo']], 420],
  ] as Array<[string, Array<[string, string]>, number]>)('answers %s', async (_name, headers, status) => {
    const r = proxyRig({ defaultService: forwardTo('sip:bob@10.0.0.3') });
    const alice = r.ua('10.0.0.2');
    const req = request(alice, 'OPTIONS', 'sip:bob@example.com');
    for (const [n, v] of headers) req.set(n, v);
    send(alice, req);
    await r.net.flush();
    expect(statuses(alice)).toEqual([status]);
    if (status === 420) expect(alice.received()[0]!.message!.get('unsupported')).toBe('foo');
  });

  it('answers 416 to a Request-URI scheme it cannot route', async () => {
    const r = proxyRig({ defaultService: forwardTo('sip:bob@10.0.0.3') });
    const alice = r.ua('10.0.0.2');
    send(alice, request(alice, 'OPTIONS', 'urn:service:sos'));
    await r.net.flush();
    expect(statuses(alice)).toEqual([416]);
  });

  it('detects a loop (482) but lets a spiral with a new Request-URI through', async () => {
    const r = proxyRig({
      defaultService: {
        hosts: [],
        onInitialRequest: (ctx) => {
          const u = ctx.request.uri as SipUri;
          // bob@ spirals back once as carol@, carol@ loops back unchanged
          if (u.user === 'bob') ctx.forward({ uri: parseUri(`sip:carol@${PROXY.address}:${PROXY.port + 1}`) });
          else ctx.forward({ uri: parseUri(`sip:carol@${PROXY.address}:${PROXY.port + 1}`) });
        },
      },
    });
    const alice = r.ua('10.0.0.2');
    const relay = r.ua(PROXY.address, PROXY.port + 1); // a node that sends everything straight back
    relay.onMessage = (m) => {
      void relay.send(m.data, { protocol: 'UDP', address: PROXY.address, port: PROXY.port });
    };
    send(alice, request(alice, 'OPTIONS', 'sip:bob@example.com'));
    await r.net.flush();
    await r.net.flush();
    const relayed = r.net.sent((m, p) => p.to.port === PROXY.port + 1 && !('status' in m));
    expect(relayed.length).toBe(2); // bob -> carol (spiral), then carol -> carol is the loop
    // The looped request is answered 482 upstream of the second pass.
    expect(r.net.sent((m) => 'status' in m && (m as { status: number }).status === 482).length).toBeGreaterThan(0);
  });

  it('undoes a strict router: its Record-Route value in the Request-URI gives way to the last Route (§16.4)', async () => {
    const r = proxyRig({});
    const [alice, b1] = [r.ua('10.0.0.2'), r.ua('10.0.0.3')];
    const req = request(alice, 'BYE', `sip:${PROXY.address}:${PROXY.port};lr`, [['Route', '<sip:bob@10.0.0.3>']]);
    req.set('to', '<sip:bob@example.com>;tag=b1');
    send(alice, req);
    await r.net.flush();
    const got = requests(b1, 'BYE');
    expect(got.length).toBe(1);
    expect(got[0]!.uriString).toBe('sip:bob@10.0.0.3');
    expect(got[0]!.has('route')).toBe(false);
  });

  it('follows the Route set of an in-dialog request and removes its own entry', async () => {
    const r = proxyRig({});
    const [alice, b1] = [r.ua('10.0.0.2'), r.ua('10.0.0.3')];
    const req = request(alice, 'BYE', 'sip:bob@10.0.0.3', [['Route', `<sip:${PROXY.address}:${PROXY.port};lr>`]]);
    req.set('to', '<sip:bob@example.com>;tag=b1');
    send(alice, req);
    await r.net.flush();
    answer(b1, 'BYE', 200);
    await r.net.flush();
    expect(requests(b1, 'BYE')[0]!.has('route')).toBe(false);
    expect(statuses(alice)).toEqual([200]);
  });

  it('forwards the ACK of a 2xx statelessly along the Route set', async () => {
    const r = proxyRig({});
    const [alice, b1] = [r.ua('10.0.0.2'), r.ua('10.0.0.3')];
    const ack = request(alice, 'ACK', 'sip:bob@10.0.0.3', [['Route', `<sip:${PROXY.address}:${PROXY.port};lr>`]]);
    ack.set('to', '<sip:bob@example.com>;tag=b1');
    send(alice, ack);
    await r.net.flush();
    const got = requests(b1, 'ACK');
    expect(got.length).toBe(1);
    expect(got[0]!.vias.length).toBe(2);
    expect(statuses(alice)).toEqual([]);
  });
});
