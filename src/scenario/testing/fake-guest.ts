// A scripted guest for engine tests: implements GuestPort with a tiny model of a device that can be
// removed under held fds, a console with printk timestamps, dmesg, QMP and a virtual clock.
import {
  GuestLostError,
  type AgentAnswer,
  type AgentCall,
  type BootHooks,
  type Clock,
  type GuestPort,
  type PortConsoleLine,
  type RunHow,
  type SleepCancel,
  type SeqOp,
  type SessionFactory,
  type VmConfig,
} from '../port.js';
import { RequestSchema, SEQ_MAX } from '../../guest/agent-protocol.js';
import { describeOp, type GuestOp, type OpResult } from '../../guest/guest-ops.js';
import type { GuestStart, VmInfo } from '../../model/run.js';

export interface FakeBehaviour {
  /** what the removal does while fds are held */
  removal: 'completes' | 'refuses-ebusy' | 'blocks-until-close' | 'blocks-forever';
  /** what a call on an fd of the removed device returns */
  zombie: 'enodev' | 'pollhup' | 'succeeds' | 'no-reply';
  /** kernel report printed on the console when a call touches a removed device */
  crashOnProbe?: string[];
  /** lines only dmesg has (the console dropped them), printed at the first probe */
  dmesgOnlyOnProbe?: string[];
  /** the guest stops answering (agent + SSH) at this point */
  loseAt?: 'removal' | 'probe';
  /** QMP DEVICE_DELETED comes after device_del (default), never (false), or never but the device leaves QEMU */
  deviceDeleted?: boolean | 'left-peripherals';
  /** opening a device node fails with this errno */
  openFails?: string;
  /** restore steps fail */
  restoreFails?: boolean;
  /** a blocked reader loop is woken with ENODEV by the removal */
  loopWoken?: boolean;
  /** this boot fails with this error (BootError: the kernel's, InfraError: the machinery's) */
  bootFails?: Error;
  /** how the VM came to be (a real session: booted, or restored from a saved guest) */
  start?: GuestStart;
  /**
   * fds on these paths create the device (/dev/uinput): calls on them succeed, and the one that
   * matches removeBy (an ioctl number, a write starting with these hex bytes, a close) removes it
   */
  creators?: string[];
  removeBy?: { ioctl?: number; writeHexPrefix?: string; close?: boolean };
  /** what `discover: { file }` finds in these files (others: a device path, as for a glob) */
  files?: Record<string, string>;
}

export class FakeClock implements Clock {
  t = 1_700_000_000_000;
  now(): number {
    return this.t;
  }
  sleep(ms: number, cancel?: SleepCancel): Promise<void> {
    return new Promise((r) =>
      setImmediate(() => {
        // a sleep cancelled before it ran (a bound that lost its race) takes no time
        if (!cancel?.cancelled) this.t += ms;
        r();
      }),
    );
  }
}

const DEVICE_HANDLE_START = 10;

export class FakeGuest implements GuestPort {
  readonly vm: VmInfo = { image: 'fake-img', kernelRelease: '6.12.0-fake', kernelVersion: '#1', accelerator: 'tcg', qemuArgv: ['qemu-system-x86_64'] };
  readonly consoleFile = null;
  readonly calls: string[] = [];
  /** the operations the engine asked to run in a guest process of their own */
  readonly ownProcess: string[] = [];
  readonly dmesgLines: string[] = [];
  /** the socket requests the agent got, as sent */
  readonly sockets: Array<Extract<AgentCall, { op: 'socket' }>> = [];
  stopped = false;
  private lines = 0;
  private readonly subs = new Set<(l: PortConsoleLine) => void>();
  private readonly handles = new Map<number, { path: string; kmsg: boolean }>();
  private nextHandle = DEVICE_HANDLE_START;
  private removed = false;
  private lost: string | null = null;
  private crashed = false;
  private closeWaiters: Array<() => void> = [];
  private deletedWaiters: Array<(ok: boolean) => void> = [];
  private readonly bootMs: number;

  readonly start: GuestStart | undefined;

  constructor(
    readonly b: FakeBehaviour,
    readonly clock: FakeClock,
  ) {
    this.bootMs = clock.now() - 5000;
    this.start = b.start;
  }

  private ts(): string {
    return `[${((this.clock.now() - this.bootMs) / 1000).toFixed(6).padStart(12)}]`;
  }

  /** A kernel message: on the console and in dmesg. */
  printk(text: string, consoleToo = true): void {
    const line = `${this.ts()} ${text}`;
    this.dmesgLines.push(line);
    if (consoleToo) this.console(line);
  }

  private console(line: string): void {
    const l = { text: line, hostMs: this.clock.now(), lineNo: ++this.lines };
    for (const s of this.subs) s(l);
  }

  private touchZombie(): void {
    if (this.b.crashOnProbe && !this.crashed) {
      this.crashed = true;
      for (const l of this.b.crashOnProbe) this.console(l), this.dmesgLines.push(l);
    }
    if (this.b.dmesgOnlyOnProbe) for (const l of this.b.dmesgOnlyOnProbe.splice(0)) this.printk(l, false);
  }

  private deviceHandles(): number {
    return [...this.handles.values()].filter((h) => !h.kmsg && !this.b.creators?.includes(h.path)).length;
  }

  private isCreator(handle: number): boolean {
    const h = this.handles.get(handle);
    return h !== undefined && (this.b.creators?.includes(h.path) ?? false);
  }

  /** The device goes, as the behaviour says: 'done' once it is gone, or the errno of a refusal. */
  private async remove(): Promise<'done' | string> {
    if (this.b.loseAt === 'removal') {
      this.lost = 'ssh connection closed';
      throw new GuestLostError(this.lost);
    }
    switch (this.b.removal) {
      case 'completes':
        this.removed = true;
        this.printk('fake 0000:00:01.0: removed');
        return 'done';
      case 'refuses-ebusy':
        return 'EBUSY';
      case 'blocks-until-close':
        this.removed = true;
        await new Promise<void>((r) => this.closeWaiters.push(r));
        return 'done';
      case 'blocks-forever':
        this.removed = true;
        await new Promise<void>(() => undefined);
        return 'done';
    }
  }

  async agent(call: AgentCall, timeoutMs: number): Promise<AgentAnswer> {
    // the client sends requests as typed (src/guest/agent.ts): what the engine builds is held to the
    // protocol's schema here, in every engine test
    const valid = RequestSchema.safeParse(call);
    if (!valid.success) throw new Error(`the engine built a request the protocol refuses: ${valid.error.message} in ${JSON.stringify(call)}`);
    this.calls.push(`agent ${call.op}`);
    if (this.lost) throw new GuestLostError(this.lost);
    const ok = (extra: Record<string, unknown> = {}): AgentAnswer => ({ ok: true, errno: null, ms: 0.2, ...extra });
    const fail = (errno: string): AgentAnswer => ({ ok: false, errno, ms: 0.2 });
    const noReply = (): AgentAnswer => ({ ok: false, errno: 'ETIMEDOUT_HARNESS', timedOut: true, ms: timeoutMs });
    switch (call.op) {
      case 'ping':
        return ok({ pid: 100, protocol: 1 });
      case 'open': {
        const kmsg = call.path === '/dev/kmsg';
        if (!kmsg && this.b.openFails) return fail(this.b.openFails);
        const h = this.nextHandle++;
        this.handles.set(h, { path: call.path, kmsg });
        return ok({ handle: h, fd: h });
      }
      case 'socket': {
        // a socket bound to the fake device: a device fd like an opened node
        const h = this.nextHandle++;
        this.handles.set(h, { path: `socket:${call.domain}:${(call.calls ?? []).map((c) => c.call).join(',')}`, kmsg: false });
        this.sockets.push(call);
        return ok({ handle: h, fd: h });
      }
      case 'close': {
        const creator = this.isCreator(call.handle);
        this.handles.delete(call.handle);
        if (creator && this.b.removeBy?.close) {
          const r = await this.remove();
          if (r !== 'done') return fail(r);
        }
        if (this.deviceHandles() === 0) for (const w of this.closeWaiters.splice(0)) w();
        return ok({ deferred: false });
      }
      case 'spawn':
        return ok({ loop: 1 });
      case 'tasks': {
        // a blocked removal is its shell command asleep in the driver's wait, as long as it waits
        const waiting = this.closeWaiters.length > 0 || (this.b.removal === 'blocks-forever' && this.removed);
        return ok({
          tasks: waiting
            ? [{ pid: 321, ppid: 100, state: 'D', comm: 'sh', wchan: 'fake_wait_for_fds', stack: 'fake_wait_for_fds,fake_remove,device_release_driver' }]
            : [],
        });
      }
      case 'loops':
        return ok({ loops: [{ loop: 1, handle: DEVICE_HANDLE_START, op: 'read', running: true, iterations: 1, counts: {}, transitions: [], elapsedMs: 500 }] });
      case 'stop': {
        const woken = this.removed && this.b.loopWoken !== false;
        return ok({ loop: call.loop, iterations: 3, counts: woken ? { OK: 2, ENODEV: 1 } : { OK: 2 }, stuck: !woken && this.removed, interrupted: false });
      }
      case 'sh':
      case 'seq':
      case 'writefile':
      case 'mkdir':
      case 'rmdir':
      case 'find':
      case 'klog':
      case 'refresh':
        // the engine's guest operations come through run() and runSeq(), never as agent requests
        return fail('ENOSYS');
      default:
        break;
    }
    const h = this.handles.get(call.handle);
    if (!h) return fail('EBADF');
    if (this.isCreator(call.handle)) {
      const rm = this.b.removeBy;
      const first = call.op === 'ioctl' ? [call.request].flat()[0] : undefined;
      const removes =
        (call.op === 'ioctl' && rm?.ioctl !== undefined && first?.number === rm.ioctl) ||
        (call.op === 'write' && rm?.writeHexPrefix !== undefined && (call.hex ?? '').startsWith(rm.writeHexPrefix));
      if (!removes) return ok({ ret: 0, n: 1 });
      const r = await this.remove();
      return r === 'done' ? ok({ ret: 0, n: 1 }) : fail(r);
    }
    if (h.kmsg) {
      if (call.op === 'write') this.printk((call.text ?? '').trimEnd());
      return ok({ n: (call as { text?: string }).text?.length ?? 0 });
    }
    // an ioctl that returns an fd says so in its request (the vocabulary's fd field or result)
    const steps = call.op === 'ioctl' ? [call.request].flat() : [];
    const last = steps[steps.length - 1];
    if (last && (last.fdAt !== undefined || last.fdReturn) && !this.removed) {
      const nh = this.nextHandle++;
      this.handles.set(nh, { path: `${h.path}:ioctl 0x${last.number.toString(16)}`, kmsg: false });
      return ok({ handle: nh, fd: nh });
    }
    if (!this.removed) return call.op === 'poll' ? ok({ ready: 0, revents: [] }) : ok({ n: 1, hex: '00' });
    // a call on the zombie fd
    if (this.b.loseAt === 'probe') {
      this.lost = 'ssh connection closed';
      return noReply();
    }
    this.touchZombie();
    switch (this.b.zombie) {
      case 'enodev':
        return call.op === 'poll' ? ok({ ready: 1, revents: ['POLLHUP', 'POLLERR'] }) : fail('ENODEV');
      case 'pollhup':
        return call.op === 'poll' ? ok({ ready: 1, revents: ['POLLIN', 'POLLHUP'] }) : ok({ n: 0, hex: '' });
      case 'succeeds':
        return call.op === 'poll' ? ok({ ready: 1, revents: ['POLLIN'] }) : ok({ n: 4, hex: '01020304' });
      case 'no-reply':
        return noReply();
    }
  }

  /** The kernel's side of the domain operations: which of them take the fake device away. */
  private removes(op: GuestOp): boolean {
    if (op.op === 'rmmod') return true;
    if (op.op !== 'write') return false;
    // sysfs: a driver's unbind, a device's remove, an adapter's delete_device; configfs: live = 0
    return /\/(unbind|remove|delete_device)$/.test(op.path) || (op.path.endsWith('/live') && op.value === '0');
  }

  /** As the agent's seq: each op as run() does it, stopping after a failed one that says so. */
  async runSeq(ops: readonly SeqOp[]): Promise<OpResult[]> {
    this.calls.push(`seq ${ops.length}`);
    // the agent refuses a longer request: one answer, nothing ran
    if (ops.length > SEQ_MAX) return [{ ok: false, errno: null, out: `seq needs steps: an array of 1 to ${SEQ_MAX} steps`, ms: 0, timedOut: false }];
    const results: OpResult[] = [];
    for (const o of ops) {
      const r = await this.run(o.op, o.timeoutMs, o.ownProcess ? { ownProcess: true } : undefined);
      results.push(r);
      if (!r.ok && o.stopOnFailure) break;
    }
    return results;
  }

  private dmesgFrom(marker: string): string {
    const at = this.dmesgLines.findLastIndex((l) => l.includes(marker));
    return at < 0 ? '' : `${this.dmesgLines.slice(at).join('\n')}\n`;
  }

  async run(op: GuestOp, timeoutMs: number, how?: RunHow): Promise<OpResult> {
    this.calls.push(`${op.op} ${JSON.stringify(op).slice(0, 80)}`);
    if (how?.ownProcess) this.ownProcess.push(describeOp(op));
    if (this.lost) throw new GuestLostError(this.lost);
    const done = (out = ''): OpResult => ({ ok: true, errno: null, out, ms: 1, timedOut: false });
    const fail = (errno: string, out: string): OpResult => ({ ok: false, errno, out, ms: 1, timedOut: false });
    switch (op.op) {
      case 'mark':
        this.printk(op.text);
        return done(op.dmesgFrom === undefined ? '' : this.dmesgFrom(op.dmesgFrom));
      case 'dmesgFrom':
        return done(this.dmesgFrom(op.marker));
      case 'find':
        return done(op.file !== undefined && this.b.files?.[op.file] !== undefined ? `${this.b.files[op.file]}\n` : '/sys/fake/devices/fake0\n');
      case 'gone':
        return done();
      default:
        break;
    }
    if (this.deviceHandles() > 0 && !this.removed && this.removes(op)) {
      const r = await this.remove();
      return r === 'done' ? done() : fail(r, 'rmmod: ERROR: Module fake is in use');
    }
    if (this.removed && this.b.restoreFails) return fail('ENODEV', 'sh: write error: No such device');
    // the restore binds the device again: the next case finds it there
    if (this.removed && op.op === 'sh' && /\/bind'?$/.test(op.command)) this.removed = false;
    void timeoutMs;
    return done();
  }

  async qmp(command: string, args: Record<string, unknown> | undefined): Promise<unknown> {
    this.calls.push(`qmp ${command} ${JSON.stringify(args ?? {})}`);
    if (command === 'device_del') {
      this.removed = true;
      if (this.b.deviceDeleted === true || this.b.deviceDeleted === undefined) for (const w of this.deletedWaiters.splice(0)) w(true);
    }
    if (command === 'qom-list') {
      // 'left-peripherals': the device is gone from QEMU but no DEVICE_DELETED came (qemu-xhci on QEMU 7.2)
      const gone = this.removed && this.b.deviceDeleted === 'left-peripherals';
      return [{ name: 'type', type: 'string' }, ...(gone ? [] : [{ name: 'dev0', type: 'child<fake-pci>' }])];
    }
    return {};
  }

  waitForQmpEvent(): Promise<boolean> {
    return new Promise((r) => this.deletedWaiters.push(r));
  }

  onConsoleLine(cb: (line: PortConsoleLine) => void): () => void {
    this.subs.add(cb);
    return () => this.subs.delete(cb);
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }
}

/** A session factory handing out FakeGuests; `behaviours` are used in boot order (the last one repeats). */
export class FakeSessions implements SessionFactory {
  readonly booted: FakeGuest[] = [];
  readonly configs: VmConfig[] = [];
  constructor(
    private readonly behaviours: FakeBehaviour[],
    readonly clock: FakeClock,
  ) {}
  /** consoles announced through the boot hooks, failed boots' too */
  readonly consoles: string[] = [];
  private boots = 0;
  async boot(cfg: VmConfig, hooks: BootHooks = {}): Promise<GuestPort> {
    this.configs.push(cfg);
    const b = this.behaviours[Math.min(this.boots++, this.behaviours.length - 1)]!;
    const console = `/fake/boot${this.boots}/console.log`;
    this.consoles.push(console);
    hooks.onConsole?.(console);
    if (b.bootFails) throw b.bootFails;
    const g = new FakeGuest(b, this.clock);
    this.booted.push(g);
    return g;
  }
}
