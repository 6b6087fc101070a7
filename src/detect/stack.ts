// Culprit-frame extraction: walk the report's lines through a StackRule's parts, collecting frames
// that survive the skip lists, then pick one (first frame, stall anchor, or hung-task rule).
import { demangle } from './demangle.js';
import { CORRUPTED_FRAME_LINES, FRAME_LINES, STACK_START } from './pattern.js';
import { FRAME_STRIP_PREFIXES, SKIP_FRAMES, STACK, type StackPart, type StackRule } from './formats.js';

const matchesAny = (s: string, res: readonly RegExp[]): boolean => res.some((r) => r.test(s));

const skipCache = new Map<StackRule, RegExp>();
function skipRegExp(rule: StackRule): RegExp {
  let r = skipCache.get(rule);
  if (!r) {
    r = new RegExp([...SKIP_FRAMES, ...(rule.skip ?? [])].join('|'));
    skipCache.set(rule, r);
  }
  return r;
}

/** syzkaller's stripFrames: of the name with each syscall-wrapper prefix trimmed (once), the shortest. */
function stripFrame(name: string): string {
  let best = name;
  for (const p of FRAME_STRIP_PREFIXES) if (name.startsWith(p) && name.length - p.length < best.length) best = name.slice(p.length);
  return best;
}

/** Every group a frame line captured is a frame (arm's "(callee) from (caller)" gives two), kept as printed. */
function appendFrame(frames: string[], m: RegExpExecArray | null, skip: RegExp): void {
  if (!m || m.length < 2) return;
  for (let i = 1; i < m.length; i++) {
    // syzkaller demangles a frame before its skip rules see it
    const g = m[i];
    const f = g === undefined || g === '' ? '' : demangle(g);
    if (f !== '' && !skip.test(f)) frames.push(f);
  }
}

/** A frame for a title: its name with the wrapper prefix stripped, and as the kernel printed it. */
export interface PickedFrame {
  canonical: string;
  raw: string;
}

/** Returns one frame per STACK part (or per capturing part), and whether extraction went cleanly. */
export function extractFrames(rule: StackRule, lines: readonly string[]): { frames: PickedFrame[]; ok: boolean } {
  const first = walk(rule, rule.parts, lines);
  if (first.ok || !rule.parts2) return first;
  return walk(rule, rule.parts2, lines);
}

function walk(rule: StackRule, parts: readonly StackPart[], lines: readonly string[]): { frames: PickedFrame[]; ok: boolean } {
  const skip = skipRegExp(rule);
  const pick = (raw: string[]): PickedFrame => {
    if (raw.length === 0) return { canonical: '', raw: '' };
    const stripped = raw.map(stripFrame);
    if (!rule.pick || rule.pick === 'first') return { canonical: stripped[0]!, raw: raw[0]! };
    const [canonical, i] = PICKERS[rule.pick](stripped);
    return canonical === '' ? { canonical: '', raw: '' } : { canonical, raw: raw[i]! };
  };
  let frames: string[] = [];
  const results: PickedFrame[] = [];
  let ok = true;
  let stackTraces = 0;
  let li = 0;
  for (let pi = 0; ; pi++) {
    if (pi === parts.length || (parts[pi] === STACK && stackTraces > 0)) {
      let key = pick(frames);
      if (key.canonical === '') {
        key = { canonical: 'corrupted', raw: 'corrupted' };
        ok = false;
      }
      results.push(key);
      frames = [];
    }
    if (pi === parts.length) break;
    const part = parts[pi]!;
    if (part === STACK) {
      stackTraces++;
      while (li < lines.length) {
        const ln = lines[li++]!;
        if (matchesAny(ln, CORRUPTED_FRAME_LINES)) {
          ok = false;
          break;
        }
        // The next trace section ends this one.
        if (matchesAny(ln, STACK_START)) break;
        // A line matching the next part ends the trace and counts as that part.
        const next = parts[pi + 1];
        if (next !== undefined && next !== STACK) {
          const m = next.exec(ln);
          if (m) {
            appendFrame(frames, m, skip);
            pi++;
            break;
          }
        }
        let fm: RegExpExecArray | null = null;
        for (const fr of FRAME_LINES) if ((fm = fr.exec(ln))) break;
        appendFrame(frames, fm, skip);
      }
    } else {
      while (li < lines.length) {
        const ln = lines[li++]!;
        if (matchesAny(ln, CORRUPTED_FRAME_LINES)) {
          ok = false;
          break;
        }
        const m = part.exec(ln);
        if (!m) continue;
        appendFrame(frames, m, skip);
        break;
      }
    }
  }
  return { frames: results, ok };
}

/** Extractors over the stripped frames: the chosen name and the index of the frame it came from. */
const PICKERS: Record<Exclude<StackRule['pick'], undefined | 'first'>, (frames: string[]) => [string, number]> = {
  stall: stallFrame,
  hang: hangFrame,
};

/**
 * Stalls and lockups loop across functions, so the top frame is noise. Take the frame just above a
 * known dispatch point (syscall entry, workqueue, timer, file/socket op) as the identity.
 */
const STALL_ANCHORS = [
  // generic functions that dispatch work, and some of their callers (in case names change)
  /process_one_work/,
  /do_syscall_/,
  /do_fast_syscall_/,
  /sysenter_dispatch/,
  /tracesys_phase2/,
  /el0_svc_handler/,
  /invoke_syscall/,
  /ret_fast_syscall/,
  /netif_receive_skb/,
  /do_softirq/,
  /call_timer_fn/,
  /_run_timers/,
  /run_timer_softirq/,
  /hrtimer_run/,
  /run_ksoftirqd/,
  /smpboot_thread_fn/,
  /^kthread$/,
  /start_secondary/,
  /cpu_startup_entry/,
  /ret_from_fork/,
  // syscalls that dispatch on the file or device: the frame above them is the identity
  /vfs_write/,
  /vfs_read/,
  /vfs_iter_read/,
  /vfs_iter_write/,
  /do_iter_read/,
  /do_iter_write/,
  /call_read_iter/,
  /call_write_iter/,
  /new_sync_read/,
  /new_sync_write/,
  /vfs_ioctl/,
  /ksys_ioctl/,
  /compat_ioctl/,
  /compat_sys_ioctl/,
  /blkdev_driver_ioctl/,
  /blkdev_ioctl/,
  /do_iter_readv_writev/,
  /^call_mmap/,
  /mmap_region/,
  /do_mmap/,
  /do_dentry_open/,
  /vfs_open/,
  // socket operations
  /^sock_sendmsg/,
  /^sock_recvmsg/,
  /^sock_release/,
  /^__sock_release/,
  /^setsockopt$/,
  /kernel_setsockopt/,
  /sock_common_setsockopt/,
  /^listen$/,
  /kernel_listen/,
  /sk_common_release/,
  /^sock_mmap/,
  /^accept$/,
  /kernel_accept/,
  /^sock_do_ioctl/,
  /^sock_ioctl/,
  /^compat_sock_ioctl/,
  /^nfnetlink_rcv_msg/,
  /^rtnetlink_rcv_msg/,
  /^netlink_dump/,
  /^(sys_)?(socketpair|connect|ioctl)/,
  // page fault entry points
  /__do_fault/,
  /do_page_fault/,
  /^page_fault$/,
  // exit-to-user-mode callbacks
  /__fput/,
  /task_work_run/,
  /exit_to_usermode/,
  /smp_call_function/,
  /tasklet_action/,
  /tasklet_hi_action/,
];

function stallFrame(frames: string[]): [string, number] {
  let prev = frames[0]!;
  let prevIdx = 0;
  for (const [i, frame] of frames.entries()) {
    if (matchesAny(frame, STALL_ANCHORS)) {
      // then this function rather than the one before it (its callers vary)
      if (frame.includes('smp_call_function')) [prev, prevIdx] = ['smp_call_function', i];
      return [prev, prevIdx];
    }
    [prev, prevIdx] = [frame, i];
  }
  return ['', -1];
}

/**
 * Hung tasks show the victim, not the culprit. Group the common buckets (rtnl_lock, RCU
 * synchronisation), else take the first frame that is not scheduler/lock/wait plumbing.
 */
function hangFrame(frames: string[]): [string, number] {
  const anchors: ReadonlyArray<readonly [string, string]> = [
    ['rtnl_lock', ''],
    ['synchronize_rcu', 'synchronize_rcu'],
    ['synchronize_srcu', 'synchronize_rcu'],
    ['synchronize_net', 'synchronize_rcu'],
    ['synchronize_sched', 'synchronize_rcu'],
  ];
  for (const [i, frame] of frames.entries()) {
    for (const [anchor, replacement] of anchors) {
      if (frame.includes(anchor)) return [replacement || frame, i];
    }
  }
  const skip = [
    'sched',
    '_lock',
    '_slowlock',
    'down',
    'rwsem',
    'completion',
    'kthread',
    'wait',
    'synchronize',
    'context_switch',
    '__switch_to',
    'cancel_delayed_work',
    'rcu_barrier',
  ];
  const i = frames.findIndex((f) => !skip.some((s) => f.includes(s)));
  return i === -1 ? ['', -1] : [frames[i]!, i];
}
