/**
 * Compiles the InitialFilterCriteria of a TS 29.228 Annex B service profile (a `ServiceProfile`,
 * or an `IMSSubscription` holding one) into {@link FilterCriteria}, once per profile text: the
 * result is cached by that text, so every request of a subscriber reuses the same compiled
 * criteria and regular expressions.
 *
 * Element names are matched by local name (any namespace or none). A criterion that cannot be
 * used (no ServerName, a regular expression JavaScript cannot compile, an unknown SessionCase)
 * is left out and named in `problems`; the others still apply.
 */
import { DOMParser, type Element } from '@xmldom/xmldom';
import { canonicalName } from '../../sip/index.js';
import {
  DefaultHandling,
  type ApplicationServer,
  type FilterCriteria,
  type FilterCriterion,
  type ProfilePart,
  type ServicePointTrigger,
  type SessionCase,
  type TriggerPoint,
} from './criteria.js';

const EMPTY: FilterCriteria = Object.freeze({ criteria: Object.freeze([]), problems: Object.freeze([]) });
const DEFAULT_CACHE_ENTRIES = 10_000;
const INTEGER = /^\d{1,9}$/;
const SESSION_CASES = new Set([0, 1, 2, 3, 4]);
const MARKER = 'InitialFilterCriteria';

/** A criterion that cannot be used; caught per criterion. */
class Unusable extends Error {}

function children(parent: Element, name?: string): Element[] {
  const out: Element[] = [];
  for (let n = parent.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 1 && (name === undefined || (n as Element).localName === name)) out.push(n as Element);
  }
  return out;
}

function child(parent: Element, name: string): Element | undefined {
  for (let n = parent.firstChild; n; n = n.nextSibling) if (n.nodeType === 1 && (n as Element).localName === name) return n as Element;
  return undefined;
}

function textOf(el: Element | undefined): string | undefined {
  const t = el?.textContent?.trim();
  return t === undefined || t === '' ? undefined : t;
}

function flag(el: Element | undefined, what: string): boolean {
  const t = textOf(el);
  if (t === undefined) return false;
  if (t === '0' || t === 'false') return false;
  if (t === '1' || t === 'true') return true;
  throw new Unusable(`${what} must be 0 or 1, got '${t}'`);
}

function integer(el: Element | undefined, what: string): number {
  const t = textOf(el);
  if (t === undefined || !INTEGER.test(t)) throw new Unusable(`${what} must be a non-negative integer, got '${t ?? ''}'`);
  return Number(t);
}

/** TS 29.228 Annex B: regular expressions (POSIX ERE there), matched case-insensitively as Kamailio and OpenIMSCore do. */
function regex(source: string, what: string): RegExp {
  try {
    return new RegExp(source, 'i');
  } catch (e) {
    throw new Unusable(`${what} '${source}' is not a usable regular expression: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The RegistrationType values of an SPT's Extension as a bit mask (0: none given, any REGISTER). */
function registrationTypes(spt: Element): number {
  let mask = 0;
  for (const ext of children(spt, 'Extension')) {
    for (const rt of children(ext, 'RegistrationType')) {
      const v = integer(rt, 'RegistrationType');
      if (v > 2) throw new Unusable(`RegistrationType must be 0, 1 or 2, got ${v}`);
      mask |= 1 << v;
    }
  }
  return mask;
}

function servicePointTrigger(spt: Element): ServicePointTrigger {
  const negated = flag(child(spt, 'ConditionNegated'), 'ConditionNegated');
  const method = textOf(child(spt, 'Method'));
  if (method !== undefined) return { kind: 'method', negated, method: method.toUpperCase(), registrationTypes: registrationTypes(spt) };
  const uri = child(spt, 'RequestURI');
  if (uri) return { kind: 'request-uri', negated, pattern: regex(textOf(uri) ?? '', 'RequestURI') };
  const header = child(spt, 'SIPHeader');
  if (header) {
    const name = textOf(child(header, 'Header'));
    if (name === undefined) throw new Unusable('SIPHeader needs a Header');
    const content = textOf(child(header, 'Content'));
    return { kind: 'header', negated, name: canonicalName(name), ...(content !== undefined ? { content: regex(content, 'SIPHeader Content') } : {}) };
  }
  const sessionCase = child(spt, 'SessionCase');
  if (sessionCase) {
    const v = integer(sessionCase, 'SessionCase');
    if (!SESSION_CASES.has(v)) throw new Unusable(`SessionCase must be 0 to 4, got ${v}`);
    return { kind: 'session-case', negated, sessionCase: v as SessionCase };
  }
  const sdp = child(spt, 'SessionDescription');
  if (sdp) {
    const line = textOf(child(sdp, 'Line'));
    if (line === undefined) throw new Unusable('SessionDescription needs a Line');
    const content = textOf(child(sdp, 'Content'));
    return { kind: 'session-description', negated, line, ...(content !== undefined ? { content: regex(content, 'SessionDescription Content') } : {}) };
  }
  throw new Unusable('an SPT needs one of Method, RequestURI, SIPHeader, SessionCase, SessionDescription');
}

/** TS 29.228 Annex F: SPTs grouped by their Group values (an SPT may be in several groups). */
function triggerPoint(tp: Element): TriggerPoint {
  const cnf = flag(child(tp, 'ConditionTypeCNF'), 'ConditionTypeCNF');
  const byGroup = new Map<number, ServicePointTrigger[]>();
  const spts = children(tp, 'SPT');
  if (spts.length === 0) throw new Unusable('TriggerPoint has no SPT');
  for (const el of spts) {
    const spt = servicePointTrigger(el);
    const groups = children(el, 'Group');
    const ids = groups.length ? groups.map((g) => integer(g, 'Group')) : [0];
    for (const id of new Set(ids)) {
      const list = byGroup.get(id);
      if (list) list.push(spt);
      else byGroup.set(id, [spt]);
    }
  }
  const groups = [...byGroup.entries()].sort((a, b) => a[0] - b[0]).map(([, list]) => list);
  return { cnf, groups };
}

/** The element itself or, for the optional register inclusions of older profiles, inside its Extension. */
function asFlag(as: Element, name: string): boolean {
  const direct = child(as, name);
  if (direct) return true;
  return children(as, 'Extension').some((ext) => child(ext, name) !== undefined);
}

function applicationServer(as: Element): ApplicationServer {
  const serverName = textOf(child(as, 'ServerName'));
  if (serverName === undefined) throw new Unusable('ApplicationServer needs a ServerName');
  const dh = textOf(child(as, 'DefaultHandling'));
  if (dh !== undefined && dh !== '0' && dh !== '1') throw new Unusable(`DefaultHandling must be 0 or 1, got '${dh}'`);
  const serviceInfo = textOf(child(as, 'ServiceInfo'));
  return {
    serverName,
    defaultHandling: dh === '1' ? DefaultHandling.SESSION_TERMINATED : DefaultHandling.SESSION_CONTINUED,
    ...(serviceInfo !== undefined ? { serviceInfo } : {}),
    includeRegisterRequest: asFlag(as, 'IncludeRegisterRequest'),
    includeRegisterResponse: asFlag(as, 'IncludeRegisterResponse'),
  };
}

function profilePart(ifc: Element): ProfilePart | undefined {
  const t = textOf(child(ifc, 'ProfilePartIndicator'));
  if (t === undefined) return undefined;
  if (t === '0') return 'registered';
  if (t === '1') return 'unregistered';
  throw new Unusable(`ProfilePartIndicator must be 0 or 1, got '${t}'`);
}

function criterion(ifc: Element): FilterCriterion {
  const priority = integer(child(ifc, 'Priority'), 'Priority');
  const tp = child(ifc, 'TriggerPoint');
  const as = child(ifc, 'ApplicationServer');
  if (!as) throw new Unusable('InitialFilterCriteria needs an ApplicationServer');
  const part = profilePart(ifc);
  return {
    priority,
    ...(tp ? { trigger: triggerPoint(tp) } : {}),
    applicationServer: applicationServer(as),
    ...(part ? { profilePart: part } : {}),
  };
}

/** The InitialFilterCriteria elements of a ServiceProfile, or of every ServiceProfile of an IMSSubscription. */
function filterElements(root: Element): Element[] {
  if (root.localName === 'ServiceProfile') return children(root, MARKER);
  return children(root, 'ServiceProfile').flatMap((sp) => children(sp, MARKER));
}

/**
 * Compiles a service profile's criteria, sorted by Priority (ties keep document order,
 * TS 29.228 Annex B: Priority orders the criteria; equal values are a provisioning error).
 */
export function compileFilterCriteria(profile: string): FilterCriteria {
  if (!profile.includes(MARKER)) return EMPTY;
  let root: Element | null;
  try {
    root = new DOMParser({
      onError: (level, message) => {
        if (level !== 'warning') throw new Error(message);
      },
    }).parseFromString(profile, 'text/xml').documentElement;
  } catch (e) {
    return { criteria: [], problems: [`the service profile is not well-formed XML: ${e instanceof Error ? e.message : String(e)}`] };
  }
  if (!root) return { criteria: [], problems: ['the service profile has no root element'] };
  const criteria: FilterCriterion[] = [];
  const problems: string[] = [];
  filterElements(root).forEach((el, i) => {
    try {
      criteria.push(criterion(el));
    } catch (e) {
      if (!(e instanceof Unusable)) throw e;
      problems.push(`InitialFilterCriteria ${i + 1} left out: ${e.message}`);
    }
  });
  criteria.sort((a, b) => a.priority - b.priority);
  return { criteria, problems };
}

/**
 * The part of a profile its compiled criteria depend on: from the first InitialFilterCriteria
 * to the end of the last. Every subscriber's profile names its own identities, so keyed by the
 * whole text no two subscribers ever shared an entry and the cache kept one profile and its
 * compiled criteria per subscriber; keyed by this, subscribers with the same services share one.
 * A profile whose criteria are written with a namespace prefix is keyed whole.
 */
function criteriaKey(profile: string): string {
  const start = profile.indexOf('<InitialFilterCriteria');
  const end = profile.lastIndexOf('</InitialFilterCriteria>');
  return start >= 0 && end > start ? profile.slice(start, end) : profile;
}

/**
 * Compiled criteria by the criteria's text, most recently used kept: subscribers with the same
 * criteria (the same services) share one entry.
 */
export class FilterCriteriaCache {
  private readonly entries = new Map<string, FilterCriteria>();
  /**
   * The profile read last and its criteria: subscribers mostly share a profile, and one string
   * comparison then replaces finding, cutting and hashing the criteria's text, and moving their
   * entry to the end of the table (a delete and an insert, which leave a hole in it), on every
   * request.
   */
  private lastProfile = '';
  private lastCriteria: FilterCriteria = EMPTY;

  constructor(
    private readonly maxEntries = DEFAULT_CACHE_ENTRIES,
    /** Told once per compiled profile that has problems. */
    private readonly onProblems?: (problems: readonly string[]) => void,
  ) {}

  get(profile: string): FilterCriteria {
    if (profile === this.lastProfile) return this.lastCriteria;
    const criteria = this.lookup(profile);
    this.lastProfile = profile;
    this.lastCriteria = criteria;
    return criteria;
  }

  private lookup(profile: string): FilterCriteria {
    if (!profile.includes(MARKER)) return EMPTY;
    const key = criteriaKey(profile);
    const hit = this.entries.get(key);
    if (hit) {
      // Map order is insertion order: re-inserting keeps the recently used at the end.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const compiled = compileFilterCriteria(profile);
    if (compiled.problems.length) this.onProblems?.(compiled.problems);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    // A string of its own: a slice would keep the whole profile it was cut from alive.
    this.entries.set((' ' + key).slice(1), compiled);
    return compiled;
  }

  get size(): number {
    return this.entries.size;
  }
}
