// Minimal XML writer: escapes every text and attribute value and drops characters XML 1.0 forbids.

/** Keeps only characters legal in XML 1.0 (#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]). */
function stripIllegalXml(s: string): string {
  return s.replace(/\u001b\[[0-9;?]*[ -/]*[@-~]/g, '').replace(/[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, '');
}

function escapeXml(s: string): string {
  return stripIllegalXml(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

export interface XmlNode {
  name: string;
  attrs?: Record<string, string | number | undefined>;
  children?: (XmlNode | null)[];
  text?: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function renderXml(node: XmlNode, indent = ''): string {
  if (!NAME.test(node.name)) throw new Error(`xml: bad element name ${node.name}`);
  let out = `${indent}<${node.name}`;
  for (const [k, v] of Object.entries(node.attrs ?? {})) {
    if (v === undefined) continue;
    if (!NAME.test(k)) throw new Error(`xml: bad attribute name ${k}`);
    // newlines/tabs in attributes would be normalised to spaces by parsers; keep them as references
    out += ` ${k}="${escapeXml(String(v)).replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;')}"`;
  }
  const kids = (node.children ?? []).filter((c): c is XmlNode => c !== null);
  if (kids.length === 0 && node.text === undefined) return `${out}/>\n`;
  if (kids.length === 0) return `${out}>${escapeXml(node.text ?? '')}</${node.name}>\n`;
  return `${out}>\n${kids.map((k) => renderXml(k, `${indent}  `)).join('')}${indent}</${node.name}>\n`;
}

export function xmlDocument(root: XmlNode): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${renderXml(root)}`;
}
