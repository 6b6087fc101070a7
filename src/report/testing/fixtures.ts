// Test helpers: load the golden run.json fixtures and compare/rewrite golden outputs (UPDATE_GOLDEN=1).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { RunResultSchema, type RunResult } from '../../model/run.js';

export const TESTDATA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'testdata');
export const REPO = path.resolve(TESTDATA, '../../..');
export const UPDATE = process.env.UPDATE_GOLDEN === '1';

export function fixtureNames(): string[] {
  return readdirSync(TESTDATA)
    .filter((f) => /^run-.*\.json$/.test(f))
    .map((f) => f.replace(/\.json$/, ''))
    .sort();
}

export function loadFixture(name: string): RunResult {
  return RunResultSchema.parse(JSON.parse(readFileSync(path.join(TESTDATA, `${name}.json`), 'utf8')));
}

/** Compares `actual` with testdata/golden/<rel>; with UPDATE_GOLDEN=1 rewrites it instead. */
export function expectGolden(rel: string, actual: string): void {
  const file = path.join(TESTDATA, 'golden', rel);
  if (UPDATE || !existsSync(file)) {
    if (!UPDATE) throw new Error(`golden file ${file} missing; run with UPDATE_GOLDEN=1 to create it`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  expect(actual, `${rel} differs from its golden file (UPDATE_GOLDEN=1 rewrites it)`).toBe(readFileSync(file, 'utf8'));
}
