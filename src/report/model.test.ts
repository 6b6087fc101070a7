import { describe, expect, it } from 'vitest';
import { caseResult } from '../model/testing/case-result.js';
import type { CaseResult, RunResult } from '../model/run.js';
import { caseDirName, iterationsOf, runImages } from './model.js';
import { loadFixture } from './testing/fixtures.js';

const run = (images: string[], cases: CaseResult[]): RunResult => ({ ...loadFixture('run-partial'), images, cases });

describe('the per-case views of a run', () => {
  const a1 = caseResult({ image: 'a', iteration: 1 });
  const a2 = caseResult({ image: 'a', iteration: 2 });
  const b1 = caseResult({ image: 'b', iteration: 1 });
  const other = caseResult({ subsystem: 't', image: 'a' });

  it.each([
    { name: 'one image, one iteration', images: ['a'], cases: [a1, other], c: a1, iterations: 1, dir: 's.p-m-f-o', all: ['a'] },
    { name: 'two iterations on one image', images: ['a'], cases: [a1, a2, other], c: a2, iterations: 2, dir: 's.p-m-f-o--it2', all: ['a'] },
    { name: 'an image only a case names', images: ['a'], cases: [a1, b1], c: b1, iterations: 1, dir: 'b--s.p-m-f-o', all: ['a', 'b'] },
    { name: 'a case not in the run', images: ['a'], cases: [other], c: a1, iterations: 0, dir: 's.p-m-f-o', all: ['a'] },
  ])('$name', ({ images, cases, c, iterations, dir, all }) => {
    const r = run(images, cases);
    expect(iterationsOf(r, c)).toBe(iterations);
    expect(caseDirName(r, c)).toBe(dir);
    expect(runImages(r)).toEqual(all);
  });

  it('answers anew when the same cases array grows or the run names other images', () => {
    const r = run(['a'], [a1]);
    expect(caseDirName(r, a1)).toBe('s.p-m-f-o');
    r.cases.push(a2);
    expect(iterationsOf(r, a1)).toBe(2);
    expect(caseDirName(r, a2)).toBe('s.p-m-f-o--it2');
    const both = { ...r, images: ['a', 'z'] };
    expect(runImages(both)).toEqual(['a', 'z']);
    expect(caseDirName(both, a1)).toBe('a--s.p-m-f-o--it1');
  });

  it('hands each caller its own images array', () => {
    const r = run(['a'], [a1]);
    runImages(r).push('x');
    expect(runImages(r)).toEqual(['a']);
  });
});
