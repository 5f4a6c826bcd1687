export { ProxyCore, listenerUri, loopHash, type Admission, type ProxyCoreOptions, type ProxyListener } from './core.js';
export { ProxyTransaction, routeUri } from './proxy-transaction.js';
export { LocalHop } from './local.js';
export type { NextHopHandler, OnAttempt } from './failover.js';
export { TargetHealth, type TargetHealthOptions } from './health.js';
export { peerSetResolver, type PeerSetOptions } from './peer-set.js';
export { LoadMonitor, type LoadMonitorOptions, type LoadStats } from './load-monitor.js';
export { locatorResolver, numericTarget, uriProtocol, viaTarget, type SipLocator, type TargetResolver } from './targets.js';
export type { ForwardOptions, ForwardTarget, ProxyService, RequestContext, ResponseContext } from './service.js';
