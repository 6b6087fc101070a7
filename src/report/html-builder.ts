// A tiny escaping DOM builder: every string that goes through h() is escaped, so guest-provided text
// (console lines, device names, errno strings) can never become markup. Only raw() bypasses
// escaping and it is used for the report's own constant CSS/JS.

/** Markup that is already safe. Only h() and raw() make these. */
export class Html {
  private constructor(readonly html: string) {}
  /** @internal */
  static trusted(html: string): Html {
    return new Html(html);
  }
  toString(): string {
    return this.html;
  }
}

export type Child = Html | string | number | boolean | null | undefined | readonly Child[];
export type AttrValue = string | number | boolean | null | undefined;

const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr']);
const NAME = /^[a-zA-Z][a-zA-Z0-9-]*$/;
const ATTR = /^[a-zA-Z_:][a-zA-Z0-9_:.-]*$/;
// Event handlers and URL-bearing attributes are refused outright: the report needs none but href,
// and href takes only in-page anchors or relative paths without a scheme, so no caller mistake can
// route guest text into script or a request.
const FORBIDDEN_ATTR = /^(on|formaction$|srcdoc$|src$|xlink:href$|action$|style$)/i;
const SAFE_HREF = /^(#[A-Za-z0-9._-]*|[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*)$/;

/** Any character cleanText might remove or replace (ESC is a C0 control; a surrogate may be lone). */
const UNCLEAN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ud800-\udfff]/;

/** Removes what must not reach a document: C0 controls but tab/newline, DEL, C1, lone surrogates, ANSI CSI. */
export function cleanText(s: string): string {
  // most text (all of ours, most of the guest's) has nothing to clean: one scan instead of three
  if (!UNCLEAN.test(s)) return s;
  return s
    .replace(/\u001b\[[0-9;?]*[ -/]*[@-~]/g, '')
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g, '')
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

const ENTITY: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const SPECIAL = /[&<>"']/;

export function escapeHtml(s: string): string {
  const clean = cleanText(s);
  return SPECIAL.test(clean) ? clean.replace(/[&<>"']/g, (c) => ENTITY[c]!) : clean;
}

/** True when `href` is an in-page anchor or a relative path without a scheme or `..` (what h() accepts). */
export function isSafeHref(href: string): boolean {
  return SAFE_HREF.test(href) && !href.split('/').includes('..');
}

/** Constant markup from our own source (CSS, JS). Never pass data through this. */
export function raw(html: string): Html {
  return Html.trusted(html);
}

function renderChild(c: Child): string {
  if (c === null || c === undefined || c === false || c === true) return '';
  if (c instanceof Html) return c.html;
  if (Array.isArray(c)) return renderChildren(c as readonly Child[]);
  return escapeHtml(String(c));
}

// a report renders tens of thousands of elements, once, mostly before V8 optimises this: plain
// loops and concatenation instead of map/join and entries, and each name checked once
function renderChildren(children: readonly Child[]): string {
  let out = '';
  for (let i = 0; i < children.length; i++) out += renderChild(children[i]);
  return out;
}

const checkedTags = new Set<string>();
/** attribute names allowed so far, and whether each is href (in any case) */
const checkedAttrs = new Map<string, boolean>();

/** Throws for an attribute name h() refuses; true when it is href. */
function checkAttr(k: string): boolean {
  let href = checkedAttrs.get(k);
  if (href === undefined) {
    if (!ATTR.test(k) || FORBIDDEN_ATTR.test(k)) throw new Error(`html-builder: attribute ${JSON.stringify(k)} not allowed`);
    checkedAttrs.set(k, (href = k.toLowerCase() === 'href'));
  }
  return href;
}

/** h('td', { class: 'v-crashed', 'data-x': guest }, 'text', h('b', null, more)) → escaped markup. */
export function h(tag: string, attrs?: Readonly<Record<string, AttrValue>> | null, ...children: Child[]): Html {
  if (!checkedTags.has(tag)) {
    if (!NAME.test(tag)) throw new Error(`html-builder: bad tag name ${JSON.stringify(tag)}`);
    checkedTags.add(tag);
  }
  let out = `<${tag}`;
  if (attrs) {
    const keys = Object.keys(attrs);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const href = checkAttr(k);
      const v = attrs[k];
      if (v === null || v === undefined || v === false) continue;
      if (href && !(typeof v === 'string' && isSafeHref(v))) {
        throw new Error(`html-builder: href ${JSON.stringify(v)} is not an anchor or a relative path`);
      }
      out += v === true ? ` ${k}` : ` ${k}="${escapeHtml(String(v))}"`;
    }
  }
  out += '>';
  if (VOID.has(tag)) {
    if (children.length > 0) throw new Error(`html-builder: <${tag}> takes no children`);
    return Html.trusted(out);
  }
  return Html.trusted(`${out}${renderChildren(children)}</${tag}>`);
}

export function fragment(...children: Child[]): Html {
  return Html.trusted(renderChildren(children));
}
