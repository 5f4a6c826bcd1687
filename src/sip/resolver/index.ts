/** RFC 3263 server location: NAPTR, SRV and A/AAAA behind an interface a test can replace. */
export { SipResolver, type SipResolverOptions } from './sip-resolver.js';
export { NodeDnsClient, type NodeDnsClientOptions } from './node-dns-client.js';
export { orderSrv } from './srv-order.js';
export {
  DNS_NO_DATA,
  DNS_NOT_FOUND,
  DNS_TIMEOUT,
  type AddressRecord,
  type DnsClient,
  type DnsFailure,
  type NaptrRecord,
  type ResolveOutcome,
  type RrType,
  type SipResolveInput,
  type SipTarget,
  type SrvRecord,
} from './types.js';
