// Steps and removals through an fd the agent holds: `hold` opens one for the whole case (/dev/uinput,
// /dev/uhid), `ioctl` runs a vocabulary ioctl on it (UI_DEV_SETUP, UI_DEV_DESTROY), `send` writes a
// vocabulary struct to it (a uhid event), `close` closes it (a creator's fd: the device goes).
import { z } from '../../zod.js';
import type { AgentCall } from '../port.js';
import { AgentIoctl, AgentSend, Name, OpenFlag } from '../suite-atoms.js';
import { lostReason, type KindContext, type RemovalEnd, removalKind, stepKind, type StepResult } from './kind.js';

type Ioctl = z.infer<typeof AgentIoctl>;
type Send = z.infer<typeof AgentSend>;

/** A suite's ioctl request in the timeline's words: its name, or `raw N`. */
export const requestName = (request: Ioctl['request']): string => (typeof request === 'string' ? request : `raw ${request.raw}`);
const ioctlCall = (ctx: KindContext, io: Ioctl): AgentCall =>
  ({ op: 'ioctl', handle: ctx.handle(io.on), request: ctx.ioctlRequest(io.request, io.args) }) as AgentCall;
const sendCall = (ctx: KindContext, s: Send): AgentCall => ({ op: 'write', handle: ctx.handle(s.on), hex: ctx.structHex(s.struct, s.value) });

async function agentStep(ctx: KindContext, call: AgentCall, label: string, timeoutMs: number): Promise<StepResult & { handle?: number; fd?: number }> {
  const r = await ctx.agent(call, `${ctx.phase}: ${label}`, timeoutMs);
  if (r.timedOut) await ctx.lostIfSilent();
  if (!r.ok) return { ok: false, errno: r.errno, message: `${ctx.phase}: ${label} failed: ${r.errno}${typeof r.error === 'string' ? ` (${r.error})` : ''}` };
  return { ok: true, ...(typeof r.handle === 'number' ? { handle: r.handle } : {}), ...(typeof r.fd === 'number' ? { fd: r.fd } : {}) };
}

export const holdStep = stepKind({
  key: 'hold',
  fields: { hold: z.strictObject({ name: Name, open: z.strictObject({ path: z.string(), flags: z.array(OpenFlag).min(1) }) }).optional() },
  label: (s) => `hold ${s.hold!.name}`,
  run: async (s, ctx, timeoutMs) => {
    const path = ctx.sub(s.hold!.open.path);
    const r = await agentStep(ctx, { op: 'open', path, flags: s.hold!.open.flags }, `hold ${s.hold!.name} (${path})`, timeoutMs);
    if (r.ok && r.handle !== undefined) ctx.hold(s.hold!.name, r.handle, r.fd);
    return r;
  },
});

export const ioctlStep = stepKind({
  key: 'ioctl',
  fields: { ioctl: AgentIoctl.optional() },
  label: (s) => `ioctl ${requestName(s.ioctl!.request)} on ${s.ioctl!.on}`,
  run: (s, ctx, timeoutMs) => agentStep(ctx, ioctlCall(ctx, s.ioctl!), `ioctl ${requestName(s.ioctl!.request)} on ${s.ioctl!.on}`, timeoutMs),
});

export const sendStep = stepKind({
  key: 'send',
  fields: { send: AgentSend.optional() },
  label: (s) => `send ${s.send!.struct} to ${s.send!.on}`,
  run: (s, ctx, timeoutMs) => agentStep(ctx, sendCall(ctx, s.send!), `send ${s.send!.struct} to ${s.send!.on}`, timeoutMs),
});

/** Done when the agent's call returns: a destroy may block in the kernel. */
function agentRemoval(ctx: KindContext, call: AgentCall, horizonMs: number): Promise<RemovalEnd> {
  return ctx.port.agent(call, horizonMs).then(
    (a): RemovalEnd => ({ at: ctx.clock.now(), ok: a.ok, errno: a.ok ? null : a.errno, ...(a.timedOut ? { timedOut: true } : {}) }),
    (e: unknown): RemovalEnd => ({ at: ctx.clock.now(), ok: false, errno: null, lost: lostReason(e) }),
  );
}

export const ioctlRemoval = removalKind({
  key: 'ioctl',
  fields: { ioctl: AgentIoctl.optional() },
  label: (r) => `ioctl ${requestName(r.ioctl!.request)} on ${r.ioctl!.on}`,
  issue: async (r, ctx, horizonMs) => ({ pending: agentRemoval(ctx, ioctlCall(ctx, r.ioctl!), horizonMs) }),
});

export const sendRemoval = removalKind({
  key: 'send',
  fields: { send: AgentSend.optional() },
  label: (r) => `send ${r.send!.struct} to ${r.send!.on}`,
  issue: async (r, ctx, horizonMs) => ({ pending: agentRemoval(ctx, sendCall(ctx, r.send!), horizonMs) }),
});

export const closeRemoval = removalKind({
  key: 'close',
  fields: { close: z.strictObject({ on: Name }).optional() },
  label: (r) => `close ${r.close!.on}`,
  issue: async (r, ctx, horizonMs) => {
    const handle = ctx.handle(r.close!.on);
    // closed now, whatever the call answers: the engine must not close it again
    ctx.release(r.close!.on);
    return { pending: agentRemoval(ctx, { op: 'close', handle }, horizonMs) };
  },
});
