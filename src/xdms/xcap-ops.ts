/**
 * The XCAP operations on one node of a parsed document (RFC 4825 §7, §8.2): read, create or
 * replace, and delete an element or an attribute. Each changes the DOM in place; the caller
 * validates and stores the resulting document.
 */
import type { Document, Element, Node } from '@xmldom/xmldom';
import { escapeXml, XdmsError } from './errors.js';
import { attributeValue, evaluate, existingDepth, nameMatches, namespaceOf, selectStep, type NamespaceBindings, type NodeSelector, type Step } from './selector.js';
import { childElements, ELEMENT_NODE, parseXml, serializeXml, textOf } from './xml.js';

export const ELEMENT_MEDIA_TYPE = 'application/xcap-el+xml';
export const ATTRIBUTE_MEDIA_TYPE = 'application/xcap-att+xml';

/** What a node selector points at in one document. */
export interface NodeContext {
  readonly document: Document;
  readonly selector: NodeSelector;
  readonly bindings: NamespaceBindings;
  /** The URI of the element the first `depth` steps select (0: the document), for `<no-parent>`. */
  readonly uriAt: (depth: number) => string;
}

function notFound(message: string): XdmsError {
  return new XdmsError('TW_ERR_XDMS_NOT_FOUND', message);
}

function describe(selector: NodeSelector): string {
  return selector.steps.map((s) => s.text).join('/') + (selector.attribute ? `/@${selector.attribute}` : '');
}

/** The one element the steps select, or undefined; more than one is a 404 (RFC 4825 §6.3). */
function theElement(ctx: NodeContext): Element | undefined {
  const found = evaluate(ctx.document, ctx.selector.steps, ctx.bindings);
  if (found.length > 1) throw notFound(`the node selector ${describe(ctx.selector)} selects ${found.length} elements, not one`);
  return found[0];
}

/** True when the selected node exists (for If-Match: * and If-None-Match: *). */
export function nodeExists(ctx: NodeContext): boolean {
  const element = theElement(ctx);
  if (!element || !ctx.selector.attribute) return element !== undefined;
  return attributeValue(element, ctx.selector.attribute, ctx.bindings) !== null;
}

/** RFC 4825 §7.4 (element) and §7.5 (attribute): the node's body and media type. */
export function getNode(ctx: NodeContext): { body: string; contentType: string } {
  const element = theElement(ctx);
  if (!element) throw notFound(`no element at ${describe(ctx.selector)}`);
  if (!ctx.selector.attribute) return { body: serializeXml(element), contentType: ELEMENT_MEDIA_TYPE };
  const value = attributeValue(element, ctx.selector.attribute, ctx.bindings);
  if (value === null) throw notFound(`no attribute at ${describe(ctx.selector)}`);
  return { body: escapeXml(value), contentType: ATTRIBUTE_MEDIA_TYPE };
}

/** RFC 4825 §8.2.4: removes the node; the URI must then select nothing (`<cannot-delete>`). */
export function deleteNode(ctx: NodeContext): void {
  const element = theElement(ctx);
  if (!element) throw notFound(`no element at ${describe(ctx.selector)}`);
  const attribute = ctx.selector.attribute;
  if (attribute) {
    if (attributeValue(element, attribute, ctx.bindings) === null) throw notFound(`no attribute at ${describe(ctx.selector)}`);
    const colon = attribute.indexOf(':');
    if (colon < 0) element.removeAttribute(attribute);
    else element.removeAttributeNS(namespaceOf(attribute.slice(0, colon), ctx.bindings), attribute.slice(colon + 1));
    return;
  }
  if (element === ctx.document.documentElement) throw new XdmsError('TW_ERR_XDMS_CANNOT_DELETE', 'the root element cannot be deleted; delete the document');
  element.parentNode!.removeChild(element);
  if (evaluate(ctx.document, ctx.selector.steps, ctx.bindings).length > 0) {
    throw new XdmsError('TW_ERR_XDMS_CANNOT_DELETE', `after the delete, ${describe(ctx.selector)} would select another element`);
  }
}

/** The parent element of the node to create, or a `<no-parent>` error naming the closest ancestor. */
function parentOf(ctx: NodeContext, steps: readonly Step[]): Node {
  const parents = evaluate(ctx.document, steps, ctx.bindings);
  if (parents.length === 1) return parents[0]!;
  const depth = existingDepth(ctx.document, steps, ctx.bindings);
  throw new XdmsError('TW_ERR_XDMS_NO_PARENT', `the parent of ${describe(ctx.selector)} does not exist`, ctx.uriAt(depth));
}

/** RFC 4825 §8.2.2, §8.2.3 (attribute): creates or replaces it; returns true when created. */
export function putAttribute(ctx: NodeContext, body: string): boolean {
  const attribute = ctx.selector.attribute!;
  const element = parentOf(ctx, ctx.selector.steps) as Element;
  const value = parseAttributeValue(body);
  const created = attributeValue(element, attribute, ctx.bindings) === null;
  const colon = attribute.indexOf(':');
  if (colon < 0) element.setAttribute(attribute, value);
  else element.setAttributeNS(namespaceOf(attribute.slice(0, colon), ctx.bindings), attribute, value);
  return created;
}

/** The body of an attribute PUT: an attribute value as it appears in a document, without quotes. */
function parseAttributeValue(body: string): string {
  if (body.includes('"') || body.includes('<')) throw new XdmsError('TW_ERR_XDMS_NOT_XML_ATT_VALUE', 'an attribute value cannot hold " or < unescaped');
  try {
    return parseXml(`<v a="${body}"/>`).documentElement!.getAttribute('a') ?? '';
  } catch (error) {
    throw new XdmsError('TW_ERR_XDMS_NOT_XML_ATT_VALUE', `not an attribute value: ${(error as Error).message}`);
  }
}

/**
 * RFC 4825 §8.2.3 (element): replaces the selected element, or inserts the new one: after the
 * last sibling of its name (or last among the children when it has none), at the position a
 * positional step asks for. Afterwards the URI must select exactly the new element
 * (`<cannot-insert>` otherwise). Returns true when created.
 */
export function putElement(ctx: NodeContext, body: string): boolean {
  const steps = ctx.selector.steps;
  const last = steps[steps.length - 1]!;
  if (steps.length === 1) throw new XdmsError('TW_ERR_XDMS_CANNOT_INSERT', 'the root element is replaced by putting the whole document');
  const parent = parentOf(ctx, steps.slice(0, -1));
  const fresh = ctx.document.importNode(parseFragment(body, parent as Element), true) as Element;
  if (!matchesStep(fresh, last, ctx.bindings)) {
    throw new XdmsError('TW_ERR_XDMS_CANNOT_INSERT', `the element in the body does not match the last step ${last.text}`);
  }
  const existing = selectStep(parent, last, ctx.bindings);
  if (existing.length > 1) throw notFound(`the node selector ${describe(ctx.selector)} selects ${existing.length} elements, not one`);
  const old = existing[0];
  if (old) parent.replaceChild(fresh, old);
  else insert(parent, fresh, last, ctx.bindings);
  const selected = evaluate(ctx.document, steps, ctx.bindings);
  if (selected.length !== 1 || selected[0] !== fresh) {
    throw new XdmsError('TW_ERR_XDMS_CANNOT_INSERT', `after the put, ${describe(ctx.selector)} would not select the new element`);
  }
  return old === undefined;
}

/** True when `element` has the step's name and attribute (its position is checked after insertion). */
function matchesStep(element: Element, step: Step, bindings: NamespaceBindings): boolean {
  if (!nameMatches(element, step, bindings)) return false;
  return !step.attribute || attributeValue(element, step.attribute.name, bindings) === step.attribute.value;
}

function insert(parent: Node, fresh: Element, step: Step, bindings: NamespaceBindings): void {
  const { position: _p, attribute: _a, ...byName } = step;
  const siblings = selectStep(parent, byName, bindings);
  if (step.position !== undefined && step.position !== siblings.length + 1) {
    throw new XdmsError('TW_ERR_XDMS_CANNOT_INSERT', `position ${step.position} cannot be created: there are ${siblings.length} such elements`);
  }
  const after = siblings[siblings.length - 1];
  parent.insertBefore(fresh, after ? after.nextSibling : null);
}

/**
 * Parses the body of an element PUT in the namespace context of `parent` (prefixes declared in
 * the document stay usable, RFC 4825 §8.2.3); it must be exactly one element.
 */
function parseFragment(body: string, parent: Element): Element {
  const declarations = inScopeNamespaces(parent);
  const text = body.replace(/^\uFEFF?\s*<\?xml[^?]*\?>/, '');
  let wrapper: Element;
  try {
    wrapper = parseXml(`<xcap-fragment ${declarations}>${text}</xcap-fragment>`).documentElement!;
  } catch (error) {
    throw new XdmsError('TW_ERR_XDMS_NOT_XML_FRAG', `the body is not an XML element: ${(error as Error).message}`);
  }
  const elements = childElements(wrapper);
  if (elements.length !== 1) throw new XdmsError('TW_ERR_XDMS_NOT_XML_FRAG', `the body must hold exactly one element, it holds ${elements.length}`);
  if (textOf(wrapper).trim() !== '') throw new XdmsError('TW_ERR_XDMS_NOT_XML_FRAG', 'the body holds text outside its element');
  return elements[0]!;
}

/** The namespace declarations in scope at `element`, as attribute text. */
function inScopeNamespaces(element: Element): string {
  const seen = new Map<string, string>();
  for (let node: Node | null = element; node && node.nodeType === ELEMENT_NODE; node = node.parentNode) {
    for (const attr of Array.from((node as Element).attributes)) {
      const name = attr.name;
      if ((name === 'xmlns' || name.startsWith('xmlns:')) && !seen.has(name)) seen.set(name, attr.value);
    }
  }
  return [...seen].map(([name, value]) => `${name}="${escapeXml(value)}"`).join(' ');
}
