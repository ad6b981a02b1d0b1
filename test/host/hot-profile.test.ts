/**
 * The hot-code profile's file (src/host/hot-profile.ts): what is written is
 * read back, and anything else (cut short, damaged, another version, noise)
 * is refused without a throw, since a profile is only a hint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeHotProfile, encodeHotProfile, pruneProfiles } from '../../src/host/hot-profile.js';
import { MAX_SEEDS } from '../../src/cpu/hot-seeds.js';
import { withSeed } from '../helpers/seed.js';

test('a profile reads back as written', () => {
  const t = Uint32Array.from([0x100, 0xdeadbeef, 0, 0x2000, 7, 1, 0xfffffffe, 0xffffffff, 1]);
  assert.deepEqual(decodeHotProfile(encodeHotProfile(t)), t);
  assert.deepEqual(decodeHotProfile(encodeHotProfile(new Uint32Array(0))), new Uint32Array(0));
});

test(
  'a profile cut short, with a byte changed, or of another version is refused',
  withSeed((_t, rng) => {
    const t = new Uint32Array(300);
    for (let i = 0; i < t.length; i++) t[i] = rng.next() >>> 0;
    const good = encodeHotProfile(t);
    for (let cut = 0; cut < good.length; cut += 7)
      assert.equal(decodeHotProfile(good.subarray(0, cut)), undefined, `cut at ${cut}`);
    for (let k = 0; k < 200; k++) {
      const bad = good.slice();
      const at = rng.int(bad.length);
      bad[at] ^= 1 << rng.int(8);
      assert.equal(decodeHotProfile(bad), undefined, `bit flipped at ${at}`);
    }
    const v2 = good.slice();
    v2[8] = 2;
    assert.equal(decodeHotProfile(v2), undefined);
    // A count past MAX_SEEDS is refused before anything is read for it.
    const huge = good.slice();
    new DataView(huge.buffer).setUint32(12, MAX_SEEDS + 1, true);
    assert.equal(decodeHotProfile(huge), undefined);
    for (let k = 0; k < 200; k++) {
      const noise = new Uint8Array(rng.int(400));
      for (let i = 0; i < noise.length; i++) noise[i] = rng.int(256);
      if (noise.length > 8) noise.set(good.subarray(0, 8)); // even with the magic
      assert.equal(decodeHotProfile(noise), undefined);
    }
  }),
);

test('past the bound, the least recently written profiles go, and nothing else in the folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-hot-prune-'));
  for (let i = 0; i < 10; i++) {
    const f = join(dir, `p${i}.bin`);
    writeFileSync(f, 'x');
    utimesSync(f, 1000 + i, 1000 + i); // p0 the oldest
  }
  writeFileSync(join(dir, 'p99.bin.tmp-1'), 'x'); // another process's write in progress
  pruneProfiles(dir, 6);
  assert.deepEqual(readdirSync(dir).sort(), [
    'p4.bin',
    'p5.bin',
    'p6.bin',
    'p7.bin',
    'p8.bin',
    'p9.bin',
    'p99.bin.tmp-1',
  ]);
  pruneProfiles(dir, 6);
  assert.equal(readdirSync(dir).length, 7);
});
