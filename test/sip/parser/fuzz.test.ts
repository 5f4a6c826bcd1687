import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../src/sip/parser/parse.js';
import { serializeMessage } from '../../../src/sip/message/serialize.js';
import { SipParseError } from '../../../src/sip/message/errors.js';
import { SipRequest, type SipMessage } from '../../../src/sip/message/message.js';
import { listFixtures, readFixture } from '../../harness/fixtures.js';
import { ownMessages } from './own-messages.js';
import { seeded } from '../../harness/random.js';

const INTERESTING = Buffer.from('\r\n:;,<>"\\@[]% \t=\x00\xff/0');

function mutate(src: Buffer, rand: () => number): Buffer {
  let buf = Buffer.from(src);
  const ops = 1 + Math.floor(rand() * 4);
  for (let k = 0; k < ops; k++) {
    const pos = Math.floor(rand() * (buf.length + 1));
    const op = Math.floor(rand() * 5);
    if (op === 0 && buf.length) buf[Math.min(pos, buf.length - 1)]! ^= 1 << Math.floor(rand() * 8);
    else if (op === 1) buf = buf.subarray(0, pos);
    else if (op === 2) {
      const ins = Buffer.from([INTERESTING[Math.floor(rand() * INTERESTING.length)]!]);
      buf = Buffer.concat([buf.subarray(0, pos), ins, buf.subarray(pos)]);
    } else if (op === 3 && buf.length) {
      const len = Math.floor(rand() * 16);
      buf = Buffer.concat([buf.subarray(0, pos), buf.subarray(Math.min(buf.length, pos + len))]);
    } else if (buf.length) buf[Math.min(pos, buf.length - 1)] = Math.floor(rand() * 256);
  }
  return buf;
}

/** Touches every lazily decoded part, as a proxy or registrar would. */
function readAll(m: SipMessage): void {
  if (m instanceof SipRequest) void m.uri.toString();
  void m.vias.map((v) => v.branch);
  void m.from.tag;
  void m.to.uri;
  void m.cseq;
  void m.contacts;
  void m.routes;
  void m.recordRoutes;
  void m.expires;
  serializeMessage(m);
}

describe('mutation fuzz over the torture and hand-made message sets', () => {
  it('throws nothing but SipParseError on flipped, truncated and inserted bytes', () => {
    const corpus: Buffer[] = [...ownMessages()];
    for (const f of listFixtures('rfc4475')) corpus.push(readFixture('rfc4475', f));
    const total = Number(process.env.FUZZ_INPUTS ?? (process.env.CI ? 200_000 : 50_000));
    const seed = Number(process.env.FUZZ_SEED ?? 4475);
    const rand = seeded(seed);
    let parsed = 0;
    let rejected = 0;
    for (let i = 0; i < total; i++) {
      const input = mutate(corpus[i % corpus.length]!, rand);
      for (const stream of [false, true]) {
        try {
          readAll(parseMessage(input, { stream }));
          parsed++;
        } catch (e) {
          if (!(e instanceof SipParseError)) {
            throw new Error(`input #${i} (seed ${seed}) threw ${String(e)}: ${JSON.stringify(input.toString('latin1'))}`);
          }
          rejected++;
        }
      }
    }
    expect(parsed + rejected).toBe(total * 2);
    expect(parsed).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
    console.log(`fuzz: ${total} inputs x 2 framings, ${parsed} parsed, ${rejected} rejected with SipParseError (seed ${seed})`);
  });
});
