/**
 * Short-lived SIP credentials for the portal's softphone page (issue 5). The portal keeps only
 * HA1 digests (RFC 7616 §3.4.2), so it cannot give a browser the SIP password. Instead it mints a
 * token that the S-CSCF registrar accepts as the Digest password of that one IMPI, for that one
 * IMPU, for a few minutes: HA1 = H(impi ":" realm ":" token) with the token in place of the
 * password, so the client (JsSIP) runs ordinary Digest with qop=auth, and nonces, nonce-counts
 * (replay) and the 401/403 answers stay as they are.
 *
 * A token is stateless: base64url of HMAC-SHA256(key, window "\n" impi "\n" impu), where the
 * window is the current {@link SOFTPHONE_TOKEN_WINDOW_MS} slice of time. The registrar accepts the
 * tokens of the current and the previous window, so a token lives from one to two windows (5 to
 * 10 minutes) and needs no store shared by portal and registrar, only the key. Any process
 * holding the key can mint one, so the key is derived from the data folder's secret
 * (`nonce.key`) that those processes already share.
 */
import { createHmac } from 'node:crypto';

/** Length of one validity window; a token is accepted in its window and the next. */
export const SOFTPHONE_TOKEN_WINDOW_MS = 5 * 60_000;
/** Characters of a token (base64url): 192 bits of the HMAC. */
const TOKEN_CHARS = 32;
/** Label of the key derivation, so the key differs from any other use of the secret. */
const KEY_LABEL = 'tidewater softphone tokens v1';

/** What the softphone page receives: the Digest password to use and when to fetch the next. */
export interface SoftphoneCredentials {
  /** Digest username: the IMPI. */
  readonly username: string;
  /** The token, used as the Digest password. */
  readonly password: string;
  /** Wall clock (ms) after which the registrar refuses this token. */
  readonly expiresAt: number;
  /** Wall clock (ms) from which a new token is minted: fetch again then. */
  readonly renewAt: number;
}

export class SoftphoneTokens {
  private readonly key: Buffer;

  /** `secret`: at least 16 bytes shared by the portal and the registrar (the key is derived from it). */
  constructor(
    secret: Buffer,
    private readonly windowMs = SOFTPHONE_TOKEN_WINDOW_MS,
  ) {
    if (secret.length < 16) throw new Error(`softphone tokens: the secret must have at least 16 bytes, got ${secret.length}`);
    if (!Number.isInteger(windowMs) || windowMs < 1000) throw new Error(`softphone tokens: windowMs must be an integer of at least 1000, got ${windowMs}`);
    this.key = createHmac('sha256', secret).update(KEY_LABEL).digest();
  }

  /** The token for `impi` registering `impu` at `now`, with its expiry and renewal time. */
  issue(impi: string, impu: string, now: number): SoftphoneCredentials {
    const window = Math.floor(now / this.windowMs);
    return {
      username: impi,
      password: this.token(window, impi, impu),
      expiresAt: (window + 2) * this.windowMs,
      renewAt: (window + 1) * this.windowMs,
    };
  }

  /** The passwords that authenticate `impi` for `impu` at `now`: this window's token and the last one's. */
  passwordsFor(impi: string, impu: string, now: number): string[] {
    const window = Math.floor(now / this.windowMs);
    return [this.token(window, impi, impu), this.token(window - 1, impi, impu)];
  }

  private token(window: number, impi: string, impu: string): string {
    return createHmac('sha256', this.key).update(`${window}\n${impi}\n${impu}`).digest('base64url').slice(0, TOKEN_CHARS);
  }
}
