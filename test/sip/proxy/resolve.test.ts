import { afterEach, describe, expect, it } from 'vitest';
import { parseUri } from '../../../src/sip/message/uri.js';
import { NodeDnsClient, SipResolver } from '../../../src/sip/resolver/index.js';
import { locatorResolver } from '../../../src/sip/proxy/targets.js';
import { startDnsServer, type TestDnsServer } from '../../harness/dns-server.js';
import { FakeClock } from '../../harness/fake-clock.js';
import { proxyRig, request, requests, send, statuses } from './harness.js';

let dnsServer: TestDnsServer | undefined;
let client: NodeDnsClient | undefined;
afterEach(async () => {
  client?.cancel();
  await dnsServer?.close();
});

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

describe('the proxy core with the RFC 3263 resolver', () => {
  it('finds the next hop of a host name through NAPTR, SRV and A records on a loopback DNS server', async () => {
    dnsServer = await startDnsServer({
      'callee.test': [{ type: 'NAPTR', order: 10, preference: 10, flags: 's', service: 'SIP+D2U', replacement: '_sip._udp.callee.test' }],
      '_sip._udp.callee.test': [{ type: 'SRV', priority: 10, weight: 1, port: 5070, target: 'host1.callee.test' }],
      'host1.callee.test': [{ type: 'A', address: '10.0.0.3' }],
    });
    client = new NodeDnsClient({ servers: [dnsServer.address], timeoutMs: 500, tries: 1 });
    const locator = new SipResolver({ dns: client, clock: new FakeClock(), addressFamilies: [4] });
    const r = proxyRig({
      resolve: locatorResolver(locator),
      defaultService: { hosts: [], onInitialRequest: (ctx) => ctx.forward({ uri: parseUri('sip:bob@callee.test') }) },
    });
    const alice = r.ua('10.0.0.2');
    const bob = r.ua('10.0.0.3', 5070);
    send(alice, request(alice, 'MESSAGE', 'sip:bob@example.com'));
    await until(() => requests(bob, 'MESSAGE').length > 0);
    expect(requests(bob, 'MESSAGE')[0]!.uriString).toBe('sip:bob@callee.test');
    expect(dnsServer.count('callee.test', 'NAPTR')).toBe(1);
  });

  it('answers 503 when a host name does not resolve', async () => {
    dnsServer = await startDnsServer({});
    client = new NodeDnsClient({ servers: [dnsServer.address], timeoutMs: 500, tries: 1 });
    const locator = new SipResolver({ dns: client, clock: new FakeClock(), addressFamilies: [4] });
    const r = proxyRig({
      resolve: locatorResolver(locator),
      defaultService: { hosts: [], onInitialRequest: (ctx) => ctx.forward({ uri: parseUri('sip:bob@nowhere.test') }) },
    });
    const alice = r.ua('10.0.0.2');
    send(alice, request(alice, 'MESSAGE', 'sip:bob@example.com'));
    await until(() => statuses(alice).length > 0);
    expect(statuses(alice)).toEqual([503]);
  });
});
