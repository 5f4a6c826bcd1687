/**
 * A strict reader for the small XML subset reginfo uses (declaration, elements, attributes,
 * text, the five predefined entities and numeric references). It throws on anything not
 * well-formed in that subset (a raw `<` or `&`, unbalanced tags), so tests that parse a document
 * with it also check the escaping.
 */
export interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  text: string;
}

const TOKEN =
  /<\?xml[^?]*\?>|<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_][\w.:+-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>|([^<]+)/y;
const ATTR = /([A-Za-z_][\w.:+-]*)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/g;
const NAMED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(s: string): string {
  return s.replace(/&([^;&]*);?/g, (whole, ref: string) => {
    if (!whole.endsWith(';')) throw new Error(`bare & in ${JSON.stringify(s)}`);
    if (ref in NAMED) return NAMED[ref]!;
    const m = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(ref);
    if (!m) throw new Error(`unknown entity &${ref};`);
    return String.fromCodePoint(m[1]!.startsWith('x') ? parseInt(m[1]!.slice(1), 16) : parseInt(m[1]!, 10));
  });
}

export function parseXml(xml: string): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < xml.length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(xml);
    if (!m) throw new Error(`not well-formed at ${at}: ${JSON.stringify(xml.slice(at, at + 30))}`);
    if (m[5] !== undefined) {
      const text = decode(m[5]);
      if (stack.length) stack[stack.length - 1]!.text += text;
      else if (text.trim()) throw new Error('text outside the root element');
      continue;
    }
    if (m[2] === undefined) continue; // the declaration
    if (m[1]) {
      const open = stack.pop();
      if (open?.name !== m[2]) throw new Error(`</${m[2]}> does not close <${open?.name}>`);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of (m[3] ?? '').matchAll(ATTR)) {
      if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]}`);
      attrs[a[1]!] = decode(a[2] ?? a[3] ?? '');
    }
    const el: XmlElement = { name: m[2], attrs, children: [], text: '' };
    if (stack.length) stack[stack.length - 1]!.children.push(el);
    else if (root) throw new Error('second root element');
    else root = el;
    if (!m[4]) stack.push(el);
  }
  if (!root || stack.length) throw new Error('unclosed element');
  return root;
}

/** Children named `name`. */
export function childrenNamed(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}
