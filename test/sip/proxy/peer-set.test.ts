import { describe, expect, it } from 'vitest';
import { parseUri, type SipUri } from '../../../src/sip/message/uri.js';
import { TargetHealth } from '../../../src/sip/proxy/health.js';
import { peerSetResolver } from '../../../src/sip/proxy/peer-set.js';
import type { SipLocator } from '../../../src/sip/proxy/targets.js';
import type { SendTarget } from '../../../src/sip/transport/types.js';
import { FakeClock } from '../../harness/fake-clock.js';

const sip = (s: string) => parseUri(s) as SipUri;
const tcp = (address: string, port = 5060): SendTarget => ({ protocol: 'TCP', address, port });
const CORES = ['sip:10.77.0.3:5060;transport=tcp', 'sip:10.77.0.4:5060;transport=tcp'];

/** A locator answering from a table of host names, recording what it was asked. */
function locator(table: Record<string, SendTarget[]>): SipLocator & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    resolve: (input) => {
      asked.push(input.host);
      const found = table[input.host];
      return found ? Promise.resolve(found) : Promise.reject(new Error(`no such host ${input.host}`));
    },
  };
}

describe('peerSetResolver', () => {
  it('gives every peer of a host name, the first one rotating per request', async () => {
    const resolve = peerSetResolver({ peers: { 'scscf.example.com': CORES } });
    const firsts: string[] = [];
    for (let i = 0; i < 4; i++) {
      const targets = await resolve(sip('sip:scscf.example.com;lr'));
      expect(targets).toHaveLength(2);
      firsts.push((targets[0] as { address: string }).address);
    }
    expect(firsts).toEqual(['10.77.0.3', '10.77.0.4', '10.77.0.3', '10.77.0.4']);
  });

  it('matches host names without regard to case, and ignores the port and transport of the URI resolved', async () => {
    const resolve = peerSetResolver({ peers: new Map([['SCSCF.example.com', CORES]]) });
    expect(await resolve(sip('sip:bob@scscf.EXAMPLE.com:5080;transport=udp'))).toEqual([tcp('10.77.0.3'), tcp('10.77.0.4')]);
  });

  it('rotates among the healthy peers only, the quarantined ones last', async () => {
    const clock = new FakeClock();
    const health = new TargetHealth({ clock });
    const resolve = peerSetResolver({ peers: { core: ['sip:10.0.0.1;transport=tcp', 'sip:10.0.0.2;transport=tcp', 'sip:10.0.0.3;transport=tcp'] }, health });
    health.quarantine(tcp('10.0.0.1'));
    const orders: string[] = [];
    for (let i = 0; i < 4; i++) orders.push((await resolve(sip('sip:core'))).map((t) => (t as { address: string }).address.slice(-1)).join(''));
    expect(orders).toEqual(['231', '321', '231', '321']);
  });

  it('resolves a peer given by host name through the locator, in the order the locator gives', async () => {
    const dns = locator({ 'core-b.example.com': [tcp('10.0.1.1'), tcp('10.0.1.2')] });
    const resolve = peerSetResolver({ peers: { 'scscf.example.com': ['sip:10.0.0.9;transport=tcp', 'sip:core-b.example.com;transport=tcp'] }, locator: dns });
    expect(await resolve(sip('sip:scscf.example.com'))).toEqual([tcp('10.0.0.9'), tcp('10.0.1.1'), tcp('10.0.1.2')]);
    expect(await resolve(sip('sip:scscf.example.com'))).toEqual([tcp('10.0.1.1'), tcp('10.0.1.2'), tcp('10.0.0.9')]);
  });

  it('keeps the other peers when one peer cannot be resolved', async () => {
    const resolve = peerSetResolver({ peers: { core: ['sip:10.0.0.9;transport=tcp', 'sip:gone.example.com;transport=tcp'] }, locator: locator({}) });
    expect(await resolve(sip('sip:core'))).toEqual([tcp('10.0.0.9')]);
  });

  it('sends host names it does not know to the locator unchanged, and without one finds nothing', async () => {
    const dns = locator({ 'other.example.com': [tcp('192.0.2.1'), tcp('192.0.2.2')] });
    const withDns = peerSetResolver({ peers: { core: CORES }, locator: dns });
    expect(await withDns(sip('sip:other.example.com'))).toEqual([tcp('192.0.2.1'), tcp('192.0.2.2')]);
    expect(await withDns(sip('sip:other.example.com'))).toEqual([tcp('192.0.2.1'), tcp('192.0.2.2')]);
    expect(await peerSetResolver({ peers: { core: CORES } })(sip('sip:other.example.com'))).toEqual([]);
  });

  it.each([
    ['an empty peer list', { core: [] }, 'peer set core: no peers'],
    ['a URI that does not parse', { core: ['sip:'] }, 'peer set core: sip: is not a SIP URI'],
    ['a tel URI', { core: ['tel:+15551234'] }, 'is not a SIP URI'],
    ['an unknown transport', { core: ['sip:10.0.0.1;transport=carrier-pigeon'] }, 'asks for a transport'],
    ['a host name without a locator', { core: ['sip:core-a.example.com'] }, 'there is no locator'],
  ])('refuses %s when built', (_what, peers, message) => {
    expect(() => peerSetResolver({ peers })).toThrow(message);
  });
});

describe('TargetHealth', () => {
  it('puts quarantined targets last, each part in its order, until the quarantine ends', () => {
    const clock = new FakeClock();
    const health = new TargetHealth({ clock, quarantineMs: 30_000 });
    const [a, b, c] = [tcp('10.0.0.1'), tcp('10.0.0.2'), tcp('10.0.0.3')];
    health.quarantine(a);
    health.quarantine(b, 60_000);
    expect(health.order([a, b, c])).toEqual([c, a, b]);
    clock.advance(30_000);
    expect(health.order([a, b, c])).toEqual([a, c, b]);
    clock.advance(30_000);
    expect(health.order([a, b, c])).toEqual([a, b, c]);
    expect(health.size).toBe(0);
  });

  it('keeps the order when every target is quarantined, so that each is still tried', () => {
    const health = new TargetHealth({ clock: new FakeClock() });
    const targets = [tcp('10.0.0.1'), tcp('10.0.0.2')];
    for (const t of targets) health.quarantine(t);
    expect(health.order(targets)).toEqual(targets);
  });

  it('tells targets apart by transport and port, and lifts a quarantine of 0', () => {
    const health = new TargetHealth({ clock: new FakeClock() });
    health.quarantine(tcp('10.0.0.1'));
    expect(health.isQuarantined({ protocol: 'UDP', address: '10.0.0.1', port: 5060 })).toBe(false);
    expect(health.isQuarantined(tcp('10.0.0.1', 5061))).toBe(false);
    health.quarantine(tcp('10.0.0.1'), 0);
    expect(health.isQuarantined(tcp('10.0.0.1'))).toBe(false);
  });

  it('remembers at most maxEntries targets, forgetting the oldest first', () => {
    const health = new TargetHealth({ clock: new FakeClock(), maxEntries: 3 });
    for (let i = 1; i <= 5; i++) health.quarantine(tcp(`10.0.0.${i}`));
    expect(health.size).toBe(3);
    expect([1, 2, 3, 4, 5].map((i) => health.isQuarantined(tcp(`10.0.0.${i}`)))).toEqual([false, false, true, true, true]);
  });

  it('caps a quarantine at maxQuarantineMs', () => {
    const clock = new FakeClock();
    const health = new TargetHealth({ clock, maxQuarantineMs: 60_000 });
    health.quarantine(tcp('10.0.0.1'), 86_400_000);
    clock.advance(60_000);
    expect(health.isQuarantined(tcp('10.0.0.1'))).toBe(false);
  });
});
