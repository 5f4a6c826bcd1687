import { isIP } from 'node:net';
import { parseUri, type SipUri } from '../message/uri.js';
import type { SendTarget } from '../transport/types.js';
import type { TargetHealth } from './health.js';
import { locatorResolver, numericTarget, type SipLocator, type TargetResolver } from './targets.js';

export interface PeerSetOptions {
  /**
   * Host name to the SIP URIs of the equal peers that serve it, e.g. `scscf.example.com` to
   * `['sip:10.77.0.3:5060;transport=tcp', 'sip:10.77.0.4:5060;transport=tcp']`. Host names are
   * compared case-insensitively; the port and parameters of the URI being resolved are not used:
   * the peers' URIs say where and how.
   */
  peers: ReadonlyMap<string, readonly string[]> | Readonly<Record<string, readonly string[]>>;
  /**
   * RFC 3263 locator (DNS) for peer URIs with a host name, and for host names not in `peers`.
   * Without it, such peers are refused here and such names have no targets.
   */
  locator?: SipLocator;
  /** The proxy core's health table: the round robin starts among the peers not in quarantine. */
  health?: TargetHealth;
}

interface Peer {
  readonly uri: SipUri;
  /** The one target of a numeric URI; undefined for a host name, which the locator resolves. */
  readonly direct: readonly SendTarget[] | undefined;
}

interface PeerSet {
  readonly peers: readonly Peer[];
  /** Every peer's targets when all URIs are numeric (no lookup at all), else undefined. */
  readonly direct: ReadonlyArray<readonly SendTarget[]> | undefined;
  /** The round-robin counter: requests resolved so far. */
  turn: number;
}

/**
 * A {@link TargetResolver} for configured peers: each request to a peer set's host name gets all
 * its peers' targets, the starting peer rotating per request (round robin among the healthy ones),
 * so that equal peers share the load and the proxy core fails over along the rest. A peer given by
 * host name contributes the targets its RFC 3263 lookup finds, in that order. Names not in the set
 * go to the locator as they are: DNS results keep their order, since SRV priorities must be kept
 * and the locator already spreads load within a priority by the RFC 2782 weights.
 *
 * @throws Error naming the host and URI, for an empty peer list, a URI that is not a usable SIP
 *   URI, or a host-name peer without a locator (configuration is checked here, at start-up).
 */
export function peerSetResolver(options: PeerSetOptions): TargetResolver {
  const locate = options.locator ? locatorResolver(options.locator) : undefined;
  const health = options.health;
  const sets = new Map<string, PeerSet>();
  const entries = options.peers instanceof Map ? options.peers.entries() : Object.entries(options.peers);
  for (const [host, uris] of entries) sets.set(host.toLowerCase(), peerSet(host, uris, locate !== undefined));
  return (uri) => {
    const set = sets.get(uri.address.toLowerCase());
    if (set === undefined) return locate ? locate(uri) : Promise.resolve([]);
    const turn = set.turn++;
    if (set.direct) return Promise.resolve(arrange(set.direct, turn, health));
    return Promise.all(set.peers.map((p) => p.direct ?? locate!(p.uri).catch(noTargets))).then((groups) => arrange(groups, turn, health));
  };
}

function peerSet(host: string, uris: readonly string[], canLocate: boolean): PeerSet {
  if (uris.length === 0) throw new Error(`peer set ${host}: no peers`);
  const peers = uris.map((text): Peer => {
    let uri;
    try {
      uri = parseUri(text);
    } catch {
      throw new Error(`peer set ${host}: ${text} is not a SIP URI`);
    }
    if (uri.kind !== 'sip') throw new Error(`peer set ${host}: ${text} is not a SIP URI`);
    if (isIP(uri.address) === 0) {
      if (!canLocate) throw new Error(`peer set ${host}: ${text} names a host, and there is no locator to resolve it`);
      return { uri, direct: undefined };
    }
    const target = numericTarget(uri);
    if (!target) throw new Error(`peer set ${host}: ${text} asks for a transport this proxy does not know`);
    return { uri, direct: [target] };
  });
  const direct = peers.every((p) => p.direct) ? peers.map((p) => p.direct!) : undefined;
  return { peers, direct, turn: 0 };
}

/** A peer whose lookup failed contributes no targets; its siblings still serve. */
function noTargets(): SendTarget[] {
  return [];
}

/**
 * The peers' targets, peer after peer, starting at peer `turn` modulo the count. With quarantines
 * about, the rotation runs over the peers with a target not in quarantine, and the others follow
 * in their configured order: two peers with one cut off still see every request go to the other,
 * and three with one cut off still split the load evenly.
 */
function arrange(groups: ReadonlyArray<readonly SendTarget[]>, turn: number, health: TargetHealth | undefined): SendTarget[] {
  const n = groups.length;
  const out: SendTarget[] = [];
  const healthy = health && health.size > 0 ? groups.map((g) => g.some((t) => !health.isQuarantined(t))) : undefined;
  let alive = 0;
  if (healthy) for (const h of healthy) if (h) alive++;
  if (!healthy || alive === 0 || alive === n) {
    for (let i = 0; i < n; i++) for (const t of groups[(turn + i) % n]!) out.push(t);
    return out;
  }
  let skip = turn % alive;
  let start = 0;
  while (!healthy[start] || skip-- > 0) start++;
  for (let i = 0; i < n; i++) {
    const k = (start + i) % n;
    if (healthy[k]) for (const t of groups[k]!) out.push(t);
  }
  for (let k = 0; k < n; k++) if (!healthy[k]) for (const t of groups[k]!) out.push(t);
  return out;
}
