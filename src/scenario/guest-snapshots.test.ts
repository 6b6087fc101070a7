import { mkdtempSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
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
  const newStore = (budget?: number): SnapshotStore => new SnapshotStore(path.join(mkdtempSync(path.join(tmpdir(), 'huci-snap-')), 'snapshots'), budget);
  const save = async (store: SnapshotStore, key: string, bytes: string): Promise<string> => {
    const file = await store.newStateFile(key);
    writeFileSync(file, bytes);
    await store.commit(key, file, meta);
    return file;
  };

  it('finds a committed state, not one still being written, and forgets a dropped one', async () => {
    const store = newStore();
    expect(store.find('k1')).toBeNull();
    const file = await store.newStateFile('k1');
    writeFileSync(file, 'state bytes');
    expect(store.find('k1')).toBeNull(); // no meta yet: a save in progress or one that died
    await store.commit('k1', file, meta);
    expect(store.find('k1')).toMatchObject({ stateFile: file, meta: { key: 'k1', bytes: 11, saveMs: 2700 } });
    // the meta holds the SSH key the saved guest trusts
    expect(statSync(path.join(store.dir, 'k1.json')).mode & 0o777).toBe(0o600);
    await store.drop('k1');
    expect(store.find('k1')).toBeNull();
    expect(readdirSync(store.dir)).toEqual([]);
  });

  it('gives every save a file of its own and keeps only the newest state of a key', async () => {
    const store = newStore();
    const first = await save(store, 'k1', 'one');
    const second = await save(store, 'k1', 'two!');
    expect(second).not.toBe(first);
    expect(store.find('k1')).toMatchObject({ stateFile: second, meta: { bytes: 4 } });
    expect(readdirSync(store.dir).sort()).toEqual(['k1.json', path.basename(second)].sort());
  });

  it('past its budget drops the least recently used states, never the one just saved', async () => {
    const store = newStore(10);
    await save(store, 'old', '1234');
    await save(store, 'used', '1234');
    const past = new Date(Date.now() - 60_000);
    utimesSync(path.join(store.dir, 'old.json'), past, past);
    utimesSync(path.join(store.dir, 'used.json'), past, past);
    store.find('used'); // a restore marks it used
    await save(store, 'new', '12345');
    expect(store.find('old')).toBeNull();
    expect(store.find('used')).not.toBeNull();
    expect(store.find('new')).not.toBeNull();
  });

  it('remembers a machine QEMU refuses to save', async () => {
    const store = newStore();
    expect(store.unsavable('k4')).toBeNull();
    await store.markUnsavable('k4', "QEMU cannot save this machine: non-migratable device 'usb-serial'");
    expect(store.unsavable('k4')).toBe("QEMU cannot save this machine: non-migratable device 'usb-serial'");
    expect(store.find('k4')).toBeNull();
  });

  it('ignores a meta file it cannot read or that names another key', async () => {
    const store = newStore();
    await save(store, 'k3', 'y');
    writeFileSync(path.join(store.dir, 'k2.json'), '{ not json');
    expect(store.find('k2')).toBeNull();
    writeFileSync(path.join(store.dir, 'k2.json'), JSON.stringify({ ...store.find('k3')!.meta }));
    expect(store.find('k2')).toBeNull();
  });
});
