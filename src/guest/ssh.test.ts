import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import { createRunKey, generateParsableKey } from './ssh.js';

const dir = mkdtempSync(join(tmpdir(), 'huci-sshkey-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('per-run ssh key', () => {
  it("is ed25519, 0600, and its blob is the public key line's second field", async () => {
    const key = await createRunKey(dir);
    expect(statSync(key.privateKeyPath).mode & 0o777).toBe(0o600);
    expect(key.publicKey.split(' ')[0]).toBe('ssh-ed25519');
    expect(key.publicKey.split(' ')[1]).toBe(key.publicBlob);
  });

  it('always parses (ssh2 alone writes ~0.4 % of ed25519 keys its parser rejects)', () => {
    for (let i = 0; i < 2000; i++) {
      const k = generateParsableKey(ssh2.utils);
      expect(ssh2.utils.parseKey(k.private)).not.toBeInstanceOf(Error);
    }
  });
});
