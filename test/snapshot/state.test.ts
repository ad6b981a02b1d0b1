/**
 * Snapshot fields are checked before they are used: a state that is not an
 * object, numbers that are not finite or whole, lists of other things, and
 * headers out of bounds are SnapshotErrors naming the field — never a
 * TypeError from inside a device, never half a machine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotError, item, loadFields, sub, type State } from '../../src/snapshot/state.js';
import { readSnapshot } from '../../src/snapshot/snapshot-file.js';
import { crc32 } from '../../src/replay/crc32.js';
import { deflateSync } from 'fflate';

class Part {
  count = 3;
  queue: number[] = [1, 2];
  regs = new Uint32Array(4);
}

test('loadFields refuses a state that is not an object, and values of another kind', () => {
  const p = new Part();
  const bad: [unknown, RegExp][] = [
    ['toString', /part: the snapshot has no state for it/],
    [null, /no state for it/],
    [[1, 2], /no state for it/],
    [{ count: 1.5, queue: [], regs: new Uint32Array(4) }, /part\.count: not a whole number/],
    [{ count: Infinity, queue: [], regs: new Uint32Array(4) }, /part\.count: not a finite number/],
    [{ count: '3', queue: [], regs: new Uint32Array(4) }, /part\.count: not a finite number/],
    [{ count: null, queue: [], regs: new Uint32Array(4) }, /part\.count: missing \(null\)/],
    [{ count: 1, queue: null, regs: new Uint32Array(4) }, /part\.queue: missing \(null\)/],
    [{ count: 1, queue: 'x', regs: new Uint32Array(4) }, /part\.queue: not a list/],
    [{ count: 1, queue: [{}], regs: new Uint32Array(4) }, /part\.queue: a list item/],
    [
      { count: 1, queue: new Array(70000).fill(0), regs: new Uint32Array(4) },
      /a list of 70000 items/,
    ],
    [
      { count: 1, queue: [], regs: new Uint32Array(5) },
      /part\.regs: the snapshot's value has another shape/,
    ],
    [{ queue: [], regs: new Uint32Array(4) }, /part: the snapshot has no field 'count'/],
    [Object.create({ count: 1, queue: [], regs: new Uint32Array(4) }), /no field 'count'/],
  ];
  for (const [s, re] of bad)
    assert.throws(
      () => loadFields(p, s as State, ['count', 'queue', 'regs'], 'part'),
      (e: Error) => e instanceof SnapshotError && re.test(e.message),
      re.source,
    );
  loadFields(
    p,
    { count: 7, queue: [3], regs: Uint32Array.of(1, 2, 3, 4) },
    ['count', 'queue', 'regs'],
    'part',
  );
  assert.equal(p.count, 7);
  assert.deepEqual(p.queue, [3]);
  assert.throws(() => sub({ a: 1 }, 'a', 'x'), /x: the snapshot has no part 'a'/);
  assert.throws(() => sub('s' as unknown as State, 'length', 'x'), SnapshotError);
});

/** A snapshot file around `json` (a header and state) and an empty memory of `pages` pages. */
function snapshotFile(json: object, pages: number): Uint8Array {
  const j = new TextEncoder().encode(JSON.stringify(json));
  const raw = new Uint8Array(Math.ceil(pages / 8));
  const stored = deflateSync(raw);
  const out = new Uint8Array(16 + j.length + 16 + stored.length);
  const dv = new DataView(out.buffer);
  out.set(new TextEncoder().encode('VMRSSNAP'));
  dv.setUint32(8, 1, true);
  dv.setUint32(12, j.length, true);
  out.set(j, 16);
  const o = 16 + j.length;
  dv.setUint32(o, crc32(j), true);
  dv.setUint32(o + 4, raw.length, true);
  dv.setUint32(o + 8, stored.length, true);
  dv.setUint32(o + 12, crc32(stored), true);
  out.set(stored, o + 16);
  return out;
}

test('snapshot headers: fields out of bounds are refused, each named', () => {
  const header = {
    formatVersion: 1,
    vmrsVersion: 'test',
    createdUnixMs: 0,
    machine: {
      memoryBytes: 1 << 20,
      append: '',
      insnsPerTick: 10,
      rtcStartUnixNs: 0,
      consoleOn: 'uart',
    },
    bios: 'none',
    kernel: { path: 'k', size: 1, sha256: 'ab'.repeat(32), embedded: false },
    devices: [],
    icount: 5,
  };
  assert.equal(readSnapshot(snapshotFile({ header, state: {} }, 256)).header.icount, 5);
  const cases: [object, RegExp][] = [
    [{ ...header, icount: -1 }, /icount is not an instruction count/],
    [{ ...header, machine: { ...header.machine, memoryBytes: 2 ** 45 } }, /machine\.memoryBytes/],
    [{ ...header, devices: [{ kind: 'blk', disk: {} }] }, /devices\[0\]\.disk\.path/],
    [{ ...header, replayOf: { recording: 'x', icount: 1 } }, /replayOf/],
    [{ ...header, kernel: 'k' }, /kernel is not an image reference/],
  ];
  for (const [h, re] of cases)
    assert.throws(
      () => readSnapshot(snapshotFile({ header: h, state: {} }, 256)),
      (e: Error) =>
        e instanceof SnapshotError &&
        /^corrupt snapshot header: /.test(e.message) &&
        re.test(e.message),
      re.source,
    );
});

test('a machine state whose virtio slot holds no state is refused, not a TypeError', () => {
  assert.throws(
    () => item([{ a: 1 }, null], 1, 'virtio'),
    /virtio: the snapshot has no state for item 1/,
  );
  assert.deepEqual(item([{ a: 1 }], 0, 'virtio'), { a: 1 });
});
