/**
 * A short-lived cache in front of the HSS, as an S-CSCF keeps the subscriber data it downloaded
 * at registration (TS 29.228 §6.1.2, SAR returns the profile for the S-CSCF to keep): REGISTER,
 * call set-up and the terminating lookup ask the same few questions many times a second.
 *
 * What this node changes itself (SAR) updates the cache at once. Changes made elsewhere
 * (provisioning a new password, removing a subscriber, new initial Filter Criteria) are seen
 * once the entry ages out, after `ttlMs` at most; unknown identities are cached too, so a flood
 * for them costs one lookup each. The implicit sets (with the service profile every call's
 * filter criteria come from) are kept the same way.
 */
import type { AuthVectorLookup, ImplicitSet } from '../storage/index.js';
import type { Hss, LocationInfo, ServerAssignment, ServerAssignmentType, UserAuthorization } from './hss.js';

export interface HssCacheOptions {
  /** How long an answer is reused; default 10 000 ms. */
  readonly ttlMs?: number;
  /** Most entries per kind of answer; the oldest go first. Default 100 000. */
  readonly maxEntries?: number;
  /** Monotonic or wall clock, ms. */
  readonly now?: () => number;
}

interface Entry<T> {
  readonly value: Promise<T>;
  readonly until: number;
}

class TtlMap<T> {
  private readonly map = new Map<string, Entry<T>>();
  /** When {@link evictDue} next looks at the front of the map. */
  private nextEvict = Number.NEGATIVE_INFINITY;
  private readonly evictEvery: number;

  constructor(
    private readonly ttl: number,
    private readonly max: number,
    private readonly now: () => number,
  ) {
    this.evictEvery = Math.min(1_000, ttl / 8);
  }

  get(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.map.get(key);
    const now = this.now();
    if (hit && hit.until > now) return hit.value;
    const value = load();
    // A failed lookup is not remembered: the next request asks again.
    value.catch(() => this.map.get(key)?.value === value && this.map.delete(key));
    this.put(key, value, now);
    return value;
  }

  set(key: string, value: T): void {
    this.put(key, Promise.resolve(value), this.now());
  }

  private put(key: string, value: Promise<T>, now: number): void {
    this.evictDue(now);
    this.map.delete(key);
    if (this.map.size >= this.max) this.makeRoom();
    this.map.set(key, { value, until: now + this.ttl });
  }

  /**
   * Entries are in insertion order, which is expiry order (one TTL for all), so the expired ones
   * are at the front. A Map's deleted entries stay in its table as holes until V8 rebuilds it,
   * and an iteration from the front steps over each of them: looking at the front on every
   * miss cost up to the table's capacity (several µs per REGISTER at 2,000/s). It is done at
   * most once per `ttl / 8` (1 s at most), taking every expired entry; a lookup never returns
   * one, and {@link sweep} drops the rest when lookups stop.
   */
  private evictDue(now: number): void {
    if (now < this.nextEvict) return;
    this.nextEvict = now + this.evictEvery;
    this.evict(now);
  }

  private evict(now: number): void {
    for (const [k, e] of this.map) {
      if (e.until > now) break;
      this.map.delete(k);
    }
  }

  /** Full of live answers: the oldest sixteenth goes at once, so one scan serves many inserts. */
  private makeRoom(): void {
    let n = Math.max(1, this.max >> 4);
    for (const k of this.map.keys()) {
      this.map.delete(k);
      if (--n === 0) break;
    }
  }

  /** Drops every expired entry. */
  sweep(): void {
    this.evict(this.now());
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  get size(): number {
    return this.map.size;
  }
}

export class CachedHss implements Hss {
  private readonly uar: TtlMap<UserAuthorization>;
  private readonly mar: TtlMap<AuthVectorLookup>;
  private readonly lir: TtlMap<LocationInfo | undefined>;
  private readonly sar: TtlMap<ServerAssignment | undefined>;
  private readonly sets: TtlMap<ImplicitSet | undefined>;

  constructor(
    private readonly hss: Hss,
    options: HssCacheOptions = {},
  ) {
    const ttl = options.ttlMs ?? 10_000;
    const max = options.maxEntries ?? 100_000;
    const now = options.now ?? (() => performance.now());
    this.uar = new TtlMap(ttl, max, now);
    this.mar = new TtlMap(ttl, max, now);
    this.lir = new TtlMap(ttl, max, now);
    this.sar = new TtlMap(ttl, max, now);
    this.sets = new TtlMap(ttl, max, now);
    // Once a TTL, expired answers go even without lookups, so an idle node keeps none (after a
    // burst of registrations they were a few KB per subscriber). The timer holds the cache only
    // weakly and never keeps the process alive.
    const self = new WeakRef(this);
    const timer: NodeJS.Timeout = setInterval(() => {
      const cache = self.deref();
      if (cache === undefined) clearInterval(timer);
      else cache.sweep();
    }, ttl);
    timer.unref();
  }

  /** How many answers are kept, expired ones not yet dropped included. */
  get entries(): number {
    return this.uar.size + this.mar.size + this.lir.size + this.sar.size + this.sets.size;
  }

  /** Drops every expired answer (done once a TTL by itself). */
  sweep(): void {
    for (const map of [this.uar, this.mar, this.lir, this.sar, this.sets]) map.sweep();
  }

  userAuthorization(impi: string, impu: string): Promise<UserAuthorization> {
    return this.uar.get(`${impi} ${impu}`, () => this.hss.userAuthorization(impi, impu));
  }

  authVector(impi: string, impu: string): Promise<AuthVectorLookup> {
    return this.mar.get(`${impi} ${impu}`, () => this.hss.authVector(impi, impu));
  }

  /** Forgets what it knows of `impi` registering `impu` (provisioning changed credentials or identities). */
  forget(impi: string, impu: string): void {
    this.uar.delete(`${impi} ${impu}`);
    this.mar.delete(`${impi} ${impu}`);
    this.lir.delete(impu);
    this.sets.delete(impu);
  }

  implicitSetOf(impu: string): Promise<ImplicitSet | undefined> {
    return this.sets.get(impu, () => this.hss.implicitSetOf(impu));
  }

  locationInfo(impu: string): Promise<LocationInfo | undefined> {
    return this.lir.get(impu, () => this.hss.locationInfo(impu));
  }

  /**
   * A re-registration within the cache's lifetime reuses the last assignment (nothing changes
   * in the HSS); any other type reaches the HSS and refreshes what the cache knows of the set's
   * identities. The I-CSCF's cached user authorizations may name the previous S-CSCF until they
   * age out, which only sends a REGISTER to a server that can serve it anyway.
   */
  serverAssignment(impu: string, type: ServerAssignmentType, scscf: string): Promise<ServerAssignment | undefined> {
    const key = `${impu} ${scscf}`;
    const load = async (): Promise<ServerAssignment | undefined> => {
      const result = await this.hss.serverAssignment(impu, type, scscf);
      for (const m of result?.implicitSet.members ?? []) {
        this.lir.delete(m.impu);
        this.sets.set(m.impu, result!.implicitSet);
      }
      this.lir.delete(impu);
      if (type === 'REGISTRATION' || type === 'RE_REGISTRATION') this.sar.set(key, result);
      else this.sar.delete(key);
      return result;
    };
    return type === 'RE_REGISTRATION' ? this.sar.get(key, load) : load();
  }
}
