import { describe, expect, it } from 'vitest';
import { parseUri } from '../../../src/sip/message/uri.js';
import { makeResponse } from '../../../src/sip/message/build.js';
import { SipResponse } from '../../../src/sip/message/message.js';
import type { ProxyService, RequestContext } from '../../../src/sip/proxy/service.js';
import { answer, cancelOf, PROXY, proxyRig, request, requests, send, statuses } from './harness.js';

describe('the service contract on the proxy core', () => {
  it('reaches a service hosted in the same process by its host name, without a socket', async () => {
    const seen: string[] = [];
    const front: ProxyService = {
      hosts: ['edge.example.com'],
      onInitialRequest: (ctx) => {
        seen.push(`edge:${ctx.addressedAs}`);
        ctx.forward({ routes: ['sip:core.example.com;lr'] });
      },
    };
    const core: ProxyService = {
      hosts: ['core.example.com'],
      onInitialRequest: (ctx) => {
        seen.push(`core:${ctx.addressedAs}:${ctx.flow === undefined}`);
        ctx.respond(486);
      },
    };
    const r = proxyRig({ services: [front, core] });
    const alice = r.ua('10.0.0.2');
    send(alice, request(alice, 'INVITE', 'sip:bob@example.com', [['Route', '<sip:edge.example.com;lr>']]));
    await r.net.flush();
    await r.net.flush();
    expect(seen).toEqual(['edge:edge.example.com', 'core:core.example.com:true']);
    expect(statuses(alice)).toEqual([100, 486]);
    // only alice <-> proxy packets: the edge -> core hop used no socket
    expect(r.net.packets.every((p) => p.from.address === '10.0.0.2' || p.to.address === '10.0.0.2')).toBe(true);
  });

  it('carries a call across an in-process hop and out to a callee, and CANCEL through it', async () => {
    const front: ProxyService = { hosts: ['edge.example.com'], onInitialRequest: (ctx) => ctx.forward({ routes: ['sip:core.example.com;lr'] }) };
    const core: ProxyService = { hosts: ['core.example.com'], onInitialRequest: (ctx) => ctx.forward({ uri: parseUri('sip:bob@10.0.0.3') }) };
    const r = proxyRig({ services: [front, core] });
    const [alice, bob] = [r.ua('10.0.0.2'), r.ua('10.0.0.3')];
    const invite = request(alice, 'INVITE', 'sip:bob@example.com', [['Route', '<sip:edge.example.com;lr>']]);
    send(alice, invite);
    for (let i = 0; i < 4; i++) await r.net.flush();
    const got = requests(bob, 'INVITE');
    expect(got.length).toBe(1);
    expect(got[0]!.vias.length).toBe(3); // alice, edge hop, core hop
    answer(bob, 'INVITE', 180);
    for (let i = 0; i < 4; i++) await r.net.flush();
    expect(statuses(alice)).toEqual([100, 180]);
    send(alice, cancelOf(invite));
    for (let i = 0; i < 4; i++) await r.net.flush();
    expect(requests(bob, 'CANCEL').length).toBe(1);
    expect(statuses(alice)).toEqual([100, 180, 200, 487]);
  });

  it('relays a retransmitted 2xx back across in-process hops after the call was set up (RFC 6026 §8.4)', async () => {
    const front: ProxyService = { hosts: ['edge.example.com'], onInitialRequest: (ctx) => ctx.forward({ routes: ['sip:core.example.com;lr'] }) };
    const core: ProxyService = { hosts: ['core.example.com'], onInitialRequest: (ctx) => ctx.forward({ uri: parseUri('sip:bob@10.0.0.3') }) };
    const r = proxyRig({ services: [front, core] });
    const [alice, bob] = [r.ua('10.0.0.2'), r.ua('10.0.0.3')];
    send(alice, request(alice, 'INVITE', 'sip:bob@example.com', [['Route', '<sip:edge.example.com;lr>']]));
    for (let i = 0; i < 4; i++) await r.net.flush();
    const ok = answer(bob, 'INVITE', 200);
    for (let i = 0; i < 4; i++) await r.net.flush();
    expect(statuses(alice)).toEqual([100, 200]);
    // Alice's ACK is lost: Bob retransmits his 200, twice, as his UAS core does until an ACK comes.
    send(bob, ok);
    for (let i = 0; i < 4; i++) await r.net.flush();
    r.clock.advance(1000);
    send(bob, ok);
    for (let i = 0; i < 4; i++) await r.net.flush();
    expect(statuses(alice)).toEqual([100, 200, 200, 200]);
    const relayed = alice.received((m) => m instanceof SipResponse && m.status === 200).map((m) => m.message as SipResponse);
    // Each arrives with only Alice's Via: the proxy's own (one per hop) came off.
    for (const res of relayed) expect(res.vias.map((v) => v.host)).toEqual(['10.0.0.2']);
    expect(r.errors).toEqual([]);
  });

  it('answers 487 to a CANCEL that comes while the service is still deciding, and drops its later decision', async () => {
    let decide: (() => void) | undefined;
    const svc: ProxyService = {
      hosts: [],
      onInitialRequest: async (ctx) => {
        ctx.defer();
        await new Promise<void>((resolve) => (decide = resolve));
        ctx.forward({ uri: parseUri('sip:bob@10.0.0.3') });
      },
    };
    const r = proxyRig({ defaultService: svc });
    const [alice, bob] = [r.ua('10.0.0.2'), r.ua('10.0.0.3')];
    const invite = request(alice, 'INVITE', 'sip:bob@example.com');
    send(alice, invite);
    await r.net.flush();
    expect(statuses(alice)).toEqual([100]);
    send(alice, cancelOf(invite));
    await r.net.flush();
    expect(statuses(alice)).toEqual([100, 200, 487]);
    decide!();
    for (let i = 0; i < 3; i++) await r.net.flush();
    expect(requests(bob, 'INVITE')).toEqual([]);
    expect(statuses(alice)).toEqual([100, 200, 487]);
    expect(r.errors).toEqual([]);
  });

  it('refuses a second outcome for one request', async () => {
    let error: unknown;
    const svc: ProxyService = {
      hosts: [],
      onInitialRequest: (ctx) => {
        ctx.respond(404);
        try {
          ctx.forward();
        } catch (e) {
          error = e;
        }
      },
    };
    const r = proxyRig({ defaultService: svc });
    const alice = r.ua('10.0.0.2');
    send(alice, request(alice, 'OPTIONS', 'sip:bob@example.com'));
    await r.net.flush();
    expect(statuses(alice)).toEqual([404]);
    expect(String(error)).toMatch(/already has an outcome/);
  });

  it('lets a service defer and answer from a timer on the injected clock', async () => {
    const svc: ProxyService = {
      hosts: [],
      onInitialRequest: (ctx) => {
        ctx.defer().setTimer('lookup', 2_000);
      },
      onTimer: (ctx: RequestContext, name) => {
        if (name === 'lookup') ctx.respond(302, undefined, [['Contact', '<sip:bob@elsewhere.example.com>']]);
      },
    };
    const r = proxyRig({ defaultService: svc });
    const alice = r.ua('10.0.0.2');
    send(alice, request(alice, 'INVITE', 'sip:bob@example.com'));
    await r.net.flush();
    expect(statuses(alice)).toEqual([100]);
    r.clock.advance(2_000);
    await r.net.flush();
    expect(statuses(alice)).toEqual([100, 302]);
    expect(alice.received()[1]!.message!.get('contact')).toBe('<sip:bob@elsewhere.example.com>');
  });

  it('answers 500 when a service fails asynchronously, instead of leaving the caller hanging', async () => {
    const r = proxyRig({
      defaultService: {
        hosts: [],
        onInitialRequest: async () => {
          throw new Error('database down');
        },
      },
    });
    const alice = r.ua('10.0.0.2');
    send(alice, request(alice, 'OPTIONS', 'sip:bob@example.com'));
    await r.net.flush();
    expect(statuses(alice)).toEqual([500]);
    expect(String(r.errors[0])).toMatch(/database down/);
  });

  it('answers 503 with Retry-After when a service fails because a store it needs is unreachable, 504 when it timed out', async () => {
    for (const [sipStatus, expected] of [
      [503, 503],
      [504, 504],
    ] as const) {
      const r = proxyRig({
        defaultService: {
          hosts: [],
          onInitialRequest: async () => {
            throw Object.assign(new Error('store unreachable'), { sipStatus });
          },
        },
      });
      const alice = r.ua('10.0.0.2');
      send(alice, request(alice, 'OPTIONS', 'sip:bob@example.com'));
      await r.net.flush();
      expect(statuses(alice)).toEqual([expected]);
      const answer = alice.received()[0]!.message!;
      if (expected === 503) expect(answer.get('retry-after')).toBe('2');
    }
  });

  it('lets a service see each branch response and divert a busy callee elsewhere', async () => {
    const svc: ProxyService = {
      hosts: [],
      onInitialRequest: (ctx) => ctx.forward({ uri: parseUri('sip:bob@10.0.0.3') }),
      onResponse: (rc) => {
        if (rc.response.status === 486) rc.forward({ uri: parseUri('sip:voicemail@10.0.0.4') });
        if (rc.response.status === 480) rc.replace(makeResponse(rc.request, 404, 'Gone Fishing', 'x'));
      },
    };
    const r = proxyRig({ defaultService: svc });
    const [alice, bob, vm] = [r.ua('10.0.0.2'), r.ua('10.0.0.3'), r.ua('10.0.0.4')];
    send(alice, request(alice, 'INVITE', 'sip:bob@example.com'));
    await r.net.flush();
    answer(bob, 'INVITE', 486);
    await r.net.flush();
    expect(requests(vm, 'INVITE').length).toBe(1);
    answer(vm, 'INVITE', 480);
    await r.net.flush();
    const final = alice.received().map((x) => x.message!).filter((m) => 'status' in m && (m as { status: number }).status >= 200);
    expect(final.map((m) => (m as { status: number; reason: string }).reason)).toEqual(['Gone Fishing']);
    expect(PROXY.port).toBe(5060);
  });
});
