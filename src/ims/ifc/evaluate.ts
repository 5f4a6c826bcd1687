/**
 * Matching a request against compiled Initial Filter Criteria (3GPP TS 29.228 Annex F, TS 23.218
 * §6.5): criteria in priority order, each TriggerPoint in conjunctive or disjunctive normal form
 * over its SPT groups, each SPT possibly negated. The request is seen through a small view so
 * only what a trigger asks for is read (the SDP body, say, only for a SessionDescription SPT).
 */
import type { SipRequest } from '../../sip/index.js';
import type { FilterCriteria, FilterCriterion, RegistrationType, ServicePointTrigger, SessionCase, TriggerPoint } from './criteria.js';

/** What the SPTs read of a request. */
export interface IfcRequest {
  /** The method as sent (compared case-insensitively). */
  readonly method: string;
  /** The Request-URI as text. */
  readonly requestUri: string;
  /** Every value of header `name` (canonical lower-case long name), one per header line. */
  headerValues(name: string): readonly string[];
  /** The lines of an `application/sdp` body; empty without one. */
  sdpLines(): readonly string[];
}

/** The served user's situation the criteria are evaluated in. */
export interface IfcSituation {
  readonly sessionCase: SessionCase;
  /** The served user is registered (ProfilePartIndicator REGISTERED applies), else unregistered. */
  readonly registered: boolean;
  /** For a REGISTER: initial, re- or de-registration (TS 29.228 Annex B RegistrationType). */
  readonly registrationType?: RegistrationType;
}

const LINE_BREAK = /\r?\n/;
const SDP_TYPE = /^application\/sdp\s*(;|$)/i;

/** An {@link IfcRequest} over a parsed SIP request; the SDP lines are split once, when first asked for. */
export function ifcRequestOf(req: SipRequest): IfcRequest {
  let sdp: readonly string[] | undefined;
  return {
    method: req.method,
    requestUri: req.uriString,
    headerValues(name) {
      const out: string[] = [];
      for (const line of req.headers) if (line.name === name) out.push(line.value);
      return out;
    },
    sdpLines() {
      if (sdp === undefined) {
        const type = req.get('content-type');
        sdp = type !== undefined && SDP_TYPE.test(type) && req.body.length ? req.body.toString('utf8').split(LINE_BREAK) : [];
      }
      return sdp;
    },
  };
}

function anyMatches(values: readonly string[], pattern: RegExp | undefined): boolean {
  if (pattern === undefined) return values.length > 0;
  for (const v of values) if (pattern.test(v)) return true;
  return false;
}

function sdpMatches(lines: readonly string[], type: string, pattern: RegExp | undefined): boolean {
  const prefix = `${type}=`;
  for (const line of lines) {
    if (line.length < prefix.length || line.slice(0, prefix.length).toLowerCase() !== prefix.toLowerCase()) continue;
    if (pattern === undefined || pattern.test(line.slice(prefix.length))) return true;
  }
  return false;
}

/** One SPT, negation applied (TS 29.228 Annex B ConditionNegated). */
export function sptMatches(spt: ServicePointTrigger, req: IfcRequest, situation: IfcSituation): boolean {
  let r: boolean;
  switch (spt.kind) {
    case 'method':
      r = req.method.toUpperCase() === spt.method;
      // TS 29.228 Annex B: RegistrationType narrows an SPT on REGISTER; none given, any REGISTER.
      if (r && spt.method === 'REGISTER' && spt.registrationTypes !== 0) {
        r = situation.registrationType !== undefined && (spt.registrationTypes & (1 << situation.registrationType)) !== 0;
      }
      break;
    case 'request-uri':
      r = spt.pattern.test(req.requestUri);
      break;
    case 'header':
      r = anyMatches(req.headerValues(spt.name), spt.content);
      break;
    case 'session-case':
      r = situation.sessionCase === spt.sessionCase;
      break;
    case 'session-description':
      r = sdpMatches(req.sdpLines(), spt.line, spt.content);
      break;
  }
  return spt.negated ? !r : r;
}

/**
 * TS 29.228 Annex F: in conjunctive normal form the trigger holds when every group has a
 * matching SPT (AND of ORs); in disjunctive normal form when some group has only matching SPTs
 * (OR of ANDs).
 */
export function triggerMatches(tp: TriggerPoint, req: IfcRequest, situation: IfcSituation): boolean {
  if (tp.cnf) {
    for (const group of tp.groups) if (!group.some((s) => sptMatches(s, req, situation))) return false;
    return true;
  }
  for (const group of tp.groups) if (group.every((s) => sptMatches(s, req, situation))) return true;
  return false;
}

/** One criterion: its profile part fits the registration state, and its trigger (if any) holds. */
export function criterionMatches(c: FilterCriterion, req: IfcRequest, situation: IfcSituation): boolean {
  if (c.profilePart === 'registered' && !situation.registered) return false;
  if (c.profilePart === 'unregistered' && situation.registered) return false;
  return c.trigger === undefined || triggerMatches(c.trigger, req, situation);
}

/**
 * The index of the first criterion at or after `from` (in priority order) that matches, or -1
 * (TS 24.229 §5.4.3.2 step 4: evaluation resumes after the last criterion used).
 */
export function nextMatch(criteria: FilterCriteria, req: IfcRequest, situation: IfcSituation, from = 0): number {
  const list = criteria.criteria;
  for (let i = Math.max(0, from); i < list.length; i++) if (criterionMatches(list[i]!, req, situation)) return i;
  return -1;
}
