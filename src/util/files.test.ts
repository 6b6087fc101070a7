import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomicSync, writeNewFileSync } from './files.js';

describe('writeFileAtomicSync', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'huci-files-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const table: Array<{ name: string; data: string | Uint8Array | Uint8Array[]; text: string }> = [
    { name: 'a string', data: 'héllo\n', text: 'héllo\n' },
    { name: 'bytes', data: Buffer.from('abc'), text: 'abc' },
    { name: 'parts, written in order', data: [Buffer.from('{'), Buffer.from('"a": 1'), Buffer.from('}\n')], text: '{"a": 1}\n' },
    { name: 'no parts', data: [], text: '' },
  ];
  for (const t of table) {
    it(`replaces the file with ${t.name} and leaves no temp file`, () => {
      const f = path.join(dir, 'run.json');
      writeFileAtomicSync(f, 'old old old old old old');
      writeFileAtomicSync(f, t.data);
      expect(readFileSync(f, 'utf8')).toBe(t.text);
      expect(readdirSync(dir)).toEqual(['run.json']);
    });
  }

  it('gives the mode asked for, whatever the umask', () => {
    const before = process.umask(0o077);
    try {
      writeFileAtomicSync(path.join(dir, 'run.sh'), '#!/bin/sh\n', 0o755);
      writeFileAtomicSync(path.join(dir, 'a.txt'), 'x');
    } finally {
      process.umask(before);
    }
    expect(statSync(path.join(dir, 'run.sh')).mode & 0o777).toBe(0o755);
    expect(statSync(path.join(dir, 'a.txt')).mode & 0o777).toBe(0o644);
  });

  it('names the file when it cannot write', () => {
    expect(() => writeFileAtomicSync(path.join(dir, 'no', 'such', 'dir.json'), 'x')).toThrow(/cannot write .*dir\.json/);
  });
});

describe('writeNewFileSync', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'huci-files-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a file that was not there, with the mode asked for whatever the umask, and no temp file', () => {
    const before = process.umask(0o077);
    try {
      expect(writeNewFileSync(path.join(dir, 'repro.sh'), '#!/bin/sh\n', 0o755)).toBe(true);
      expect(writeNewFileSync(path.join(dir, 'case.json'), '{}\n')).toBe(true);
    } finally {
      process.umask(before);
    }
    expect(readFileSync(path.join(dir, 'repro.sh'), 'utf8')).toBe('#!/bin/sh\n');
    expect(statSync(path.join(dir, 'repro.sh')).mode & 0o777).toBe(0o755);
    expect(statSync(path.join(dir, 'case.json')).mode & 0o777).toBe(0o644);
    expect(readdirSync(dir).sort()).toEqual(['case.json', 'repro.sh']);
  });

  it('leaves a file that is there alone and says so', () => {
    const f = path.join(dir, 'case.json');
    writeFileAtomicSync(f, 'kept');
    expect(writeNewFileSync(f, 'new')).toBe(false);
    expect(readFileSync(f, 'utf8')).toBe('kept');
  });

  it('names the file when it cannot write', () => {
    expect(() => writeNewFileSync(path.join(dir, 'no', 'such', 'dir.json'), 'x')).toThrow(/cannot write .*dir\.json/);
  });
});
