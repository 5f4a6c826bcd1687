/**
 * The simservs document (3GPP TS 24.623 §6, ETSI TS 129 364): supplementary service settings
 * of one user, rules in IETF common policy (RFC 4745). {@link readSimservs} validates a
 * document structurally and turns it into {@link SimservsSettings} in one pass; each failure
 * names the element path and what is wrong. Element names per service: OIP/OIR TS 24.607 §4.9,
 * TIP/TIR TS 24.608 §4.9, communication waiting TS 24.615 §4.9, communication diversion
 * TS 24.604 §4.9, communication barring TS 24.611 §4.9.
 */
import type { Document, Element } from '@xmldom/xmldom';
import { childElements, ELEMENT_NODE, parseXml, serializeXml, textOf } from './xml.js';

export const SIMSERVS_NS = 'http://uri.etsi.org/ngn/params/xml/simservs/xcap';
export const COMMON_POLICY_NS = 'urn:ietf:params:xml:ns:common-policy';
/** The application usage (TS 24.623 §5.1.1) and the document name Clearwater's Homer serves. */
export const SIMSERVS_AUID = 'org.etsi.ngn.simservs';
export const SIMSERVS_DOCUMENT = 'simservs.xml';
export const SIMSERVS_MEDIA_TYPE = 'application/simservs+xml';

export type DefaultBehaviour = 'presentation-restricted' | 'presentation-not-restricted';
/** TS 24.604 §4.9.1.3: the conditions a diversion rule may hold (besides media and deactivation). */
export type DiversionCondition = 'busy' | 'not-registered' | 'no-answer' | 'not-reachable' | 'not-logged-in';
/** TS 24.611 §4.9.1.3: barring conditions besides media and deactivation. */
export type BarringCondition = 'international' | 'international-exHC' | 'roaming' | 'anonymous' | 'communication-diverted' | 'other-identity';
/** TS 24.604 §4.9.1.4: the boolean options of `forward-to`. */
export type ForwardOption =
  | 'notify-caller'
  | 'reveal-identity-to-caller'
  | 'reveal-served-user-identity-to-caller'
  | 'notify-served-user'
  | 'notify-served-user-on-outbound-call'
  | 'reveal-identity-to-target';

export interface ServiceState {
  readonly active: boolean;
}
export interface RestrictionService extends ServiceState {
  readonly defaultBehaviour?: DefaultBehaviour;
}
interface RuleBase {
  readonly id: string;
  /** The rule holds `rule-deactivated`: it never matches. */
  readonly deactivated: boolean;
  /** `media` conditions (e.g. audio, video); empty: any media. */
  readonly media: readonly string[];
  /**
   * Conditions kept but not interpreted (common policy `cp:identity`, `cp:sphere`,
   * `cp:validity`, `presence-status`), as XML. A rule holding any should be treated as not
   * matching by a service that does not evaluate them.
   */
  readonly extraConditions: readonly string[];
}
export interface DiversionRule extends RuleBase {
  readonly conditions: readonly DiversionCondition[];
  /** `forward-to/target`: a SIP, SIPS or tel URI. */
  readonly target: string;
  readonly options?: Readonly<Partial<Record<ForwardOption, boolean>>>;
}
export interface BarringRule extends RuleBase {
  readonly conditions: readonly BarringCondition[];
  readonly allow: boolean;
}
export interface DiversionService extends ServiceState {
  /** Seconds, 5 to 180 (TS 24.604 §4.9.1.2). */
  readonly noReplyTimer?: number;
  readonly rules: readonly DiversionRule[];
}
export interface BarringService extends ServiceState {
  readonly rules: readonly BarringRule[];
}

/** A user's service settings; a service absent from the document is absent here. */
export interface SimservsSettings {
  readonly oip?: ServiceState;
  readonly oir?: RestrictionService;
  readonly tip?: ServiceState;
  readonly tir?: RestrictionService;
  readonly cw?: ServiceState;
  readonly cdiv?: DiversionService;
  readonly icb?: BarringService;
  readonly ocb?: BarringService;
}

/** A document that is not a valid simservs document: `path` is the element at fault. */
export class SimservsInvalid extends Error {
  override readonly name = 'SimservsInvalid';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const SERVICE_KEYS: Record<string, keyof SimservsSettings> = {
  'originating-identity-presentation': 'oip',
  'originating-identity-presentation-restriction': 'oir',
  'terminating-identity-presentation': 'tip',
  'terminating-identity-presentation-restriction': 'tir',
  'communication-waiting': 'cw',
  'communication-diversion': 'cdiv',
  'incoming-communication-barring': 'icb',
  'outgoing-communication-barring': 'ocb',
};
const DIVERSION_CONDITIONS: ReadonlySet<string> = new Set<DiversionCondition>(['busy', 'not-registered', 'no-answer', 'not-reachable', 'not-logged-in']);
const BARRING_CONDITIONS: ReadonlySet<string> = new Set<BarringCondition>([
  'international',
  'international-exHC',
  'roaming',
  'anonymous',
  'communication-diverted',
  'other-identity',
]);
const FORWARD_OPTIONS: ReadonlySet<string> = new Set<ForwardOption>([
  'notify-caller',
  'reveal-identity-to-caller',
  'reveal-served-user-identity-to-caller',
  'notify-served-user',
  'notify-served-user-on-outbound-call',
  'reveal-identity-to-target',
]);
const COMMON_POLICY_CONDITIONS: ReadonlySet<string> = new Set(['identity', 'sphere', 'validity']);
const MEDIA = /^[a-z][a-z0-9.+-]*$/i;
/** A SIP, SIPS or tel URI without spaces (RFC 3261 §19.1, RFC 3966). */
const TARGET_URI = /^(?:sips?:[^\s@<>"]+@[^\s<>"]+|sips?:[^\s<>"@]+|tel:\+?[0-9A-Fa-f*#().-]+(?:;[^\s<>"]*)?)$/i;
const NCNAME = /^[A-Za-z_][\w.-]*$/;
const BOOLEANS: Record<string, boolean> = { true: true, '1': true, false: false, '0': false };

/** Name of an element as the error path shows it: `cp:` for common policy, bare for simservs. */
function label(element: Element): string {
  const name = element.localName ?? element.nodeName;
  if (element.namespaceURI === SIMSERVS_NS) return name;
  if (element.namespaceURI === COMMON_POLICY_NS) return `cp:${name}`;
  return element.namespaceURI ? `{${element.namespaceURI}}${name}` : `{}${name}`;
}

function child(path: string, element: Element): string {
  const id = element.localName === 'rule' && element.getAttribute('id');
  return `${path}/${label(element)}${id ? `[@id="${id}"]` : ''}`;
}

function fail(path: string, reason: string): never {
  throw new SimservsInvalid(path, reason);
}

/** Element children, refusing non-blank text (the content models here are element-only). */
function elementsOf(element: Element, path: string): Element[] {
  for (let node = element.firstChild; node; node = node.nextSibling) {
    if (node.nodeType !== ELEMENT_NODE && (node.nodeType === 3 || node.nodeType === 4) && (node.nodeValue ?? '').trim() !== '') {
      fail(path, `unexpected text "${(node.nodeValue ?? '').trim().slice(0, 40)}"`);
    }
  }
  return childElements(element);
}

/** The text of an element that must hold only text. */
function simpleText(element: Element, path: string): string {
  if (childElements(element).length > 0) fail(path, 'must hold text only, not elements');
  return textOf(element).trim();
}

function expectEmpty(element: Element, path: string): void {
  if (element.firstChild && (childElements(element).length > 0 || textOf(element).trim() !== '')) fail(path, 'must be empty');
}

function parseBoolean(text: string, path: string): boolean {
  const value = BOOLEANS[text];
  if (value === undefined) fail(path, `must be true or false, got "${text}"`);
  return value;
}

function checkAttributes(element: Element, path: string, allowed: readonly string[]): void {
  for (const attr of Array.from(element.attributes)) {
    if (attr.name === 'xmlns' || attr.prefix === 'xmlns' || attr.namespaceURI) continue;
    if (!allowed.includes(attr.name)) fail(path, `unknown attribute ${attr.name}`);
  }
}

function activeOf(element: Element, path: string): boolean {
  if (!element.hasAttribute('active')) return true; // TS 24.623 §6.2: simservType, active defaults to true
  return parseBoolean(element.getAttribute('active') ?? '', `${path}/@active`);
}

function isSs(element: Element): boolean {
  return element.namespaceURI === SIMSERVS_NS;
}

function isCp(element: Element, name: string): boolean {
  return element.namespaceURI === COMMON_POLICY_NS && element.localName === name;
}

/**
 * Validates a simservs document and returns its settings; throws {@link SimservsInvalid}
 * (path and reason) for the first problem found.
 */
export function readSimservs(document: Document): SimservsSettings {
  const root = document.documentElement;
  if (!root) fail('/', 'no root element');
  if (root.localName !== 'simservs' || !isSs(root)) fail(`/${label(root)}`, `the root element must be simservs in namespace ${SIMSERVS_NS}`);
  const settings: Mutable<SimservsSettings> = {};
  for (const element of elementsOf(root, '/simservs')) {
    const path = child('/simservs', element);
    const key = isSs(element) ? SERVICE_KEYS[element.localName ?? ''] : undefined;
    if (!key) fail(path, 'unknown service element');
    if (settings[key]) fail(path, 'appears more than once');
    settings[key] = readService(key, element, path) as never;
  }
  return settings;
}

/** Parses and validates XML text as a simservs document. */
export function parseSimservs(text: string): SimservsSettings {
  let document: Document;
  try {
    document = parseXml(text);
  } catch (error) {
    throw new SimservsInvalid('/', `not well-formed XML: ${(error as Error).message}`);
  }
  return readSimservs(document);
}

/** The first problem of a simservs document as "path: reason", or undefined when it is valid. */
export function validateSimservs(text: string): string | undefined {
  try {
    parseSimservs(text);
    return undefined;
  } catch (error) {
    if (error instanceof SimservsInvalid) return error.message;
    throw error;
  }
}

function readService(key: keyof SimservsSettings, element: Element, path: string): SimservsSettings[keyof SimservsSettings] {
  checkAttributes(element, path, ['active']);
  const active = activeOf(element, path);
  switch (key) {
    case 'oip':
    case 'tip':
    case 'cw':
      expectEmpty(element, path);
      return { active };
    case 'oir':
    case 'tir':
      return readRestriction(element, path, active);
    case 'cdiv':
      return readDiversion(element, path, active);
    case 'icb':
    case 'ocb':
      return { active, rules: readRuleset(element, path, (rule, rulePath) => readBarringRule(rule, rulePath)) };
  }
}

/** TS 24.607 §4.9.1: OIR (and TIR) with an optional `default-behaviour`. */
function readRestriction(element: Element, path: string, active: boolean): RestrictionService {
  let defaultBehaviour: DefaultBehaviour | undefined;
  for (const item of elementsOf(element, path)) {
    const itemPath = child(path, item);
    if (!isSs(item) || item.localName !== 'default-behaviour') fail(itemPath, 'unexpected element; only default-behaviour is allowed here');
    if (defaultBehaviour) fail(itemPath, 'appears more than once');
    const value = simpleText(item, itemPath);
    if (value !== 'presentation-restricted' && value !== 'presentation-not-restricted') {
      fail(itemPath, `must be presentation-restricted or presentation-not-restricted, got "${value}"`);
    }
    defaultBehaviour = value;
  }
  return defaultBehaviour ? { active, defaultBehaviour } : { active };
}

/** TS 24.604 §4.9.1: an optional NoReplyTimer (5-180 s), then the rules. */
function readDiversion(element: Element, path: string, active: boolean): DiversionService {
  let noReplyTimer: number | undefined;
  for (const item of elementsOf(element, path)) {
    if (!isSs(item) || item.localName !== 'NoReplyTimer') continue;
    const itemPath = child(path, item);
    if (noReplyTimer !== undefined) fail(itemPath, 'appears more than once');
    const text = simpleText(item, itemPath);
    noReplyTimer = /^\d{1,3}$/.test(text) ? Number(text) : Number.NaN;
    if (!(noReplyTimer >= 5 && noReplyTimer <= 180)) fail(itemPath, `must be a whole number of seconds from 5 to 180, got "${text}"`);
  }
  const rules = readRuleset(element, path, (rule, rulePath) => readDiversionRule(rule, rulePath), ['NoReplyTimer']);
  return noReplyTimer === undefined ? { active, rules } : { active, noReplyTimer, rules };
}

/** The `cp:ruleset` of a service (RFC 4745 §7): rules with unique ids. */
function readRuleset<R extends RuleBase>(
  service: Element,
  path: string,
  readRule: (rule: Element, rulePath: string) => R,
  siblings: readonly string[] = [],
): R[] {
  let ruleset: Element | undefined;
  for (const item of elementsOf(service, path)) {
    if (isSs(item) && siblings.includes(item.localName ?? '')) continue;
    const itemPath = child(path, item);
    if (!isCp(item, 'ruleset')) fail(itemPath, 'unexpected element; only cp:ruleset is allowed here');
    if (ruleset) fail(itemPath, 'appears more than once');
    ruleset = item;
  }
  if (!ruleset) return [];
  const rulesetPath = `${path}/cp:ruleset`;
  const ids = new Set<string>();
  return elementsOf(ruleset, rulesetPath).map((rule) => {
    const rulePath = child(rulesetPath, rule);
    if (!isCp(rule, 'rule')) fail(rulePath, 'unexpected element; a cp:ruleset holds cp:rule elements only');
    checkAttributes(rule, rulePath, ['id']);
    const id = rule.getAttribute('id') ?? '';
    if (!NCNAME.test(id)) fail(rulePath, `needs an id attribute that is an XML name, got "${id}"`);
    if (ids.has(id)) fail(rulePath, `rule id "${id}" is used twice`);
    ids.add(id);
    return readRule(rule, rulePath);
  });
}

/** The parts of a `cp:rule` (RFC 4745 §7): conditions, actions, transformations, in order, each at most once. */
function ruleParts(rule: Element, path: string): { conditions: Element[]; actions?: Element } {
  const order = ['conditions', 'actions', 'transformations'];
  let last = -1;
  let conditions: Element[] = [];
  let actions: Element | undefined;
  for (const part of elementsOf(rule, path)) {
    const partPath = child(path, part);
    const index = part.namespaceURI === COMMON_POLICY_NS ? order.indexOf(part.localName ?? '') : -1;
    if (index < 0) fail(partPath, 'unexpected element; a rule holds cp:conditions, cp:actions and cp:transformations');
    if (index <= last) fail(partPath, 'out of order or repeated (cp:conditions, cp:actions, cp:transformations)');
    last = index;
    if (index === 0) conditions = elementsOf(part, partPath);
    if (index === 1) actions = part;
  }
  return actions ? { conditions, actions } : { conditions };
}

interface ConditionSet<C extends string> {
  conditions: C[];
  media: string[];
  extraConditions: string[];
  deactivated: boolean;
}

function readConditions<C extends string>(elements: Element[], path: string, known: ReadonlySet<string>): ConditionSet<C> {
  const out: ConditionSet<C> = { conditions: [], media: [], extraConditions: [], deactivated: false };
  for (const condition of elements) {
    const conditionPath = child(`${path}/cp:conditions`, condition);
    const name = condition.localName ?? '';
    if (condition.namespaceURI === COMMON_POLICY_NS && COMMON_POLICY_CONDITIONS.has(name)) {
      out.extraConditions.push(serializeXml(condition));
    } else if (!isSs(condition)) {
      fail(conditionPath, 'unknown condition');
    } else if (name === 'media') {
      const media = simpleText(condition, conditionPath);
      if (!MEDIA.test(media)) fail(conditionPath, `must name a media type such as audio or video, got "${media}"`);
      out.media.push(media);
    } else if (name === 'presence-status') {
      out.extraConditions.push(serializeXml(condition));
    } else if (name === 'rule-deactivated' || known.has(name)) {
      expectEmpty(condition, conditionPath);
      if (name === 'rule-deactivated') out.deactivated = true;
      else if (!out.conditions.includes(name as C)) out.conditions.push(name as C);
    } else {
      fail(conditionPath, `unknown condition; allowed: ${[...known, 'media', 'rule-deactivated', 'presence-status'].join(', ')}`);
    }
  }
  return out;
}

/** TS 24.604 §4.9.1.4: a diversion rule's action is `forward-to` with one `target`. */
function readDiversionRule(rule: Element, path: string): DiversionRule {
  const { conditions, actions } = ruleParts(rule, path);
  const id = rule.getAttribute('id')!;
  const set = readConditions<DiversionCondition>(conditions, path, DIVERSION_CONDITIONS);
  if (!actions) fail(path, 'needs cp:actions with forward-to');
  const actionsPath = `${path}/cp:actions`;
  const items = elementsOf(actions, actionsPath);
  const forward = items.find((a) => isSs(a) && a.localName === 'forward-to');
  for (const item of items) if (item !== forward) fail(child(actionsPath, item), 'unexpected action; a diversion rule holds forward-to');
  if (!forward) fail(actionsPath, 'needs forward-to');
  const forwardPath = `${actionsPath}/forward-to`;
  let target: string | undefined;
  const options: Partial<Record<ForwardOption, boolean>> = {};
  for (const item of elementsOf(forward, forwardPath)) {
    const itemPath = child(forwardPath, item);
    const name = item.localName ?? '';
    if (isSs(item) && name === 'target') {
      if (target !== undefined) fail(itemPath, 'appears more than once');
      target = simpleText(item, itemPath);
      if (!TARGET_URI.test(target)) fail(itemPath, `must be a SIP or tel URI, got "${target}"`);
    } else if (isSs(item) && FORWARD_OPTIONS.has(name)) {
      options[name as ForwardOption] = parseBoolean(simpleText(item, itemPath), itemPath);
    } else {
      fail(itemPath, 'unexpected element in forward-to');
    }
  }
  if (target === undefined) fail(forwardPath, 'needs a target');
  const base = { id, deactivated: set.deactivated, media: set.media, extraConditions: set.extraConditions, conditions: set.conditions, target };
  return Object.keys(options).length > 0 ? { ...base, options } : base;
}

/** TS 24.611 §4.9.1.4: a barring rule's action is `allow` true or false. */
function readBarringRule(rule: Element, path: string): BarringRule {
  const { conditions, actions } = ruleParts(rule, path);
  const set = readConditions<BarringCondition>(conditions, path, BARRING_CONDITIONS);
  if (!actions) fail(path, 'needs cp:actions with allow');
  const actionsPath = `${path}/cp:actions`;
  let allow: boolean | undefined;
  for (const item of elementsOf(actions, actionsPath)) {
    const itemPath = child(actionsPath, item);
    if (!isSs(item) || item.localName !== 'allow') fail(itemPath, 'unexpected action; a barring rule holds allow');
    if (allow !== undefined) fail(itemPath, 'appears more than once');
    allow = parseBoolean(simpleText(item, itemPath), itemPath);
  }
  if (allow === undefined) fail(actionsPath, 'needs allow');
  const { conditions: list, media, extraConditions, deactivated } = set;
  return { id: rule.getAttribute('id')!, deactivated, media, extraConditions, conditions: list, allow };
}

export { defaultSettings, defaultSimservs, serializeSimservs } from './simservs-serialize.js';
