/** Strict XML parsing for the XDMS: any parser error or warning fails, and no DTD is accepted. */
import { DOMParser, XMLSerializer, onWarningStopParsing, type Document, type Element, type Node } from '@xmldom/xmldom';

/** DOM node types used here (W3C DOM Level 2 Core). */
export const ELEMENT_NODE = 1;
export const TEXT_NODE = 3;
export const CDATA_SECTION_NODE = 4;

/** Parses `text` as an XML document; throws an Error whose message says what is wrong. */
export function parseXml(text: string): Document {
  // A DTD could declare entities (entity expansion attacks); no XCAP document needs one.
  if (/<!DOCTYPE/i.test(text)) throw new Error('a document type declaration (DOCTYPE) is not allowed');
  try {
    return new DOMParser({ onError: onWarningStopParsing }).parseFromString(text, 'application/xml');
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(cleanParserMessage(message));
  }
}

function cleanParserMessage(message: string): string {
  const quoted = /^Reporting (?:fatalError|error|warning) "([\s\S]*)" caused/.exec(message.split('\n')[0] ?? '');
  return quoted?.[1] ?? message.split('\n')[0] ?? 'not well-formed';
}

/** Serializes a document or node. */
export function serializeXml(node: Node): string {
  return new XMLSerializer().serializeToString(node);
}

/** The element children of `node`. */
export function childElements(node: Node): Element[] {
  const out: Element[] = [];
  for (let child = node.firstChild; child; child = child.nextSibling) {
    if (child.nodeType === ELEMENT_NODE) out.push(child as Element);
  }
  return out;
}

/** The text of `node`'s text and CDATA children. */
export function textOf(node: Node): string {
  let text = '';
  for (let child = node.firstChild; child; child = child.nextSibling) {
    if (child.nodeType === TEXT_NODE || child.nodeType === CDATA_SECTION_NODE) text += child.nodeValue ?? '';
  }
  return text;
}
