import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../src/sip/parser/parse.js';
import { serializeMessage } from '../../../src/sip/message/serialize.js';
import { SipRequest, SipResponse } from '../../../src/sip/message/message.js';
import { SipUri, TelUri } from '../../../src/sip/message/uri.js';
import { ownMessage } from './own-messages.js';

describe("the project's own torture messages", () => {
  it('parses a REGISTER with Digest credentials and an outbound Contact', () => {
    const m = parseMessage(ownMessage('register-auth.sip')) as SipRequest;
    expect(m.method).toBe('REGISTER');
    expect(m.get('authorization')).toMatch(/^Digest username="6505550001@example.com", realm="example.com"/);
    const c = m.contacts[0]!;
    expect(c.params.get('reg-id')).toBe('1');
    expect(c.params.get('expires')).toBe('3600');
    expect(m.getAll('supported')).toEqual(['path', 'outbound', 'gruu']);
    expect(m.expires).toBe(3600);
  });

  it('parses an INVITE with SDP and a loose route', () => {
    const m = parseMessage(ownMessage('invite-sdp.sip')) as SipRequest;
    expect(m.body.toString()).toMatch(/^v=0\r\n/);
    expect(m.body.length).toBe(m.contentLength);
    expect((m.routes[0]!.uri as SipUri).params.has('lr')).toBe(true);
  });

  it('parses a 200 with two Vias on one line and a Record-Route', () => {
    const m = parseMessage(ownMessage('response-rr.sip')) as SipResponse;
    expect(m.vias.map((v) => v.received)).toEqual(['192.0.2.1', '192.0.2.10']);
    expect(m.vias[1]!.rport).toBe(5060);
    expect((m.recordRoutes[0]!.uri as SipUri).params.get('ftag')).toBe('9fxced76sl');
    expect(m.to.tag).toBe('8321234356');
  });

  it('parses compact names, folded values, quoted escapes and IPv6 over a stream', () => {
    const m = parseMessage(ownMessage('compact-folded.sip'), { stream: true }) as SipRequest;
    expect(m.topVia!.host).toBe('[2001:db8::5]');
    expect(m.topVia!.rport).toBeNull();
    expect(m.from.tag).toBe('abc');
    expect(m.to.display).toBe('Bob "the builder"');
    expect(m.cseq).toEqual({ seq: 17, method: 'MESSAGE' });
    expect(m.maxForwards).toBe(70);
    expect(m.get('x-opaque')).toBe('"a,b" ; x = "y;z" , <sip:q@r;s>');
    expect(m.body.toString()).toBe('hello world');
  });

  it('parses a SUBSCRIBE to a tel URI arriving over secure WebSocket', () => {
    const m = parseMessage(ownMessage('tel-subscribe.sip')) as SipRequest;
    expect(m.uri).toBeInstanceOf(TelUri);
    expect(m.topVia!.transport).toBe('WSS');
    expect(m.get('event')).toBe('reg');
  });

  it('serializes each of them back to the same bytes', () => {
    for (const f of ['register-auth.sip', 'invite-sdp.sip', 'response-rr.sip', 'compact-folded.sip', 'tel-subscribe.sip']) {
      const buf = ownMessage(f);
      expect(serializeMessage(parseMessage(buf)).equals(buf)).toBe(true);
    }
  });
});
