/**
 * Stateless Digest nonces: any node holding the same key verifies a nonce another node
 * issued, with no shared state.
 *
 * RFC 7616 §3.3 suggests a nonce built from a timestamp and a private key so the server
 * can tell its own nonces and their age; RFC 7616 §5.5 and RFC 3261 §22.4 leave the
 * construction to the server. Layout (36 bytes, 48 base64url characters):
 *
 *   version (1) | issued-at ms, big-endian (6) | random (13) | HMAC-SHA-256 of the first 20, truncated (16)
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.js';

/** What {@link NonceManager.verify} concludes about a nonce. */
export type NonceVerdict = 'valid' | 'stale' | 'invalid';

/** A verdict plus, for genuine nonces, when the nonce was issued and when it expires. */
export interface NonceInspection {
  readonly verdict: NonceVerdict;
  /** Clock time of issue; set unless the verdict is 'invalid'. */
  readonly issuedAt?: number;
  /** Clock time from which the nonce is stale; set unless the verdict is 'invalid'. */
  readonly expiresAt?: number;
  /** Milliseconds left before the nonce goes stale (0 when stale); unset when 'invalid'. */
  readonly remainingMs?: number;
}

/** Options of {@link NonceManager}. */
export interface NonceManagerOptions {
  /** MAC key, at least 16 bytes (32 random bytes recommended), shared by every node. */
  readonly key: Buffer;
  /**
   * Time source. Nodes that verify each other's nonces need clocks with a common epoch
   * (e.g. `{ now: Date.now }`); a per-process monotonic clock only works on one node.
   */
  readonly clock: Pick<Clock, 'now'>;
  /** Seconds a nonce stays valid; default 300. */
  readonly lifetimeSeconds?: number;
  /** Retired keys still accepted by verify (key rotation); never used to issue. */
  readonly previousKeys?: readonly Buffer[];
  /** A genuine nonce issued up to this far in the future is accepted; default 10 000 ms. */
  readonly maxClockSkewMs?: number;
  /**
   * Clock time before which a genuine nonce is 'stale': set to when the nonce counts this
   * manager's verifier checks against began to be kept (a process that keeps them in memory
   * started then), so that a nonce whose counts were forgotten is never accepted again. Its
   * client is simply challenged afresh (stale=true, RFC 7616 §3.3).
   */
  readonly issuedNotBefore?: number;
}

const VERSION = 1;
const TIME_OFFSET = 1;
const TIME_BYTES = 6;
const RANDOM_OFFSET = TIME_OFFSET + TIME_BYTES;
const RANDOM_BYTES = 13;
const MAC_OFFSET = RANDOM_OFFSET + RANDOM_BYTES;
const MAC_BYTES = 16;
const NONCE_BYTES = MAC_OFFSET + MAC_BYTES;
const MAX_TIMESTAMP = 2 ** (8 * TIME_BYTES) - 1;
const MIN_KEY_BYTES = 16;
/** 36 bytes in base64url, no padding. */
const NONCE_SHAPE = /^[A-Za-z0-9_-]{48}$/;

const INVALID: NonceInspection = Object.freeze({ verdict: 'invalid' });

let pool = Buffer.alloc(0);
let poolPos = 0;

/** Copies `n` bytes from a pool of CSPRNG output (one system call per 4 KiB, not per nonce). */
function fillRandom(target: Buffer, offset: number, n: number): void {
  if (poolPos + n > pool.length) {
    pool = randomBytes(4096);
    poolPos = 0;
  }
  pool.copy(target, offset, poolPos, poolPos + n);
  // Never hand out the same bytes twice.
  pool.fill(0, poolPos, poolPos + n);
  poolPos += n;
}

function mac(key: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', key).update(body).digest().subarray(0, MAC_BYTES);
}

function checkKey(key: Buffer): Buffer {
  if (!Buffer.isBuffer(key) || key.length < MIN_KEY_BYTES) {
    throw new RangeError(`nonce key must be a Buffer of at least ${MIN_KEY_BYTES} bytes`);
  }
  return Buffer.from(key);
}

/**
 * Issues and verifies keyed, timestamped nonces (see the module comment for the layout).
 * Verification is constant-time in the MAC (crypto.timingSafeEqual).
 */
export class NonceManager {
  /** Milliseconds a nonce stays valid. */
  readonly lifetimeMs: number;
  private readonly keys: readonly Buffer[];
  private readonly clock: Pick<Clock, 'now'>;
  private readonly maxSkewMs: number;
  private readonly notBefore: number;

  constructor(options: NonceManagerOptions) {
    const lifetimeSeconds = options.lifetimeSeconds ?? 300;
    if (!(lifetimeSeconds > 0) || !Number.isFinite(lifetimeSeconds)) {
      throw new RangeError('lifetimeSeconds must be a positive number');
    }
    this.lifetimeMs = lifetimeSeconds * 1000;
    this.keys = [checkKey(options.key), ...(options.previousKeys ?? []).map(checkKey)];
    this.clock = options.clock;
    this.maxSkewMs = Math.max(0, options.maxClockSkewMs ?? 10_000);
    this.notBefore = options.issuedNotBefore ?? Number.NEGATIVE_INFINITY;
  }

  /** A fresh nonce: 48 base64url characters, unique with overwhelming probability. */
  issue(): string {
    const now = Math.floor(this.clock.now());
    if (!(now >= 0 && now <= MAX_TIMESTAMP)) {
      throw new RangeError(`clock time ${now} does not fit a nonce timestamp`);
    }
    const nonce = Buffer.allocUnsafe(NONCE_BYTES);
    nonce[0] = VERSION;
    nonce.writeUIntBE(now, TIME_OFFSET, TIME_BYTES);
    fillRandom(nonce, RANDOM_OFFSET, RANDOM_BYTES);
    mac(this.keys[0]!, nonce.subarray(0, MAC_OFFSET)).copy(nonce, MAC_OFFSET);
    return nonce.toString('base64url');
  }

  /**
   * 'valid': issued by a holder of one of our keys and not older than the lifetime.
   * 'stale': genuine but expired (or too far in the future, or issued before
   * {@link NonceManagerOptions.issuedNotBefore}): answer with stale=true
   * (RFC 7616 §3.3). 'invalid': forged, garbled, or not one of ours.
   */
  verify(nonce: string): NonceVerdict {
    return this.inspect(nonce).verdict;
  }

  /** Like {@link verify}, also telling when a genuine nonce was issued and expires. */
  inspect(nonce: string): NonceInspection {
    if (!NONCE_SHAPE.test(nonce)) return INVALID;
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== NONCE_BYTES || raw[0] !== VERSION) return INVALID;
    const body = raw.subarray(0, MAC_OFFSET);
    const given = raw.subarray(MAC_OFFSET);
    let genuine = false;
    for (const key of this.keys) {
      if (timingSafeEqual(mac(key, body), given)) genuine = true;
    }
    if (!genuine) return INVALID;
    const issuedAt = raw.readUIntBE(TIME_OFFSET, TIME_BYTES);
    const expiresAt = issuedAt + this.lifetimeMs;
    const now = this.clock.now();
    const fresh = now < expiresAt && issuedAt - now <= this.maxSkewMs && issuedAt >= this.notBefore;
    return {
      verdict: fresh ? 'valid' : 'stale',
      issuedAt,
      expiresAt,
      remainingMs: fresh ? expiresAt - now : 0,
    };
  }
}
