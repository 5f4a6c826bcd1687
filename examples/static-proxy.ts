/**
 * A stateful SIP proxy with static routing, built on Tidewater's proxy core: every initial request
 * not addressed to the proxy itself goes to one next hop (the Request-URI's host and port are
 * rewritten to it, its user part kept), Record-Routed so in-dialog requests come back through.
 *
 *   node --import tsx examples/static-proxy.ts --bind 127.0.0.1 --udp-port 5060 --tcp-port 5060 \
 *     [--ws-port 5062] [--t1 500] --route 'sip:127.0.0.1:5090;transport=udp'
 *
 * Prints `ready` and one line per listener once listening; stops on SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import {
  ProxyCore,
  SipStack,
  SipUri,
  TransportLayer,
  parseUri,
  type ProxyListener,
  type ProxyService,
  type TransportProtocol,
} from '../src/sip/index.js';

const { values } = parseArgs({
  options: {
    bind: { type: 'string', default: '127.0.0.1' },
    'udp-port': { type: 'string' },
    'tcp-port': { type: 'string' },
    'ws-port': { type: 'string' },
    route: { type: 'string' },
    t1: { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
});

function fail(message: string): never {
  process.stderr.write(`static-proxy: ${message}\n`);
  process.exit(2);
}

function port(name: 'udp-port' | 'tcp-port' | 'ws-port'): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) fail(`--${name} must be a port number (0-65535), got "${v}"`);
  return n;
}

if (!values.route) fail('--route is required, e.g. --route "sip:127.0.0.1:5090;transport=udp"');
let route: SipUri;
try {
  const u = parseUri(values.route);
  if (!(u instanceof SipUri)) throw new Error('not a sip: URI');
  route = u;
} catch (e) {
  fail(`--route: ${(e as Error).message}`);
}

const wanted: Array<[TransportProtocol, number | undefined]> = [
  ['UDP', port('udp-port')],
  ['TCP', port('tcp-port')],
  ['WS', port('ws-port')],
];
if (wanted.every(([, p]) => p === undefined)) fail('give at least one of --udp-port, --tcp-port, --ws-port');

const onError = (e: unknown): void => {
  if (values.verbose) process.stderr.write(`static-proxy: ${String((e as Error)?.stack ?? e)}\n`);
};

const transports = new TransportLayer();
const t1 = values.t1 === undefined ? undefined : Number(values.t1);
if (t1 !== undefined && !(Number.isInteger(t1) && t1 > 0)) fail(`--t1 must be a positive number of milliseconds, got "${values.t1}"`);
const timers = t1 === undefined ? {} : { T1: t1, T2: Math.max(t1, 4000) };
const stack = new SipStack({ transport: transports, onError, autoTrying: false, timers });
transports.onMessage((m) => stack.receive(m));
transports.onError(onError);

const listeners: ProxyListener[] = [];
for (const [protocol, p] of wanted) {
  if (p === undefined) continue;
  const bound = await transports.listen({ protocol, address: values.bind!, port: p });
  listeners.push({ protocol, host: bound.address, port: bound.port });
}

/** Static routing: the Request-URI keeps its user and goes to the configured next hop. */
const staticRoute: ProxyService = {
  hosts: [],
  onInitialRequest(ctx) {
    const uri = ctx.request.uri;
    const target = route.clone();
    if (uri instanceof SipUri) target.user = uri.user;
    ctx.forward({ uri: target });
  },
};

const core = new ProxyCore({
  transactions: stack,
  listeners,
  defaultService: staticRoute,
  lookupFlow: (id) => transports.getFlow(id),
  onError,
});
stack.setUser(core);

process.stdout.write('ready\n');
for (const l of listeners) process.stdout.write(`listening ${l.protocol} ${l.host}:${l.port}\n`);

const stop = (): void => {
  void transports.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
