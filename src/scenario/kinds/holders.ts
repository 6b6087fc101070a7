// Holder kinds: how the agent gets an fd it holds for the whole case. `open` a path, `socket(2)`
// then bind/connect/setsockopt on vocabulary structs, or an `ioctl` on an fd already held that
// returns a new one (a gpio line request, an iio event fd).
import { z } from '../../zod.js';
import type { AgentCall } from '../port.js';
import { IoctlArgs, IoctlRequest, Name, NumberOrConstant, OpenFlag, StructValue } from '../suite-atoms.js';
import { requestName } from './agent-call.js';
import type { KindContext } from './kind.js';

type FieldsOf<F extends z.ZodRawShape> = z.infer<z.ZodObject<F>>;

export interface HolderKind<F extends z.ZodRawShape> {
  readonly key: string;
  readonly fields: F;
  /** the agent request that returns the fd, the timeline's words for it, and calls made on the new fd before it is held */
  call(holder: FieldsOf<F>, ctx: KindContext): { call: AgentCall; what: string; after?: (handle: number) => { call: AgentCall; what: string }[] };
}

const holderKind = <F extends z.ZodRawShape>(k: HolderKind<F>): HolderKind<F> => k;

export const openHolder = holderKind({
  key: 'open',
  fields: {
    open: z
      .strictObject({
        path: z.string(),
        flags: z.array(OpenFlag).min(1),
        /** ioctls that make the fd what the case holds (tun's TUNSETIFF attaches it to a device) */
        ioctls: z.array(z.strictObject({ request: IoctlRequest, args: IoctlArgs.optional() })).default([]),
      })
      .optional(),
  },
  call: (h, ctx) => {
    const path = ctx.sub(h.open!.path);
    return {
      call: { op: 'open', path, flags: h.open!.flags },
      what: `open ${path}`,
      after: (handle) =>
        h.open!.ioctls.map((io) => ({
          call: { op: 'ioctl', handle, request: ctx.ioctlRequest(io.request, io.args) } as AgentCall,
          what: `ioctl ${requestName(io.request)}`,
        })),
    };
  },
});

export const socketHolder = holderKind({
  key: 'socket',
  fields: {
    /** socket(2), then bind/connect to an address and setsockopt calls, each a vocabulary struct */
    socket: z
      .strictObject({
        domain: NumberOrConstant,
        /** a list is OR'ed: [SOCK_RAW, SOCK_NONBLOCK] */
        type: z.union([NumberOrConstant, z.array(NumberOrConstant).min(1)]),
        /** as socket(2) takes it (AF_PACKET: network order, or 0 and bind's sll_protocol) */
        protocol: NumberOrConstant.default(0),
        bind: StructValue.optional(),
        connect: StructValue.optional(),
        setsockopt: z.array(z.strictObject({ level: NumberOrConstant, name: NumberOrConstant, ...StructValue.shape })).default([]),
      })
      .optional(),
  },
  call: (h, ctx) => {
    const so = h.socket!;
    const calls = [
      ...(so.bind ? [{ call: 'bind' as const, hex: ctx.structHex(so.bind.struct, so.bind.value) }] : []),
      ...so.setsockopt.map((o) => ({
        call: 'setsockopt' as const,
        level: ctx.constant(o.level),
        name: ctx.constant(o.name),
        hex: ctx.structHex(o.struct, o.value),
      })),
      ...(so.connect ? [{ call: 'connect' as const, hex: ctx.structHex(so.connect.struct, so.connect.value) }] : []),
    ];
    const type = [so.type].flat().reduce<number>((acc, t) => acc | ctx.constant(t), 0);
    return {
      call: { op: 'socket', domain: ctx.constant(so.domain), type, protocol: ctx.constant(so.protocol), calls },
      what: `socket ${so.domain} ${so.type}${so.bind ? ` bound to ${so.bind.struct}` : ''}`,
    };
  },
});

export const ioctlHolder = holderKind({
  key: 'ioctl',
  fields: { ioctl: z.strictObject({ on: Name, request: IoctlRequest, args: IoctlArgs.optional() }).optional() },
  call: (h, ctx) => {
    const io = h.ioctl!;
    return {
      call: { op: 'ioctl', handle: ctx.handle(io.on), request: ctx.ioctlRequest(io.request, io.args) } as AgentCall,
      what: `ioctl ${requestName(io.request)} on ${io.on}`,
    };
  },
});
