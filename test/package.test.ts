import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';

describe('the published package', () => {
  it('exposes the SIP stack as tidewater/sip (built by npm install)', async () => {
    const sip = await import('tidewater/sip');
    const msg = sip.parseMessage(
      Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n'),
    );
    expect(msg.callId).toBe('c');
    expect(typeof sip.ProxyCore).toBe('function');
    expect(typeof sip.SipStack).toBe('function');
    expect(typeof sip.TransportLayer).toBe('function');
    expect(typeof sip.SipParseError).toBe('function');
    expect(typeof sip.serializeMessage).toBe('function');
  });

  it('declares Node 20 or later and ESM', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { engines: { node: string }; type: string };
    expect(pkg.engines.node).toBe('>=20');
    expect(pkg.type).toBe('module');
  });
});
