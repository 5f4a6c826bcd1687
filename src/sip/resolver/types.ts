/**
 * Types shared by the RFC 3263 server locator: what it is asked, what it answers, and the DNS
 * client it asks through (an interface, so a test or another resolver library can stand in).
 */
import type { TransportProtocol } from '../transport/types.js';

/**
 * The parts of a SIP or SIPS URI that RFC 3263 §4 looks at. Kept apart from the URI model so the
 * locator does not depend on the URI parser: the caller passes the URI's scheme, host (an IPv6
 * reference may keep its brackets), port if present and `transport` parameter if present (as
 * written; compared case-insensitively). For a request this is the next hop's URI (RFC 3261
 * §8.1.2, §16.6 step 7).
 */
export interface SipResolveInput {
  scheme: 'sip' | 'sips';
  host: string;
  port?: number;
  transport?: string;
}

/** One place to try, in the order the caller should try them (RFC 3263 §4.3). */
export interface SipTarget {
  protocol: TransportProtocol;
  /** An IP address, IPv6 without brackets. */
  address: string;
  port: number;
}

/** A NAPTR record (RFC 3403 §4.1), as node:dns returns it; `ttl` in seconds when the client knows it. */
export interface NaptrRecord {
  flags: string;
  service: string;
  regexp: string;
  replacement: string;
  order: number;
  preference: number;
  ttl?: number;
}

/** An SRV record (RFC 2782), as node:dns returns it (`name` is the target); `ttl` in seconds when known. */
export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  name: string;
  ttl?: number;
}

/** An A or AAAA record with its TTL in seconds, as node:dns returns it with `{ ttl: true }`. */
export interface AddressRecord {
  address: string;
  ttl: number;
}

/**
 * The four queries RFC 3263 needs. Implementations reject with an `Error` whose `code` is one of
 * the node:dns codes: {@link DNS_NOT_FOUND} for NXDOMAIN, {@link DNS_NO_DATA} for a name without
 * records of the type, {@link DNS_TIMEOUT} when no server answered, others (`ESERVFAIL`,
 * `EREFUSED`, `ECONNREFUSED`, ...) as node:dns defines them.
 */
export interface DnsClient {
  resolveNaptr(name: string): Promise<NaptrRecord[]>;
  resolveSrv(name: string): Promise<SrvRecord[]>;
  resolve4(name: string): Promise<AddressRecord[]>;
  resolve6(name: string): Promise<AddressRecord[]>;
}

/** NXDOMAIN (RFC 1035 §4.1.1 RCODE 3): an answer, cached negatively. */
export const DNS_NOT_FOUND = 'ENOTFOUND';
/** The name exists but has no records of the type (RFC 2308 §2.2 NODATA): an answer, cached negatively. */
export const DNS_NO_DATA = 'ENODATA';
/** No server answered in time. Not cached; reported so the caller may answer 408 rather than 503. */
export const DNS_TIMEOUT = 'ETIMEOUT';

export type RrType = 'NAPTR' | 'SRV' | 'A' | 'AAAA';

/** A query that got no answer (not NXDOMAIN or NODATA, which are answers). */
export interface DnsFailure {
  name: string;
  type: RrType;
  /** The node:dns error code, e.g. `ETIMEOUT`, `ESERVFAIL`. */
  code: string;
}

/** What a resolution found, and which queries failed on the way. */
export interface ResolveOutcome {
  /** Ordered, without duplicates; empty when nothing resolved. */
  targets: SipTarget[];
  /** Queries that failed rather than being answered; empty when DNS answered everything. */
  errors: DnsFailure[];
}
