// A case's recorded actions (run.json `replay`) as a busybox-sh script that does them again in any
// guest with our initramfs: agent requests through a fresh huci-agent, QMP commands and event waits
// through run.sh on the host. Order, overlap and deliberate waits follow the recording: an action
// that had finished before the next one started is awaited before it; one still running (a removal
// that blocks on the held fds, a loop) goes on in the background until the recording saw it end.
import type { ReplayAction } from '../../model/run.js';

export interface GuestScriptInfo {
  caseId: string;
  runId: string;
  verdict: string;
  title: string | null;
}

/** Pauses shorter than this are the harness's own latency, not a wait the case meant. */
const MIN_SLEEP_MS = 50;
/** How long a replayed "has the device left QEMU?" check waits for it to leave. */
const GONE_WAIT_S = 10;
const MAX_SLEEP_MS = 30_000;

export function guestScript(recorded: readonly ReplayAction[], info: GuestScriptInfo): string {
  const actions = [...recorded].sort((a, b) => a.startMs - b.startMs);
  const remap = freshIds(actions);
  const out: string[] = [
    '#!/bin/sh',
    `# ${info.caseId}, from hotunplug-ci run ${info.runId}: ${info.verdict}${info.title ? ` (${info.title})` : ''}.`,
    '# What the case did to its guest, in order; "# was:" is what the recorded run got back.',
    '# Helpers (agent requests, host requests to run.sh): /repro/lib.sh.',
    '. /repro/lib.sh',
    'repro_start "$1"',
  ];
  let nextId = 1;
  let nextSlot = 1;
  /** devices a device_del asked QEMU to remove: a later qom-list was the case looking for them gone */
  const deleted = new Set<string>();
  /** started, not yet awaited: how to await it, and when the recording saw it end */
  const pending: { endMs: number | null; line: string }[] = [];
  let lastMs = 0;
  const awaitDone = (untilMs: number): void => {
    for (const p of [...pending].sort((a, b) => (a.endMs ?? Infinity) - (b.endMs ?? Infinity))) {
      if (p.endMs === null || p.endMs > untilMs) continue;
      out.push(p.line);
      pending.splice(pending.indexOf(p), 1);
      lastMs = Math.max(lastMs, p.endMs);
    }
  };
  for (const [i, a] of actions.entries()) {
    awaitDone(a.startMs);
    const gap = a.startMs - lastMs;
    if (gap >= MIN_SLEEP_MS) out.push(`sleep ${(Math.min(gap, MAX_SLEEP_MS) / 1000).toFixed(1)}`);
    lastMs = Math.max(lastMs, a.startMs);
    const next = actions[i + 1];
    const overlaps = a.endMs === null || (next !== undefined && next.startMs < a.endMs);
    const waitS = a.endMs === null ? 10 : Math.max(10, Math.ceil(((a.endMs - a.startMs) * 2) / 1000) + 5);
    if (a.kind === 'agent') {
      const id = nextId++;
      const request = JSON.stringify({ id, ...remap.request(a.request) });
      if (a.reply) out.push(`# was: ${JSON.stringify(a.reply).slice(0, 240)}`);
      else out.push(`# was: no reply${a.endMs === null ? '' : ` within ${Math.round(a.endMs - a.startMs)} ms`}`);
      if (overlaps) {
        out.push(`send ${id} ${shq(request)}`);
        pending.push({ endMs: a.endMs, line: `await ${id} ${waitS}` });
      } else {
        out.push(`req ${id} ${shq(request)} ${waitS}`);
        lastMs = Math.max(lastMs, a.endMs!);
      }
    } else if (a.kind === 'qmp' && a.command === 'qom-list' && deleted.size > 0) {
      // the recording saw the answer it waited for; a replay asks until it is so (or the bound)
      for (const id of deleted) out.push(`host gone ${id} ${GONE_WAIT_S}`);
      deleted.clear();
      if (a.endMs !== null) lastMs = Math.max(lastMs, a.endMs);
    } else if (a.kind === 'qmp') {
      const cmd = JSON.stringify({ execute: a.command, ...(a.args ? { arguments: a.args } : {}) });
      if (a.error) out.push(`# was: ${a.error.slice(0, 240)}`);
      out.push(`host qmp ${shq(cmd)}`);
      if (a.command === 'device_del' && typeof a.args?.id === 'string') deleted.add(a.args.id);
      if (a.endMs !== null) lastMs = Math.max(lastMs, a.endMs);
    } else {
      const slot = nextSlot++;
      const match = Object.entries(a.match).map(([k, v]) => JSON.stringify({ [k]: v }).slice(1, -1));
      out.push(`host arm ${slot} ${a.event} ${match.map(shq).join(' ')}`.trimEnd());
      // an event that never came was not waited for (the case went on and saw the device gone
      // some other way): look once, do not sit out its bound
      const eventS = a.arrived === true ? Math.ceil(a.timeoutMs / 1000) : 1;
      pending.push({
        endMs: a.endMs,
        line: `# was: ${a.arrived === true ? 'arrived' : 'did not arrive'} within ${a.timeoutMs} ms\nhost wait ${slot} ${eventS}`,
      });
    }
  }
  awaitDone(Infinity);
  for (const p of pending) out.push(p.line.replace(/^await (\d+) \d+$/, 'await $1 10'));
  out.push('repro_end');
  return `${out.join('\n')}\n`;
}

/**
 * The recorded agent had served earlier cases: its handles and loops were numbered from wherever it
 * was. A fresh agent numbers them 1, 2, … in the order they are made; map the old numbers onto those.
 */
function freshIds(actions: readonly ReplayAction[]): { request(r: Record<string, unknown>): Record<string, unknown> } {
  const handles = new Map<number, number>();
  const loops = new Map<number, number>();
  const made = actions.filter((a): a is Extract<ReplayAction, { kind: 'agent' }> => a.kind === 'agent' && a.reply?.ok === true && a.endMs !== null);
  for (const a of [...made].sort((x, y) => x.endMs! - y.endMs!)) {
    const h = a.reply!.handle;
    if (typeof h === 'number' && !handles.has(h)) handles.set(h, handles.size + 1);
    const l = a.request.op === 'spawn' ? a.reply!.loop : undefined;
    if (typeof l === 'number' && !loops.has(l)) loops.set(l, loops.size + 1);
  }
  return {
    request: (r) => {
      const { id: _id, ...rest } = r;
      if (typeof rest.handle === 'number') rest.handle = handles.get(rest.handle) ?? rest.handle;
      if (typeof rest.loop === 'number') rest.loop = loops.get(rest.loop) ?? rest.loop;
      return rest;
    },
  };
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
