// Regex shorthands used by the format table, so rows stay readable data.
//   {{ADDR}} a hex address, {{PC}} a bracketed PC "[<ffffffff81234567>]",
//   {{FUNC}} a function name captured before its ".isra"/"+0x" suffix, {{SRC}} "file.c:123".
const MACROS: Record<string, string> = {
  '{{ADDR}}': '0x[0-9a-f]+',
  '{{PC}}': '\\[\\<?(?:0x)?[0-9a-f]+\\>?\\]',
  '{{FUNC}}': '([a-zA-Z0-9_]+)(?:\\.|\\+)',
  '{{SRC}}': '([a-zA-Z0-9-_/.]+\\.[a-z]+:[0-9]+)',
};

export function re(source: string, flags = ''): RegExp {
  let s = source;
  for (const [k, v] of Object.entries(MACROS)) s = s.split(k).join(v);
  return new RegExp(s, flags);
}

/** The faulting-PC line of an oops: "RIP: 0010:foo+0x1/0x2", "IP: [<..>] foo+..", "pc : foo+..". */
export const RIP_FRAME = re(
  '(?:IP|NIP|pc |PC is at):? (?:(?:[0-9]+:)?(?:{{PC}} +){0,2}{{FUNC}}|(?:[0-9]+:)?0x[0-9a-f]+|(?:[0-9]+:)?{{PC}} +\\[< *\\(null\\)>\\] +\\(null\\)|[0-9]+: +\\(null\\))',
);

/** The start of a call trace: x86 "Call Trace:", arm64 "Call trace:", arm "Backtrace:". */
export const CALL_TRACE = /Call [Tt]race:|Backtrace:/;

/** One stack frame line: optional PCs then "func+0x../0x.." (captures func). */
export const FRAME_LINES = [
  re('^ *(?:{{PC}} ){0,2}{{FUNC}}'),
  // arm: "[<pc>] (callee) from [<pc>] (caller+0x1/0x2)"; the callee is the only trace of the top frame.
  re('^ *{{PC}} \\(([a-zA-Z0-9_.]+)\\) from {{PC}} \\({{FUNC}}'),
];

/**
 * riscv's show_regs() from kernel space dumps the stack with no heading: its last line (status,
 * badaddr, cause) starts the trace, and a trace missing there is no sign of damage.
 */
export const RISCV_STACK_START = /status: [0-9a-f]{16} badaddr: [0-9a-f]{16} cause: [0-9a-f]{16}/;

/** Lines that start a stack trace section (one trace ends where the next starts); syzkaller's stackStartRes. */
export const STACK_START = [
  /Call [Tt]race/,
  /Backtrace:/,
  /Allocated:/,
  /Allocated by task [0-9]+:/,
  /Freed:/,
  /Freed by task [0-9]+:/,
  /[^k] backtrace(?: \(crc [0-9a-fA-F]*\))?:/, // "backtrace:" (kmemleak's with its crc) but not "stack backtrace:"
  /Uninit was stored to memory at/,
  RISCV_STACK_START,
];

/** Fault-injection stacks interleave with reports; seeing one while reading frames taints the frame. */
export const CORRUPTED_FRAME_LINES = [re('^( \\[\\<?(?:0x)?[0-9a-f]+\\>?\\])? should_fail(slab)?(\\.[a-z0-9.]+)?\\+0x')];
