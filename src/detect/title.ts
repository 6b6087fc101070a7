// Title normalisation compatible with syzkaller: dynamic parts (addresses, numbers, line numbers,
// func+0x../0x.. offsets, CPU numbers, executor ids) become stable tokens, then the title is
// cleaned of control bytes, spaces collapsed and capped at 120 bytes.

const REPLACEMENTS: ReadonlyArray<readonly [RegExp, string]> = [
  [/syz-executor\.?[0-9]+((\/|:)[0-9]+)?/g, 'syz-executor'],
  [/syzkaller[0-9]+((\/|:)[0-9]+)?/g, 'syzkaller'],
  [/([^a-zA-Z0-9])(?:0x)?[0-9a-f]{6,}/g, '$1ADDR'],
  [/([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})/g, 'IP'],
  [/(\.\w+)(:[0-9]+)+/g, '$1:LINE'],
  [/([a-zA-Z][a-zA-Z0-9_.]+)\+0x[0-9a-z]+\/0x[0-9a-z]+/g, '$1'],
  [/CPU#[0-9]+/g, 'CPU'],
  // Overlapping numbers ("0,1,2") need repeated passes, hence the loop in normaliseTitle.
  [/(\W)(\d+)(\W|$)/g, '$1NUM$3'],
  // digits inside a name (cfg80211) stay, unless there are too many of them: syzkaller's (\d+){7,}
  [/\d{7,}/g, 'NUM'],
];

const MAX_TITLE_LEN = 120;

export function normaliseTitle(title: string): string {
  let s = title;
  for (const [pattern, replacement] of REPLACEMENTS) {
    for (let i = 0; i < 32; i++) {
      const next = s.replace(pattern, replacement);
      if (next === s) break;
      s = next;
    }
  }
  return sanitiseTitle(s);
}

/** Drop control and non-ASCII bytes, tabs to spaces, collapse spaces; the cap counts input bytes. */
function sanitiseTitle(title: string): string {
  const bytes = Buffer.from(title, 'utf8');
  let out = '';
  let prev = 32;
  for (let i = 0; i < bytes.length && i < MAX_TITLE_LEN; i++) {
    let ch = bytes[i]!;
    if (ch === 9) ch = 32;
    else if (ch < 0x20 || ch >= 0x7f) continue;
    if (ch === 32 && prev === 32) continue;
    out += String.fromCharCode(ch);
    prev = ch;
  }
  return out.trim();
}

/** The culprit function a title names: the word after its last " in ". */
export function titleFrame(title: string): string | null {
  // syzkaller's reportFrameRe: Rust frames carry paths and a <Type as Trait> qualifier
  const m = /.* in ((?:<[a-zA-Z0-9_: ]+>)?[a-zA-Z0-9_:]+)/.exec(title);
  return m ? m[1]! : null;
}
