/**
 * Communication barring (3GPP TS 24.611): incoming (ICB, with anonymous communication rejection)
 * and outgoing (OCB) rules of the served user's simservs document.
 *
 * A rule matches when it is not deactivated, holds no condition this AS does not evaluate
 * (`cp:identity`, `cp:sphere`, `cp:validity`, `presence-status`, `roaming`, `other-identity`)
 * and every condition it holds is true (RFC 4745 §10.1: conditions of a rule are ANDed; no
 * condition matches every communication). Matching rules combine as common policy says for a
 * boolean permission (RFC 4745 §10.2: the most permissive value wins): the communication is
 * barred when at least one rule matches and none of the matching rules has `allow` true. So the
 * default document's allow-all rule must be replaced (as the portal does), not kept beside a
 * barring rule, for the barring to bite. No matching rule: allowed.
 */
import type { BarringCondition, BarringRule, BarringService } from '../../xdms/simservs.js';

/** What the conditions of a barring rule are evaluated against. */
export interface BarringFacts {
  /** TS 24.611 §4.9.1.3 `anonymous`: the caller's identity is withheld (ICB only). */
  readonly anonymous: boolean;
  /** `international` (and `international-exHC`, the same without roaming). */
  readonly international: boolean;
  /** `communication-diverted`: the request was diverted before (ICB only). */
  readonly diverted: boolean;
  /** Media types of the offer; undefined when there was no SDP (then `media` conditions do not match). */
  readonly media: ReadonlySet<string> | undefined;
}

/** The decision, and the matching rule that barred (its conditions tell ACR from plain barring). */
export type BarringDecision = { readonly barred: false } | { readonly barred: true; readonly rule: BarringRule };

function conditionHolds(condition: BarringCondition, facts: BarringFacts): boolean {
  switch (condition) {
    case 'anonymous':
      return facts.anonymous;
    case 'international':
    case 'international-exHC':
      return facts.international;
    case 'communication-diverted':
      return facts.diverted;
    default:
      return false; // roaming, other-identity: not evaluated here, so never matched
  }
}

/** True when every media type the rule names is enabled in the offer (TS 24.604/24.611 §4.9.1.3). */
export function mediaMatch(wanted: readonly string[], offered: ReadonlySet<string> | undefined): boolean {
  if (wanted.length === 0) return true;
  if (!offered) return false;
  return wanted.every((m) => offered.has(m.toLowerCase()));
}

function ruleMatches(rule: BarringRule, facts: BarringFacts): boolean {
  if (rule.deactivated || rule.extraConditions.length > 0) return false;
  return rule.conditions.every((c) => conditionHolds(c, facts)) && mediaMatch(rule.media, facts.media);
}

/** Evaluates a barring service (absent or inactive: nothing is barred). */
export function barring(service: BarringService | undefined, facts: BarringFacts): BarringDecision {
  if (!service?.active) return { barred: false };
  const matching = service.rules.filter((r) => ruleMatches(r, facts));
  const denying = matching.find((r) => !r.allow);
  if (!denying || matching.some((r) => r.allow)) return { barred: false };
  return { barred: true, rule: denying };
}
