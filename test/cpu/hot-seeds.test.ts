/**
 * Hot-code seeds (src/cpu/hot-seeds.ts): a code cache's counters raised
 * from an earlier run's compiled blocks, each entry checked against the
 * bytes it was compiled from at its first hot visit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CodeCache } from '../../src/cpu/code-cache.js';
import { CACHE_MASK, CACHE_SIZE } from '../../src/cpu/hart-memory.js';
import {
  CompiledLog,
  HotSeeds,
  MAX_SEEDS,
  SEED_INNER,
  SEED_VISITS,
  codeFingerprint,
} from '../../src/cpu/hot-seeds.js';

const RAM = 1 << 20;
const slot = (off: number) => (off >>> 1) & CACHE_MASK;

function ram(): Uint8Array {
  const r = new Uint8Array(RAM);
  for (let i = 0; i < r.length; i++) r[i] = (i * 37 + (i >>> 8)) & 0xff;
  return r;
}

test('a fingerprint covers the code at the offset, up to its page end and no further', () => {
  const r = ram();
  const off = 0x2000 + 4096 - 8; // 8 bytes before a page end
  const f = codeFingerprint(r, off);
  r[off + 8] ^= 1; // on the next page
  assert.equal(codeFingerprint(r, off), f);
  r[off + 7] ^= 1;
  assert.notEqual(codeFingerprint(r, off), f);
  const mid = 0x3000;
  const g = codeFingerprint(r, mid);
  r[mid + 40] ^= 1; // past the 32 bytes it covers
  assert.equal(codeFingerprint(r, mid), g);
  r[mid + 31] ^= 1;
  assert.notEqual(codeFingerprint(r, mid), g);
});

test('the compiled log keeps each offset once, with its fingerprint and whether it is inner', () => {
  const r = ram();
  const log = new CompiledLog();
  log.note(0x100, false, r);
  log.note(0x140, true, r);
  log.note(0x100, true, r); // compiled again (after a write to its page): kept as first seen
  assert.equal(log.size, 2);
  assert.deepEqual(
    [...log.triples()],
    [0x100, codeFingerprint(r, 0x100), 0, 0x140, codeFingerprint(r, 0x140), SEED_INNER],
  );
  const big = new CompiledLog();
  for (let i = 0; i < MAX_SEEDS + 10; i++) big.note(i * 2, false, r);
  assert.equal(big.size, MAX_SEEDS);
});

/** A seed for the code at `off` in `r` as it is now. */
const seed = (r: Uint8Array, off: number, flags = 0) => [off, codeFingerprint(r, off), flags];

function seeded(r: Uint8Array, triples: number[]) {
  const code = new CodeCache(RAM >>> 12, undefined);
  const seeds = new HotSeeds(Uint32Array.from(triples), RAM);
  seeds.apply(code);
  return { code, seeds };
}

test('seeds raise entries to SEED_VISITS short of hot and inner blocks to takenHot, never lower', () => {
  const r = ram();
  const { code } = seeded(r, [
    ...seed(r, 0x100),
    ...seed(r, 0x200, SEED_INNER),
    ...[RAM + 0x300, 0, 0], // past RAM: skipped
    ...[0x501, 0, 0], // odd: no instruction starts there
  ]);
  assert.equal(code.hits[slot(0x100)], code.hotAfter - SEED_VISITS);
  assert.equal(code.hits[slot(0x200)], code.takenHot);
  assert.equal(code.hits[slot(RAM + 0x300)], 0);
  assert.equal(code.hits[slot(0x501)], 0);
  assert.ok(code.seeds !== undefined);
  // An inner seed does not lower an entry's in the same slot.
  const both = seeded(r, [0x100, 0, 0, 0x100 + CACHE_SIZE * 2, 0, SEED_INNER]).code;
  assert.equal(both.hits[slot(0x100)], both.hotAfter - SEED_VISITS);
});

test('a seed holds only for the code it was made from, and is looked at once', () => {
  const r = ram();
  const { seeds } = seeded(r, [...seed(r, 0x100), ...seed(r, 0x400), ...seed(r, 0x800)]);
  assert.equal(seeds.holds(0x100, r), true, 'the same bytes at the same offset');
  assert.equal(seeds.holds(0x2000, r), true, 'an offset in a slot no seed is in');
  r[0x400 + 3] ^= 0x40;
  assert.equal(seeds.holds(0x400, r), false, 'other bytes there now');
  assert.equal(seeds.holds(0x400, r), true, 'after the first look it counts as any code');
  const other = 0x800 + CACHE_SIZE * 2; // the same slot, another offset
  assert.equal(slot(other), slot(0x800));
  assert.equal(seeds.holds(other, r), false, 'another offset in a seeded slot');
});
