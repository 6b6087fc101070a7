// The recorded QEMU argv (vm.qemuArgv) as a reproducer boots it: same machine, devices and kernel
// command line, but run.sh's files (@KERNEL@, @INITRD@, @WORK@/…) in place of our run dir's, the
// console on stdout, QMP and the agent's port on fifos run.sh holds, and no ssh port forward.
import path from 'node:path';

export interface ReproArgv {
  args: string[];
  /** the virtio-serial port the guest script talks to run.sh on (the agent's port in the recording) */
  port: string | null;
  kernel: string | null;
  initrd: string | null;
}

const OURS = /^huci\.(sshkey|agent)=/;

export function reproArgv(argv: readonly string[]): ReproArgv {
  const out: string[] = [];
  let kernel: string | null = null;
  let initrd: string | null = null;
  let port: string | null = null;
  let append: number | null = null;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    if (value === undefined || !flag.startsWith('-')) {
      out.push(flag);
      continue;
    }
    i++;
    switch (flag) {
      case '-kernel':
        kernel = value;
        out.push(flag, '@KERNEL@');
        break;
      case '-initrd':
        initrd = value;
        out.push(flag, '@INITRD@');
        break;
      case '-append':
        append = out.length + 1;
        out.push(flag, value);
        break;
      case '-qmp':
        out.push('-chardev', 'pipe,id=huci-qmp,path=@WORK@/qmp', '-mon', 'chardev=huci-qmp,mode=control');
        break;
      case '-netdev':
        out.push(flag, value.replace(/,hostfwd=[^,]*/g, ''));
        break;
      case '-chardev':
        out.push(flag, chardev(value));
        break;
      case '-drive':
        out.push(
          flag,
          value.replace(/(^|,)file=((?:[^,]|,,)*)/, (_m, pre: string, file: string) => `${pre}file=@WORK@/${path.basename(file.replaceAll(',,', ','))}`),
        );
        break;
      case '-device': {
        const name = /^virtserialport,.*\bname=([^,]+)/.exec(value);
        if (name) port = name[1]!;
        out.push(flag, value);
        break;
      }
      default:
        out.push(flag, value);
    }
  }
  if (append !== null) {
    const words = out[append]!.split(' ').filter((w) => w !== '' && !OURS.test(w));
    if (port) words.push(`huci.repro=${port}`);
    out[append] = words.join(' ');
  }
  return { args: out, port, kernel, initrd };
}

function chardev(value: string): string {
  if (/^file,id=con,/.test(value)) return 'stdio,id=con,signal=off';
  // the agent's socket: a fifo pair run.sh reads and writes
  const socket = /^socket,id=([^,]+),/.exec(value);
  if (socket) return `pipe,id=${socket[1]},path=@WORK@/ctl`;
  return value.replace(/(^|,)path=((?:[^,]|,,)*)/, (_m, pre: string, p: string) => `${pre}path=@WORK@/${path.basename(p.replaceAll(',,', ','))}`);
}
