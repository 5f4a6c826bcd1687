import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { StreamFramer, FramingError, readContentLength, DEFAULT_MAX_MESSAGE_SIZE } from '../../src/sip/parser/framer.js';

interface Collected {
  messages: Buffer[];
  pings: number;
  errors: FramingError[];
}

function collector(maxMessageSize?: number): { framer: StreamFramer; out: Collected } {
  const out: Collected = { messages: [], pings: 0, errors: [] };
  const framer = new StreamFramer(
    {
      onMessage: (m) => out.messages.push(Buffer.from(m)),
      onPing: () => out.pings++,
      onError: (e) => out.errors.push(e),
    },
    maxMessageSize === undefined ? {} : { maxMessageSize },
  );
  return { framer, out };
}

function frame(chunks: Buffer[], maxMessageSize?: number): Collected {
  const { framer, out } = collector(maxMessageSize);
  for (const chunk of chunks) framer.push(chunk);
  return out;
}

const sdp = 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

const invite =
  'INVITE sip:bob@example.com SIP/2.0\r\n' +
  'Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n' +
  'To: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=1928301774\r\n' +
  'Call-ID: a84b4c76e66710\r\nCSeq: 314159 INVITE\r\nContent-Type: application/sdp\r\n' +
  `Content-Length: ${Buffer.byteLength(sdp)}\r\n\r\n${sdp}`;

// Compact `l`, a folded Subject, and a folded Content-Length value; the body itself contains CRLFCRLF.
const messageBody = 'hello\r\n\r\nworld';
const message =
  'MESSAGE sip:bob@example.com SIP/2.0\r\n' +
  'Subject: a long\r\n  folded subject\r\n' +
  'v: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\r\n' +
  `l:\r\n ${Buffer.byteLength(messageBody)}\r\n` +
  `\r\n${messageBody}`;

// Lower-case long form with whitespace before and after the colon, no body.
const response = 'SIP/2.0 200 OK\r\nCall-ID: x\r\ncontent-LENGTH \t:   0\r\n\r\n';

// A binary body with bytes that look like CR, LF and non-ASCII.
const binaryBody = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0xff, 0x80, 0x0a]);
const binary = Buffer.concat([
  Buffer.from(`INFO sip:x SIP/2.0\r\nContent-Type: application/octet-stream\r\nContent-Length: ${binaryBody.length}\r\n\r\n`),
  binaryBody,
]);

const expectedMessages = [Buffer.from(invite), Buffer.from(message), Buffer.from(response), binary, Buffer.from(response)];
const stream = Buffer.concat([
  Buffer.from('\r\n'), // a leading CRLF before the first start line (RFC 3261 §7.5)
  Buffer.from(invite),
  Buffer.from('\r\n\r\n'), // ping
  Buffer.from(message),
  Buffer.from('\r\n'), // pong
  Buffer.from(response),
  binary,
  Buffer.from('\r\n\r\n'), // ping
  Buffer.from(response),
]);

const expectedText = expectedMessages.map((m) => m.toString('latin1'));

function expectWholeStream(out: Collected): void {
  expect(out.errors).toEqual([]);
  expect(out.messages.map((m) => m.toString('latin1'))).toEqual(expectedText);
  expect(out.pings).toBe(2);
}

describe('StreamFramer', () => {
  it('frames a stream of messages with bodies, compact and folded headers and keepalives', () => {
    expectWholeStream(frame([stream]));
  });

  it('yields the same messages when the stream is cut at every byte boundary', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      expectWholeStream(frame([stream.subarray(0, cut), stream.subarray(cut)]));
    }
  });

  it('yields the same messages when fed one byte at a time', () => {
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) chunks.push(stream.subarray(i, i + 1));
    expectWholeStream(frame(chunks));
  });

  it('yields the same messages for any random cutting of the stream', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 40 }), (cuts) => {
        const sorted = [...cuts].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let from = 0;
        for (const cut of [...sorted, stream.length]) {
          chunks.push(stream.subarray(from, cut));
          from = cut;
        }
        expectWholeStream(frame(chunks));
      }),
      { numRuns: 500 },
    );
  });

  it('reports a ping split over two chunks once, and ignores a lone CRLF pong', () => {
    expect(frame([Buffer.from('\r\n'), Buffer.from('\r\n')]).pings).toBe(1);
    const pong = frame([Buffer.from('\r\n')]);
    expect(pong.pings).toBe(0);
    expect(pong.messages).toEqual([]);
    expect(pong.errors).toEqual([]);
  });

  it('hands out a message that lies inside one chunk without waiting for more bytes', () => {
    const { framer, out } = collector();
    framer.push(Buffer.from(response + 'INVITE sip:x SIP/2.0\r\n'));
    expect(out.messages).toEqual([Buffer.from(response)]);
    expect(framer.bufferedBytes).toBe('INVITE sip:x SIP/2.0\r\n'.length);
  });

  it('accepts duplicate Content-Length fields that agree', () => {
    const out = frame([Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 2\r\nl: 2\r\n\r\nok')]);
    expect(out.errors).toEqual([]);
    expect(out.messages.map(String)).toEqual(['SIP/2.0 200 OK\r\nContent-Length: 2\r\nl: 2\r\n\r\nok']);
  });

  it('does not take a header whose name merely starts with l or Content-Length for the length', () => {
    const text = 'SIP/2.0 200 OK\r\nLocation: 5\r\nContent-Lengthy: 9\r\nContent-Length: 0\r\n\r\n';
    expect(frame([Buffer.from(text)]).messages.map(String)).toEqual([text]);
  });

  it.each([
    ['missing-content-length', 'OPTIONS sip:x SIP/2.0\r\nCall-ID: 1\r\n\r\n'],
    ['invalid-content-length', 'OPTIONS sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n'],
    ['invalid-content-length', 'OPTIONS sip:x SIP/2.0\r\nContent-Length: 12abc\r\n\r\n'],
    ['invalid-content-length', 'OPTIONS sip:x SIP/2.0\r\nContent-Length:\r\n\r\n'],
    ['invalid-content-length', 'OPTIONS sip:x SIP/2.0\r\nContent-Length: 1 2\r\n\r\n'],
    ['conflicting-content-length', 'OPTIONS sip:x SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab'],
  ])('reports %s and stops framing', (reason, text) => {
    const { framer, out } = collector();
    framer.push(Buffer.from(text));
    framer.push(Buffer.from(response));
    expect(out.errors.map((e) => e.reason)).toEqual([reason]);
    expect(out.errors[0]).toBeInstanceOf(FramingError);
    expect(out.messages).toEqual([]);
    expect(framer.stopped).toBe(true);
  });

  it('rejects a message whose Content-Length takes it past the maximum size', () => {
    const out = frame([Buffer.from('MESSAGE sip:x SIP/2.0\r\nContent-Length: 1000\r\n\r\n')], 512);
    expect(out.errors.map((e) => e.reason)).toEqual(['message-too-large']);
    const huge = frame([Buffer.from('MESSAGE sip:x SIP/2.0\r\nContent-Length: 99999999999999999999\r\n\r\n')]);
    expect(huge.errors.map((e) => e.reason)).toEqual(['message-too-large']);
  });

  it('accepts a message of exactly the maximum size', () => {
    const head = 'MESSAGE sip:x SIP/2.0\r\nContent-Length: 100\r\n\r\n';
    const text = head + 'x'.repeat(100);
    const out = frame([Buffer.from(text)], text.length);
    expect(out.messages.map(String)).toEqual([text]);
  });

  it('gives up on a header section that never ends once it reaches the maximum, holding no more than that', () => {
    const { framer, out } = collector();
    const line = Buffer.from('X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n');
    let pushed = 0;
    while (out.errors.length === 0 && pushed < 4 * DEFAULT_MAX_MESSAGE_SIZE) {
      framer.push(line);
      pushed += line.length;
      expect(framer.bufferedBytes).toBeLessThan(DEFAULT_MAX_MESSAGE_SIZE);
    }
    expect(out.errors.map((e) => e.reason)).toEqual(['message-too-large']);
    expect(pushed).toBeLessThanOrEqual(DEFAULT_MAX_MESSAGE_SIZE + line.length);
    expect(framer.bufferedBytes).toBe(0);
  });

  it('stops delivering when a handler closes the framer mid-chunk', () => {
    const seen: Buffer[] = [];
    const framer = new StreamFramer({
      onMessage: (m) => {
        seen.push(m);
        framer.close();
      },
      onError: () => undefined,
    });
    framer.push(Buffer.from(response + response));
    expect(seen).toHaveLength(1);
  });
});

describe('readContentLength', () => {
  it('reads a value folded onto a continuation line', () => {
    expect(readContentLength(Buffer.from('SIP/2.0 200 OK\r\nContent-Length:\r\n\t 42 \r\n\r\n'))).toBe(42);
  });

  it('ignores a Content-Length look-alike in the start line', () => {
    const result = readContentLength(Buffer.from('l: 5 SIP/2.0\r\nCall-ID: x\r\n\r\n'));
    expect(result).toBeInstanceOf(FramingError);
  });
});
