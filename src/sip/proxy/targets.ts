import { isIP } from 'node:net';
import type { Via } from '../message/via.js';
import { lowerAscii } from '../message/chars.js';
import type { SipUri, Uri } from '../message/uri.js';
import type { SendTarget, TransportProtocol } from '../transport/types.js';

/** Finds where to send a request for a URI (RFC 3263); the proxy core calls it for host names. */
export type TargetResolver = (uri: SipUri) => Promise<SendTarget[]>;

const PROTOCOLS: Record<string, TransportProtocol> = { udp: 'UDP', tcp: 'TCP', tls: 'TLS', ws: 'WS', wss: 'WSS' };

/** Transport protocol asked for by a URI: its transport parameter, else UDP (TLS for sips). */
export function uriProtocol(uri: SipUri): TransportProtocol | undefined {
  const t = uri.transport;
  if (t === undefined) return uri.scheme === 'sips' ? 'TLS' : 'UDP';
  const p = PROTOCOLS[t];
  if (p === undefined) return undefined;
  if (uri.scheme === 'sips' && (p === 'UDP' || p === 'TCP')) return 'TLS';
  return p;
}

/**
 * The target of a URI whose host is an IP address, without any lookup (RFC 3263 §4.2: numeric
 * host, port from the URI or the transport's default). Undefined for host names.
 */
export function numericTarget(uri: Uri): SendTarget | undefined {
  if (uri.kind !== 'sip') return undefined;
  const address = uri.address;
  if (isIP(address) === 0) return undefined;
  const protocol = uriProtocol(uri);
  if (protocol === undefined) return undefined;
  const maddr = uri.params.get('maddr');
  return {
    protocol,
    address: maddr && isIP(maddr) ? maddr : address,
    port: uri.port ?? (protocol === 'TLS' || protocol === 'WSS' ? 5061 : 5060),
  };
}

/** Where a response goes when only its Via says (RFC 3261 §18.2.2, RFC 3581 §4). */
export function viaTarget(via: Via): SendTarget | undefined {
  const protocol = PROTOCOLS[lowerAscii(via.transport)];
  if (protocol === undefined) return undefined;
  const rport = via.rport;
  return {
    protocol,
    address: via.received ?? via.address,
    port: typeof rport === 'number' ? rport : (via.port ?? (protocol === 'TLS' ? 5061 : 5060)),
  };
}

/** Something that locates SIP servers per RFC 3263 (the resolver module's SipResolver). */
export interface SipLocator {
  resolve(input: { scheme: 'sip' | 'sips'; host: string; port?: number; transport?: string }): Promise<SendTarget[]>;
}

/** Adapts an RFC 3263 locator to the proxy core's {@link TargetResolver}. */
export function locatorResolver(locator: SipLocator): TargetResolver {
  return (uri) =>
    locator.resolve({
      scheme: uri.scheme,
      host: uri.address,
      ...(uri.port !== null ? { port: uri.port } : {}),
      ...(uri.transport !== undefined ? { transport: uri.transport } : {}),
    });
}
