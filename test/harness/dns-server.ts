/**
 * A minimal authoritative DNS server for tests: UDP on 127.0.0.1, port 0, one zone given as a plain
 * object. It speaks the real wire format (RFC 1035 §4), so the code under test can use the real
 * node:dns Resolver against it, and it records every question it is asked.
 *
 * Answers: the records of the asked type (AA set); NOERROR with no answers (NODATA) for a known
 * name without that type; NXDOMAIN for an unknown name; FORMERR for a query it cannot parse;
 * NOTIMP for an opcode other than QUERY. No compression is written (RFC 2782 and RFC 3403 §4.1
 * forbid it in SRV and NAPTR RDATA anyway). A response over 512 octets is sent truncated (TC).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';

export type ZoneRecord =
  | { type: 'A'; address: string; ttl?: number }
  | { type: 'AAAA'; address: string; ttl?: number }
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string; ttl?: number }
  | {
      type: 'NAPTR';
      order: number;
      preference: number;
      flags: string;
      service: string;
      regexp?: string;
      replacement: string;
      ttl?: number;
    };

/** Owner name (case-insensitive, trailing dot optional) to its records. */
export type Zone = Record<string, ZoneRecord[]>;

export type QueryType = 'A' | 'AAAA' | 'SRV' | 'NAPTR' | `TYPE${number}`;

export interface SeenQuery {
  /** Lower-case, without trailing dot. */
  name: string;
  type: QueryType;
}

export interface TestDnsServer {
  readonly port: number;
  /** `127.0.0.1:port`, ready for `Resolver.setServers`. */
  readonly address: string;
  /** Every question received, in order. */
  readonly queries: SeenQuery[];
  /** The zone served; replace it to change answers. */
  zone: Zone;
  /** Queries for which this returns true get no answer at all (a timeout for the client). */
  drop: (q: SeenQuery) => boolean;
  /** Number of questions received for a name (any type, or one type). */
  count(name: string, type?: QueryType): number;
  close(): Promise<void>;
}

const TYPE_CODES: Record<string, number> = { A: 1, AAAA: 28, SRV: 33, NAPTR: 35 };
const TYPE_NAMES: Record<number, QueryType> = { 1: 'A', 28: 'AAAA', 33: 'SRV', 35: 'NAPTR' };
const CLASS_IN = 1;
const RCODE_FORMERR = 1;
const RCODE_NXDOMAIN = 3;
const RCODE_NOTIMP = 4;
const RCODE_REFUSED = 5;
const MAX_UDP = 512;
const DEFAULT_TTL = 300;

/** Starts a server for `zone` on 127.0.0.1 and an ephemeral port. */
export async function startDnsServer(zone: Zone): Promise<TestDnsServer> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const port = socket.address().port;
  const server: TestDnsServer = {
    port,
    address: `127.0.0.1:${port}`,
    queries: [],
    zone,
    drop: () => false,
    count(name, type) {
      const n = normalise(name);
      return this.queries.filter((q) => q.name === n && (type === undefined || q.type === type)).length;
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (msg, rinfo) => onQuery(server, socket, msg, rinfo));
  return server;
}

function onQuery(server: TestDnsServer, socket: Socket, msg: Buffer, rinfo: RemoteInfo): void {
  if (msg.length < 12 || (msg[2]! & 0x80) !== 0) return; // not a query: stay silent
  const reply = answer(server, msg);
  if (reply) socket.send(reply, rinfo.port, rinfo.address);
}

function answer(server: TestDnsServer, msg: Buffer): Buffer | undefined {
  const opcode = (msg[2]! >> 3) & 0x0f;
  if (opcode !== 0) return header(msg, RCODE_NOTIMP, 0, 0);
  const q = parseQuestion(msg);
  if (!q || msg.readUInt16BE(4) !== 1) return header(msg, RCODE_FORMERR, 0, 0);
  const seen: SeenQuery = { name: q.name, type: TYPE_NAMES[q.type] ?? `TYPE${q.type}` };
  server.queries.push(seen);
  if (server.drop(seen)) return undefined;
  const question = msg.subarray(12, q.end);
  if (q.qclass !== CLASS_IN) return Buffer.concat([header(msg, RCODE_REFUSED, 1, 0), question]);
  const records = lookupName(server.zone, q.name);
  if (!records) return Buffer.concat([header(msg, RCODE_NXDOMAIN, 1, 0), question]);
  const matching = records.filter((r) => TYPE_CODES[r.type] === q.type);
  const answers = matching.map((r) => encodeRecord(q.name, r));
  const full = Buffer.concat([header(msg, 0, 1, answers.length), question, ...answers]);
  if (full.length <= MAX_UDP) return full;
  const truncated = Buffer.concat([header(msg, 0, 1, 0), question]);
  truncated[2]! |= 0x02; // TC (RFC 1035 §4.1.1)
  return truncated;
}

function lookupName(zone: Zone, name: string): ZoneRecord[] | undefined {
  for (const [owner, records] of Object.entries(zone)) {
    if (normalise(owner) === name) return records;
  }
  return undefined;
}

/** RFC 1035 §4.1.1: echo ID, QR=1, same opcode, AA=1, RD copied, RA=0. */
function header(query: Buffer, rcode: number, qdcount: number, ancount: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(query.readUInt16BE(0), 0);
  const opcode = (query[2]! >> 3) & 0x0f;
  const rd = query[2]! & 0x01;
  h[2] = 0x80 | (opcode << 3) | 0x04 | rd;
  h[3] = rcode & 0x0f;
  h.writeUInt16BE(qdcount, 4);
  h.writeUInt16BE(ancount, 6);
  return h;
}

interface Question {
  name: string;
  type: number;
  qclass: number;
  /** Offset just past the question. */
  end: number;
}

/** Reads the first question (RFC 1035 §4.1.2); compression pointers are not accepted here. */
function parseQuestion(msg: Buffer): Question | undefined {
  const labels: string[] = [];
  let off = 12;
  let total = 0;
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg[off]!;
    off += 1;
    if (len === 0) break;
    if (len > 63 || off + len > msg.length) return undefined;
    total += len + 1;
    if (total > 255) return undefined;
    labels.push(msg.toString('latin1', off, off + len));
    off += len;
  }
  if (off + 4 > msg.length) return undefined;
  return {
    name: labels.join('.').toLowerCase(),
    type: msg.readUInt16BE(off),
    qclass: msg.readUInt16BE(off + 2),
    end: off + 4,
  };
}

function encodeRecord(owner: string, r: ZoneRecord): Buffer {
  const rdata = encodeRdata(r);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(TYPE_CODES[r.type]!, 0);
  fixed.writeUInt16BE(CLASS_IN, 2);
  fixed.writeUInt32BE(r.ttl ?? DEFAULT_TTL, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([encodeName(owner), fixed, rdata]);
}

function encodeRdata(r: ZoneRecord): Buffer {
  switch (r.type) {
    case 'A':
      return encodeIPv4(r.address);
    case 'AAAA':
      return encodeIPv6(r.address);
    case 'SRV': {
      // RFC 2782: priority, weight, port, then the target, uncompressed.
      const fixed = Buffer.alloc(6);
      fixed.writeUInt16BE(r.priority, 0);
      fixed.writeUInt16BE(r.weight, 2);
      fixed.writeUInt16BE(r.port, 4);
      return Buffer.concat([fixed, encodeName(r.target)]);
    }
    case 'NAPTR': {
      // RFC 3403 §4.1: order, preference, flags, services, regexp, replacement (uncompressed).
      const fixed = Buffer.alloc(4);
      fixed.writeUInt16BE(r.order, 0);
      fixed.writeUInt16BE(r.preference, 2);
      return Buffer.concat([
        fixed,
        encodeCharString(r.flags),
        encodeCharString(r.service),
        encodeCharString(r.regexp ?? ''),
        encodeName(r.replacement),
      ]);
    }
  }
}

function normalise(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** RFC 1035 §3.1: a sequence of length-prefixed labels ending in the root's zero octet. */
export function encodeName(name: string): Buffer {
  const n = normalise(name);
  if (n === '') return Buffer.from([0]);
  const parts: Buffer[] = [];
  for (const label of n.split('.')) {
    const bytes = Buffer.from(label, 'latin1');
    if (bytes.length === 0 || bytes.length > 63) throw new Error(`bad label in ${name}`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  if (out.length > 255) throw new Error(`name too long: ${name}`);
  return out;
}

/** RFC 1035 §3.3: <character-string>, one length octet then up to 255 octets. */
function encodeCharString(s: string): Buffer {
  const bytes = Buffer.from(s, 'latin1');
  if (bytes.length > 255) throw new Error('character-string over 255 octets');
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

function encodeIPv4(address: string): Buffer {
  if (!isIPv4(address)) throw new Error(`not an IPv4 address: ${address}`);
  return Buffer.from(address.split('.').map(Number));
}

/** RFC 4291 §2.2 text forms, including `::` and a trailing dotted IPv4 part. */
export function encodeIPv6(address: string): Buffer {
  if (!isIPv6(address)) throw new Error(`not an IPv6 address: ${address}`);
  let text = address;
  let v4: Buffer | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    v4 = encodeIPv4(text.slice(lastColon + 1));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const parse = (s: string | undefined): number[] => (s ? s.split(':').map((h) => parseInt(h, 16)) : []);
  let groups: number[];
  if (rest === undefined) {
    groups = parse(head);
  } else {
    const left = parse(head);
    const right = parse(rest);
    groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  }
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  if (v4) v4.copy(out, 12);
  return out;
}
