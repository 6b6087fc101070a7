// The map from recorded runs: cells per subsystem × method × image, headline behaviours, flaky
// cases across runs, and the text form (golden).
import { describe, expect, it } from 'vitest';
import { caseResult, findingRecord, probeResult, removalResult } from '../model/testing/case-result.js';
import type { RunResult } from '../model/run.js';
import { buildMap, cellText, findCell, renderMapText } from './map.js';
import { expectGolden, loadFixture } from './testing/fixtures.js';

const run = (runId: string, cases: RunResult['cases']): RunResult => ({ ...loadFixture('run-two-images'), runId, cases });

describe('buildMap', () => {
  const a = run('r1', [
    caseResult({ subsystem: 'gpio', method: 'unbind', op: 'read', image: 'k1', probes: [probeResult({ errno: 'ENODEV' })] }),
    caseResult({
      subsystem: 'gpio',
      method: 'unbind',
      op: 'poll',
      image: 'k1',
      verdict: 'silent',
      probes: [probeResult({ op: 'poll', ok: true, revents: [], accepted: false })],
    }),
    caseResult({
      subsystem: 'i2c',
      method: 'unbind',
      image: 'k1',
      verdict: 'blocked',
      removal: removalResult({ completed: false, ms: null, completedAfterCloseMs: 120 }),
    }),
    caseResult({
      subsystem: 'rtc',
      method: 'unbind',
      image: 'k1',
      verdict: 'crashed',
      findings: [findingRecord('general protection fault in rtc_dev_ioctl', 'gpf')],
      repro: 'hotunplug-ci repro reports/r1 rtc/p-unbind-f-o',
    }),
    caseResult({ subsystem: 'tty', method: 'rmmod', image: 'k1', removal: removalResult({ completed: false, errno: 'EBUSY' }) }),
  ]);
  const b = run('r2', [
    caseResult({ subsystem: 'gpio', method: 'unbind', op: 'read', image: 'k2', probes: [probeResult({ errno: 'ENODEV' })] }),
    caseResult({ subsystem: 'gpio', method: 'unbind', op: 'poll', image: 'k1', probes: [probeResult({ op: 'poll', ok: true, revents: ['POLLHUP'] })] }),
  ]);
  const m = buildMap([a, b]);

  it('one row per subsystem and method, one column per image, in the order the runs name them', () => {
    expect(m.rows).toEqual([
      { subsystem: 'gpio', method: 'unbind' },
      { subsystem: 'i2c', method: 'unbind' },
      { subsystem: 'rtc', method: 'unbind' },
      { subsystem: 'tty', method: 'rmmod' },
    ]);
    expect(m.images).toEqual(['k1', 'k2']);
  });

  it('a cell takes its headline from its worst case and says how many share it', () => {
    const gpio = findCell(m, 'gpio', 'unbind', 'k1')!;
    expect(gpio).toMatchObject({ verdict: 'silent', label: 'silent: poll → no events', headlineCount: 1 });
    expect(gpio.cases).toHaveLength(3);
    expect(findCell(m, 'gpio', 'unbind', 'k2')).toMatchObject({ verdict: 'handled', label: 'revokes ENODEV' });
  });

  it('counts a cell by the cases that ran: a skipped case did not behave otherwise', () => {
    const skipped = run('r3', [
      caseResult({ subsystem: 'media', method: 'unbind', op: 'read', image: 'k1', probes: [probeResult({ errno: 'ENODEV' })] }),
      caseResult({ subsystem: 'media', method: 'unbind', op: 'poll', image: 'k1', verdict: 'skipped', reason: 'image lacks CONFIG_VIDEO_VIVID' }),
    ]);
    const cell = findCell(buildMap([skipped]), 'media', 'unbind', 'k1')!;
    expect(cell).toMatchObject({ headlineCount: 1, ranCount: 1 });
    expect(cellText(cell)).toBe('revokes ENODEV');
  });

  it('names waits, refusals and crashes by what was measured', () => {
    expect(findCell(m, 'i2c', 'unbind', 'k1')?.label).toBe('waits (until close+120 ms)');
    expect(findCell(m, 'tty', 'rmmod', 'k1')?.label).toBe('refuses EBUSY');
    expect(findCell(m, 'rtc', 'unbind', 'k1')?.label).toBe('general protection fault in rtc_dev_ioctl');
  });

  it('a case whose verdict differs between runs is flaky', () => {
    expect(findCell(m, 'gpio', 'unbind', 'k1')?.flaky).toEqual(['gpio/p-unbind-f-poll']);
  });

  it('renders as text with every cell that is not handled and its repro commands', () => {
    expectGolden('map.txt', renderMapText(m));
  });
});
