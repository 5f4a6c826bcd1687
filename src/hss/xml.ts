/**
 * The XML of the HSS APIs: the TS 29.228 Annex B user profile (ServiceProfile with
 * PublicIdentity and InitialFilterCriteria elements), Clearwater's `ClearwaterRegData`, and
 * the provisioning bodies. Parsed with @xmldom/xmldom, which never fetches external entities.
 */
import { DOMParser, XMLSerializer, type Document, type Element } from '@xmldom/xmldom';
import type { PublicIdentity, RegistrationState } from '../storage/index.js';
import { HssError } from './errors.js';

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const SIP_URI = /^sips?:[^\s<>"]+$/i;
const ZERO_OR_ONE = /^[01]$/;
/**
 * Where IMPIs linked to an IRS with no public identity yet are kept, inside the profile's
 * `Extension` (TS 29.228 Annex B: open for extensions): the store links IMPIs to IMPUs only.
 */
const PENDING = 'PendingPrivateID';

/** Escapes text for XML element content or an attribute value. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!);
}

function bad(message: string): HssError {
  return new HssError('TW_ERR_HSS_BAD_XML', message);
}

/** Parses `text` as one XML document whose root is `root`; TW_ERR_HSS_BAD_XML otherwise. */
export function parseXml(text: unknown, root: string): Document {
  if (typeof text !== 'string' || text.trim() === '') throw bad(`the body must be a ${root} XML document`);
  let doc: Document;
  try {
    doc = new DOMParser({
      onError: (level, message) => {
        if (level !== 'warning') throw new Error(message);
      },
    }).parseFromString(text, 'text/xml');
  } catch (error) {
    throw bad(`the body is not well-formed XML: ${error instanceof Error ? error.message : String(error)}`);
  }
  const name = doc.documentElement?.localName;
  if (name !== root) throw bad(`the root element must be ${root}, got ${name ?? 'none'}`);
  return doc;
}

/** Element children of `parent`, optionally only those named `name`. */
export function childElements(parent: Element, name?: string): Element[] {
  const out: Element[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === 1 && (name === undefined || (node as Element).localName === name)) out.push(node as Element);
  }
  return out;
}

function text(el: Element | undefined): string | undefined {
  return el?.textContent?.trim();
}

/** The single child `name` of `parent`; `where` names the parent in messages. */
function single(parent: Element, name: string, where: string, required: boolean): Element | undefined {
  const found = childElements(parent, name);
  if (found.length > 1) throw bad(`${where} has ${found.length} ${name} elements; at most one is allowed`);
  if (required && found.length === 0) throw bad(`${where} needs a ${name} element`);
  return found[0];
}

function zeroOrOne(parent: Element, name: string, where: string): void {
  const el = single(parent, name, where, false);
  if (el && !ZERO_OR_ONE.test(text(el) ?? '')) throw bad(`${where} ${name} must be 0 or 1, got '${text(el)}'`);
}

/** A `PublicIdentity` body (TS 29.228 Annex B tPublicIdentity): the identity and its barring. */
export function parsePublicIdentityBody(body: unknown): { impu: string; barred: boolean } {
  const root = parseXml(body, 'PublicIdentity').documentElement!;
  const impu = text(single(root, 'Identity', 'PublicIdentity', true));
  if (!impu) throw bad('PublicIdentity Identity must not be empty');
  zeroOrOne(root, 'BarringIndication', 'PublicIdentity');
  return { impu, barred: text(single(root, 'BarringIndication', 'PublicIdentity', false)) === '1' };
}

/** Checks one InitialFilterCriteria (TS 29.228 Annex B tInitialFilterCriteria, tApplicationServer). */
function checkFilterCriteria(ifc: Element, where: string): void {
  const priority = text(single(ifc, 'Priority', where, true));
  if (!/^\d{1,9}$/.test(priority ?? '')) throw bad(`${where} Priority must be a non-negative integer, got '${priority}'`);
  const trigger = single(ifc, 'TriggerPoint', where, false);
  if (trigger) zeroOrOne(trigger, 'ConditionTypeCNF', `${where} TriggerPoint`);
  const as = single(ifc, 'ApplicationServer', where, true)!;
  const serverName = text(single(as, 'ServerName', `${where} ApplicationServer`, true));
  if (!SIP_URI.test(serverName ?? '')) throw bad(`${where} ApplicationServer ServerName must be a SIP URI, got '${serverName}'`);
  zeroOrOne(as, 'DefaultHandling', `${where} ApplicationServer`);
  zeroOrOne(ifc, 'ProfilePartIndicator', where);
}

/** Parses and validates a `ServiceProfile` body with its InitialFilterCriteria (TS 29.228 Annex B). */
export function parseServiceProfile(body: unknown): Document {
  const doc = parseXml(body, 'ServiceProfile');
  childElements(doc.documentElement!, 'InitialFilterCriteria').forEach((ifc, i) => checkFilterCriteria(ifc, `InitialFilterCriteria ${i + 1}`));
  return doc;
}

/** The stored profile as a document; an unparsable one (opaque to the store) counts as empty. */
function profileDocument(stored: string): Document {
  try {
    return parseXml(stored, 'ServiceProfile');
  } catch {
    return new DOMParser().parseFromString('<ServiceProfile/>', 'text/xml');
  }
}

/** Removes the pending-IMPI markers (and an `Extension` left empty) from a profile. */
function dropPending(root: Element): void {
  for (const ext of childElements(root, 'Extension')) {
    for (const p of childElements(ext, PENDING)) ext.removeChild(p);
    if (childElements(ext).length === 0) root.removeChild(ext);
  }
}

function pendingOf(root: Element): string[] {
  return childElements(root, 'Extension').flatMap((ext) => childElements(ext, PENDING).map((p) => text(p) ?? '')).filter(Boolean);
}

/** IMPIs provisioned on an IRS that has no public identity yet. */
export function pendingPrivateIds(stored: string): string[] {
  return pendingOf(profileDocument(stored).documentElement!);
}

export interface ProfileParts {
  /** The set's members, listed as PublicIdentity elements in this order. */
  readonly members: readonly PublicIdentity[];
  /** IMPIs to keep as pending (default: those already stored). */
  readonly pending?: readonly string[];
  /** A new ServiceProfile body whose other elements (filter criteria) replace the stored ones. */
  readonly replacement?: Document;
}

function add(doc: Document, parent: Element, name: string, content?: string): Element {
  const el = doc.createElementNS(parent.namespaceURI, name);
  if (content !== undefined) el.appendChild(doc.createTextNode(content));
  parent.appendChild(el);
  return el;
}

function render(doc: Document, parts: ProfileParts, pending: readonly string[]): string {
  const root = doc.documentElement!;
  for (const el of childElements(root, 'PublicIdentity')) root.removeChild(el);
  dropPending(root);
  const first = root.firstChild;
  for (const m of parts.members) {
    const pi = add(doc, root, 'PublicIdentity');
    if (m.barred) add(doc, pi, 'BarringIndication', '1');
    add(doc, pi, 'Identity', m.impu);
    root.insertBefore(pi, first);
  }
  if (pending.length > 0) {
    const ext = childElements(root, 'Extension')[0] ?? add(doc, root, 'Extension');
    for (const impi of pending) add(doc, ext, PENDING, impi);
  }
  return new XMLSerializer().serializeToString(root);
}

/**
 * The profile to store: PublicIdentity elements for exactly the set's members (first), the
 * filter criteria and other elements of the replacement or the stored profile, and the
 * pending IMPIs in `Extension`.
 */
export function storedProfile(stored: string, parts: ProfileParts): string {
  const pending = parts.pending ?? pendingPrivateIds(stored);
  return render(parts.replacement ?? profileDocument(stored), parts, pending);
}

/** The profile as clients see it: members listed, no provisioning markers. */
export function publishedProfile(stored: string, members: readonly PublicIdentity[]): string {
  return render(profileDocument(stored), { members }, []);
}

/** A `PublicIdentity` document for one identity. */
export function publicIdentityXml(identity: PublicIdentity): string {
  const barring = identity.barred ? '<BarringIndication>1</BarringIndication>' : '';
  return `<PublicIdentity>${barring}<Identity>${escapeXml(identity.impu)}</Identity></PublicIdentity>`;
}

/** Clearwater's `ClearwaterRegData` with the TS 29.228 IMSSubscription (PrivateID, ServiceProfile). */
export function regDataXml(state: RegistrationState, privateId: string | undefined, profile: string): string {
  const pid = privateId === undefined ? '' : `<PrivateID>${escapeXml(privateId)}</PrivateID>`;
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<ClearwaterRegData><RegistrationState>${state}</RegistrationState>` +
    `<IMSSubscription>${pid}${profile}</IMSSubscription><ChargingAddresses/></ClearwaterRegData>\n`
  );
}
