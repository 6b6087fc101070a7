// Culprit-frame extraction: walk the report's lines through a StackRule's parts, collecting frames
// that survive the skip lists, then pick one (first frame, stall anchor, or hung-task rule).
import { CORRUPTED_FRAME_LINES, FRAME_LINES, STACK_START } from './pattern.js';
import { FRAME_PREFIX_REWRITES, SKIP_FRAMES, STACK, type StackPart, type StackRule } from './formats.js';

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

function rewriteFrame(name: string): string {
  for (const [prefix, replacement] of FRAME_PREFIX_REWRITES) {
    if (name.startsWith(prefix)) return replacement + name.slice(prefix.length);
  }
  return name;
}

function appendFrame(frames: string[], m: RegExpExecArray | null, skip: RegExp): void {
  if (!m || m.length < 2) return;
  for (let i = 1; i < m.length; i++) {
    const f = m[i];
    if (f !== undefined && f !== '') {
      if (!skip.test(f)) frames.push(rewriteFrame(f));
      return;
    }
  }
}

/** Returns one frame per STACK part (or per capturing part), and whether extraction went cleanly. */
export function extractFrames(rule: StackRule, lines: readonly string[]): { frames: string[]; ok: boolean } {
  const first = walk(rule, rule.parts, lines);
  if (first.ok || !rule.parts2) return first;
  return walk(rule, rule.parts2, lines);
}

function walk(rule: StackRule, parts: readonly StackPart[], lines: readonly string[]): { frames: string[]; ok: boolean } {
  const skip = skipRegExp(rule);
  const pick = (frames: string[]): string => (frames.length === 0 ? '' : PICKERS[rule.pick ?? 'first'](frames));
  let frames: string[] = [];
  const results: string[] = [];
  let ok = true;
  let stackTraces = 0;
  let li = 0;
  for (let pi = 0; ; pi++) {
    if (pi === parts.length || (parts[pi] === STACK && stackTraces > 0)) {
      let key = pick(frames);
      if (key === '') {
        key = 'corrupted';
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

const PICKERS: Record<NonNullable<StackRule['pick']>, (frames: string[]) => string> = {
  first: (frames) => frames[0]!,
  stall: stallFrame,
  hang: hangFrame,
};

/**
 * Stalls and lockups loop across functions, so the top frame is noise. Take the frame just above a
 * known dispatch point (syscall entry, workqueue, timer, file/socket op) as the identity.
 */
const STALL_ANCHORS = [
  /process_one_work/,
  /do_syscall_/,
  /do_fast_syscall_/,
  /sysenter_dispatch/,
  /tracesys_phase2/,
  /netif_receive_skb/,
  /do_softirq/,
  /call_timer_fn/,
  /_run_timers/,
  /run_timer_softirq/,
  /run_ksoftirqd/,
  /smpboot_thread_fn/,
  /kthread/,
  /start_secondary/,
  /cpu_startup_entry/,
  /ret_from_fork/,
  /vfs_write/,
  /vfs_read/,
  /vfs_iter_read/,
  /vfs_iter_write/,
  /do_iter_read/,
  /do_iter_write/,
  /vfs_ioctl/,
  /ksys_ioctl/,
  /compat_ioctl/,
  /compat_sys_ioctl/,
  /blkdev_driver_ioctl/,
  /blkdev_ioctl/,
  /^call_read_iter/,
  /^call_write_iter/,
  /do_iter_readv_writev/,
  /^call_mmap/,
  /mmap_region/,
  /do_mmap/,
  /do_dentry_open/,
  /vfs_open/,
  /^sock_sendmsg/,
  /^sock_recvmsg/,
  /^sock_release/,
  /^__sock_release/,
  /__sys_setsockopt/,
  /kernel_setsockopt/,
  /sock_common_setsockopt/,
  /__sys_listen/,
  /kernel_listen/,
  /sk_common_release/,
  /^sock_mmap/,
  /__sys_accept/,
  /kernel_accept/,
  /^sock_do_ioctl/,
  /^sock_ioctl/,
  /^compat_sock_ioctl/,
  /^nfnetlink_rcv_msg/,
  /^rtnetlink_rcv_msg/,
  /^(compat_)?(SYSC|SyS|__sys|___sys|__do_sys|__se_sys|__x64_sys|sys)_(socketpair|connect|ioctl)/,
  /__do_fault/,
  /__fput/,
  /task_work_run/,
  /__run_hrtimer/,
  /__hrtimer_run_queues/,
  /tasklet_action/,
  /genl_(?:lock_)?dumpit/,
  /^netlink_dump/,
  /exit_to_usermode/,
  /exit_to_user_mode/,
  /smp_call_function/,
];

function stallFrame(frames: string[]): string {
  let prev = frames[0]!;
  for (const frame of frames) {
    if (matchesAny(frame, STALL_ANCHORS)) {
      if (frame.includes('smp_call_function')) prev = 'smp_call_function';
      for (const p of ['__x64_', 'SYSC_', 'SyS_', 'compat_SYSC_', 'compat_SyS_', '__ia32_sys_']) {
        if (prev.startsWith(p)) prev = prev.slice(p.length);
      }
      return prev;
    }
    prev = frame;
  }
  return '';
}

/**
 * Hung tasks show the victim, not the culprit. Group the common buckets (rtnl_lock, RCU
 * synchronisation), else take the first frame that is not scheduler/lock/wait plumbing.
 */
function hangFrame(frames: string[]): string {
  const anchors: ReadonlyArray<readonly [string, string]> = [
    ['rtnl_lock', ''],
    ['synchronize_rcu', 'synchronize_rcu'],
    ['synchronize_srcu', 'synchronize_rcu'],
    ['synchronize_net', 'synchronize_rcu'],
    ['synchronize_sched', 'synchronize_rcu'],
  ];
  for (const frame of frames) {
    for (const [anchor, replacement] of anchors) {
      if (frame.includes(anchor)) return replacement || frame;
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
  return frames.find((f) => !skip.some((s) => f.includes(s))) ?? '';
}
