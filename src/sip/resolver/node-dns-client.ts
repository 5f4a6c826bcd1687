import { Resolver } from 'node:dns/promises';
import type { AddressRecord, DnsClient, NaptrRecord, SrvRecord } from './types.js';

export interface NodeDnsClientOptions {
  /**
   * DNS servers as `Resolver.setServers` takes them (`'192.0.2.53'`, `'127.0.0.1:5300'`,
   * `'[2001:db8::53]:53'`). Default: the system's.
   */
  servers?: readonly string[];
  /** Time to wait for one try, in milliseconds (c-ares backs off on later tries). Default 2000. */
  timeoutMs?: number;
  /** Tries per server before giving up with `ETIMEOUT`. Default 2. */
  tries?: number;
}

/**
 * {@link DnsClient} over node:dns/promises (c-ares), on its own `Resolver` so its servers and
 * timeout do not touch the process-wide defaults.
 *
 * node:dns reports TTLs for A and AAAA only; NAPTR and SRV come without one, so the locator caches
 * those for its configured fallback TTL.
 */
export class NodeDnsClient implements DnsClient {
  private readonly resolver: Resolver;

  constructor(options: NodeDnsClientOptions = {}) {
    this.resolver = new Resolver({ timeout: options.timeoutMs ?? 2000, tries: options.tries ?? 2 });
    if (options.servers) this.resolver.setServers([...options.servers]);
  }

  resolveNaptr(name: string): Promise<NaptrRecord[]> {
    return this.resolver.resolveNaptr(name);
  }

  resolveSrv(name: string): Promise<SrvRecord[]> {
    return this.resolver.resolveSrv(name);
  }

  resolve4(name: string): Promise<AddressRecord[]> {
    return this.resolver.resolve4(name, { ttl: true });
  }

  resolve6(name: string): Promise<AddressRecord[]> {
    return this.resolver.resolve6(name, { ttl: true });
  }

  /** Rejects every outstanding query with `ECANCELLED`. */
  cancel(): void {
    this.resolver.cancel();
  }
}
