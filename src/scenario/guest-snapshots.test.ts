import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MachineSpecInput } from '../vm/machine-spec.js';
import { SnapshotStore, snapshotKey } from './guest-snapshots.js';

const QEMU = 'QEMU emulator version 7.2.15';
const machine = (over: Partial<MachineSpecInput> = {}): MachineSpecInput => ({
  kernel: '/cache/images/kasan-6.12-aaaaaaaaaaaa/bzImage',
  initrd: '/cache/images/kasan-6.12-aaaaaaaaaaaa/initrd.gz',
  append: ['ignore_loglevel', 'huci.agent=huci.agent', 'huci.sshkey=AAAAkeyONE'],
  accel: 'tcg',
  runDir: '/tmp/huci-run-one',
  sshHostPort: 40001,
  agentPort: 'huci.agent',
  devices: [{ id: 'eeprom', driver: 'at24', props: {} }],
  drives: [{ id: 'nvme0-drive', file: '/tmp/huci-run-one/nvme0-drive.img' }],
  ...over,
});

describe('snapshotKey', () => {
  const key = snapshotKey(machine(), QEMU);
  it.each<[string, Partial<MachineSpecInput>]>([
    ['another run directory', { runDir: '/tmp/huci-run-two', drives: [{ id: 'nvme0-drive', file: '/tmp/huci-run-two/nvme0-drive.img' }] }],
    ['another forwarded port', { sshHostPort: 40999 }],
    ['another SSH key', { append: ['ignore_loglevel', 'huci.agent=huci.agent', 'huci.sshkey=AAAAkeyTWO'] }],
  ])('is the same machine with %s', (_, over) => expect(snapshotKey(machine(over), QEMU)).toBe(key));
  it.each<[string, Partial<MachineSpecInput>, string]>([
    ['another device', { devices: [{ id: 'eeprom', driver: 'at24', props: { size: 256 } }] }, QEMU],
    ['another kernel word', { append: ['ignore_loglevel', 'huci.agent=huci.agent', 'quiet'] }, QEMU],
    ['more memory', { memMiB: 2048 }, QEMU],
    ['a rebuilt image', { kernel: '/cache/images/kasan-6.12-bbbbbbbbbbbb/bzImage', initrd: '/cache/images/kasan-6.12-bbbbbbbbbbbb/initrd.gz' }, QEMU],
    ['another QEMU', {}, 'QEMU emulator version 8.2.2'],
  ])('is another machine with %s', (_, over, qemu) => expect(snapshotKey(machine(over), qemu)).not.toBe(key));
});

describe('SnapshotStore', () => {
  const meta = {
    qemu: QEMU,
    savedAt: '2026-12-03T09:00:00.000Z',
    saveMs: 2700,
    bootMs: 3500,
    sshKey: { privateKey: 'PRIVATE', publicKey: 'ssh-ed25519 AAAA x', publicBlob: 'AAAA' },
  };
  it('finds a committed state, not a half-written one, and forgets a dropped one', async () => {
    const store = new SnapshotStore(path.join(mkdtempSync(path.join(tmpdir(), 'huci-snap-')), 'snapshots'));
    await store.prepare();
    expect(store.find('k1')).toBeNull();
    writeFileSync(store.stateFile('k1'), 'state bytes');
    expect(store.find('k1')).toBeNull(); // no meta yet: a save in progress or one that died
    await store.commit('k1', meta);
    expect(store.find('k1')).toMatchObject({ stateFile: store.stateFile('k1'), meta: { key: 'k1', bytes: 11, saveMs: 2700 } });
    await store.drop('k1');
    expect(store.find('k1')).toBeNull();
  });
  it('ignores a meta file it cannot read or that names another key', async () => {
    const store = new SnapshotStore(mkdtempSync(path.join(tmpdir(), 'huci-snap-')));
    writeFileSync(store.stateFile('k2'), 'x');
    writeFileSync(path.join(store.dir, 'k2.json'), '{ not json');
    expect(store.find('k2')).toBeNull();
    writeFileSync(store.stateFile('k3'), 'y');
    await store.commit('k3', meta);
    writeFileSync(path.join(store.dir, 'k2.json'), JSON.stringify({ ...store.find('k3')!.meta }));
    expect(store.find('k2')).toBeNull();
  });
});
