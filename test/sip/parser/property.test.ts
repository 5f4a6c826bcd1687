import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseMessage } from '../../../src/sip/parser/parse.js';
import { serializeMessage } from '../../../src/sip/message/serialize.js';
import { makeRequest, makeResponse } from '../../../src/sip/message/build.js';
import { SipRequest, SipResponse } from '../../../src/sip/message/message.js';
import { SipUri } from '../../../src/sip/message/uri.js';
import { quote } from '../../../src/sip/message/chars.js';

const alnum = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const tokenChars = `${alnum}-.!%*_+\`'~`;
const str = (chars: string, min: number, max: number) =>
  fc.array(fc.constantFrom(...chars.split('')), { minLength: min, maxLength: max }).map((a) => a.join(''));

const token = str(tokenChars, 1, 12);
const label = str(`${alnum}-`, 1, 10).filter((s) => !s.startsWith('-') && !s.endsWith('-'));
const hostname = fc.array(label, { minLength: 1, maxLength: 4 }).map((a) => a.join('.'));
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join('.'));
const ipv6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((a) => `[${a.map((n) => n.toString(16)).join(':')}]`);
const host = fc.oneof(hostname, ipv4, ipv6);
const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: null });
const user = str(`${alnum}-_.!~*'()&=+$,;?/`, 1, 16);
const paramText = str(`${alnum}-_.!~*'()`, 1, 10);
const uriParam = fc.tuple(paramText, fc.option(paramText, { nil: null }));

const sipUri = fc
  .record({ scheme: fc.constantFrom('sip' as const, 'sips' as const), user: fc.option(user, { nil: null }), host, port, params: fc.array(uriParam, { maxLength: 3 }) })
  .map((r) => {
    const u = new SipUri(r.scheme, r.user, r.host, r.port);
    for (const [n, v] of r.params) u.params.set(n, v);
    return u;
  });

const displayName = fc.option(
  fc.oneof(
    fc.array(token, { minLength: 1, maxLength: 3 }).map((a) => a.join(' ')),
    fc.string({ maxLength: 20 }).filter((s) => !/[\r\n]/.test(s)).map((s) => quote(s.replace(/[^\x20-\x7e]/g, 'x'))),
  ),
  { nil: null },
);

const nameAddr = fc.record({ dn: displayName, uri: sipUri, tag: fc.option(token, { nil: undefined }) }).map(({ dn, uri, tag }) => ({
  text: `${dn !== null ? `${dn} ` : ''}<${uri}>${tag ? `;tag=${tag}` : ''}`,
  uri: uri.toString(),
  tag,
  dn,
}));

const via = fc.record({ transport: fc.constantFrom('UDP', 'TCP', 'TLS', 'WS', 'WSS'), host, port, branch: token }).map(
  (v) => `SIP/2.0/${v.transport} ${v.host}${v.port !== null ? `:${v.port}` : ''};branch=z9hG4bK${v.branch}`,
);

const unknownHeader = fc.tuple(
  token.map((t) => `X-${t}`),
  fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x21-\x7e ]/g, '').trim()),
);

const method = fc.constantFrom('INVITE', 'REGISTER', 'OPTIONS', 'MESSAGE', 'BYE', 'SUBSCRIBE', 'NEWMETHOD');

const request = fc.record({
  method,
  ruri: sipUri,
  vias: fc.array(via, { minLength: 1, maxLength: 4 }),
  viaJoined: fc.boolean(),
  from: nameAddr,
  to: nameAddr,
  callId: fc.tuple(token, fc.option(hostname, { nil: undefined })).map(([a, b]) => (b ? `${a}@${b}` : a)),
  seq: fc.integer({ min: 0, max: 0xffffffff }),
  maxForwards: fc.integer({ min: 0, max: 255 }),
  contacts: fc.array(nameAddr, { maxLength: 3 }),
  extra: fc.array(unknownHeader, { maxLength: 4 }),
  body: fc.uint8Array({ maxLength: 300 }),
});

describe('serialize -> parse round trip (fast-check)', () => {
  it('keeps every generated request unchanged', () => {
    fc.assert(
      fc.property(request, (r) => {
        const headers: Array<[string, string]> = [];
        if (r.viaJoined) headers.push(['Via', r.vias.join(', ')]);
        else for (const v of r.vias) headers.push(['Via', v]);
        headers.push(['Max-Forwards', String(r.maxForwards)], ['From', r.from.text], ['To', r.to.text], ['Call-ID', r.callId], ['CSeq', `${r.seq} ${r.method}`]);
        if (r.contacts.length) headers.push(['Contact', r.contacts.map((c) => c.text).join(', ')]);
        for (const [n, v] of r.extra) headers.push([n, v]);
        const msg = makeRequest(r.method, r.ruri.toString(), headers, Buffer.from(r.body));
        const wire = serializeMessage(msg);
        for (const stream of [false, true]) {
          const back = parseMessage(wire, { stream }) as SipRequest;
          expect(back.method).toBe(r.method);
          expect(back.uri.toString()).toBe(r.ruri.toString());
          expect(back.vias.map((v) => v.toString())).toEqual(r.vias);
          expect(back.from.uri.toString()).toBe(r.from.uri);
          expect(back.from.tag).toBe(r.from.tag);
          expect(back.from.displayName).toBe(r.from.dn);
          expect(back.to.uri.toString()).toBe(r.to.uri);
          expect(back.callId).toBe(r.callId);
          expect(back.cseq).toEqual({ seq: r.seq, method: r.method });
          expect(back.maxForwards).toBe(r.maxForwards);
          expect(back.contacts.map((c) => c.uri.toString())).toEqual(r.contacts.map((c) => c.uri));
          for (const [n, v] of r.extra) expect(back.getAll(n)).toContain(v);
          expect(Buffer.from(back.body).equals(Buffer.from(r.body))).toBe(true);
          expect(serializeMessage(back).equals(wire)).toBe(true);
        }
        const res = makeResponse(parseMessage(wire) as SipRequest, 486, undefined, 'x1');
        const resBack = parseMessage(serializeMessage(res)) as SipResponse;
        expect(resBack.status).toBe(486);
        expect(resBack.vias.map((v) => v.toString())).toEqual(r.vias);
        expect(resBack.callId).toBe(r.callId);
      }),
      { numRuns: process.env.CI ? 3000 : 500 },
    );
  });
});
