// caseBehaviour as a table: what a recorded case says the subsystem did with the held fds.
import { describe, expect, it } from 'vitest';
import type { CaseResult } from '../model/run.js';
import { caseResult, findingRecord, probeResult, removalResult } from '../model/testing/case-result.js';
import { caseBehaviour } from './behaviour.js';

const probe = probeResult;
const removal = removalResult;
const finding = (title: string) => findingRecord(title);
const kase = caseResult;

describe('caseBehaviour', () => {
  it.each<[string, Partial<CaseResult>, string, string]>([
    ['revokes with errnos', { probes: [probe({ errno: 'ENODEV' }), probe({ op: 'ioctl:X', errno: 'ENODEV' })] }, 'revokes', 'ENODEV'],
    [
      'revokes, poll flags shortened',
      { probes: [probe({ errno: 'EBADFD' }), probe({ op: 'poll', ok: true, revents: ['POLLERR', 'POLLHUP'] })] },
      'revokes',
      'EBADFD, poll ERR|HUP',
    ],
    ['hangs up: a read at EOF', { probes: [probe({ ok: true, bytes: 0 }), probe({ op: 'write', errno: 'EIO' })] }, 'hangs-up', 'EOF, EIO'],
    ['refuses', { removal: removal({ completed: false, errno: 'EBUSY' }), probes: [] }, 'refuses', 'EBUSY'],
    [
      'waits in remove until the close',
      { verdict: 'blocked', removal: removal({ completed: false, ms: null, completedAfterCloseMs: 412.6 }) },
      'waits',
      'until 413 ms after the close',
    ],
    ['waits for ever', { verdict: 'blocked', removal: removal({ completed: false, ms: null, completedAfterCloseMs: null }) }, 'waits', 'never finishes'],
    [
      'numb: an ioctl succeeds',
      { verdict: 'silent', probes: [probe({ op: 'ioctl:NVME_IOCTL_ID', ok: true, accepted: false })] },
      'numb',
      'ioctl:NVME_IOCTL_ID → ok',
    ],
    ['silent: poll says nothing', { verdict: 'silent', probes: [probe({ op: 'poll', ok: true, revents: [], accepted: false })] }, 'silent', 'poll → no events'],
    ['silent: the wrong errno', { verdict: 'silent', probes: [probe({ errno: 'EAGAIN', accepted: false })] }, 'silent', 'read → EAGAIN'],
    ['silent: a read that blocks', { verdict: 'silent', probes: [probe({ timedOut: true, accepted: false })] }, 'silent', 'read blocks'],
    [
      'silent: a sleeper nobody woke',
      { verdict: 'silent', probes: [probe({ errno: 'ENODEV' })], loops: [{ fd: 'fd', op: 'read', iterations: 1, counts: {} }] },
      'silent',
      'a blocked read is not woken',
    ],
    [
      'crashes with the title',
      { verdict: 'crashed', findings: [finding('KASAN: slab-use-after-free Read in x')] },
      'crashes',
      'KASAN: slab-use-after-free Read in x',
    ],
    ['hangs', { verdict: 'hung', reason: 'guest stopped answering' }, 'hangs', 'guest stopped answering'],
    ['error keeps the reason', { verdict: 'error', reason: 'discover failed' }, 'error', 'discover failed'],
  ])('%s', (_name, c, kind, detail) => {
    const b = caseBehaviour(kase(c));
    expect({ kind: b.kind, detail: b.detail }).toEqual({ kind, detail });
  });

  it('carries the numbers a map cell is made of: the errnos, the wait after the close', () => {
    expect(caseBehaviour(kase({ probes: [probe({ errno: 'ENODEV' }), probe({ op: 'write', errno: 'EIO' })] })).errnos).toEqual(['EIO', 'ENODEV']);
    expect(caseBehaviour(kase({ probes: [probe({ ok: true, bytes: 0 }), probe({ op: 'write', errno: 'EIO' })] })).errnos).toEqual(['EIO']);
    const waits = (after: number | null) =>
      caseBehaviour(kase({ verdict: 'blocked', removal: removal({ completed: false, ms: null, completedAfterCloseMs: after }) }));
    expect(waits(412.6).afterCloseMs).toBe(413);
    expect(waits(null).afterCloseMs).toBeUndefined();
  });
});
