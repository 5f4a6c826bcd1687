import type { SipRequest } from '../message/message.js';
import { isReliable, type Flow, type SendTarget, type TransportProtocol } from '../transport/types.js';

/** Where the responses to a request go: the first choice, and where to try when it fails. */
export interface ResponseRoute {
  readonly primary: SendTarget;
  /** A new connection to the client, for TCP/TLS when the request's connection is gone. */
  readonly fallback?: SendTarget;
}

/**
 * The route "back over the flow itself", one per flow: every transaction keeps its route for as
 * long as it absorbs retransmissions, and a UDP listener hands out one flow object per recent
 * peer, so most of them share it.
 */
const overFlow = new WeakMap<Flow, ResponseRoute>();

function backOver(flow: Flow): ResponseRoute {
  let route = overFlow.get(flow);
  if (route === undefined) {
    route = Object.freeze({ primary: Object.freeze({ flowId: flow.id }) });
    overFlow.set(flow, route);
  }
  return route;
}

function defaultPort(protocol: TransportProtocol): number {
  return protocol === 'TLS' ? 5061 : 5060;
}

/**
 * Routes the responses to `request`, received on `flow` with its top Via already stamped
 * (RFC 3261 §18.2.2, RFC 3581 §4):
 * - reliable transports: back over the same connection; for TCP and TLS, should it be gone, a
 *   new connection to the `received` address (else the sent-by host) and the sent-by port
 *   (default 5060, 5061 for TLS). A WebSocket client cannot be reached any other way.
 * - UDP with `maddr`: to the maddr address and the sent-by port (default 5060).
 * - UDP with `rport`: to the source address and port, from the socket the request came in on
 *   (the flow itself).
 * - other UDP: to the source address (the `received` value) and the sent-by port, default 5060;
 *   over the same flow when that is where the flow leads anyway.
 */
export function responseRoute(request: SipRequest, flow: Flow): ResponseRoute {
  const via = request.topVia;
  if (via === undefined) return backOver(flow);
  if (isReliable(flow.protocol)) {
    if (flow.protocol !== 'TCP' && flow.protocol !== 'TLS') return backOver(flow);
    const primary: SendTarget = { flowId: flow.id };
    const fallback: SendTarget = {
      protocol: flow.protocol,
      address: via.received ?? via.address,
      port: via.port ?? defaultPort(flow.protocol),
    };
    return { primary, fallback };
  }
  const maddr = via.params.get('maddr');
  if (maddr) return { primary: { protocol: 'UDP', address: maddr, port: via.port ?? 5060 } };
  if (via.rport !== undefined) return backOver(flow);
  const port = via.port ?? 5060;
  if (port === flow.remote.port) return backOver(flow);
  return { primary: { protocol: 'UDP', address: flow.remote.address, port } };
}
