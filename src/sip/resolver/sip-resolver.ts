import { isIP } from 'node:net';
import { systemClock, type Clock } from '../clock.js';
import type { TransportProtocol } from '../transport/types.js';
import { CachedLookup } from './cached-lookup.js';
import { orderSrv } from './srv-order.js';
import type {
  DnsClient,
  DnsFailure,
  NaptrRecord,
  ResolveOutcome,
  RrType,
  SipResolveInput,
  SipTarget,
  SrvRecord,
} from './types.js';

export interface SipResolverOptions {
  dns: DnsClient;
  /** Drives TTL expiry. Default {@link systemClock}. */
  clock?: Clock;
  /** Uniform in [0, 1) for RFC 2782 weighted selection. Default `Math.random`. */
  random?: () => number;
  /**
   * Transports this element can use, in order of preference for the SRV queries made when a domain
   * has no NAPTR records (RFC 3263 §4.1). Default UDP, TCP, TLS, WS, WSS.
   */
  transports?: readonly TransportProtocol[];
  /** Address families to look up, in the order their addresses are listed per host. Default [4, 6]. */
  addressFamilies?: readonly (4 | 6)[];
  /** Most DNS answers kept at once. Default 1024. */
  cacheSize?: number;
  /** TTL for NAPTR and SRV answers when the DNS client reports none (node:dns does not). Default 60. */
  fallbackTtlSeconds?: number;
  /** How long NXDOMAIN and NODATA answers are kept (RFC 2308). Default 30. */
  negativeTtlSeconds?: number;
  /** Cap on any TTL. Default 3600. */
  maxTtlSeconds?: number;
}

const ALL_TRANSPORTS: readonly TransportProtocol[] = ['UDP', 'TCP', 'TLS', 'WS', 'WSS'];

/** `transport` URI parameter (RFC 3261 §19.1.1, RFC 7118 §5) to protocol, for sip: and sips:. */
const SIP_PARAM: ReadonlyMap<string, TransportProtocol> = new Map([
  ['udp', 'UDP'],
  ['tcp', 'TCP'],
  ['tls', 'TLS'],
  ['ws', 'WS'],
  ['wss', 'WSS'],
]);
/** A SIPS URI needs TLS on every hop (RFC 3261 §26.2.2): TCP means TLS, WS means WSS, UDP is unusable. */
const SIPS_PARAM: ReadonlyMap<string, TransportProtocol> = new Map([
  ['tcp', 'TLS'],
  ['tls', 'TLS'],
  ['ws', 'WSS'],
  ['wss', 'WSS'],
]);

/** NAPTR services field to protocol (RFC 3263 §4.1 and §9; the D2W pair registered by RFC 7118); case-insensitive. */
const NAPTR_SERVICES: ReadonlyMap<string, TransportProtocol> = new Map([
  ['SIP+D2U', 'UDP'],
  ['SIP+D2T', 'TCP'],
  ['SIPS+D2T', 'TLS'],
  ['SIP+D2W', 'WS'],
  ['SIPS+D2W', 'WSS'],
]);

/**
 * SRV owner-name prefix per protocol (RFC 3263 §4.2: `_sips` whenever TLS is wanted, also for a
 * SIP URI). RFC 7118 defines no SRV labels; `_ws` for WebSocket follows the RFC 2782 pattern and
 * is used only when a URI names ws/wss explicitly.
 */
const SRV_PREFIX: Readonly<Record<TransportProtocol, string>> = {
  UDP: '_sip._udp.',
  TCP: '_sip._tcp.',
  TLS: '_sips._tcp.',
  WS: '_sip._ws.',
  WSS: '_sips._ws.',
};

/** Transports RFC 3263 §4.1 queries SRV for when there are no NAPTR records. */
const SRV_PROBE: readonly TransportProtocol[] = ['UDP', 'TCP', 'TLS'];

/** Default port per protocol: 5061 where TLS carries SIP, 5060 otherwise (RFC 3261 §19.1.2, RFC 3263 §4.2). */
function defaultPort(protocol: TransportProtocol): number {
  return protocol === 'TLS' || protocol === 'WSS' ? 5061 : 5060;
}

/** One resolution's state: the queries that failed. */
interface Run {
  errors: DnsFailure[];
}

/** An SRV step's result; `found` is true when any SRV record existed, even one saying "no service". */
interface SrvStep {
  found: boolean;
  targets: SipTarget[];
}

/**
 * Locates SIP servers per RFC 3263 §4: turns a SIP or SIPS URI into an ordered list of
 * (transport, address, port) targets to try in turn (§4.3). Never throws for DNS trouble: a failed
 * query falls through to the next step, and when nothing resolves the list is empty (the caller
 * answers 503, or 408 when {@link ResolveOutcome.errors} shows a timeout, as it sees fit).
 */
export class SipResolver {
  private readonly lookups: CachedLookup;
  private readonly random: () => number;
  private readonly transports: readonly TransportProtocol[];
  private readonly families: readonly (4 | 6)[];

  constructor(options: SipResolverOptions) {
    this.lookups = new CachedLookup({
      client: options.dns,
      clock: options.clock ?? systemClock,
      maxEntries: options.cacheSize ?? 1024,
      fallbackTtlSeconds: options.fallbackTtlSeconds ?? 60,
      negativeTtlSeconds: options.negativeTtlSeconds ?? 30,
      maxTtlSeconds: options.maxTtlSeconds ?? 3600,
    });
    this.random = options.random ?? Math.random;
    this.transports = options.transports ?? ALL_TRANSPORTS;
    this.families = options.addressFamilies ?? [4, 6];
  }

  /** The targets for `uri`, most preferred first; empty when nothing resolves. */
  async resolve(uri: SipResolveInput): Promise<SipTarget[]> {
    return (await this.resolveDetailed(uri)).targets;
  }

  /** As {@link resolve}, also reporting the queries that failed (so a caller can tell 408 from 503). */
  async resolveDetailed(uri: SipResolveInput): Promise<ResolveOutcome> {
    const run: Run = { errors: [] };
    const targets = dedupe(await this.locate(uri, run));
    return { targets, errors: run.errors };
  }

  /** Forgets every cached DNS answer. */
  clearCache(): void {
    this.lookups.clear();
  }

  /** RFC 3263 §4.1 (transport) and §4.2 (port and address), in the order the RFC gives them. */
  private async locate(uri: SipResolveInput, run: Run): Promise<SipTarget[]> {
    const host = hostOf(uri.host);
    if (host === undefined || !validPort(uri.port)) return [];
    let protocol: TransportProtocol | undefined;
    if (uri.transport !== undefined) {
      protocol = (uri.scheme === 'sips' ? SIPS_PARAM : SIP_PARAM).get(uri.transport.toLowerCase());
      if (protocol === undefined || !this.supports(protocol)) return [];
    }
    if (isIP(host) !== 0) {
      // §4.1: a numeric host needs no DNS; UDP for SIP and TLS (TCP) for SIPS unless told otherwise.
      const p = protocol ?? this.plainProtocol(uri.scheme);
      return p ? [{ protocol: p, address: host, port: uri.port ?? defaultPort(p) }] : [];
    }
    if (uri.port !== undefined) {
      // §4.1/§4.2: an explicit port means no NAPTR or SRV, only A/AAAA.
      const p = protocol ?? this.plainProtocol(uri.scheme);
      return p ? this.addressTargets(run, host, p, uri.port) : [];
    }
    if (protocol !== undefined) {
      // §4.2: transport given, no port: SRV for that transport, else A/AAAA on the default port.
      const srv = await this.srvTargets(run, SRV_PREFIX[protocol] + host, protocol);
      return srv.found ? srv.targets : this.addressTargets(run, host, protocol, defaultPort(protocol));
    }
    return this.locateByDiscovery(run, uri.scheme, host);
  }

  /** §4.1 NAPTR, else SRV for each supported transport, then §4.2 A/AAAA on the default port. */
  private async locateByDiscovery(run: Run, scheme: 'sip' | 'sips', host: string): Promise<SipTarget[]> {
    const naptr = await this.naptrServices(run, scheme, host);
    if (naptr.length > 0) {
      const steps = await Promise.all(naptr.map((n) => this.srvTargets(run, n.replacement, n.protocol)));
      if (steps.some((s) => s.found)) return steps.flatMap((s) => s.targets);
      // §4.2: no SRV records: A/AAAA, with the transport NAPTR chose and its default port.
      const p = naptr[0]!.protocol;
      return this.addressTargets(run, host, p, defaultPort(p));
    }
    const probe = this.transports.filter((t) => SRV_PROBE.includes(t) && (scheme === 'sip' || t === 'TLS'));
    const steps = await Promise.all(probe.map((t) => this.srvTargets(run, SRV_PREFIX[t] + host, t)));
    if (steps.some((s) => s.found)) return steps.flatMap((s) => s.targets);
    // §4.1: no SRV records either: UDP for SIP, TCP (TLS) for SIPS.
    const p = this.plainProtocol(scheme);
    return p ? this.addressTargets(run, host, p, defaultPort(p)) : [];
  }

  /**
   * The NAPTR records RFC 3263 §4.1 lets this client use, best first: flag "S" (a terminal SRV
   * lookup, RFC 3403 §4.1) with a replacement, a SIP service for a transport this client supports
   * (for a SIPS URI only SIPS services; for a SIP URI SIPS ones are kept too), sorted by order then
   * preference.
   */
  private async naptrServices(
    run: Run,
    scheme: 'sip' | 'sips',
    host: string,
  ): Promise<{ replacement: string; protocol: TransportProtocol }[]> {
    const answer = await this.lookup(run, 'NAPTR', host);
    const usable: { record: NaptrRecord; protocol: TransportProtocol }[] = [];
    for (const record of answer) {
      if (record.flags.toLowerCase() !== 's' || record.replacement === '' || record.replacement === '.') continue;
      const service = record.service.toUpperCase();
      const protocol = NAPTR_SERVICES.get(service);
      if (!protocol || !this.supports(protocol)) continue;
      if (scheme === 'sips' && !service.startsWith('SIPS+')) continue;
      usable.push({ record, protocol });
    }
    usable.sort((a, b) => a.record.order - b.record.order || a.record.preference - b.record.preference);
    return usable.map((u) => ({ replacement: u.record.replacement, protocol: u.protocol }));
  }

  /**
   * SRV query and the addresses of its targets, in RFC 2782 order (RFC 3263 §4.3). A lone target
   * of "." means the service is decidedly not available (RFC 2782), which counts as found: the
   * caller must not fall back to A/AAAA for it.
   */
  private async srvTargets(run: Run, name: string, protocol: TransportProtocol): Promise<SrvStep> {
    const answer = await this.lookup(run, 'SRV', name);
    const live = answer.filter((r: SrvRecord) => r.port !== 0 && r.name !== '' && r.name !== '.');
    const ordered = orderSrv(live, this.random);
    const addresses = await Promise.all(ordered.map((r) => this.addresses(run, r.name)));
    const targets = ordered.flatMap((r, i) => addresses[i]!.map((address) => ({ protocol, address, port: r.port })));
    return { found: answer.length > 0, targets };
  }

  /** A/AAAA (RFC 3263 §4.2) for `host`, every address on `port` over `protocol`. */
  private async addressTargets(run: Run, host: string, protocol: TransportProtocol, port: number): Promise<SipTarget[]> {
    const addresses = await this.addresses(run, host);
    return addresses.map((address) => ({ protocol, address, port }));
  }

  /** Addresses of `host` per the configured families and their order; a numeric target is itself. */
  private async addresses(run: Run, host: string): Promise<string[]> {
    const name = hostOf(host);
    if (name === undefined) return [];
    if (isIP(name) !== 0) return [name];
    const answers = await Promise.all(this.families.map((f) => this.lookup(run, f === 4 ? 'A' : 'AAAA', name)));
    return answers.flatMap((records) => records.map((r) => r.address));
  }

  private async lookup<K extends RrType>(run: Run, type: K, name: string) {
    const result = await this.lookups.lookup(type, name);
    if (result.error !== undefined) run.errors.push({ name, type, code: result.error });
    return result.records;
  }

  private supports(protocol: TransportProtocol): boolean {
    return this.transports.includes(protocol);
  }

  /** The transport when neither URI nor DNS names one (RFC 3263 §4.1): UDP (else TCP) for SIP, TLS for SIPS. */
  private plainProtocol(scheme: 'sip' | 'sips'): TransportProtocol | undefined {
    const choices: readonly TransportProtocol[] = scheme === 'sips' ? ['TLS'] : ['UDP', 'TCP'];
    return choices.find((p) => this.supports(p));
  }
}

/** Host without IPv6 brackets or a trailing root dot, lower-cased; undefined when unusable. */
function hostOf(raw: string): string | undefined {
  let host = raw;
  if (host.startsWith('[')) {
    if (!host.endsWith(']')) return undefined;
    host = host.slice(1, -1);
    return isIP(host) === 6 ? host : undefined;
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host === '' ? undefined : host.toLowerCase();
}

function validPort(port: number | undefined): boolean {
  return port === undefined || (Number.isInteger(port) && port > 0 && port <= 65535);
}

function dedupe(targets: SipTarget[]): SipTarget[] {
  const seen = new Set<string>();
  return targets.filter((t) => {
    const key = `${t.protocol} ${t.address} ${t.port}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
