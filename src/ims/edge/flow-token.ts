/**
 * Flow tokens (RFC 5626 §5.2): the edge names the flow a client registered or called on in the
 * user part of its Path and Record-Route URIs, so requests for that client come back to the edge
 * and leave over the same connection or NAT binding. The token carries the flow id with an HMAC,
 * so a forged or altered token is refused rather than letting anyone send over any flow.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Uri } from '../../sip/index.js';

const MAC_BYTES = 10;

export class FlowTokens {
  private readonly cache = new Map<string, string>();
  private readonly decoded = new Map<string, string>();

  constructor(private readonly key: Buffer) {
    if (key.length < 16) throw new Error('flow token key must be at least 16 bytes');
  }

  /** The token for a flow id; URI-user safe (base64url). */
  encode(flowId: string): string {
    let token = this.cache.get(flowId);
    if (token === undefined) {
      const id = Buffer.from(flowId, 'utf8');
      token = Buffer.concat([this.mac(id), id]).toString('base64url');
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(flowId, token);
    }
    return token;
  }

  /** The flow id a genuine token names, else undefined. */
  decode(token: string): string | undefined {
    // Every in-dialog request carries the same tokens again: remember the genuine ones.
    const known = this.decoded.get(token);
    if (known !== undefined) return known;
    const id = this.verify(token);
    if (id !== undefined) {
      if (this.decoded.size > 100_000) this.decoded.clear();
      this.decoded.set(token, id);
    }
    return id;
  }

  private verify(token: string): string | undefined {
    const raw = Buffer.from(token, 'base64url');
    if (raw.length <= MAC_BYTES) return undefined;
    const id = raw.subarray(MAC_BYTES);
    if (!timingSafeEqual(raw.subarray(0, MAC_BYTES), this.mac(id))) return undefined;
    return id.toString('utf8');
  }

  /** The flow named by the user part of a SIP URI, if it carries a genuine token. */
  flowOf(uri: Uri): string | undefined {
    return uri.kind === 'sip' && uri.user ? this.decode(uri.user) : undefined;
  }

  /**
   * The flow a request must leave on, from the Route values consumed (see ProxyCore's
   * `flowOfRoutes`): the last token naming a flow other than the one it arrived on.
   */
  flowOfRoutes(consumed: readonly Uri[], arrival: { readonly id: string } | undefined): string | undefined {
    for (let i = consumed.length - 1; i >= 0; i--) {
      const flow = this.flowOf(consumed[i]!);
      if (flow !== undefined && flow !== arrival?.id) return flow;
    }
    return undefined;
  }

  private mac(data: Buffer): Buffer {
    return createHmac('sha256', this.key).update(data).digest().subarray(0, MAC_BYTES);
  }
}
