import { test } from 'node:test';
import assert from 'node:assert/strict';
import { putRamPages } from '../../src/snapshot/ram-pages.js';
import { RAM_BASE, makeBareMachine } from '../helpers/bare-machine.js';
import { withSeed } from '../helpers/seed.js';

const PAGE = 4096;

test(
  'putRamPages writes the pages that differ, flags only those, and never touches pages never used',
  withSeed((_t, rng) => {
    const m = makeBareMachine(1 << 20);
    const { bus } = m;
    const fill = (p: number, bytes: Uint8Array) => {
      bus.ram8.set(bytes, p * PAGE);
      bus.noteDmaWrite(RAM_BASE + p * PAGE, PAGE);
    };
    const a = rng.bytes(PAGE),
      b = rng.bytes(PAGE),
      same = rng.bytes(PAGE);
    fill(3, rng.bytes(PAGE)); // used, to be zeroed
    fill(5, rng.bytes(PAGE)); // used, to be replaced by a
    fill(9, same); // used, to stay as it is
    fill(11, new Uint8Array(PAGE)); // used, zero, to stay zero
    const written = bus.addDirtyListener();
    bus.collectDirty();
    written.fill(0);

    const want = new Map([
      [5, a],
      [7, b],
      [9, same.slice()],
    ]);
    putRamPages(m, (p) => want.get(p));
    bus.collectDirty();

    assert.deepEqual(bus.ram8.subarray(3 * PAGE, 4 * PAGE), new Uint8Array(PAGE));
    assert.deepEqual(bus.ram8.subarray(5 * PAGE, 6 * PAGE), a);
    assert.deepEqual(bus.ram8.subarray(7 * PAGE, 8 * PAGE), b);
    assert.deepEqual(bus.ram8.subarray(9 * PAGE, 10 * PAGE), same);
    const flagged = [...written.keys()].filter((p) => written[p] !== 0);
    assert.deepEqual(flagged, [3, 5, 7], 'the pages that changed, and only those');
    // Pages no one ever wrote were not read or written (first touches are slow on a host).
    for (const p of [0, 1, 2, 100, 255]) assert.equal(bus.mayBeNonZero(p), false, `page ${p}`);
  }),
);

test('a listener for pages written since the machine was made starts with those written so far', () => {
  const { bus } = makeBareMachine(1 << 20);
  const write = (p: number) => {
    bus.ram8[p * PAGE + 5] = 1;
    bus.noteDmaWrite(RAM_BASE + p * PAGE + 5, 1);
  };
  const flagged = (f: Uint8Array) => [...f.keys()].filter((p) => f[p] !== 0);
  write(4);
  // Before anyone collected: none flagged, the next collect brings page 4.
  const early = bus.addDirtyListener(true);
  assert.deepEqual(flagged(early), []);
  bus.collectDirty();
  assert.deepEqual(flagged(early), [4]);
  write(6);
  bus.collectDirty();
  write(9);
  // After collects: the pages written up to the last one (4, 6), then 9 at the next.
  const late = bus.addDirtyListener(true);
  assert.deepEqual(flagged(late), [4, 6]);
  bus.collectDirty();
  assert.deepEqual(flagged(late), [4, 6, 9]);
  // Without sinceZero: every page.
  assert.equal(flagged(bus.addDirtyListener()).length, 256);
  // A page is zero when never written, or written back to zeros; not with one byte set.
  assert.equal(bus.pageIsZero(5), true);
  assert.equal(bus.pageIsZero(9), false);
  bus.ram8[9 * PAGE + 5] = 0;
  assert.equal(bus.pageIsZero(9), true);
  bus.ram8[9 * PAGE + 4095] = 1;
  assert.equal(bus.pageIsZero(9), false, 'the last byte');
});
