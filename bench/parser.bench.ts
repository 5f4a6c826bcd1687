/**
 * Parser throughput: Tidewater's parser against the npm package `sip` (kirm) in the same run.
 * `npm run bench:parser` (BENCH_MS per case, default 1500).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
// @ts-expect-error the reference package ships no types
import sipRef from 'sip';
import { parseMessage } from '../src/sip/parser/parse.js';
import { serializeMessage } from '../src/sip/message/serialize.js';
import { Via } from '../src/sip/message/via.js';
import type { SipRequest } from '../src/sip/message/message.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const load = (f: string): Buffer => readFileSync(path.join(here, '../test/sip/parser/messages', f));
const MESSAGES: Array<[string, Buffer]> = [
  ['REGISTER with Authorization', load('register-auth.sip')],
  ['INVITE with SDP', load('invite-sdp.sip')],
];
const BENCH_MS = Number(process.env.BENCH_MS ?? 1500);

interface Result {
  rate: number;
  cpuUs: number;
}

/** Time slice of one side before switching to the other (see {@link compare}). */
const SLICE_MS = 50;

interface Tally {
  ops: number;
  ms: number;
  cpuUs: number;
}

function runFor(fn: () => void, ms: number, t: Tally): void {
  let ops = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + ms;
  let now = t0;
  while (now < end) {
    for (let i = 0; i < 1000; i++) fn();
    ops += 1000;
    now = performance.now();
  }
  const cpu = process.cpuUsage(cpu0);
  t.ops += ops;
  t.ms += now - t0;
  t.cpuUs += cpu.user + cpu.system;
}

/**
 * Measures both sides in alternating slices of {@link SLICE_MS} over BENCH_MS each, so that load
 * from other work on a shared machine falls on both alike (measuring one side after the other let
 * a burst of load land on one side only and skew the ratio).
 */
function compare(ours: () => void, ref: () => void): [Result, Result] {
  const warm: Tally = { ops: 0, ms: 0, cpuUs: 0 };
  runFor(ours, 300, warm);
  runFor(ref, 300, warm);
  const a: Tally = { ops: 0, ms: 0, cpuUs: 0 };
  const b: Tally = { ops: 0, ms: 0, cpuUs: 0 };
  while (a.ms < BENCH_MS || b.ms < BENCH_MS) {
    runFor(ours, SLICE_MS, a);
    runFor(ref, SLICE_MS, b);
  }
  const result = (t: Tally): Result => ({ rate: (t.ops / t.ms) * 1000, cpuUs: t.cpuUs / t.ops });
  return [result(a), result(b)];
}

let sink: unknown;
const fmt = (r: Result): string => `${Math.round(r.rate).toLocaleString('en-US').padStart(10)} msg/s  ${r.cpuUs.toFixed(2).padStart(6)} us CPU/msg`;

const rows: string[] = [];
for (const [name, buf] of MESSAGES) {
  const cases: Array<[string, () => void, () => void]> = [
    [
      'parse',
      () => {
        sink = parseMessage(buf);
      },
      () => {
        sink = sipRef.parse(buf);
      },
    ],
    [
      'parse + read Via/From/To/CSeq/Call-ID',
      () => {
        const m = parseMessage(buf);
        sink = [m.topVia!.branch, m.from.tag, m.to.uri, m.cseq.seq, m.callId];
      },
      () => {
        const m = sipRef.parse(buf);
        sink = [m.headers.via[0].params.branch, m.headers.from.params.tag, m.headers.to.uri, m.headers.cseq.seq, m.headers['call-id']];
      },
    ],
    [
      'parse + proxy edit + serialize',
      () => {
        const m = parseMessage(buf) as SipRequest;
        m.pushVia(new Via('UDP', '192.0.2.1', 5060).clone());
        m.set('max-forwards', String((m.maxForwards ?? 70) - 1));
        sink = serializeMessage(m);
      },
      () => {
        const m = sipRef.parse(buf);
        m.headers.via.unshift({ version: '2.0', protocol: 'UDP', host: '192.0.2.1', port: 5060, params: {} });
        m.headers['max-forwards'] = (m.headers['max-forwards'] ?? 70) - 1;
        sink = Buffer.from(sipRef.stringify(m), 'binary');
      },
    ],
  ];
  for (const [label, ours, ref] of cases) {
    const [a, b] = compare(ours, ref);
    rows.push(`${name} | ${label}\n  tidewater ${fmt(a)}\n  sip (ref) ${fmt(b)}\n  ratio     ${(a.rate / b.rate).toFixed(2)}x (goal >= 3x)`);
  }
}
void sink;
console.log(`parser benchmark, Node ${process.version}, ${BENCH_MS} ms per case\n`);
console.log(rows.join('\n\n'));
