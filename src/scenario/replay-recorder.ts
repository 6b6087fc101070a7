// A GuestPort that notes everything a case does to its guest — agent requests with their replies,
// QMP commands, waits for QMP events — for the stand-alone reproducer (src/report/repro/). The
// kernel-log harvest (dmesgFrom, also a mark's) is ours, not the case's, and is left out.
import type { ReplayAction } from '../model/run.js';
import { shellFor, type GuestOp, type OpResult } from '../guest/guest-ops.js';
import type { AgentAnswer, Clock, GuestPort } from './port.js';

type Of<K extends ReplayAction['kind']> = Extract<ReplayAction, { kind: K }>;

/** An operation as the reproducer runs it: its shell command (a case's end marker without the log read, which is ours). */
const actionOf = (op: GuestOp, timeoutMs: number, startMs: number): Of<'agent'> => ({
  kind: 'agent',
  startMs,
  endMs: null,
  request: { op: 'sh', command: shellFor(op.op === 'mark' ? { op: 'mark', text: op.text } : op), timeoutMs },
  reply: null,
});

/** What the reproducer keeps of an operation's result (null: it timed out). */
const replyOf = (r: OpResult): Of<'agent'>['reply'] => (r.timedOut ? null : { ok: r.ok, errno: r.errno, ...(r.out ? { out: r.out.slice(0, 500) } : {}) });

export function recordingPort(port: GuestPort, clock: Clock, t0: number, actions: ReplayAction[]): GuestPort {
  const rel = (): number => clock.now() - t0;
  const track = <A extends ReplayAction, R>(action: A, p: Promise<R>, done: (a: A, r: R) => void): Promise<R> => {
    actions.push(action);
    return p.then(
      (r) => {
        action.endMs = rel();
        done(action, r);
        return r;
      },
      (e: unknown) => {
        action.endMs = rel();
        throw e;
      },
    );
  };
  return {
    vm: port.vm,
    answersApart: port.answersApart?.bind(port),
    driveFile: port.driveFile?.bind(port),
    consoleFile: port.consoleFile,
    agent: (call, timeoutMs) =>
      track<Of<'agent'>, AgentAnswer>(
        { kind: 'agent', startMs: rel(), endMs: null, request: { ...call }, reply: null },
        port.agent(call, timeoutMs),
        (a, r) => {
          a.reply = r.timedOut ? null : { ...r };
        },
      ),
    run: (op, timeoutMs, how) => {
      if (op.op === 'dmesgFrom') return port.run(op, timeoutMs, how);
      return track<Of<'agent'>, OpResult>(actionOf(op, timeoutMs, rel()), port.run(op, timeoutMs, how), (a, r) => {
        a.reply = replyOf(r);
      });
    },
    // each op of a seq is an action of its own: the reproducer runs them one by one; a removal's
    // (its ops in processes of their own) is one action, as it ran: beside the case's other
    // requests while it blocks, its steps in order
    runSeq: port.runSeq
      ? async (ops) => {
          if (ops.some((o) => o.ownProcess)) {
            const steps = ops.map((o) => ({ ...actionOf(o.op, o.timeoutMs, 0).request, stopOnFailure: o.stopOnFailure }));
            return track<Of<'agent'>, OpResult[]>(
              { kind: 'agent', startMs: rel(), endMs: null, request: { op: 'seq', steps }, reply: null },
              port.runSeq!(ops),
              (a, results) => {
                a.reply = { ok: true, results: results.map(replyOf) };
              },
            );
          }
          const noted = ops.map((o) => actionOf(o.op, o.timeoutMs, rel()));
          actions.push(...noted);
          const results = await port.runSeq!(ops).finally(() => {
            for (const a of noted) a.endMs = rel();
          });
          results.forEach((r, i) => {
            noted[i]!.reply = replyOf(r);
          });
          // those that did not run are not the case's
          for (const a of noted.slice(results.length)) actions.splice(actions.indexOf(a), 1);
          return results;
        }
      : undefined,
    qmp: (command, args, timeoutMs) =>
      track({ kind: 'qmp', startMs: rel(), endMs: null, command, ...(args ? { args } : {}) }, port.qmp(command, args, timeoutMs), () => {}).catch(
        (e: unknown) => {
          const a = actions.findLast((x) => x.kind === 'qmp' && x.command === command);
          if (a?.kind === 'qmp') a.error = e instanceof Error ? e.message : String(e);
          throw e;
        },
      ),
    waitForQmpEvent: (event, match, timeoutMs) =>
      track<Of<'qmp-event'>, boolean>(
        { kind: 'qmp-event', startMs: rel(), endMs: null, event, match, timeoutMs, arrived: null },
        port.waitForQmpEvent(event, match, timeoutMs),
        (a, r) => {
          a.arrived = r;
        },
      ),
    onConsoleLine: (cb) => port.onConsoleLine(cb),
    stop: () => port.stop(),
  };
}
