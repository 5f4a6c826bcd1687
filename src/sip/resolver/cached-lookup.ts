import type { Clock } from '../clock.js';
import { TtlCache } from './ttl-cache.js';
import {
  DNS_NO_DATA,
  DNS_NOT_FOUND,
  type AddressRecord,
  type DnsClient,
  type NaptrRecord,
  type RrType,
  type SrvRecord,
} from './types.js';

interface RecordOf {
  NAPTR: NaptrRecord;
  SRV: SrvRecord;
  A: AddressRecord;
  AAAA: AddressRecord;
}

/** The answer to one query: records (possibly none), or the code of a failure that is not an answer. */
export interface LookupResult<T> {
  records: readonly T[];
  /** node:dns error code when the query failed (timeout, SERVFAIL, ...); absent for NXDOMAIN/NODATA. */
  error?: string;
}

export interface CachedLookupOptions {
  client: DnsClient;
  clock: Clock;
  maxEntries: number;
  /** TTL for answers whose records carry none (node:dns gives none for NAPTR and SRV). */
  fallbackTtlSeconds: number;
  /** How long NXDOMAIN and NODATA are remembered (RFC 2308 §5). */
  negativeTtlSeconds: number;
  /** Upper bound on any TTL (RFC 2181 §8 allows 2^31-1 s; caches usually cap far lower). */
  maxTtlSeconds: number;
}

/**
 * A {@link DnsClient} front that remembers answers for their TTL (RFC 1035 §3.2.1, RFC 2181 §5.2:
 * the smallest TTL of the set), remembers NXDOMAIN and NODATA briefly (RFC 2308), shares one query
 * among concurrent callers, and never throws: a failed query yields no records and its error code.
 * Failures other than NXDOMAIN/NODATA are not cached, so the next call asks again.
 */
export class CachedLookup {
  private readonly cache: TtlCache<readonly unknown[]>;
  private readonly inFlight = new Map<string, Promise<LookupResult<unknown>>>();

  constructor(private readonly options: CachedLookupOptions) {
    this.cache = new TtlCache(options.maxEntries);
  }

  /** Queries `owner` for `type`, from the cache while the answer is fresh. */
  lookup<K extends RrType>(type: K, owner: string): Promise<LookupResult<RecordOf[K]>> {
    const name = canonicalName(owner);
    const key = `${type} ${name}`;
    const cached = this.cache.get(key, this.options.clock.now());
    if (cached) return Promise.resolve({ records: cached as readonly RecordOf[K][] });
    const pending = this.inFlight.get(key);
    if (pending) return pending as Promise<LookupResult<RecordOf[K]>>;
    const query = this.query(type, name, key).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, query);
    return query;
  }

  /** Forgets every cached answer. */
  clear(): void {
    this.cache.clear();
  }

  private async query<K extends RrType>(type: K, name: string, key: string): Promise<LookupResult<RecordOf[K]>> {
    try {
      const records = (await this.ask(type, name)) as RecordOf[K][];
      this.remember(key, records, this.ttlSeconds(records));
      return { records };
    } catch (err) {
      const code = errorCode(err);
      if (code === DNS_NOT_FOUND || code === DNS_NO_DATA) {
        this.remember(key, [], this.options.negativeTtlSeconds);
        return { records: [] };
      }
      return { records: [], error: code };
    }
  }

  private ask(type: RrType, name: string): Promise<readonly unknown[]> {
    const { client } = this.options;
    switch (type) {
      case 'NAPTR':
        return client.resolveNaptr(name);
      case 'SRV':
        return client.resolveSrv(name);
      case 'A':
        return client.resolve4(name);
      case 'AAAA':
        return client.resolve6(name);
    }
  }

  private ttlSeconds(records: readonly { ttl?: number }[]): number {
    if (records.length === 0) return this.options.negativeTtlSeconds;
    let ttl = Infinity;
    for (const r of records) ttl = Math.min(ttl, r.ttl ?? this.options.fallbackTtlSeconds);
    return ttl;
  }

  private remember(key: string, records: readonly unknown[], ttlSeconds: number): void {
    const ttl = Math.min(ttlSeconds, this.options.maxTtlSeconds);
    this.cache.set(key, records, ttl * 1000, this.options.clock.now());
  }
}

/** Names compare case-insensitively (RFC 4343); a trailing root dot changes nothing. */
function canonicalName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

function errorCode(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return 'EUNKNOWN';
}
