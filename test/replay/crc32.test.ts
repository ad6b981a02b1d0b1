import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32 } from '../../src/replay/crc32.js';
import { withSeed } from '../helpers/seed.js';

test('crc32: the standard check values', () => {
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(32)), 0x190a55ad);
});

test(
  'crc32: agrees with zlib at every length and alignment, and continues across pieces',
  withSeed((_t, rng) => {
    const data = rng.bytes(4096 + 64);
    // Lengths around the eight-byte steps, from unaligned starts (views into a larger buffer).
    for (let start = 0; start < 9; start++)
      for (let len = 0; len < 70; len++) {
        const v = data.subarray(start, start + len);
        assert.equal(crc32(v), zlibCrc32(v), `start ${start}, length ${len}`);
      }
    for (let i = 0; i < 50; i++) {
      const len = rng.int(data.length);
      const cut = rng.int(len + 1);
      const v = data.subarray(0, len);
      assert.equal(crc32(v), zlibCrc32(v), `length ${len}`);
      assert.equal(crc32(v.subarray(cut), crc32(v.subarray(0, cut))), crc32(v), `cut at ${cut}`);
    }
  }),
);
