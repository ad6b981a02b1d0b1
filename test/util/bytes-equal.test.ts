import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesEqual, bytesEqualByLoop, ZERO_PAGE } from '../../src/util/bytes-equal.js';
import { withSeed } from '../helpers/seed.js';

test(
  'bytes compare equal exactly when every byte is, by memcmp and by loop, aligned or not',
  withSeed((_t, rng) => {
    const buf = new Uint8Array(3 * 4096 + 64);
    for (let i = 0; i < buf.length; i++) buf[i] = rng.next() < 0.5 ? 0 : (rng.next() * 256) | 0;
    for (let round = 0; round < 300; round++) {
      const n = [0, 1, 3, 4, 4096, (rng.next() * 4096) | 0][round % 6];
      // Offsets that are word-aligned for some rounds and not for others.
      const at = round % 3 === 0 ? 4 * ((rng.next() * 16) | 0) : (rng.next() * 64) | 0;
      const a = buf.subarray(at, at + n);
      const copy = new Uint8Array(n + 8).subarray(round & 7, (round & 7) + n);
      copy.set(a);
      assert.equal(bytesEqual(a, copy), true, `round ${round}: a copy`);
      assert.equal(bytesEqualByLoop(a, copy), true, `round ${round}: a copy, by loop`);
      if (n === 0) continue;
      // One byte changed anywhere (the first, the last, one in between) is found.
      const k = [0, n - 1, (rng.next() * n) | 0][round % 3];
      copy[k] ^= 1 << ((rng.next() * 8) | 0);
      assert.equal(bytesEqual(a, copy), false, `round ${round}: byte ${k} of ${n}`);
      assert.equal(bytesEqualByLoop(a, copy), false, `round ${round}: byte ${k} of ${n}, by loop`);
    }
    assert.equal(bytesEqual(buf.subarray(0, 4), buf.subarray(0, 5)), false, 'lengths differ');
    assert.equal(bytesEqual(new Uint8Array(4096), ZERO_PAGE), true);
    assert.ok(ZERO_PAGE.every((b) => b === 0));
  }),
);
