import { describe, expect, it } from 'vitest';
import { byNumberInText, byText } from './compare.js';

describe('byNumberInText', () => {
  it.each([
    [
      ['vm10-kasan-6.12', 'vm2-kasan-6.12', 'vm1-debian-6.1', 'vm1-debian-6.12'],
      ['vm1-debian-6.1', 'vm1-debian-6.12', 'vm2-kasan-6.12', 'vm10-kasan-6.12'],
    ],
    [
      ['a10', 'a9', 'a', 'b1', 'a09'],
      ['a', 'a9', 'a09', 'a10', 'b1'],
    ],
    [
      ['x2y10', 'x2y9', 'x10y1'],
      ['x2y9', 'x2y10', 'x10y1'],
    ],
    [
      ['99999999999999999999', '100000000000000000000', '5'],
      ['5', '99999999999999999999', '100000000000000000000'],
    ],
    [
      ['', 'b', 'a'],
      ['', 'a', 'b'],
    ],
  ])('%j sorts as %j', (input, want) => {
    expect([...input].sort(byNumberInText)).toEqual(want);
  });
});

describe('byText', () => {
  it('orders by code point whatever the locale', () => {
    expect(['b', 'B', 'a', 'a_b', 'a-b', 'a/b'].sort(byText)).toEqual(['B', 'a', 'a-b', 'a/b', 'a_b', 'b']);
    expect(byText('x', 'x')).toBe(0);
  });
});
