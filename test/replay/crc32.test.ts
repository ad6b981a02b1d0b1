import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32, crc32js } from '../../src/replay/crc32.js';
import { withSeed } from '../helpers/seed.js';

test('crc32: the standard check values, from zlib on Node and from the JavaScript elsewhere', () => {
  assert.equal(crc32, zlibCrc32, "on Node the checksum is zlib's");
  for (const f of [crc32, crc32js]) {
    assert.equal(f(new Uint8Array(0)), 0);
    assert.equal(f(new TextEncoder().encode('123456789')), 0xcbf43926);
    assert.equal(f(new Uint8Array(32)), 0x190a55ad);
    const ab = new TextEncoder().encode('123456789');
    assert.equal(f(ab.subarray(4), f(ab.subarray(0, 4))), 0xcbf43926, 'continued across pieces');
  }
});

test(
  'crc32js (browsers): agrees with zlib at every length and alignment, and continues across pieces',
  withSeed((_t, rng) => {
    const data = rng.bytes(4096 + 64);
    // Lengths around the eight-byte steps, from unaligned starts (views into a larger buffer).
    for (let start = 0; start < 9; start++)
      for (let len = 0; len < 70; len++) {
        const v = data.subarray(start, start + len);
        assert.equal(crc32js(v), zlibCrc32(v), `start ${start}, length ${len}`);
      }
    for (let i = 0; i < 50; i++) {
      const len = rng.int(data.length);
      const cut = rng.int(len + 1);
      const v = data.subarray(0, len);
      assert.equal(crc32js(v), zlibCrc32(v), `length ${len}`);
      assert.equal(
        crc32js(v.subarray(cut), crc32js(v.subarray(0, cut))),
        crc32js(v),
        `cut at ${cut}`,
      );
    }
  }),
);
