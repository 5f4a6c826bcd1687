import { FakeClock } from '../../harness/fake-clock.js';
import { FakeNetwork, type FakeEndpoint } from '../../harness/fake-transport.js';
import { SipStack } from '../../../src/sip/transaction/stack.js';
import { ProxyCore, type ProxyCoreOptions } from '../../../src/sip/proxy/core.js';
import { makeRequest, makeResponse, newBranch } from '../../../src/sip/message/build.js';
import { serializeMessage } from '../../../src/sip/message/serialize.js';
import { SipRequest, SipResponse } from '../../../src/sip/message/message.js';

export const PROXY = { address: '10.0.0.1', port: 5060 };

/** A proxy on a fake UDP network, with raw endpoints for the user agents around it. */
export function proxyRig(opts: Partial<ProxyCoreOptions> = {}) {
  const clock = new FakeClock();
  const net = new FakeNetwork(clock);
  const ep = net.endpoint('UDP', PROXY.address, PROXY.port);
  const errors: unknown[] = [];
  const stack = new SipStack({ transport: ep, clock, autoTrying: false, onError: (e) => errors.push(e) });
  ep.onMessage = (m) => stack.receive(m);
  const core = new ProxyCore({
    transactions: stack,
    clock,
    listeners: [{ protocol: 'UDP', host: PROXY.address, port: PROXY.port }],
    onError: (e) => errors.push(e),
    ...opts,
  });
  stack.setUser(core);
  const ua = (address: string, port = 5060): FakeEndpoint => net.endpoint('UDP', address, port);
  return { clock, net, ep, stack, core, ua, errors };
}

let cseq = 1;

/** An INVITE (or other request) from `from` addressed to `uri`, sent to the proxy. */
export function request(from: FakeEndpoint, method: string, uri: string, extra: Array<[string, string]> = []): SipRequest {
  const n = cseq++;
  return makeRequest(method, uri, [
    ['Via', `SIP/2.0/UDP ${from.local.address}:${from.local.port};branch=${newBranch()}`],
    ['Max-Forwards', '70'],
    ['From', `<sip:alice@example.com>;tag=a${n}`],
    ['To', `<${uri}>`],
    ['Call-ID', `call-${n}@test`],
    ['CSeq', `${n} ${method}`],
    ['Contact', `<sip:alice@${from.local.address}:${from.local.port}>`],
    ...extra,
  ]);
}

/**
 * The CANCEL of `invite` as its sender builds it (RFC 3261 §9.1): the same Request-URI, top Via,
 * From, To, Call-ID, Route and CSeq number.
 */
export function cancelOf(invite: SipRequest): SipRequest {
  const cancel = new SipRequest('CANCEL', invite.uriString, [], Buffer.alloc(0));
  cancel.append('via', invite.getAll('via')[0]!);
  for (const h of ['from', 'to', 'call-id', 'route']) for (const v of invite.getAll(h)) cancel.append(h, v);
  cancel.append('cseq', `${invite.cseq.seq} CANCEL`);
  cancel.append('max-forwards', '70');
  return cancel;
}

export function send(from: FakeEndpoint, msg: SipRequest | SipResponse, to = PROXY): void {
  void from.send(serializeMessage(msg), { protocol: 'UDP', address: to.address, port: to.port });
}

/** Answers the last request of `method` that `ua` received, back to the proxy. */
export function answer(ua: FakeEndpoint, method: string, status: number, toTag = `t-${ua.local.address}`): SipResponse {
  const got = ua.received((m) => m instanceof SipRequest && m.method === method);
  const req = got[got.length - 1]!.message as SipRequest;
  const res = makeResponse(req, status, undefined, toTag);
  send(ua, res);
  return res;
}

export function statuses(ua: FakeEndpoint): number[] {
  return ua.received((m) => m instanceof SipResponse).map((r) => (r.message as SipResponse).status);
}

export function requests(ua: FakeEndpoint, method: string): SipRequest[] {
  return ua.received((m) => m instanceof SipRequest && m.method === method).map((r) => r.message as SipRequest);
}
