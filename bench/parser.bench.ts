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

function measure(fn: () => void): Result {
  const warm = performance.now() + 300;
  while (performance.now() < warm) for (let i = 0; i < 1000; i++) fn();
  let ops = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + BENCH_MS;
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) fn();
    ops += 1000;
  }
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { rate: (ops / elapsed) * 1000, cpuUs: (cpu.user + cpu.system) / ops };
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
    const a = measure(ours);
    const b = measure(ref);
    rows.push(`${name} | ${label}\n  tidewater ${fmt(a)}\n  sip (ref) ${fmt(b)}\n  ratio     ${(a.rate / b.rate).toFixed(2)}x (goal >= 3x)`);
  }
}
void sink;
console.log(`parser benchmark, Node ${process.version}, ${BENCH_MS} ms per case\n`);
console.log(rows.join('\n\n'));
