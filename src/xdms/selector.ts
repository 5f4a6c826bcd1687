/**
 * XCAP node selectors (RFC 4825 §6.3): the part of an XCAP URI after `/~~/`, a path of element
 * steps (by name, by position `[n]`, by attribute `[@a="v"]`, or both) optionally ending in an
 * attribute selector `@a`. Unprefixed names are in the application usage's default namespace
 * (RFC 4825 §6.3, §5.2: simservs); prefixes are bound by the URI's query, `xmlns(p=uri)` (RFC
 * 4825 §6.4), with `cp` and `ss` bound by default as a convenience for Homer-era clients.
 */
import type { Document, Element, Node } from '@xmldom/xmldom';
import { XdmsError } from './errors.js';
import { COMMON_POLICY_NS, SIMSERVS_NS } from './simservs.js';
import { childElements } from './xml.js';

/** One element step. `local` `*` matches any element. */
export interface Step {
  readonly prefix?: string;
  readonly local: string;
  readonly position?: number;
  readonly attribute?: { readonly name: string; readonly value: string };
  /** The step as written, for building URIs of ancestors. */
  readonly text: string;
}

export interface NodeSelector {
  readonly steps: readonly Step[];
  /** The terminal attribute selector's name, when the selector ends in `@name`. */
  readonly attribute?: string;
}

/** Resolves a prefix of a selector to a namespace URI. */
export type NamespaceBindings = ReadonlyMap<string, string>;

const NAME = '[A-Za-z_][\\w.-]*';
const QNAME = `(?:(${NAME}):)?(${NAME}|\\*)`;
const STEP = new RegExp(`^${QNAME}(?:\\[(\\d+)\\])?(?:\\[@(${NAME}(?::${NAME})?)\\s*=\\s*(?:"([^"]*)"|'([^']*)')\\])?$`);
const ATTRIBUTE = new RegExp(`^@(${NAME}(?::${NAME})?)$`);
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function bad(message: string): XdmsError {
  return new XdmsError('TW_ERR_XDMS_BAD_REQUEST', message);
}

/** Splits on `/` outside quotes. */
function splitSteps(text: string): string[] {
  const parts: string[] = [];
  let quote = '';
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '/') {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (quote) throw bad('unterminated quote in the node selector');
  parts.push(text.slice(start));
  return parts;
}

function unescapeAttValue(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(parseInt(entity.slice(1), 10));
    return ENTITIES[entity]!;
  });
}

/** Parses a (percent-decoded) node selector; throws TW_ERR_XDMS_BAD_REQUEST. */
export function parseNodeSelector(text: string): NodeSelector {
  const parts = splitSteps(text);
  if (parts.some((p) => p === '')) throw bad(`empty step in the node selector "${text}"`);
  const last = parts[parts.length - 1]!;
  if (last === 'namespace::*') throw bad('namespace selectors (namespace::*) are not supported');
  const terminal = ATTRIBUTE.exec(last);
  const stepTexts = terminal ? parts.slice(0, -1) : parts;
  if (stepTexts.length === 0) throw bad('a node selector needs at least one element step');
  const steps = stepTexts.map((stepText): Step => {
    const m = STEP.exec(stepText);
    if (!m) throw bad(`cannot parse the node selector step "${stepText}"`);
    const [, prefix, local, position, attrName, dq, sq] = m;
    const pos = position === undefined ? undefined : Number(position);
    if (pos !== undefined && (pos < 1 || !Number.isSafeInteger(pos))) throw bad(`position must be 1 or more in "${stepText}"`);
    return {
      text: stepText,
      local: local!,
      ...(prefix !== undefined && { prefix }),
      ...(pos !== undefined && { position: pos }),
      ...(attrName !== undefined && { attribute: { name: attrName, value: unescapeAttValue(dq ?? sq ?? '') } }),
    };
  });
  return terminal ? { steps, attribute: terminal[1]! } : { steps };
}

/** The `xmlns(p=uri)` bindings of an XCAP URI's query (RFC 4825 §6.4), over the defaults. */
export function parseNamespaceBindings(query: string): NamespaceBindings {
  const bindings = new Map<string, string>([
    ['cp', COMMON_POLICY_NS],
    ['ss', SIMSERVS_NS],
  ]);
  if (query === '') return bindings;
  const re = /xmlns\(\s*([A-Za-z_][\w.-]*)\s*=\s*([^)\s]+)\s*\)/g;
  const rest = query.replace(re, (_, prefix: string, uri: string) => {
    bindings.set(prefix, uri);
    return '';
  });
  if (rest.trim() !== '') throw bad(`the query holds something other than xmlns() bindings: "${rest.trim()}"`);
  return bindings;
}

/** Namespace URI of a step's or attribute's prefix; unprefixed element steps are in simservs. */
export function namespaceOf(prefix: string | undefined, bindings: NamespaceBindings): string {
  if (prefix === undefined) return SIMSERVS_NS;
  const uri = bindings.get(prefix);
  if (uri === undefined) throw bad(`the prefix "${prefix}" is not bound; add xmlns(${prefix}=...) to the query`);
  return uri;
}

/** True when `element` has the step's name (RFC 4825 §6.3: expanded names compared). */
export function nameMatches(element: Element, step: Step, bindings: NamespaceBindings): boolean {
  if (step.local === '*') return step.prefix === undefined || element.namespaceURI === namespaceOf(step.prefix, bindings);
  return element.localName === step.local && element.namespaceURI === namespaceOf(step.prefix, bindings);
}

/** Value of a (possibly prefixed) attribute, or null. Unprefixed attributes have no namespace. */
export function attributeValue(element: Element, qname: string, bindings: NamespaceBindings): string | null {
  const colon = qname.indexOf(':');
  if (colon < 0) return element.hasAttribute(qname) ? element.getAttribute(qname) : null;
  const uri = namespaceOf(qname.slice(0, colon), bindings);
  const local = qname.slice(colon + 1);
  return element.hasAttributeNS(uri, local) ? element.getAttributeNS(uri, local) : null;
}

/** The elements one step selects under `parent` (RFC 4825 §6.3: position first, then attribute). */
export function selectStep(parent: Node, step: Step, bindings: NamespaceBindings): Element[] {
  const named = childElements(parent).filter((e) => nameMatches(e, step, bindings));
  const positioned = step.position === undefined ? named : named.slice(step.position - 1, step.position);
  const attribute = step.attribute;
  if (!attribute) return positioned;
  return positioned.filter((e) => attributeValue(e, attribute.name, bindings) === attribute.value);
}

/** The elements the first `count` steps select, starting at the document node. */
export function evaluate(document: Document, steps: readonly Step[], bindings: NamespaceBindings, count = steps.length): Element[] {
  let current: Node[] = [document];
  for (const step of steps.slice(0, count)) current = current.flatMap((node) => selectStep(node, step, bindings));
  return current as Element[];
}

/** How many leading steps select exactly one element (the closest existing ancestor). */
export function existingDepth(document: Document, steps: readonly Step[], bindings: NamespaceBindings): number {
  let depth = 0;
  while (depth < steps.length && evaluate(document, steps, bindings, depth + 1).length === 1) depth++;
  return depth;
}
