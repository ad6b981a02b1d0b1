/**
 * Bounds on what one request may make the device do (virtio 1.2
 * §2.7.5.3.1): a chain — direct descriptors and an indirect table together —
 * holds at most the queue size's buffers, whatever length the indirect
 * descriptor claims; tables do not nest; a chain covers at most
 * MAX_CHAIN_BYTES; no more requests are in flight than the queue has
 * descriptors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RAM, RAM_SIZE, MemoryStore, TestDriver } from './virtio-driver.js';
import { Reg, STATUS_NEEDS_RESET } from '../../src/devices/virtio/mmio.js';
import { VirtioBlk, BLK_COMPLETION_TICKS, BLK_S_OK } from '../../src/devices/virtio/blk.js';
import { VirtioRng } from '../../src/devices/virtio/rng.js';
import { VirtioConsole } from '../../src/devices/virtio/console.js';
import { Bus } from '../../src/machine/bus.js';
import { GuestRam } from '../../src/devices/virtio/guest-ram.js';
import {
  MAX_CHAIN_BYTES,
  SplitVirtqueue,
  VirtqueueError,
} from '../../src/devices/virtio/virtqueue.js';
import { SnapshotError } from '../../src/snapshot/state.js';

const F_NEXT = 1;
const F_WRITE = 2;
const F_INDIRECT = 4;

/** A GuestRam that counts accesses: the work a request makes the device do. */
class CountingRam extends GuestRam {
  accesses = 0;
  offset(paddr: number, len: number): number {
    this.accesses++;
    return super.offset(paddr, len);
  }
}

function putDesc(
  ram: GuestRam,
  at: number,
  addr: number,
  len: number,
  flags: number,
  next: number,
) {
  ram.setU32(at, addr % 0x100000000);
  ram.setU32(at + 4, Math.floor(addr / 0x100000000));
  ram.setU32(at + 8, len);
  ram.setU16(at + 12, flags);
  ram.setU16(at + 14, next);
}

function blkDriver() {
  const d = new TestDriver(new VirtioBlk(new MemoryStore(1 << 20), 'bounds'));
  d.init(); // queue size 16
  return d;
}

/** An indirect table of `n` entries chained 0 → 1 → … → n-1: header, data buffers, status. */
function indirectRequest(d: TestDriver, n: number, direct = 0): { status: number } {
  const table = d.alloc(16 * n);
  const hdr = d.alloc(16, new Uint8Array(16)); // read from sector 0
  const data = d.alloc(512);
  const status = d.alloc(1, Uint8Array.of(0xee));
  for (let i = 0; i < n; i++) {
    const last = i === n - 1;
    const [addr, len, flags] =
      i === 0 ? [hdr, 16, 0] : last ? [status, 1, F_WRITE] : [data, 512, F_WRITE];
    putDesc(d.ram, table + 16 * i, addr, len, flags | (last ? 0 : F_NEXT), i + 1);
  }
  // `direct` readable descriptors before the indirect one (§2.7.5.3.2 allows them).
  const lay = d.queues[0];
  for (let i = 0; i < direct; i++) d.desc(0, i, hdr, 0, F_NEXT, i + 1);
  d.desc(0, direct, table, 16 * n, F_INDIRECT, 0);
  lay.nextDesc = direct + 1;
  d.offer(0, 0);
  return { status };
}

test('an indirect table of exactly the queue size is served', () => {
  const d = blkDriver();
  const r = indirectRequest(d, 16);
  d.advance(BLK_COMPLETION_TICKS);
  assert.equal(d.r(Reg.Status) & STATUS_NEEDS_RESET, 0, d.dev.failure);
  assert.equal(d.bytes(r.status, 1)[0], BLK_S_OK);
});

test('an indirect chain longer than the queue size needs a reset, after at most queue-size reads', () => {
  const ram = new CountingRam(new Bus(RAM, RAM_SIZE));
  const q = new SplitVirtqueue(0, 256, ram);
  Object.assign(q, { num: 16, descAddr: RAM, availAddr: RAM + 0x100, usedAddr: RAM + 0x200 });
  Object.assign(q, { indirect: true, ready: true });
  const n = 60_000; // ~1 MiB of table: the old bound (len/16) walked all of it
  const table = RAM + 0x1000;
  for (let i = 0; i < n; i++)
    putDesc(ram, table + 16 * i, RAM + 0x400, 16, i === n - 1 ? 0 : F_NEXT, i + 1);
  putDesc(ram, RAM, table, 16 * n, F_INDIRECT, 0);
  ram.setU16(RAM + 0x100 + 2, 1); // avail idx 1, ring[0] = head 0
  ram.accesses = 0;
  assert.throws(
    () => q.pop(),
    (e: unknown) => e instanceof VirtqueueError && /longer than the queue/.test(e.message),
  );
  assert.ok(ram.accesses < 200, `${ram.accesses} RAM accesses for one request`);

  // Through the transport: the device needs a reset.
  const d = blkDriver();
  indirectRequest(d, 17);
  assert.ok(d.r(Reg.Status) & STATUS_NEEDS_RESET);
  assert.match(d.dev.failure ?? '', /longer than the queue/);
});

test('direct descriptors before an indirect table count towards the queue size', () => {
  let d = blkDriver();
  let r = indirectRequest(d, 8, 8); // 8 + 8 = 16 buffers: served
  d.advance(BLK_COMPLETION_TICKS);
  assert.equal(d.r(Reg.Status) & STATUS_NEEDS_RESET, 0, d.dev.failure);
  assert.equal(d.bytes(r.status, 1)[0], BLK_S_OK);
  d = blkDriver();
  r = indirectRequest(d, 9, 8); // 17: refused
  assert.ok(d.r(Reg.Status) & STATUS_NEEDS_RESET);
  assert.match(d.dev.failure ?? '', /longer than the queue/);
});

test('a chain covering more than MAX_CHAIN_BYTES fails the request, not the queue', () => {
  const size = 4 << 20;
  const ram = new GuestRam(new Bus(RAM, size));
  const q = new SplitVirtqueue(0, 256, ram);
  const n = Math.floor(MAX_CHAIN_BYTES / size) + 1; // each buffer all of RAM: n × 4 MiB > the bound
  Object.assign(q, { num: 128, descAddr: RAM, availAddr: RAM + 0x1000, usedAddr: RAM + 0x2000 });
  q.ready = true;
  for (let i = 0; i < n; i++)
    putDesc(ram, RAM + 16 * i, RAM, size, F_WRITE | (i === n - 1 ? 0 : F_NEXT), i + 1);
  ram.setU16(RAM + 0x1000 + 2, 1);
  const chain = q.pop()!;
  assert.equal(chain.badBuffer, true);
  // One buffer fewer is within the bound.
  putDesc(ram, RAM + 16 * (n - 2), RAM, size, F_WRITE, 0);
  ram.setU16(RAM + 0x1000 + 4 + 2, 0);
  ram.setU16(RAM + 0x1000 + 2, 2);
  q.push(0, 0);
  assert.equal(q.pop()!.badBuffer, false);
});

test('a driver offering more requests than the queue holds descriptors needs a reset', () => {
  const d = blkDriver();
  const hdr = d.alloc(16, Uint8Array.of(4)); // flush
  const st = d.alloc(1);
  d.desc(0, 0, hdr, 16, F_NEXT, 1);
  d.desc(0, 1, st, 1, F_WRITE, 0);
  // The same chain offered again and again before it completes: 16 are possible, 17 are not.
  for (let i = 0; i < 16; i++) d.offer(0, 0);
  assert.equal(d.r(Reg.Status) & STATUS_NEEDS_RESET, 0, d.dev.failure);
  d.offer(0, 0);
  assert.ok(d.r(Reg.Status) & STATUS_NEEDS_RESET);
  assert.match(d.dev.failure ?? '', /in flight/);
});

test('a snapshot with an impossible queue is refused', () => {
  const rng = () => new TestDriver(new VirtioRng({ fill: (b) => b.fill(1) }));
  const d = rng();
  d.init();
  const good = d.dev.saveState();
  const queues = good.queues as Record<string, unknown>[];
  for (const patch of [
    { num: 100_000, ready: true },
    { descAddr: 0x1000 },
    { usedAddr: RAM + RAM_SIZE - 8 },
    { lastAvail: 70_000 },
  ]) {
    const bad = { ...good, queues: [{ ...queues[0], ...patch }] };
    assert.throws(() => rng().dev.loadState(bad as never), SnapshotError, JSON.stringify(patch));
  }
  assert.doesNotThrow(() => rng().dev.loadState(good));
});

test('a snapshot with impossible held input or control messages is refused', () => {
  const con = () => new TestDriver(new VirtioConsole({ write: () => {} }));
  const d = con();
  d.init();
  const good = d.dev.saveState();
  const model = good.model as Record<string, unknown>;
  const incoming = model.incoming as Record<string, unknown>;
  for (const patch of [
    { controlOut: [new Uint8Array(3)] },
    { controlOut: Array.from({ length: 65 }, () => new Uint8Array(8)) },
    { incoming: { ...incoming, items: [7], bytes: 0 } },
    { incoming: { ...incoming, items: [new Uint8Array(4)], bytes: 1 } },
  ]) {
    const bad = { ...good, model: { ...model, ...patch } };
    assert.throws(() => con().dev.loadState(bad as never), SnapshotError, Object.keys(patch)[0]);
  }
  assert.doesNotThrow(() => con().dev.loadState(good));
});
