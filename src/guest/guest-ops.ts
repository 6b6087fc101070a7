// The domain operations the scenario layer asks of a guest (write a sysfs file, load a module, find a
// device node, mark the kernel log…), and the one place that turns them into guest shell text or
// into the agent's own file operations. The engine and the step and removal kinds speak only these;
// engine tests answer them with a model.
import type { SeqStep } from './agent-protocol.js';

export type GuestOp =
  /** a sysfs/configfs/procfs file, written whole (a trailing newline, as echo does) */
  | { op: 'write'; path: string; value: string }
  | { op: 'mkdir'; path: string }
  | { op: 'rmdir'; path: string }
  | { op: 'modprobe'; module: string; params: Record<string, string> }
  | { op: 'rmmod'; module: string }
  /**
   * the first path matching `glob` (optionally: whose content equals `contentEquals`, yielding its
   * directory), or the trimmed content of `file`; waits up to timeoutMs for it to appear — with
   * `node`, until the found name (basename or content) exists in that directory too
   */
  | { op: 'find'; glob?: string; file?: string; contentEquals?: string; node?: string; timeoutMs: number }
  /** returns once `path` no longer exists */
  | { op: 'gone'; path: string }
  /**
   * a line in the kernel log (console and dmesg); with `dmesgFrom`, then the kernel log from the
   * last line containing it on, read by the same command (`out`): what a dmesgFrom would return
   * next, up to and including the mark
   */
  | { op: 'mark'; text: string; dmesgFrom?: string }
  /** the kernel log from the last line containing `marker` on (empty when it is absent) */
  | { op: 'dmesgFrom'; marker: string }
  /** a suite's own shell text (`shell:` steps), run as written */
  | { op: 'sh'; command: string };

export interface OpResult {
  ok: boolean;
  /** the errno the guest reported for a failure, when it can be named */
  errno: string | null;
  /** what the guest said: stdout of a find/dmesgFrom (or a mark's dmesgFrom), otherwise stderr of a failure */
  out: string;
  ms: number;
  timedOut: boolean;
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
/** awk: the lines from the last one containing $B on */
const FROM_MARKER = 'index($0, ENVIRON["B"]) { buf = ""; keep = 1 } keep { buf = buf $0 "\\n" } END { printf "%s", buf }';
// only this part leaves the guest: the whole log was most of what a case read back
const dmesgFrom = (marker: string): string => `dmesg | B=${shq(marker)} awk ${shq(FROM_MARKER)}`;

/** The guest shell command that performs `op` (busybox sh; exits non-zero on failure, the kernel's strerror on stderr). */
export function shellFor(op: GuestOp): string {
  switch (op.op) {
    case 'write':
      return `echo ${shq(op.value)} > ${shq(op.path)}`;
    case 'mkdir':
      return `mkdir ${shq(op.path)}`;
    case 'rmdir':
      return `rmdir ${shq(op.path)}`;
    case 'modprobe':
      return ['modprobe', shq(op.module), ...Object.entries(op.params).map(([k, v]) => `${k}=${shq(v)}`)].join(' ');
    case 'rmmod':
      return `rmmod ${shq(op.module)}`;
    case 'find':
      return findCommand(op);
    case 'gone':
      return `while [ -e ${shq(op.path)} ]; do sleep 0.02; done`;
    case 'mark': {
      // printf's newline ends the printk record
      const mark = `printf '%s\\n' ${shq(op.text)} > /dev/kmsg`;
      return op.dmesgFrom === undefined ? mark : `${mark} && ${dmesgFrom(op.dmesgFrom)}`;
    }
    case 'dmesgFrom':
      return dmesgFrom(op.marker);
    case 'sh':
      return op.command;
  }
}

/**
 * The agent's step for `op`: a file operation the agent does itself where it has one (a shell is a
 * fork and exec of busybox per operation, more guest time than the operation under TCG), else the
 * shell command. `ownProcess`: the shell command always — a removal's operation, whose task the
 * blocked evidence watches and whose time the case measures, as it always has.
 */
export function agentStepFor(op: GuestOp, ownProcess = false): SeqStep {
  if (!ownProcess) {
    switch (op.op) {
      case 'write':
        return { op: 'writefile', path: op.path, text: op.value };
      case 'mkdir':
      case 'rmdir':
        return { op: op.op, path: op.path };
      case 'find':
        return {
          op: 'find',
          ...(op.file !== undefined ? { file: op.file } : { glob: op.glob ?? '' }),
          ...(op.contentEquals !== undefined ? { contentEquals: op.contentEquals } : {}),
          ...(op.node !== undefined ? { node: op.node } : {}),
          waitMs: op.timeoutMs,
        };
      case 'mark':
        return { op: 'klog', mark: op.text, ...(op.dmesgFrom !== undefined ? { from: op.dmesgFrom } : {}) };
      case 'dmesgFrom':
        return { op: 'klog', from: op.marker };
      default:
        break;
    }
  }
  return { op: 'sh', command: shellFor(op) };
}

function findCommand(op: Extract<GuestOp, { op: 'find' }>): string {
  const secs = Math.max(1, Math.ceil(op.timeoutMs / 1000));
  // device nodes come and go asynchronously: poll until the bound
  const wait = (test: string): string => `end=$(( $(date +%s) + ${secs} )); while :; do ${test} [ "$(date +%s)" -ge "$end" ] && exit 1; sleep 0.1; done`;
  // with a node directory: the found name must be a node there too (its sysfs entry comes first)
  const node = (name: string): string => (op.node !== undefined ? `[ -e ${shq(op.node)}/"${name}" ] &&` : '');
  if (op.file !== undefined) {
    const f = shq(op.file);
    return wait(`if [ -e ${f} ] && v=$(cat ${f}) && ${node('$v')} :; then echo "$v"; exit 0; fi;`);
  }
  // the glob stays unquoted so the guest shell expands it; everything else is escaped
  const glob = (op.glob ?? '').replace(/[^A-Za-z0-9_./*?:[\]-]/g, (ch) => `\\${ch}`);
  const want = op.contentEquals !== undefined ? `[ "$(cat "$f" 2>/dev/null)" = ${shq(op.contentEquals)} ] || continue; f=$(dirname "$f");` : '';
  const stop = op.node !== undefined ? `${node('${f##*/}')} { echo "$f"; exit 0; }; break;` : 'echo "$f"; exit 0;';
  return wait(`for f in ${glob}; do [ -e "$f" ] || continue; ${want} ${stop} done;`);
}

/** A short label for the timeline. */
export function describeOp(op: GuestOp): string {
  switch (op.op) {
    case 'write':
      return `write ${op.value} > ${op.path}`;
    case 'modprobe':
      return `modprobe ${op.module}${Object.entries(op.params)
        .map(([k, v]) => ` ${k}=${v}`)
        .join('')}`;
    case 'rmmod':
      return `rmmod ${op.module}`;
    case 'mkdir':
    case 'rmdir':
    case 'gone':
      return `${op.op} ${op.path}`;
    case 'find':
      return `find ${op.file ?? op.glob}`;
    case 'mark':
      return `mark ${op.text}${op.dmesgFrom === undefined ? '' : ', then dmesg'}`;
    case 'dmesgFrom':
      return 'dmesg';
    case 'sh':
      return op.command;
  }
}
