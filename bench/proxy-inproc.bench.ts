/**
 * The proxy's own JavaScript cost per call, without sockets: the static-routing proxy core on a
 * SipStack whose transport is a function call. A scripted caller and callee (whose own work is
 * not timed) play INVITE/100/180/200/ACK/BYE/200 through it. `tsx bench/proxy-inproc.bench.ts`
 * (CALLS=20000). Complements bench:proxy, which measures the real thing with SIPp and Kamailio.
 *
 * HOPS=n (default 0) puts n services of the same core between the one that takes the call and
 * the callee, as the all-in-one's edge, S-CSCF and MMTel AS are: each forwards to the next over
 * an in-process hop (LocalHop), whose work runs on the microtask queue. With hops, each step of
 * the call therefore waits for a turn of the event loop before the next, and its time runs
 * until then (one loop turn per step included). SETTLE=1 times HOPS=0 the same way: the
 * difference between `HOPS=0 SETTLE=1` and `HOPS=n` is what n such hops cost a call.
 */
import { ProxyCore, SipStack, SipRequest, SipResponse, makeResponse, parseMessage, parseUri, serializeMessage } from '../src/sip/index.js';
import type { Flow, SendTarget } from '../src/sip/transport/types.js';
import type { RequestContext } from '../src/sip/proxy/service.js';

const CALLS = Number(process.env.CALLS ?? 20000);
const HOPS = Number(process.env.HOPS ?? 0);
if (!Number.isInteger(HOPS) || HOPS < 0) throw new Error(`HOPS must be a whole number >= 0, got ${process.env.HOPS}`);
const SETTLE = HOPS > 0 || process.env.SETTLE === '1';
const PROXY = { address: '127.0.0.1', port: 5060 };
const UAC = { address: '127.0.0.1', port: 5080 };
const UAS = { address: '127.0.0.1', port: 5090 };
const flowOf = (remote: { address: string; port: number }): Flow => ({
  id: `UDP/${PROXY.address}/${PROXY.port}/${remote.address}/${remote.port}`,
  protocol: 'UDP',
  local: PROXY,
  remote,
});
const uacFlow = flowOf(UAC);
const uasFlow = flowOf(UAS);

const outbox: Array<{ data: Buffer; to: number }> = [];
const transport = {
  send(data: Buffer, target: SendTarget): Promise<Flow> {
    const port = 'flowId' in target ? Number(target.flowId.split('/').pop()) : target.port;
    outbox.push({ data, to: port });
    return Promise.resolve(port === UAS.port ? uasFlow : uacFlow);
  },
};
const stack = new SipStack({ transport, autoTrying: false });
const CALLEE = parseUri(`sip:bob@${UAS.address}:${UAS.port}`);
/** Where the service before hop `i` sends the call: to hop `i`, or to the callee after the last. */
const onward = (i: number) => (i < HOPS ? { routes: [`<sip:hop${i}.invalid;lr>`] } : { uri: CALLEE });
const core = new ProxyCore({
  transactions: stack,
  listeners: [{ protocol: 'UDP', host: PROXY.address, port: PROXY.port }],
  services: Array.from({ length: HOPS }, (_, i) => ({ hosts: [`hop${i}.invalid`], onInitialRequest: (ctx: RequestContext) => ctx.forward(onward(i + 1)) })),
  defaultService: { hosts: [], onInitialRequest: (ctx) => ctx.forward(onward(0)) },
});
stack.setUser(core);

const SDP = 'v=0\r\no=caller 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
function invite(n: number): Buffer {
  return Buffer.from(
    `INVITE sip:bob@127.0.0.1:5090 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-${n}-1\r\nMax-Forwards: 70\r\n` +
      `From: <sip:alice@127.0.0.1:5080>;tag=a${n}\r\nTo: <sip:bob@127.0.0.1:5090>\r\nCall-ID: ${n}-bench@127.0.0.1\r\nCSeq: 1 INVITE\r\n` +
      `Contact: <sip:alice@127.0.0.1:5080;transport=UDP>\r\nContent-Type: application/sdp\r\nContent-Length: ${SDP.length}\r\n\r\n${SDP}`,
  );
}
function inDialog(method: string, n: number, cseq: number, branch: string, rr: string[]): Buffer {
  const route = rr.length ? `Route: ${rr.join(', ')}\r\n` : '';
  return Buffer.from(
    `${method} sip:bob@127.0.0.1:5090 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=${branch}\r\n${route}Max-Forwards: 70\r\n` +
      `From: <sip:alice@127.0.0.1:5080>;tag=a${n}\r\nTo: <sip:bob@127.0.0.1:5090>;tag=b${n}\r\nCall-ID: ${n}-bench@127.0.0.1\r\nCSeq: ${cseq} ${method}\r\n` +
      `Content-Length: 0\r\n\r\n`,
  );
}

let busyNs = 0n;
/** When SETTLE: when the step's message went into the stack. */
let stepStart = 0n;
/** Without hops, what a message sets off is done when `receive` returns. */
function deliver(data: Buffer, flow: Flow): void {
  const t = process.hrtime.bigint();
  stack.receive({ data, flow });
  if (SETTLE) stepStart = t;
  else busyNs += process.hrtime.bigint() - t;
}
/** Runs one step of the call and, when SETTLE, times it from its delivery to the event loop's next turn. */
async function step(fn: () => void): Promise<void> {
  fn();
  if (!SETTLE) return;
  await new Promise((r) => setImmediate(r));
  busyNs += process.hrtime.bigint() - stepStart;
}
/** The callee's answer to the last request the proxy sent it. */
function answer(status: number, body = ''): void {
  const last = [...outbox].reverse().find((o) => o.to === UAS.port)!;
  const req = parseMessage(last.data) as SipRequest;
  const res = makeResponse(req, status, undefined, `b${req.callId.split('-')[0]}`);
  if (body) res.setBody(body, 'application/sdp');
  if (req.method === 'INVITE') res.append('Contact', '<sip:bob@127.0.0.1:5090>');
  for (const rr of req.getAll('record-route')) res.append('Record-Route', rr);
  deliver(serializeMessage(res), uasFlow);
}

async function call(n: number): Promise<void> {
  outbox.length = 0;
  await step(() => deliver(invite(n), uacFlow));
  await step(() => answer(180));
  await step(() => answer(200, SDP));
  const ok = parseMessage([...outbox].reverse().find((o) => o.to === UAC.port)!.data) as SipResponse;
  if (ok.status !== 200) throw new Error(`call ${n}: the caller got ${ok.status}, not the 200`);
  const rr = ok.getAll('record-route').reverse();
  await step(() => deliver(inDialog('ACK', n, 1, `z9hG4bK-${n}-2`, rr), uacFlow));
  await step(() => deliver(inDialog('BYE', n, 2, `z9hG4bK-${n}-3`, rr), uacFlow));
  await step(() => answer(200));
  if (n % 200 === 0) await new Promise((r) => setImmediate(r));
}

for (let i = 0; i < 2000; i++) await call(i);
busyNs = 0n;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 2000; i < 2000 + CALLS; i++) await call(i);
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
console.log(`${CALLS} calls through the proxy core in-process (no sockets), ${HOPS} in-process service hops${SETTLE ? ', each step timed until the next turn of the event loop' : ''}, Node ${process.version}`);
console.log(`  proxy JS time per call:       ${(Number(busyNs) / 1000 / CALLS).toFixed(1)} us (6 messages in, 7 out, timers included)`);
console.log(`  process CPU per call (all):   ${((cpu.user + cpu.system) / CALLS).toFixed(1)} us (includes the scripted caller and callee)`);
console.log(`  wall per call:                ${((wall * 1000) / CALLS).toFixed(1)} us`);
console.log(`  live transactions at the end: ${JSON.stringify(stack.transactionCount)}`);
console.log(`  heap used: ${(process.memoryUsage().heapUsed / 1048576).toFixed(0)} MiB`);
stack.close();
