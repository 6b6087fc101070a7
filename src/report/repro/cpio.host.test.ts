import { execFileSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { cpioGz } from './cpio.js';

describe('cpioGz', () => {
  it('is an archive GNU cpio reads back: names, modes and contents', () => {
    const gz = cpioGz([
      { path: 'repro', mode: 0o755 },
      { path: 'repro/guest.sh', data: '#!/bin/sh\necho hi\n', mode: 0o755 },
      { path: 'repro/lib.sh', data: 'x=1\n', mode: 0o644 },
    ]);
    const archive = gunzipSync(gz);
    const list = execFileSync('cpio', ['-itv', '--quiet'], { input: archive }).toString();
    expect(list).toMatch(/^drwxr-xr-x .* repro$/m);
    expect(list).toMatch(/^-rwxr-xr-x .* repro\/guest\.sh$/m);
    expect(list).toMatch(/^-rw-r--r-- .* repro\/lib\.sh$/m);
    expect(execFileSync('cpio', ['-i', '--to-stdout', '--quiet', 'repro/guest.sh'], { input: archive }).toString()).toBe('#!/bin/sh\necho hi\n');
  });
});
