/**
 * Public GRUUs (RFC 5627): the registrar hands one out per instance of a client that supports
 * them, and the S-CSCF delivers a request for a GRUU to that instance only.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { gruuInstance, publicGruu } from '../../src/ims/core/bindings.js';
import { Registrar } from '../../src/ims/core/registrar.js';
import { ScscfService } from '../../src/ims/core/scscf.js';
import { LocalHss } from '../../src/ims/hss-local.js';
import { HomeDomain } from '../../src/ims/identity.js';
import {
  computeHa1,
  computeResponse,
  formatCredentials,
  parseDigestChallenge,
  parseUri,
  type SipRequest,
} from '../../src/sip/index.js';
import { MemoryRegistrationStore, MemorySubscriberStore } from '../../src/storage/memory/index.js';
import { RecordingContext, registrarOptions, request, run } from './ims-fakes.js';

const REALM = 'example.com';
const IMPI = '6505550001@example.com';
const IMPU = 'sip:6505550001@example.com';
const PASSWORD = 'secret1';
const PHONE = '<urn:uuid:00000000-0000-1000-8000-000000000a01>';
const LAPTOP = '<urn:uuid:00000000-0000-1000-8000-000000000b02>';

let registrar: Registrar;
let scscf: ScscfService;
let cseq: number;

beforeEach(async () => {
  const now = 1_800_000_000_000;
  cseq = 1;
  const subscribers = new MemorySubscriberStore();
  const registrations = new MemoryRegistrationStore();
  const hss = new LocalHss(subscribers);
  const home = new HomeDomain(REALM);
  registrar = new Registrar(registrarOptions({ hss, registrations, now: () => now }, { algorithms: ['MD5'] }));
  scscf = new ScscfService({ host: 'scscf.example.com', home, hss, registrations, registrar, icscf: 'sip:icscf.example.com', now: () => now });
  await subscribers.addSubscriber({
    privateIdentity: { impi: IMPI, digest: [{ realm: REALM, algorithm: 'MD5', ha1: computeHa1('MD5', IMPI, REALM, PASSWORD) }] },
    implicitSet: { id: 'set1', serviceProfile: '<ServiceProfile/>' },
    publicIdentities: [{ impu: IMPU }],
  });
});

function register(contact: string, extra: string[]): SipRequest {
  const device = /sip:([a-z]+)@/.exec(contact)![1];
  return request([
    'REGISTER sip:example.com SIP/2.0',
    'Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bKr1',
    'From: <sip:6505550001@example.com>;tag=f1',
    'To: <sip:6505550001@example.com>',
    `Call-ID: reg-${device}`,
    `CSeq: ${cseq++} REGISTER`,
    'Max-Forwards: 70',
    'Path: <sip:tok@pcscf.example.com;lr;ob>',
    `Contact: ${contact}`,
    ...extra,
  ]);
}

/** REGISTER, 401, REGISTER with Digest: the 200. */
async function registerWith(contact: string, extra: string[] = ['Supported: path, gruu, outbound']): Promise<RecordingContext> {
  const first = await run(new RecordingContext(register(contact, extra)), (c) => registrar.register(c));
  const nonce = parseDigestChallenge(first.response.get('www-authenticate')!)!.nonce!;
  const ha1 = computeHa1('MD5', IMPI, REALM, PASSWORD);
  const fields = { nonce, uri: 'sip:example.com', qop: 'auth' as const, nc: '00000001', cnonce: 'c0ffee' };
  const response = computeResponse({ algorithm: 'MD5', ha1, method: 'REGISTER', ...fields });
  const auth = formatCredentials({ username: IMPI, realm: REALM, response, algorithm: 'MD5', ...fields });
  return run(new RecordingContext(register(contact, [`Authorization: ${auth}`, ...extra])), (c) => registrar.register(c));
}

function invite(uri: string): SipRequest {
  return request([
    `INVITE ${uri} SIP/2.0`,
    'Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKi1',
    'From: <sip:6505550002@example.com>;tag=a',
    'To: <sip:6505550001@example.com>',
    'Call-ID: call-1',
    'CSeq: 1 INVITE',
    'Max-Forwards: 70',
  ]);
}

const phoneContact = `<sip:phone@192.0.2.1:40001;transport=tls>;+sip.instance="${PHONE}";reg-id=1`;
const laptopContact = `<sip:laptop@192.0.2.2:40002;transport=ws>;+sip.instance="${LAPTOP}";reg-id=1`;

describe('public GRUUs (RFC 5627)', () => {
  it('are given in the 200 for each instance of a client that said Supported: gruu', async () => {
    await registerWith(phoneContact);
    const ok = await registerWith(laptopContact);
    expect(ok.response.status).toBe(200);
    const contacts = ok.response.getAll('contact');
    expect(contacts).toHaveLength(2);
    expect(contacts[0]).toContain(`;pub-gruu="sip:6505550001@example.com;gr=urn:uuid:00000000-0000-1000-8000-000000000a01"`);
    expect(contacts[1]).toContain(`;pub-gruu="sip:6505550001@example.com;gr=urn:uuid:00000000-0000-1000-8000-000000000b02"`);
  });

  it('are not given to a client that did not say it supports them, nor for a contact without an instance', async () => {
    const ok = await registerWith(phoneContact, ['Supported: path']);
    expect(ok.response.get('contact')).not.toContain('pub-gruu');
    const plain = await registerWith('<sip:desk@192.0.2.3:5060>');
    expect(plain.response.getAll('contact').find((c) => c.includes('desk'))).not.toContain('pub-gruu');
  });

  it('escape what a URI parameter cannot hold, and read back to the instance id', () => {
    const gruu = publicGruu(IMPU, '<urn:example:a b"c>');
    expect(gruu).toBe('sip:6505550001@example.com;gr=urn:example:a%20b%22c');
    expect(gruuInstance(parseUri(gruu))).toBe('urn:example:a b"c');
    expect(gruuInstance(parseUri(IMPU))).toBeUndefined();
  });

  it('reach only the instance they name, while the AoR forks to every device', async () => {
    await registerWith(phoneContact);
    await registerWith(laptopContact);
    const all = await run(new RecordingContext(invite(IMPU)), (c) => scscf.onInitialRequest(c));
    expect(all.outcome?.targets?.map((t) => t.uri?.toString())).toEqual(['sip:phone@192.0.2.1:40001;transport=tls', 'sip:laptop@192.0.2.2:40002;transport=ws']);
    const gruu = `${IMPU};gr=urn:uuid:00000000-0000-1000-8000-000000000b02`;
    const one = await run(new RecordingContext(invite(gruu)), (c) => scscf.onInitialRequest(c));
    expect(one.outcome?.targets?.map((t) => t.uri?.toString())).toEqual(['sip:laptop@192.0.2.2:40002;transport=ws']);
    expect(one.outcome?.targets?.[0]?.routes).toEqual(['sip:tok@pcscf.example.com;lr;ob']);
  });

  it('get 480 when the instance is not registered, and 404 for a temporary GRUU never handed out', async () => {
    await registerWith(phoneContact);
    const gone = await run(new RecordingContext(invite(`${IMPU};gr=urn:uuid:00000000-0000-1000-8000-000000000b02`)), (c) => scscf.onInitialRequest(c));
    expect(gone.response.status).toBe(480);
    const temp = await run(new RecordingContext(invite(`${IMPU};gr`)), (c) => scscf.onInitialRequest(c));
    expect(temp.response.status).toBe(404);
  });
});
