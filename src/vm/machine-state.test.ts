import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resumeAfterSave } from './machine-state.js';
import { QmpClient } from './qmp/client.js';
import { FakeQmpServer, type FakeConn } from './qmp/testing/fake-qmp-server.js';

let dir: string;
let server: FakeQmpServer | null = null;
let client: QmpClient | null = null;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'huci-state-'));
});
afterEach(async () => {
  client?.close();
  await server?.close();
  server = null;
  client = null;
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A QEMU that answers each `cont` with the next of `answers` (an error's desc, or null for success). */
async function qemu(answers: Array<string | null>): Promise<{ client: QmpClient; conts: () => number }> {
  let conts = 0;
  server = await FakeQmpServer.start(dir, async (c: FakeConn) => {
    await c.handshake();
    for (;;) {
      const req = await c.recv();
      if (!req) return;
      if (req.execute !== 'cont') throw new Error(`unexpected ${req.execute}`);
      const desc = answers[conts++];
      c.send(desc ? { id: req.id, error: { class: 'GenericError', desc } } : { id: req.id, return: {} });
    }
  });
  client = await QmpClient.connect(server.path, { timeoutMs: 2000 });
  return { client, conts: () => conts };
}

describe('resuming a guest after its state was saved', () => {
  it('asks again while QEMU says the migration is not finalized (its run state lags the completed stream)', async () => {
    const q = await qemu(['Migration is not finalized yet', 'Migration is not finalized yet', null]);
    await resumeAfterSave(q.client);
    expect(q.conts()).toBe(3);
  });

  it('another refusal is not asked again', async () => {
    const q = await qemu(['Resetting the Virtual Machine is required']);
    await expect(resumeAfterSave(q.client)).rejects.toThrow(/Resetting the Virtual Machine is required/);
    expect(q.conts()).toBe(1);
  });

  it('gives up at its bound', async () => {
    const q = await qemu(Array.from({ length: 1000 }, () => 'Migration is not finalized yet'));
    await expect(resumeAfterSave(q.client, 100)).rejects.toThrow(/not finalized/);
    expect(q.conts()).toBeGreaterThan(2);
  });
});
