// The table of kernel report formats. Each row is data: a header that triggers it (a plain
// substring of the console line), then title formats tried against the report text. The engine
// (describe.ts) is generic; a new sanitizer or oops kind is a new row here, never a new code path.
import type { CrashKind } from './finding.js';
import { CALL_TRACE, re, RIP_FRAME } from './pattern.js';

/** Marks the point in StackRule.parts where a stack trace is parsed frame by frame. */
export const STACK = 'STACK' as const;
export type StackPart = RegExp | typeof STACK;

export interface StackRule {
  /** Matched in order, line by line: a capturing regexp yields a frame; STACK parses a trace. */
  parts: StackPart[];
  /** Tried when `parts` yields no frame (e.g. a WARNING without a RIP line). */
  parts2?: StackPart[];
  /** Extra frames to skip (regexp fragments, matched anywhere in the function name). */
  skip?: string[];
  /** How to choose among frames: the first one, a stall anchor, or the hung-task rule. */
  pick?: 'first' | 'stall' | 'hang';
}

export interface TitleFormat {
  kind?: CrashKind;
  /** Found anywhere in the report; the earliest-matching format wins. */
  title: RegExp;
  /** When set, its groups feed the title; if it does not match, the report is corrupted. */
  report?: RegExp;
  /** Title template: {1}.. are regexp groups, then one argument per extracted frame. */
  fmt: string;
  alt?: string[];
  stack?: StackRule;
  /** No "Call Trace" expected, so its absence is no corruption. */
  noStackTrace?: boolean;
  /** A title this format yields is always from a damaged report. */
  corrupted?: boolean;
}

export interface OopsRow {
  /** Substring that starts a report on a console line. */
  header: string;
  /** When set, the header line must also match this (weeds out chatty "WARNING: ..." printks). */
  headerIf?: RegExp;
  kind: CrashKind;
  formats: TitleFormat[];
  /** A header line matching one of these is not a report. */
  suppressions?: RegExp[];
}

const callTrace = (skip?: string[], pick?: StackRule['pick']): StackRule => ({
  parts: [CALL_TRACE, STACK],
  ...(skip ? { skip } : {}),
  ...(pick ? { pick } : {}),
});
const ripThenTrace = (skip?: string[], pick?: StackRule['pick']): StackRule => ({
  parts: [RIP_FRAME, CALL_TRACE, STACK],
  ...(skip ? { skip } : {}),
  ...(pick ? { pick } : {}),
});
const ripOnly: StackRule = { parts: [RIP_FRAME] };
/** WARNING stacks start after the RIP line (x86) or "--- interrupt:" (powerpc); older kernels print only a trace. */
const warningStack = (...skip: string[]): StackRule => ({
  parts: [new RegExp(`(?:${RIP_FRAME.source}|--- interrupt: [0-9]+ at ${re('{{FUNC}}').source})`), STACK],
  parts2: [CALL_TRACE, STACK],
  skip,
});
const badPageStack = (skip: string[]): StackRule => ({ parts: [/page last allocated/, STACK], skip });
/** "is trying to release lock ... at: [<pc>] func": the release site, else the backtrace. */
const unlockStack: StackRule = { parts: [re('{{PC}} +{{FUNC}}'), CALL_TRACE, STACK] };
/** Lockdep reports name the culprit in "at: func+0x.." lines. */
const lockAt = (intro: string): RegExp => re(`${intro}(?:.*\\n)+?.*at: (?:{{PC}} +)?{{FUNC}}`);

const usbUrb = ['usb_submit_urb', 'usb_start_wait_urb', 'usb_bulk_msg', 'usb_interrupt_msg', 'usb_control_msg'];
const badAccess = ['bad-access in {F}'];
/** KMSAN prints the frames right after its header, then where the value came from. */
const kmsanParts: StackPart[] = [STACK, /(Local variable .* created at:|Uninit was created at:)/, STACK];

export const OOPSES: OopsRow[] = [
  {
    header: 'BUG:',
    kind: 'bug',
    formats: [
      {
        kind: 'kasan',
        title: re('BUG: KASAN:'),
        report: re('BUG: KASAN: ([a-z\\-]+) in {{FUNC}}(?:.*\\n)+?.*(Read|Write) (?:of size|at addr) (?:[0-9a-f]+)'),
        fmt: 'KASAN: {1} {3} in {4}',
        alt: ['bad-access in {4}'],
        stack: { parts: [re('BUG: KASAN: (?:[a-z\\-]+) in {{FUNC}}'), CALL_TRACE, STACK], skip: ['kernel_fault', 'tag_check', 'mem_abort', '^el1_', '^el1h_'] },
      },
      {
        kind: 'kasan',
        title: re('BUG: KASAN:'),
        report: re('BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in {{FUNC}}'),
        fmt: 'KASAN: invalid-free in {2}',
        alt: ['invalid-free in {2}'],
        stack: {
          parts: [re('BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in {{FUNC}}'), CALL_TRACE, STACK],
          skip: ['slab_', 'kfree', 'vunmap', 'vfree'],
        },
      },
      {
        kind: 'kasan',
        title: re('BUG: KASAN: ([a-z\\-]+) on address(?:.*\\n)+?.*(Read|Write) of size ([0-9]+)'),
        fmt: 'KASAN: {1} {2}',
      },
      {
        kind: 'kasan',
        title: re('BUG: KASAN: (.*)'),
        fmt: 'KASAN: {1}',
        corrupted: true,
      },
      {
        kind: 'kmsan',
        title: re('BUG: KMSAN: kernel-usb-infoleak'),
        report: re('BUG: KMSAN: kernel-usb-infoleak in {{FUNC}}'),
        fmt: 'KMSAN: kernel-usb-infoleak in {2}',
        alt: ['KMSAN origin in {3}'],
        stack: { parts: kmsanParts, skip: ['alloc_skb', ...usbUrb] },
        noStackTrace: true,
      },
      {
        kind: 'kmsan',
        title: re('BUG: KMSAN:'),
        report: re('BUG: KMSAN: ([a-z\\-]+) in {{FUNC}}'),
        fmt: 'KMSAN: {1} in {3}',
        alt: ['bad-access in {3}'],
        stack: {
          parts: kmsanParts,
          // encryption routines are where the bug is hit, but generic code makes a bad title
          skip: ['alloc_skb', 'netlink_ack', 'netlink_rcv_skb', '_encrypt$', '^(?:crypto|cipher|drbg|rng)_'],
        },
        noStackTrace: true,
      },
      {
        kind: 'kcsan',
        title: re('BUG: KCSAN: data-race'),
        report: re('BUG: KCSAN: (.*)'),
        fmt: 'KCSAN: {1}',
        noStackTrace: true,
      },
      {
        kind: 'kcsan',
        title: re('BUG: KCSAN:'),
        report: re('BUG: KCSAN: (.*)'),
        fmt: 'KCSAN: {1}',
        noStackTrace: true,
      },
      {
        kind: 'kfence',
        title: re('BUG: KFENCE: (use-after-free|out-of-bounds) (read|write) in {{FUNC}}'),
        fmt: 'KFENCE: {1} {2} in {4}',
        alt: ['bad-access in {4}'],
        stack: { parts: [re('BUG: KFENCE: (?:[a-z\\- ]+) in {{FUNC}}'), STACK] },
      },
      {
        kind: 'kfence',
        title: re('BUG: KFENCE: invalid free in {{FUNC}}'),
        fmt: 'KFENCE: invalid free in {2}',
        alt: ['invalid-free in {2}'],
        stack: { parts: [re('BUG: KFENCE: (?:[a-z\\- ]+) in {{FUNC}}'), STACK] },
        noStackTrace: true,
      },
      {
        kind: 'kfence',
        title: re('BUG: KFENCE: invalid (read|write) in {{FUNC}}'),
        fmt: 'KFENCE: invalid {1} in {3}',
        alt: ['bad-access in {3}'],
        stack: { parts: [re('BUG: KFENCE: (?:[a-z\\- ]+) in {{FUNC}}'), STACK] },
      },
      {
        kind: 'kfence',
        title: re('BUG: KFENCE: memory corruption in {{FUNC}}'),
        fmt: 'KFENCE: memory corruption in {2}',
        stack: { parts: [re('BUG: KFENCE: (?:[a-z\\- ]+) in {{FUNC}}'), STACK] },
        noStackTrace: true,
      },
      {
        kind: 'page-fault',
        title: re('BUG: (?:unable to handle kernel paging request|unable to handle page fault for address|Unable to handle kernel data access)'),
        fmt: 'BUG: unable to handle kernel paging request in {1}',
        alt: badAccess.map((a) => a.replace('{F}', '{1}')),
        stack: ripThenTrace(),
      },
      {
        kind: 'page-fault',
        title: re('BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference|Kernel NULL pointer dereference)'),
        fmt: 'BUG: unable to handle kernel NULL pointer dereference in {1}',
        alt: ['bad-access in {1}'],
        stack: ripThenTrace(),
      },
      {
        // The second half of this header is a separate printk and often lost.
        kind: 'page-fault',
        title: re('BUG: (?:unable to handle kernel|Unable to handle kernel)'),
        fmt: 'BUG: unable to handle kernel',
        corrupted: true,
      },
      {
        kind: 'lockdep',
        title: re('BUG: (spinlock|rwlock) (lockup suspected|already unlocked|recursion|cpu recursion|bad magic|wrong owner|wrong CPU|trylock failure on UP)'),
        fmt: 'BUG: {1} {2} in {3}',
        stack: callTrace(['spin_', '_lock', '_unlock']),
      },
      {
        kind: 'soft-lockup',
        title: re('BUG: soft lockup'),
        fmt: 'BUG: soft lockup in {1}',
        alt: ['stall in {1}'],
        stack: ripThenTrace(undefined, 'stall'),
      },
      {
        kind: 'lockdep',
        title: re('BUG: .*still has locks held!'),
        report: re('BUG: .*still has locks held!(?:.*\\n)+?.*{{PC}} +{{FUNC}}'),
        fmt: 'BUG: still has locks held in {1}',
      },
      {
        kind: 'lockdep',
        title: re('BUG: lock held when returning to user space'),
        report: lockAt('BUG: lock held when returning to user space(?:.*\\n)+?.*leaving the kernel with locks still held'),
        fmt: 'BUG: lock held when returning to user space in {1}',
        noStackTrace: true,
      },
      {
        kind: 'lockdep',
        title: re('BUG: bad unlock balance detected!'),
        fmt: 'BUG: bad unlock balance in {1}',
        stack: unlockStack,
      },
      {
        kind: 'lockdep',
        title: re('BUG: held lock freed!'),
        report: re('BUG: held lock freed!(?:.*\\n)+?.*{{PC}} +{{FUNC}}'),
        fmt: 'BUG: held lock freed in {1}',
      },
      { title: re('BUG: Bad rss-counter state'), fmt: 'BUG: Bad rss-counter state', noStackTrace: true },
      { title: re('BUG: non-zero nr_ptes on freeing mm'), fmt: 'BUG: non-zero nr_ptes on freeing mm', noStackTrace: true },
      { title: re('BUG: non-zero nr_pmds on freeing mm'), fmt: 'BUG: non-zero nr_pmds on freeing mm', noStackTrace: true },
      {
        title: re('BUG: Dentry .* still in use'),
        report: re('BUG: Dentry .* still in use \\([0-9]+\\) \\[(unmount) of ([^\\]]+)\\]'),
        fmt: 'BUG: Dentry still in use in {1}',
        alt: ['BUG: Dentry still in use [{1} of {2}]'],
      },
      {
        // page_owner's allocation stack names who owns the page (without page_owner there is no culprit).
        title: re('BUG: Bad page (state|cache)'),
        fmt: 'BUG: Bad page {1} in {2}',
        stack: badPageStack([
          '(free|put|get|update|release)_page',
          'free_unref',
          '^_*folio',
          'truncate_inode_pages',
          'page_frag_free',
          'alloc',
          'vmap',
          'page_owner',
        ]),
      },
      { title: re('BUG: Bad page map'), fmt: 'BUG: Bad page map' },
      { kind: 'hung-task', title: re('BUG: workqueue lockup'), fmt: 'BUG: workqueue lockup', noStackTrace: true },
      {
        kind: 'sleep-in-atomic',
        title: re('BUG: sleeping function called from invalid context at (.*)'),
        fmt: 'BUG: sleeping function called from invalid context in {2}',
        stack: callTrace(),
      },
      {
        kind: 'sleep-in-atomic',
        title: re('BUG: scheduling while atomic'),
        fmt: 'BUG: scheduling while atomic in {1}',
        stack: callTrace(['schedule']),
      },
      {
        title: re('BUG: using ([a-z_]+)\\(\\) in preemptible'),
        fmt: 'BUG: using {1}() in preemptible code in {2}',
        stack: callTrace(['dump_stack', 'preemption', 'preempt', 'debug_', 'processor_id', 'this_cpu']),
      },
      {
        title: re('BUG: workqueue leaked lock or atomic'),
        report: re('BUG: workqueue leaked lock or atomic(?:.*\\n)+?.*last function: ([a-zA-Z0-9_]+)\\n'),
        fmt: 'BUG: workqueue leaked lock or atomic in {1}',
        noStackTrace: true,
      },
      {
        kind: 'kmemleak',
        title: re('BUG: memory leak'),
        fmt: 'memory leak in {1}',
        stack: {
          parts: [/backtrace(?: \(crc [0-9a-fA-F]*\))?:/, STACK],
          skip: [
            'kmemleak',
            'mmap',
            'kmem',
            'slab',
            'alloc',
            'create_object',
            'idr_get',
            'list_lru_init',
            'kasprintf',
            'kvasprintf',
            'pcpu_create',
            'strdup',
            'strndup',
            'memdup',
          ],
        },
      },
      {
        // Recursion fills the trace with repeats; the frame above a dispatch point names the loop.
        title: re('BUG: .*stack guard page was hit at'),
        fmt: 'BUG: stack guard page was hit in {1}',
        alt: ['stack-overflow in {1}'],
        stack: { parts: [RIP_FRAME, CALL_TRACE, STACK], pick: 'stall' },
      },
      {
        kind: 'lockdep',
        title: re('BUG: Invalid wait context'),
        fmt: 'WARNING: locking bug in {1}',
        stack: callTrace(['lock_sock', 'release_sock']),
      },
      { title: /BUG:\s*(?:\n|$)/, fmt: 'BUG: corrupted', corrupted: true },
    ],
    suppressions: [/ODEBUG:/, /Boot_DEBUG:/, /xlog_status:/, /DEBUG:/, /BUG: no syscalls can create resource/],
  },
  {
    header: 'WARNING:',
    kind: 'warning',
    formats: [
      {
        title: re('WARNING: .*lib/debugobjects\\.c.* (?:debug_print|debug_check|at)'),
        fmt: 'WARNING: ODEBUG bug in {1}',
        stack: warningStack('debug_', 'rcu', 'hrtimer_', 'timer_', 'work_', 'percpu_', 'vunmap', 'vfree', '__free_', 'debug_check', 'kobject_'),
      },
      {
        title: re('WARNING: .*mm/usercopy\\.c.* (?:usercopy_warn|at)'),
        fmt: 'WARNING: bad usercopy in {1}',
        stack: warningStack('usercopy', '__check'),
      },
      {
        title: re('WARNING: .*lib/kobject\\.c.* (?:kobject_|at)'),
        fmt: 'WARNING: kobject bug in {1}',
        stack: warningStack('kobject_'),
      },
      {
        title: re('WARNING: .*fs/proc/generic\\.c.* (?:proc_register|at)'),
        fmt: 'WARNING: proc registration bug in {1}',
        stack: warningStack('proc_'),
      },
      {
        title: re('WARNING: .*lib/refcount\\.c.* (?:refcount_|at)'),
        fmt: 'WARNING: refcount bug in {1}',
        stack: warningStack('refcount', 'kobject_'),
      },
      {
        kind: 'lockdep',
        title: re('WARNING: .*kernel/locking/lockdep\\.c.*lock_'),
        fmt: 'WARNING: locking bug in {1}',
        stack: warningStack('lock_sock', 'release_sock'),
      },
      {
        kind: 'lockdep',
        title: re('WARNING: lock held when returning to user space'),
        report: lockAt('WARNING: lock held when returning to user space(?:.*\\n)+?.*leaving the kernel with locks still held'),
        fmt: 'WARNING: lock held when returning to user space in {1}',
        noStackTrace: true,
      },
      {
        title: re('WARNING: .*mm/.*\\.c.* k?.?malloc'),
        fmt: 'WARNING: kmalloc bug in {1}',
        stack: warningStack('kmalloc', 'krealloc', 'slab', 'kmem'),
      },
      {
        title: re('WARNING: .*mm/vmalloc.c.*__vmalloc_node'),
        fmt: 'WARNING: zero-size vmalloc in {1}',
        stack: warningStack(),
      },
      {
        title: re('WARNING: .* usb_submit_urb'),
        fmt: 'WARNING in {1}/usb_submit_urb',
        stack: warningStack(...usbUrb),
      },
      {
        // the format of https://lore.kernel.org/all/20251110114633.202485143@infradead.org/
        title: re('WARNING: {{SRC}} at 0x\\d+, CPU#\\d+'),
        fmt: 'WARNING in {2}',
        stack: warningStack(),
      },
      { title: re('WARNING: .* at {{SRC}} {{FUNC}}'), fmt: 'WARNING in {3}', stack: warningStack() },
      { title: re('WARNING: {{SRC}} at {{FUNC}}'), fmt: 'WARNING in {3}', stack: warningStack() },
      { title: re('WARNING: \\[.*\\] {{SRC}} at {{FUNC}}.*'), fmt: 'WARNING in {3}', stack: warningStack() },
      {
        kind: 'lockdep',
        title: re('WARNING: possible circular locking dependency detected'),
        report: re('WARNING: possible circular locking dependency detected(?:.*\\n)+?.*is trying to acquire lock'),
        fmt: 'possible deadlock in {1}',
        stack: {
          parts: [re('at: (?:{{PC}} +)?{{FUNC}}'), re('at: (?:{{PC}} +)?{{FUNC}}'), STACK],
          skip: ['process_one_work', 'flush_workqueue', 'drain_workqueue', 'destroy_workqueue'],
        },
      },
      {
        kind: 'lockdep',
        title: re('WARNING: possible irq lock inversion dependency detected'),
        report: re('WARNING: possible irq lock inversion dependency detected(?:.*\\n)+?.*just changed the state of lock(?:.*\\n)+?.*at: (?:{{PC}} +)?{{FUNC}}'),
        fmt: 'possible deadlock in {1}',
      },
      {
        kind: 'lockdep',
        title: re('WARNING: .*-safe -> .*-unsafe lock order detected'),
        // the stack of the lock that became unsafe
        stack: { parts: [/which became (?:.*) at:/, STACK] },
        fmt: 'possible deadlock in {1}',
      },
      {
        kind: 'lockdep',
        title: re('WARNING: possible recursive locking detected'),
        report: re('WARNING: possible recursive locking detected(?:.*\\n)+?.*is trying to acquire lock(?:.*\\n)+?.*at: (?:{{PC}} +)?{{FUNC}}'),
        fmt: 'possible deadlock in {1}',
      },
      {
        kind: 'lockdep',
        title: re('WARNING: inconsistent lock state'),
        report: re('WARNING: inconsistent lock state(?:.*\\n)+?.*takes(?:.*\\n)+?.*at: (?:{{PC}} +)?{{FUNC}}'),
        stack: callTrace(),
        fmt: 'inconsistent lock state in {2}',
      },
      {
        kind: 'lockdep',
        title: re('WARNING: suspicious RCU usage'),
        report: re('WARNING: suspicious RCU usage(?:.*\\n)+?.*?{{SRC}}'),
        fmt: 'WARNING: suspicious RCU usage in {2}',
        stack: callTrace(['rcu', 'kmem', 'slab']),
      },
      {
        title: re("WARNING: kernel stack regs at [0-9a-f]+ in [^ ]* has bad '([^']+)' value"),
        fmt: "WARNING: kernel stack regs has bad '{1}' value",
        noStackTrace: true,
      },
      {
        title: re('WARNING: kernel stack frame pointer at [0-9a-f]+ in [^ ]* has bad value'),
        fmt: 'WARNING: kernel stack frame pointer has bad value',
        noStackTrace: true,
      },
      {
        kind: 'lockdep',
        title: re('WARNING: bad unlock balance detected!'),
        fmt: 'WARNING: bad unlock balance in {1}',
        stack: unlockStack,
      },
      {
        kind: 'lockdep',
        title: re('WARNING: held lock freed!'),
        report: re('WARNING: held lock freed!(?:.*\\n)+?.*at:(?: {{PC}})? +{{FUNC}}'),
        fmt: 'WARNING: held lock freed in {1}',
      },
      {
        kind: 'lockdep',
        title: re('WARNING: Nested lock was not taken'),
        fmt: 'WARNING: nested lock was not taken in {1}',
        stack: warningStack(),
      },
      {
        kind: 'lockdep',
        title: re('WARNING: .*still has locks held!'),
        report: re('WARNING: .*still has locks held!(?:.*\\n)+?.*at: {{FUNC}}'),
        fmt: 'WARNING: still has locks held in {1}',
      },
      { title: re("WARNING: kernel stack regs .* has bad 'bp' value"), fmt: 'WARNING: kernel stack regs has bad value', noStackTrace: true },
      { title: re('WARNING: kernel stack frame pointer .* has bad value'), fmt: 'WARNING: kernel stack regs has bad value', noStackTrace: true },
      { title: /WARNING:\s*(?:\n|$)/, fmt: 'WARNING: corrupted', corrupted: true },
    ],
    suppressions: [
      /WARNING: \/etc\/ssh\/moduli does not exist, using fixed modulus/,
      /WARNING: workqueue cpumask: online intersect > possible intersect/,
      /WARNING: [Tt]he mand mount option/,
      /WARNING: Unsupported flag value\(s\) of 0x%x in DT_FLAGS_1/,
      /WARNING: Unprivileged eBPF is enabled with eIBRS/,
      /WARNING: fbcon: Driver '(.*)' missed to adjust virtual screen size (\((?:\d+)x(?:\d+) vs\. (?:\d+)x(?:\d+)\))/,
      /WARNING: See https.* for mitigation options./,
      /WARNING: kernel not compiled with CPU_SRSO/,
      /EXT4-[Ff][Ss](?: \(.*\))?:/,
      /warning: .* uses (deprecated v2 capabilities|wireless extensions)/i,
      /XFS \(\w+\): WARNING/,
    ],
  },
  {
    header: 'INFO:',
    kind: 'other',
    formats: [
      {
        kind: 'lockdep',
        title: re('INFO: possible circular locking dependency detected'),
        report: re('INFO: possible circular locking dependency detected \\](?:.*\\n)+?.*is trying to acquire lock(?:.*\\n)+?.*at: {{PC}} +{{FUNC}}'),
        fmt: 'possible deadlock in {1}',
      },
      {
        kind: 'lockdep',
        title: re('INFO: possible irq lock inversion dependency detected'),
        report: re('INFO: possible irq lock inversion dependency detected \\](?:.*\\n)+?.*just changed the state of lock(?:.*\\n)+?.*at: {{PC}} +{{FUNC}}'),
        fmt: 'possible deadlock in {1}',
      },
      {
        kind: 'lockdep',
        title: re('INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected'),
        report: re('INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected \\](?:.*\\n)+?.*is trying to acquire(?:.*\\n)+?.*at: {{PC}} +{{FUNC}}'),
        fmt: 'possible deadlock in {1}',
      },
      {
        kind: 'lockdep',
        title: re('INFO: possible recursive locking detected'),
        report: re('INFO: possible recursive locking detected \\](?:.*\\n)+?.*is trying to acquire lock(?:.*\\n)+?.*at: {{PC}} +{{FUNC}}'),
        fmt: 'possible deadlock in {1}',
      },
      {
        kind: 'lockdep',
        title: re('INFO: inconsistent lock state'),
        report: re('INFO: inconsistent lock state \\](?:.*\\n)+?.*takes(?:.*\\n)+?.*at: {{PC}} +{{FUNC}}'),
        fmt: 'inconsistent lock state in {1}',
      },
      {
        kind: 'rcu-stall',
        title: re('INFO: rcu_(?:preempt|sched|bh|tasks) (?:self-)?detected(?: expedited)? stall'),
        fmt: 'INFO: rcu detected stall in {1}',
        alt: ['stall in {1}'],
        stack: {
          parts: [/apic_timer_interrupt/, RIP_FRAME, STACK],
          // arm prints the interrupted stack after "Exception stack", arm64 after el1h_64_irq
          parts2: [/(?:apic_timer_interrupt|Exception stack|el1h_64_irq)/, STACK],
          skip: ['apic_timer_interrupt', 'rcu'],
          pick: 'stall',
        },
      },
      {
        kind: 'lockdep',
        title: re('INFO: trying to register non-static key'),
        fmt: 'INFO: trying to register non-static key in {1}',
        stack: callTrace(['stack', 'lock', 'IRQ']),
      },
      {
        kind: 'lockdep',
        title: re('INFO: suspicious RCU usage'),
        report: re('INFO: suspicious RCU usage(?:.*\\n)+?.*?{{SRC}}'),
        fmt: 'INFO: suspicious RCU usage in {2}',
        stack: callTrace(['rcu', 'kmem', 'slab']),
      },
      {
        kind: 'hung-task',
        // a garbled comm can carry a newline, so the name may spill onto the next line
        title: re('INFO: task [\\s\\S]{0,100}? blocked (?:in I/O wait )?for more than [0-9]+ seconds'),
        fmt: 'INFO: task hung in {1}',
        alt: ['hang in {1}'],
        stack: { parts: [CALL_TRACE, STACK], pick: 'hang' },
      },
      {
        kind: 'hung-task',
        title: re("INFO: task [\\s\\S]{0,100}? can't die for more than .* seconds"),
        fmt: "INFO: task can't die in {1}",
        alt: ['hang in {1}'],
        stack: callTrace(['schedule']),
      },
      {
        // Captured for corrupted old-style KASAN reports.
        kind: 'kasan',
        title: re('INFO: (Freed|Allocated) in (.*)'),
        fmt: 'INFO: {1} in {2}',
        corrupted: true,
      },
      { title: /INFO:\s*(?:\n|$)/, fmt: 'INFO: corrupted', corrupted: true },
    ],
    suppressions: [
      /INFO: lockdep is turned off/,
      /INFO: Stall ended before state dump start/,
      /INFO: NMI handler/,
      /INFO: recovery required on readonly filesystem/,
      /(handler|interrupt).*took too long/,
      /rmt_storage:INFO:/,
      // "INVALID BTF_INFO:NUM"
      /_INFO:/,
      /INFO: sys_.* is not present in \/proc\/kallsyms/,
      /INFO: no syscalls can create resource/,
    ],
  },
  {
    header: 'Unable to handle kernel',
    kind: 'page-fault',
    formats: [
      {
        // arm64: "Unable to handle kernel paging request at virtual address ...", then "pc : func+0x..";
        // other variants (execute from non-executable memory, ...) are titled by their line
        title: re('Unable to handle kernel (paging request|NULL pointer dereference|access to user memory)'),
        fmt: 'BUG: unable to handle kernel {1} in {2}',
        alt: ['bad-access in {2}'],
        stack: { parts: [RIP_FRAME, CALL_TRACE, STACK] },
      },
    ],
  },
  {
    header: 'general protection fault',
    kind: 'gpf',
    // a user-space trap ("traps: prog[pid] general protection fault ip:.. sp:.. error:0 in libc.so")
    suppressions: [/general protection fault .* error:\d+ in /],
    formats: [
      {
        title: re('general protection fault.*:'),
        fmt: 'general protection fault in {1}',
        alt: ['bad-access in {1}'],
        stack: ripThenTrace(),
      },
    ],
  },
  {
    header: 'stack segment: ',
    kind: 'gpf',
    formats: [{ title: re('stack segment: '), fmt: 'stack segment fault in {1}', stack: ripThenTrace() }],
  },
  {
    header: 'Kernel panic',
    kind: 'panic',
    formats: [
      {
        title: re('Kernel panic - not syncing: stack-protector:'),
        report: re('Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: {{FUNC}}'),
        fmt: 'kernel panic: stack is corrupted in {1}',
        noStackTrace: true,
      },
      {
        title: re('Kernel panic - not syncing: stack-protector:'),
        report: re('Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: [a-f0-9]+'),
        fmt: 'kernel panic: stack is corrupted in {1}',
        stack: callTrace(['stack_chk']),
      },
      {
        title: re('Kernel panic - not syncing: corrupted stack end'),
        report: re('Kernel panic - not syncing: corrupted stack end detected inside scheduler'),
        fmt: 'kernel panic: corrupted stack end in {1}',
        alt: ['stack-overflow in {1}'],
        stack: callTrace(['schedule', 'retint_kernel'], 'stall'),
      },
      {
        kind: 'bug',
        title: re('Kernel panic - not syncing: kernel stack overflow'),
        fmt: 'kernel stack overflow in {1}',
        alt: ['stack-overflow in {1}'],
        stack: callTrace(['bad_stack'], 'stall'),
      },
      { title: re('Kernel panic - not syncing: Attempted to kill init!'), fmt: 'kernel panic: Attempted to kill init!' },
      {
        title: re("Kernel panic - not syncing: Couldn't open N_TTY ldisc for [^ ]+ --- error -[0-9]+"),
        fmt: "kernel panic: Couldn't open N_TTY ldisc",
      },
      // Printed after a BUG/WARNING/hang: seeing it as the title means the real header was lost.
      { title: re('Kernel panic - not syncing: Fatal exception'), fmt: 'kernel panic: Fatal exception', corrupted: true },
      { title: re('Kernel panic - not syncing: panic_on_warn set'), fmt: 'kernel panic: panic_on_warn set', corrupted: true },
      {
        kind: 'hung-task',
        title: re('Kernel panic - not syncing: hung_task: blocked tasks'),
        fmt: 'kernel panic: hung_task: blocked tasks',
        corrupted: true,
      },
      { title: re('Kernel panic - not syncing: (.*)'), fmt: 'kernel panic: {1}' },
    ],
  },
  {
    header: 'PANIC: double fault',
    kind: 'double-fault',
    formats: [{ title: re('PANIC: double fault'), fmt: 'PANIC: double fault in {1}', stack: { parts: [RIP_FRAME] } }],
  },
  {
    // a Rust panic: the line after "panicked at file:line:col:" says what (attempt to add with overflow)
    header: 'rust_kernel: panicked',
    kind: 'panic',
    formats: [
      {
        title: re('rust_kernel: panicked'),
        report: re('rust_kernel: panicked at [^\\n]*?\\n(.+?)\\n'),
        fmt: '{1} in {2}',
        stack: { parts: [CALL_TRACE, STACK], skip: ['__rustc::rust_begin_unwind'] },
      },
    ],
  },
  {
    header: 'kernel BUG',
    kind: 'bug',
    formats: [
      { title: re('kernel BUG at mm/usercopy.c'), fmt: 'BUG: bad usercopy in {1}', stack: callTrace(['usercopy', '__check']) },
      // also a sign of memory corruption or a race
      { title: re('kernel BUG at lib/list_debug.c'), fmt: 'BUG: corrupted list in {1}', alt: ['bad-access in {1}'], stack: callTrace() },
      { title: re('kernel BUG at (.*)'), fmt: 'kernel BUG in {2}', stack: ripThenTrace(['^skb_']) },
    ],
  },
  {
    header: 'Kernel BUG',
    kind: 'bug',
    formats: [{ title: re('Kernel BUG (.*)'), fmt: 'kernel BUG {1}' }],
  },
  {
    header: 'BUG kmalloc-',
    kind: 'bug',
    formats: [{ title: re('BUG kmalloc-.*: Object already free'), fmt: 'BUG: Object already free' }],
  },
  {
    header: 'divide error:',
    kind: 'divide-error',
    formats: [{ title: re('divide error: '), fmt: 'divide error in {1}', stack: ripOnly }],
  },
  {
    header: 'divide_error:',
    kind: 'divide-error',
    formats: [{ title: re('divide_error: '), fmt: 'divide error in {1}', stack: ripOnly }],
  },
  {
    header: 'invalid opcode:',
    kind: 'invalid-opcode',
    formats: [{ title: re('invalid opcode: '), fmt: 'invalid opcode in {1}', stack: ripOnly }],
  },
  {
    header: 'int3:',
    kind: 'bug',
    formats: [{ title: re('int3: '), fmt: 'int3 in {1}', stack: ripThenTrace() }],
  },
  {
    header: 'UBSAN:',
    kind: 'ubsan',
    formats: [
      {
        title: re('UBSAN:'),
        report: re('UBSAN: Undefined behaviour in'),
        fmt: 'UBSAN: undefined-behaviour in {1}',
        stack: callTrace(['ubsan', 'overflow']),
      },
      {
        title: re('UBSAN: array-index-out-of-bounds in'),
        fmt: 'UBSAN: array-index-out-of-bounds in {1}',
        alt: ['bad-access in {1}'],
        stack: callTrace(['ubsan', 'overflow']),
      },
      {
        title: re('UBSAN:'),
        report: re('UBSAN: (.*?) in'),
        fmt: 'UBSAN: {1} in {2}',
        stack: callTrace(['ubsan', 'overflow']),
      },
    ],
  },
  {
    header: 'Booting the kernel.',
    kind: 'reboot',
    // the fuzzer may echo boot messages back, e.g. as an invalid mount option
    suppressions: [/Parsing ELF|Decompressing Linux|Unknown parameter '/],
    formats: [{ title: /^Booting the kernel/, fmt: 'unexpected kernel reboot', noStackTrace: true }],
  },
  {
    header: 'unregister_netdevice: waiting for',
    kind: 'other',
    formats: [
      {
        title: re('unregister_netdevice: waiting for (?:.*) to become free'),
        fmt: 'unregister_netdevice: waiting for DEV to become free',
        noStackTrace: true,
      },
    ],
  },
  {
    header: 'VFS: Close: file count is 0',
    kind: 'bug',
    formats: [{ title: re('VFS: Close: file count is 0'), fmt: 'VFS: Close: file count is zero (use-after-free)', noStackTrace: true }],
  },
  {
    // older kernels' own message for inodes still referenced when their super block goes (syzkaller #3621)
    header: 'VFS: Busy inodes after unmount',
    kind: 'other',
    formats: [{ title: re('VFS: Busy inodes after unmount'), fmt: 'VFS: Busy inodes after unmount (use-after-free)', noStackTrace: true }],
  },
  {
    header: 'Internal error:',
    kind: 'bug',
    formats: [
      {
        title: re('Internal error:'),
        fmt: 'Internal error in {1}',
        alt: ['bad-access in {1}'],
        stack: { parts: [RIP_FRAME, CALL_TRACE, STACK] },
      },
    ],
  },
  {
    // 32-bit arm oopses: "Unhandled fault: ..." / "Internal error: ..." with "PC is at func+0x..".
    header: 'Unhandled fault:',
    kind: 'page-fault',
    formats: [
      {
        title: re('Unhandled fault:'),
        fmt: 'Unhandled fault in {1}',
        alt: ['bad-access in {1}'],
        stack: { parts: [RIP_FRAME, CALL_TRACE, STACK] },
      },
    ],
  },
  {
    header: 'Alignment trap:',
    kind: 'page-fault',
    formats: [
      {
        title: re('Alignment trap:'),
        fmt: 'Alignment trap in {1}',
        stack: { parts: [RIP_FRAME, CALL_TRACE, STACK] },
      },
    ],
  },
  {
    header: 'trusty: panic',
    kind: 'panic',
    formats: [
      {
        title: re('trusty: panic.* ASSERT FAILED'),
        report: re('trusty: panic \\(.*?\\):(?: DEBUG)? ASSERT FAILED at \\(.*?\\): (.+)'),
        fmt: 'trusty: ASSERT FAILED: {1}',
        noStackTrace: true,
      },
      { title: re('trusty: panic.* ASSERT FAILED.*: *(.*)'), fmt: 'trusty: ASSERT FAILED: {1}', corrupted: true },
      { title: re('trusty: panic'), report: re('trusty: panic \\(.*?\\): (.+)'), fmt: 'trusty: panic: {1}', noStackTrace: true },
    ],
  },
  {
    // a Go program's runtime failure on the console (syzkaller's executor and fuzzer)
    header: 'fatal error:',
    kind: 'other',
    suppressions: [/ALSA/, /fatal error: cannot create timer/],
    formats: [{ title: re('fatal error:'), fmt: 'go runtime error', noStackTrace: true }],
  },
  {
    header: 'SYZFAIL:',
    kind: 'other',
    formats: [{ title: re('SYZFAIL:(.*)'), fmt: 'SYZFAIL:{1}', noStackTrace: true }],
  },
  {
    // syzkaller's log.Fatal (report.go commonOopses)
    header: 'SYZFATAL:',
    kind: 'other',
    formats: [{ title: re('SYZFATAL:(.*)()'), fmt: 'SYZFATAL:{1}', alt: ['SYZFATAL{2}'], noStackTrace: true }],
  },
  {
    // a Go program's panic (report.go commonOopses)
    header: 'panic:',
    kind: 'panic',
    // kernel functions (skb_panic, skb_over_panic) and Android boot noise
    suppressions: [/_panic:/, /xlog_status:/, /ddb\.onpanic:/, /evtlog_status:/],
    formats: [
      { title: re('panic: Sentry detected .* stuck task'), fmt: 'panic: Sentry detected stuck tasks', noStackTrace: true },
      { title: re('panic:(.*)'), fmt: 'panic:{1}', noStackTrace: true },
    ],
  },
  {
    header: 'Watchdog detected hard LOCKUP',
    kind: 'hard-lockup',
    formats: [
      {
        title: re('Watchdog detected hard LOCKUP on cpu'),
        fmt: 'BUG: hard lockup in {1}',
        alt: ['stall in {1}'],
        stack: ripThenTrace(undefined, 'stall'),
      },
    ],
  },
  {
    header: 'unreferenced object 0x',
    kind: 'kmemleak',
    formats: [
      {
        // kmemleak's own record (cat /sys/kernel/debug/kmemleak, or echoed to the console).
        title: re('unreferenced object {{ADDR}} \\(size [0-9]+\\):'),
        fmt: 'memory leak in {1}',
        stack: {
          parts: [/backtrace/, STACK],
          skip: [
            'kmemleak',
            'mmap',
            'kmem',
            'slab',
            'alloc',
            'create_object',
            'idr_get',
            'list_lru_init',
            'kasprintf',
            'kvasprintf',
            'pcpu_create',
            'strdup',
            'strndup',
            'memdup',
            'kobject_',
          ],
        },
      },
    ],
  },
  {
    header: 'kmemleak: ',
    kind: 'kmemleak',
    headerIf: /kmemleak: [0-9]+ new suspected memory leaks/,
    formats: [{ title: re('kmemleak: [0-9]+ new suspected memory leaks'), fmt: 'kmemleak: new suspected memory leaks', noStackTrace: true }],
  },
];

/** Header substrings that may appear inside another report without starting a new one. */
export const REPORT_START_IGNORES = [
  /invalid opcode: 0000/,
  /Kernel panic - not syncing/,
  /unregister_netdevice: waiting for/,
  /PANIC: double fault/,
  /Internal error:/,
  /unreferenced object 0x/,
];

/** Informational messages that carry a stack; inside a report they mean a second report begins. */
export const INFO_WITH_STACK = ['vmalloc: allocation failure:', 'FAULT_INJECTION: forcing a failure', 'FAULT_FLAG_ALLOW_RETRY missing'];

/**
 * Frames skipped in every stack (sanitizer, locking, allocator, printk, trap and device-core
 * plumbing): syzkaller's linuxStackParams.skipPatterns as pkg/report/linux.go has them, each matched
 * anywhere in the function name.
 */
export const SKIP_FRAMES: readonly string[] = [
  '__sanitizer',
  '__asan',
  'kasan',
  'hwasan',
  '__msan',
  'kmsan',
  'kcsan_setup_watchpoint',
  'check_memory_region',
  'check_heap_object',
  'check_object',
  'read_word_at_a_time',
  '(read|write)_once_.*nocheck',
  'print_address_description',
  'panic',
  'invalid_op',
  'report_bug',
  'fixup_bug',
  'print_report',
  'print_usage_bug',
  'do_error',
  'invalid_op',
  '_trap$|do_trap',
  'show_stack',
  'dump_stack',
  'walk_stack',
  'dump_backtrace',
  'warn_slowpath',
  'warn_alloc',
  'warn_bogus',
  '__warn',
  'alloc_page',
  'k?v?(?:m|z|c)alloc',
  'krealloc',
  'kmem_cache',
  'allocate_slab',
  '__alloc_frozen_pages_noprof',
  'folio_(?:alloc|unlock)',
  'filemap_alloc_folio',
  '__filemap_get_folio',
  'find_or_create_page',
  'do_read_cache_folio',
  'read_cache_page',
  'pagecache_get_page',
  'grab_cache_page_write_begin',
  'slab_',
  'debug_object',
  'timer_is_static_object',
  'work_is_static_object',
  '__might_fault',
  'print_unlock',
  'imbalance_bug',
  'lockdep',
  'bh_enable',
  'bh_disable',
  'perf_trace',
  'lock_acquire',
  'lock_release',
  'lock_class',
  'mark_lock',
  '(reacquire|mark)_held_locks',
  'raw_spin_rq',
  'spin_lock',
  'spin_trylock',
  'spin_unlock',
  'read_lock',
  'read_trylock',
  'write_lock',
  'write_trylock',
  'read_unlock',
  'write_unlock',
  '^down$',
  'down_read',
  'down_write',
  'down_read_trylock',
  'down_write_trylock',
  'down_trylock',
  'up_read',
  'up_write',
  '^mutex_',
  '^__mutex_',
  '^rt_mutex_',
  'owner_on_cpu',
  'osq_lock',
  'osq_unlock',
  'atomic(64)?_(dec|inc|read|set|or|xor|and|add|sub|fetch|xchg|cmpxchg|try)',
  '(set|clear|change|test)_bit',
  '__wake_up',
  '^refcount_',
  '^kref_',
  'ref_tracker',
  'seqprop_assert',
  'memcpy',
  'memcmp',
  'memset',
  'memchr',
  'memmove',
  'memdup',
  'strcmp',
  'strncmp',
  'strcpy',
  'strlcpy',
  'strncpy',
  'strscpy',
  'strlen',
  'strstr',
  'strnstr',
  'strnlen',
  'strchr',
  'strdup',
  'strndup',
  'copy_to_user',
  'copy_from_user',
  'copy_to_iter',
  'copy_from_iter',
  'copy_page_to_iter',
  'copy_page_from_iter',
  'copy_folio_to_iter',
  '^copyin$',
  '^copyout$',
  'put_user',
  'get_user',
  'might_fault',
  'might_sleep',
  'list_add',
  'list_del',
  'list_replace',
  'list_move',
  'list_splice',
  '^rb_',
  '^__rb_',
  '_indirect_thunk_',
  'string',
  'pointer',
  'snprintf',
  'scnprintf',
  'kasprintf',
  'kvasprintf',
  'printk',
  'va_format',
  'dev_info',
  'dev_notice',
  'dev_warn',
  'dev_err',
  'dev_alert',
  'dev_crit',
  'dev_emerg',
  'program_check_exception',
  'program_check_common',
  'del_timer',
  'flush_work',
  '__cancel_work_timer',
  'cancel_work_sync',
  'try_to_grab_pending',
  'flush_workqueue',
  'drain_workqueue',
  'destroy_workqueue',
  'queue_work',
  'finish_wait',
  'kthread_stop',
  'kobject_',
  'add_uevent_var',
  'get_device_parent',
  'device_add',
  'device_del',
  'device_unregister',
  'device_destroy',
  'device_release',
  'devres_release_all',
  'hwrng_unregister',
  'i2c_del_adapter',
  '__unregister_client',
  'device_for_each_child',
  'rollback_registered',
  'unregister_netdev',
  'sysfs_remove',
  'device_remove_file',
  'tty_unregister_device',
  'dummy_urb_enqueue',
  'usb_kill_urb',
  'usb_kill_anchored_urbs',
  'usb_control_msg',
  'usb_hcd_submit_urb',
  'usb_submit_urb',
  '^complete$',
  'wait_for_completion',
  '^kv?free$',
  'kfree_skb',
  'readb$',
  'readw$',
  'readl$',
  'readq$',
  'writeb$',
  'writew$',
  'writel$',
  'writeq$',
  'logic_in',
  'logic_out',
  '^crc\\d+',
  'crc_itu_t',
  '__might_resched',
  'assertfail',
  '^iput$',
  '^iput_final$',
  '^ihold$',
  'hex_dump_to_buffer',
  'print_hex_dump',
  '^klist_',
  '(trace|lockdep)_(hard|soft)irq',
  '^(un)?lock_page',
  'stack_trace_consume_entry',
  'arch_stack_walk',
  'stack_trace_save',
  'insert_work',
  '__queue_delayed_work',
  'queue_delayed_work_on',
  'ida_free',
  'do_(kernel|translation)_fault',
  'do_mem_abort',
  'el1_abort',
  'el1h_64_sync(?:_handler)?',
  'print_tainted',
  'xas_(?:start|load|find)',
  'find_lock_entries',
  'truncate_inode_pages_range',
  '__phys_addr',
  '__fortify_report',
  'cleanup_srcu_struct',
  'rhashtable_lookup',
  'extract_(user|iter)_to_sg',
  'drop_nlink',
  '^get_taint$',
  '^put_device$',
  'lock_timer_base',
  '__timer_delete_sync',
  'sk_stop_timer_sync',
  '__mod_timer',
  'fast_dput',
  'dput',
  'mark_buffer_dirty',
];

/** syzkaller's stripFramePrefixes: syscall-wrapper prefixes; a frame is named by its shortest trim. */
export const FRAME_STRIP_PREFIXES: readonly string[] = [
  'SYSC_',
  'SyS_',
  'sys_',
  '__x64_',
  '__ia32_',
  '__arm64_',
  '____sys_',
  '___sys_',
  '__sys_',
  '__se_',
  '__se_sys_',
  '__do_sys_',
  'compat_SYSC_',
  'compat_SyS_',
  'ksys_',
];
