/**
 * The MMTel application server: supplementary services (TS 24.604 diversion, TS 24.611 barring,
 * TS 24.607 identity presentation and restriction) driven by each user's simservs document.
 */
import { MmtelService, type MmtelOptions } from './service.js';

export { MmtelService, onwardRoutes, type MmtelOptions } from './service.js';
export { SimservsReader, type SimservsDocuments } from './settings.js';
export { barring, type BarringDecision, type BarringFacts } from './barring.js';
export { DIVERSION_CAUSE, diversionCount, diversionRule, planDiversion, responseEvent, type DiversionEvent, type DiversionPlan } from './diversion.js';
export { ANONYMOUS_URI } from './privacy.js';
export { isInternational, servedUserOf, type NumberPlan, type ServedUser } from './request-facts.js';

/** The host name the MMTel AS answers to by default: `mmtel.<domain>` (INTERFACES.md). */
export function defaultMmtelHost(domain: string): string {
  return `mmtel.${domain.toLowerCase()}`;
}

/** An MMTel AS; `host` defaults to `mmtel.<domain>`. */
export function createMmtelService(opts: Omit<MmtelOptions, 'host'> & { readonly host?: string }): MmtelService {
  return new MmtelService({ ...opts, host: opts.host ?? defaultMmtelHost(opts.domain) });
}
