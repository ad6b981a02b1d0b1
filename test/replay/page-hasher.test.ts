/**
 * The page hasher (four pages at a time in WebAssembly SIMD) gives the
 * numbers hashPage gives, which recordings hold: random pages and random
 * lists of them (any length, pages repeated, the first and last of RAM),
 * a zero page, and the fallbacks where WebAssembly is not used.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PageHasher } from '../../src/replay/page-hasher.js';
import { ZERO_PAGE_HASH, hashPage } from '../../src/replay/hash32.js';
import { HART_AREA, wasmPagesFor } from '../../src/cpu/hart-memory.js';
import { testRng } from '../helpers/seed.js';

const PAGES = 64;

function machineMemory(): { memory: WebAssembly.Memory; ram32: Int32Array } {
  const memory = new WebAssembly.Memory({ initial: wasmPagesFor(PAGES * 4096) });
  return { memory, ram32: new Int32Array(memory.buffer, HART_AREA, PAGES * 1024) };
}

test('page hasher: the same hashes as hashPage, in SIMD, for any list of pages', (t) => {
  const rng = testRng(t);
  const { memory, ram32 } = machineMemory();
  // Half the pages random words, some with a few words set, one left zero.
  for (let p = 1; p < PAGES; p++) {
    if (p % 2) for (let i = 0; i < 1024; i++) ram32[p * 1024 + i] = rng.int(2 ** 32) | 0;
    else ram32[p * 1024 + rng.int(1024)] = rng.int(2 ** 32) | 0;
  }
  const hasher = new PageHasher(ram32, memory);
  assert.ok(hasher.simd, 'WebAssembly SIMD is used on Node');
  const out = new Int32Array(PAGES * 2);
  hasher.hashPages([0], 1, out);
  assert.equal(out[0], ZERO_PAGE_HASH);
  for (let round = 0; round < 200; round++) {
    const n = round < 10 ? round : rng.int(PAGES * 2);
    const pages = Array.from({ length: n }, () => rng.int(PAGES));
    if (n > 1) pages[rng.int(n)] = PAGES - 1;
    out.fill(0x5a5a5a5a);
    hasher.hashPages(pages, n, out);
    for (let i = 0; i < n; i++)
      assert.equal(out[i], hashPage(ram32, pages[i]), `page ${pages[i]} (${i} of ${n})`);
    // Nothing past the n asked for is written.
    for (let i = n; i < out.length; i++) assert.equal(out[i], 0x5a5a5a5a);
  }
});

test('page hasher: hashPage itself where RAM is not in the memory, or WebAssembly is not wanted', () => {
  const { memory, ram32 } = machineMemory();
  ram32[5 * 1024 + 7] = 42;
  const apart = new Int32Array(PAGES * 1024);
  apart.set(ram32);
  const pages = [5, 0, 5, 63, 1];
  const want = pages.map((p) => hashPage(ram32, p));
  for (const h of [
    new PageHasher(apart, memory),
    new PageHasher(apart, undefined),
    new PageHasher(ram32, memory, false),
  ]) {
    assert.equal(h.simd, false);
    const out = new Int32Array(pages.length);
    h.hashPages(pages, pages.length, out);
    assert.deepEqual([...out], want);
  }
});
