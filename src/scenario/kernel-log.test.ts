import { describe, expect, it } from 'vitest';
import { mergeKernelLog, parseKernelLine, sliceBetween } from './kernel-log.js';

describe('mergeKernelLog', () => {
  const table: Array<{ name: string; console: string[]; dmesg: string[]; want: string[] }> = [
    {
      name: 'same lines in both: counted once',
      console: ['[    1.000000] a', '[    2.000000] b'],
      dmesg: ['[    1.000000] a', '[    2.000000] b'],
      want: ['[    1.000000] a', '[    2.000000] b'],
    },
    {
      name: 'console dropped a line: slotted in by timestamp',
      console: ['[    1.000000] a', '[    3.000000] c'],
      dmesg: ['[    1.000000] a', '[    2.000000] b', '[    3.000000] c'],
      want: ['[    1.000000] a', '[    2.000000] b', '[    3.000000] c'],
    },
    {
      name: 'CR and level prefix do not make a line new',
      console: ['[    1.000000] a\r', 'login: (userspace, no timestamp)'],
      dmesg: ['<6>[    1.000000] a', '[    4.000000] tail only in dmesg'],
      want: ['[    1.000000] a', 'login: (userspace, no timestamp)', '[    4.000000] tail only in dmesg'],
    },
    {
      name: 'same text at another time is another line',
      console: ['[    1.000000] retry'],
      dmesg: ['[    1.000000] retry', '[    1.500000] retry'],
      want: ['[    1.000000] retry', '[    1.500000] retry'],
    },
    {
      name: 'printk caller ids kept',
      console: ['[    5.000000][  T245] BUG: KASAN: x'],
      dmesg: ['[    5.000000][  T245] BUG: KASAN: x', '[    5.000001][  T245] Read of size 4'],
      want: ['[    5.000000][  T245] BUG: KASAN: x', '[    5.000001][  T245] Read of size 4'],
    },
    { name: 'console lost entirely (guest died): dmesg empty too', console: ['[    1.000000] a'], dmesg: [], want: ['[    1.000000] a'] },
  ];
  for (const t of table) it(t.name, () => expect(mergeKernelLog(t.console, t.dmesg)).toEqual(t.want));

  it('parses timestamps', () => {
    expect(parseKernelLine('[   12.345678] x')).toEqual({ ts: 12.345678, text: '[   12.345678] x', key: '12.345678|x' });
    expect(parseKernelLine('no stamp').ts).toBeNull();
  });
});

describe('sliceBetween', () => {
  const lines = ['x', 'huci: begin A', 'y', 'huci: end A', 'z', 'huci: begin A', 'w'];
  it('takes the last begin marker and stops at the end marker', () => {
    expect(sliceBetween(lines.slice(0, 5), 'huci: begin A', 'huci: end A')).toEqual(['huci: begin A', 'y', 'huci: end A']);
    expect(sliceBetween(lines, 'huci: begin A', 'huci: end A')).toEqual(['huci: begin A', 'w']);
    expect(sliceBetween(lines, 'huci: begin B', null)).toBeNull();
  });
});
