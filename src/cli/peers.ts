/**
 * How a cluster node finds the others (issue 7, docs/cluster.md): a service host name
 * (`scscf.example.com`, `mmtel.example.com`) stands for the nodes configured for it
 * (`coreUris`, `mmtelUris`), used in turn; a configured URI naming a host, or a service host
 * with nothing configured, is looked up in DNS through the RFC 3263 resolver (NAPTR, SRV,
 * A/AAAA), with `dnsServers` when given. A node that fails (transport error, 503, silence) is
 * put last for a while by the proxy core's health table, which the resolver shares.
 */
import type { AllInOneConfig } from '../config/index.js';
import { NodeDnsClient, SipResolver, TargetHealth, peerSetResolver, systemClock, type TargetResolver } from '../sip/index.js';

/** The resolver of a node and the health table its proxy core must be given. */
export interface ClusterRouting {
  readonly resolve: TargetResolver;
  readonly health: TargetHealth;
  readonly failoverTimeoutMs: number;
}

/** `peers` maps service hosts to their configured URIs (undefined: DNS). */
export function clusterRouting(config: AllInOneConfig, peers: ReadonlyArray<readonly [string, readonly string[] | undefined]>): ClusterRouting {
  const locator = new SipResolver({ dns: new NodeDnsClient(config.dnsServers ? { servers: config.dnsServers } : {}) });
  const health = new TargetHealth({ clock: systemClock });
  const table = new Map<string, readonly string[]>();
  for (const [host, uris] of peers) if (uris) table.set(host, uris);
  return { resolve: peerSetResolver({ peers: table, locator, health }), health, failoverTimeoutMs: config.failoverTimeoutMs };
}
