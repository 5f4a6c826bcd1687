/**
 * What Node itself costs the proxy bench: a relay on one UDP socket, with no transactions. Run by
 * bench:proxy as the opt-in targets `floor-relay`, `floor-parse` and `floor-edit`
 * (`BENCH_TARGETS=floor-relay,floor-edit,tidewater,kamailio`), so that a stateful proxy's CPU per
 * call can be split into what any Node program moving the same datagrams pays and what the SIP
 * work adds.
 *
 *   node --import tsx bench/proxy/floor.ts --mode relay|parse|edit --udp-port 5060 \
 *     --route 'sip:127.0.0.1:5090;transport=udp'
 *
 * Datagrams from the route's port go to the peer heard from last on any other port (the SIPp
 * UAC), everything else goes to the route. `relay` sends the bytes it got; `parse` also parses
 * each message with `parseMessage` and reads its Via, From tag, Call-ID and CSeq; `edit` also
 * pushes a Via onto requests, pops the top Via of responses and serializes the result. No 100
 * Trying is sent, so a call is 6 datagrams in and 6 out (the stateful proxy sends 7).
 * Prints `ready` once bound.
 */
import dgram from 'node:dgram';
import { parseArgs } from 'node:util';
import { SipUri, isRequest, parseMessage, parseUri, parseVia, serializeMessage } from '../../src/sip/index.js';

const MODES = ['relay', 'parse', 'edit'] as const;
type Mode = (typeof MODES)[number];

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'relay' },
    bind: { type: 'string', default: '127.0.0.1' },
    'udp-port': { type: 'string' },
    route: { type: 'string' },
  },
  // bench:proxy passes the static proxy's flags too (--tcp-port, --ws-port): not used here.
  strict: false,
});

function fail(message: string): never {
  console.error(`floor: ${message}`);
  process.exit(2);
}

const mode = MODES.find((m) => m === values.mode) ?? fail(`--mode must be one of ${MODES.join(', ')}, got ${String(values.mode)}`);
const address = String(values.bind);
const port = Number(values['udp-port']);
if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`--udp-port must be a port number, got ${String(values['udp-port'])}`);
const route = parseUri(String(values.route ?? fail('--route is required')));
if (!(route instanceof SipUri) || route.port === null) fail(`--route must be a SIP URI with a port, got ${String(values.route)}`);
const routeHost = route.host;
const routePort: number = route.port;

/** As the transport layer does: every destination is an IP literal, so no DNS lookup. */
const lookup = (host: string, _options: unknown, callback: (error: null, address: string, family: number) => void): void => callback(null, host, 4);
const socket = dgram.createSocket({ type: 'udp4', lookup });
let peerAddress = '';
let peerPort = 0;
let branch = 0;
/** Keeps the values read in `parse` mode observable, so the reads are not optimised away. */
let checksum = 0;

function work(data: Buffer, how: Mode): Buffer {
  const msg = parseMessage(data);
  checksum += (msg.topVia?.branch?.length ?? 0) + msg.callId.length + msg.cseq.seq + (msg.from.tag?.length ?? 0);
  if (how === 'parse') return data;
  if (isRequest(msg)) msg.pushVia(parseVia(`SIP/2.0/UDP ${address}:${port};branch=z9hG4bKfloor${++branch}`));
  else msg.popVia();
  return serializeMessage(msg);
}

socket.on('message', (data, rinfo) => {
  const out = mode === 'relay' ? data : work(data, mode);
  if (rinfo.port === routePort && rinfo.address === routeHost) {
    if (peerPort !== 0) socket.send(out, peerPort, peerAddress);
  } else {
    peerAddress = rinfo.address;
    peerPort = rinfo.port;
    socket.send(out, routePort, routeHost);
  }
});
socket.bind({ address, port, exclusive: true }, () => console.log(`ready (floor ${mode}) udp ${address}:${port}`));
process.on('SIGTERM', () => {
  console.log(`floor: checksum ${checksum}`);
  socket.close();
});
process.on('SIGINT', () => socket.close());
