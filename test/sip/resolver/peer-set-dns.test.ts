/**
 * A peer set in front of the RFC 3263 resolver, on a loopback DNS server: peers given by host
 * name and names outside the set are found through DNS, whose SRV order is kept.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseUri, type SipUri } from '../../../src/sip/message/uri.js';
import { peerSetResolver } from '../../../src/sip/proxy/peer-set.js';
import type { Zone } from '../../harness/dns-server.js';
import { rig, type Rig } from './helpers.js';

let current: Rig | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

const zone: Zone = {
  '_sip._tcp.scscf.example.com': [
    { type: 'SRV', priority: 20, weight: 1, port: 5060, target: 'backup.example.com' },
    { type: 'SRV', priority: 10, weight: 1, port: 5060, target: 'main.example.com' },
  ],
  'main.example.com': [{ type: 'A', address: '192.0.2.1' }],
  'backup.example.com': [{ type: 'A', address: '192.0.2.2' }],
  'as.example.com': [{ type: 'A', address: '192.0.2.9' }],
};

const sip = (s: string) => parseUri(s) as SipUri;
const addresses = (targets: unknown[]) => targets.map((t) => (t as { address: string }).address);

describe('a peer set with DNS behind it', () => {
  it('keeps the SRV priority order of a name it does not know, request after request', async () => {
    current = await rig(zone, { addressFamilies: [4] });
    const resolve = peerSetResolver({ peers: { 'icscf.example.com': ['sip:10.0.0.1'] }, locator: current.resolver });
    for (let i = 0; i < 3; i++) {
      expect(addresses(await resolve(sip('sip:scscf.example.com;transport=tcp')))).toEqual(['192.0.2.1', '192.0.2.2']);
    }
  });

  it('rotates among its peers when one of them is a host name found in DNS', async () => {
    current = await rig(zone, { addressFamilies: [4] });
    const resolve = peerSetResolver({ peers: { 'mmtel.example.com': ['sip:as.example.com:5070;transport=tcp', 'sip:10.0.0.5:5070;transport=tcp'] }, locator: current.resolver });
    expect(await resolve(sip('sip:mmtel.example.com;lr'))).toEqual([
      { protocol: 'TCP', address: '192.0.2.9', port: 5070 },
      { protocol: 'TCP', address: '10.0.0.5', port: 5070 },
    ]);
    expect(addresses(await resolve(sip('sip:mmtel.example.com;lr')))).toEqual(['10.0.0.5', '192.0.2.9']);
  });
});
