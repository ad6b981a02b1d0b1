/**
 * Virtqueue fuzzing: a fake driver with fast-check-generated hostile
 * descriptor tables, indirect tables, available rings, indices, flags,
 * addresses in and out of RAM and sequences of operations (notifies, host
 * input, time passing, register writes, RAM pokes, snapshot and restore),
 * run against every virtio device type through the MMIO transport.
 *
 * Invariants checked on every case:
 *   - no exception escapes the transport or a host entry (a crash);
 *   - work per operation is bounded by the queue sizes: RAM accesses at most
 *     WORK_PER_DESCRIPTOR per (descriptor slot)² of the queues, and no
 *     operation takes longer than SLOW_OP_MS (a hang);
 *   - what the device holds is bounded (completions, input, in-flight);
 *   - every request a live device took is returned once its time is due
 *     (served or failed), or the device went DEVICE_NEEDS_RESET with a reason;
 *   - the case is deterministic: run again with a snapshot and restore at a
 *     random point, it leaves the same RAM and the same device state.
 *
 * Used by test/devices/virtqueue-fuzz.test.ts (a short run) and
 * bench/fuzz-virtqueue.ts (the long run, with figures).
 */
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { Bus } from '../../src/machine/bus.js';
import { GuestRam } from '../../src/devices/virtio/guest-ram.js';
import { Reg, VirtioMmio, STATUS_NEEDS_RESET } from '../../src/devices/virtio/mmio.js';
import type { VirtioDeviceModel } from '../../src/devices/virtio/device-model.js';
import { VirtioBlk } from '../../src/devices/virtio/blk.js';
import { VirtioNet } from '../../src/devices/virtio/net.js';
import { VirtioRng } from '../../src/devices/virtio/rng.js';
import { VirtioConsole } from '../../src/devices/virtio/console.js';
import { BlockIoError, type BlockStore } from '../../src/devices/virtio/backends.js';
import { stateFromJson, stateToJson, type State } from '../../src/snapshot/state.js';

export const FUZZ_RAM = 0x80000000;
/** Small, so random addresses land in RAM often and rings overlap buffers. */
export const FUZZ_RAM_SIZE = 64 << 10;
const DISK_SIZE = 8 << 10;
/** RAM accesses allowed per descriptor slot of the queues, per operation. */
export const WORK_PER_DESCRIPTOR = 64;
/**
 * An operation slower than this is reported as a hang. The RAM-access bound
 * is the exact measure of work; wall time is a backstop, set well above what
 * a loaded machine's scheduling and GC pauses add to a fast operation.
 */
export const SLOW_OP_MS = 10_000;

export class FuzzViolation extends Error {
  constructor(
    readonly kind: 'crash' | 'hang' | 'memory' | 'invariant' | 'nondeterminism',
    message: string,
  ) {
    super(`${kind}: ${message}`);
  }
}

// --- the case

export type DeviceKind = 'blk' | 'net' | 'rng' | 'console' | 'console-mp';
export const DEVICE_KINDS: DeviceKind[] = ['blk', 'net', 'rng', 'console', 'console-mp'];

interface Desc {
  addr: number;
  len: number;
  flags: number;
  next: number;
}

interface QueueSetup {
  num: number;
  desc: number;
  avail: number;
  used: number;
  descs: Desc[];
  availFlags: number;
  availIdx: number;
  ring: number[];
  usedEvent: number;
}

type Op =
  | { op: 'notify'; q: number }
  | { op: 'input'; len: number; fill: number }
  | { op: 'link'; up: boolean }
  | { op: 'diskError' }
  | { op: 'advance'; ticks: number }
  | { op: 'poke'; at: number; value: number; width: 1 | 2 | 4 }
  | { op: 'offer'; q: number; head: number; bump: number; notify: boolean }
  | { op: 'status'; value: number }
  | { op: 'queue'; q: number; num: number; desc: number; avail: number; used: number }
  | { op: 'ready'; q: number; value: number }
  | { op: 'config'; offset: number; width: 1 | 2 | 4; value: number }
  | { op: 'ack'; value: number };

export interface FuzzCase {
  device: DeviceKind;
  /** Driver features, words 0 and 1 (may include bits not offered). */
  features: [number, number];
  queues: QueueSetup[];
  tables: { at: number; descs: Desc[] }[];
  /** Request headers and data written at buffer addresses (blk headers, control messages). */
  blobs: { at: number; bytes: number[] }[];
  ops: Op[];
  /** Where the determinism run saves and restores the device (index into ops). */
  snapshotAt: number;
}

const MAX_SIZES: Record<DeviceKind, number[]> = {
  blk: [256],
  net: [256, 256],
  rng: [64],
  console: [64, 64, 16, 16],
  'console-mp': [64, 64, 16, 16],
};

/** Where a well-behaved driver would put things: indirect tables, then data buffers. */
const TABLE_AT = [0, 1, 2].map((k) => FUZZ_RAM + 0xe000 + k * 0x200);
const BUFFERS = { from: FUZZ_RAM + 0x8000, to: FUZZ_RAM + 0xe000 };

/** Any address: mostly inside RAM (aligned or not), sometimes at its edges or far outside. */
const addrArb = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: FUZZ_RAM_SIZE - 1 }).map((o) => FUZZ_RAM + o) },
  {
    weight: 4,
    arbitrary: fc.integer({ min: 0, max: FUZZ_RAM_SIZE / 16 - 1 }).map((o) => FUZZ_RAM + o * 16),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      0,
      0x1000,
      FUZZ_RAM - 16,
      FUZZ_RAM + FUZZ_RAM_SIZE - 1,
      FUZZ_RAM + FUZZ_RAM_SIZE,
      0xffffffff,
      2 ** 40,
      2 ** 53 - 1,
    ),
  },
  { weight: 1, arbitrary: fc.nat().map((n) => n * 4096) },
);

/** A buffer address: mostly in the buffer area, sometimes an indirect table, sometimes anywhere. */
const bufferAddrArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: BUFFERS.from, max: BUFFERS.to - 1 }) },
  { weight: 2, arbitrary: fc.constantFrom(...TABLE_AT) },
  { weight: 2, arbitrary: addrArb },
);

const lenArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 2048 }) },
  { weight: 2, arbitrary: fc.constantFrom(0, 1, 12, 16, 17, 512, 1526, 4096) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 24 }).map((k) => 16 * k) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: FUZZ_RAM_SIZE + 16 }) },
  { weight: 1, arbitrary: fc.constantFrom(0xfffffff0, 0xffffffff, 0x80000000) },
);

/** Descriptor flags: NEXT and WRITE mostly, INDIRECT (4) in every combination, sometimes junk bits. */
const flagsArb = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 0, max: 3 }) },
  { weight: 2, arbitrary: fc.integer({ min: 4, max: 7 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
);

function descArb(num: number): fc.Arbitrary<Desc> {
  return fc.record({
    addr: bufferAddrArb,
    len: lenArb,
    flags: flagsArb,
    next: fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 0, max: Math.max(0, num - 1) }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
    ),
  });
}

function queueArb(maxSize: number, index: number): fc.Arbitrary<QueueSetup> {
  const numArb = fc.oneof(
    { weight: 30, arbitrary: fc.integer({ min: 1, max: 16 }) },
    { weight: 10, arbitrary: fc.integer({ min: 1, max: maxSize }) },
    { weight: 1, arbitrary: fc.constantFrom(0, maxSize, maxSize + 1, 0xffffffff) },
  );
  // Rings laid out as a driver lays them (§2.7: alignment, no overlap), or anywhere at all.
  const base = FUZZ_RAM + 0x1000 + index * 0x3000;
  return numArb.chain((num) => {
    const n = Math.min(num, maxSize);
    const layout = fc.oneof(
      { weight: 20, arbitrary: fc.constant([base, base + 16 * n, base + 0x2000]) },
      { weight: 1, arbitrary: fc.tuple(addrArb, addrArb, addrArb) },
    );
    return fc
      .record({
        num: fc.constant(num),
        layout,
        descs: fc.array(descArb(n), { maxLength: Math.min(n, 24) }),
        availFlags: fc.integer({ min: 0, max: 3 }),
        availIdx: fc.oneof(
          { weight: 6, arbitrary: fc.integer({ min: 0, max: Math.min(n, 24) }) },
          { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
        ),
        ring: fc.array(
          fc.oneof(
            {
              weight: 60,
              arbitrary: fc.integer({ min: 0, max: Math.max(0, Math.min(n, 24) - 1) }),
            },
            { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
          ),
          { maxLength: Math.min(n, 24) },
        ),
        usedEvent: fc.integer({ min: 0, max: 0xffff }),
      })
      .map(({ layout, ...q }) => ({ ...q, desc: layout[0], avail: layout[1], used: layout[2] }));
  });
}

function opArb(nq: number): fc.Arbitrary<Op> {
  const q = fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: nq - 1 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 40 }) },
  );
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant('notify' as const), q }) },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('input' as const),
        len: fc.oneof(fc.integer({ min: 0, max: 1600 }), fc.constantFrom(65535, 65536, 70000)),
        fill: fc.integer({ min: 0, max: 255 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('link' as const), up: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('diskError' as const) }) },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('advance' as const),
        ticks: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constant(1_000_000)),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('poke' as const),
        at: addrArb,
        value: fc.integer({ min: 0, max: 0xffffffff }),
        width: fc.constantFrom(1 as const, 2 as const, 4 as const),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        op: fc.constant('offer' as const),
        q,
        // A head within the queue (taken modulo its size) or any 16-bit value.
        head: fc.oneof(
          { weight: 6, arbitrary: fc.integer({ min: 0, max: 23 }) },
          { weight: 1, arbitrary: fc.integer({ min: 0x10000, max: 0x1ffff }) },
        ),
        bump: fc.oneof(
          { weight: 8, arbitrary: fc.constant(1) },
          { weight: 2, arbitrary: fc.integer({ min: 0, max: 3 }) },
          { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
        ),
        notify: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('status' as const),
        value: fc.oneof(fc.constantFrom(0, 1, 3, 11, 15, 0x40), fc.integer({ min: 0, max: 255 })),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('queue' as const),
        q,
        num: fc.integer({ min: 0, max: 300 }),
        desc: addrArb,
        avail: addrArb,
        used: addrArb,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('ready' as const),
        q,
        value: fc.integer({ min: 0, max: 3 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('config' as const),
        offset: fc.integer({ min: 0, max: 80 }),
        width: fc.constantFrom(1 as const, 2 as const, 4 as const),
        value: fc.integer({ min: 0, max: 0xffffffff }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('ack' as const),
        value: fc.integer({ min: 0, max: 3 }),
      }),
    },
  );
}

/** A blk request header, a console control message, or random bytes, placed in RAM. */
const blobArb = fc.record({
  at: bufferAddrArb,
  bytes: fc.oneof(
    fc
      .record({
        type: fc.oneof(fc.constantFrom(0, 1, 4, 8), fc.integer({ min: 0, max: 0xffffffff })),
        sector: fc.oneof(
          fc.integer({ min: 0, max: DISK_SIZE / 512 + 2 }),
          fc.constantFrom(2 ** 32 - 1, 2 ** 40),
        ),
      })
      .map(({ type, sector }) => {
        const b = new Uint8Array(16);
        const dv = new DataView(b.buffer);
        dv.setUint32(0, type, true);
        dv.setUint32(8, sector % 2 ** 32, true);
        dv.setUint32(12, Math.floor(sector / 2 ** 32), true);
        return [...b];
      }),
    fc
      .record({
        id: fc.constantFrom(0, 1, 0xffffffff),
        event: fc.integer({ min: 0, max: 8 }),
        value: fc.integer({ min: 0, max: 2 }),
      })
      .map(({ id, event, value }) => {
        const b = new Uint8Array(8);
        const dv = new DataView(b.buffer);
        dv.setUint32(0, id, true);
        dv.setUint16(4, event, true);
        dv.setUint16(6, value, true);
        return [...b];
      }),
    fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }),
  ),
});

export const fuzzCaseArb: fc.Arbitrary<FuzzCase> = fc
  .constantFrom(...DEVICE_KINDS)
  .chain((device) => {
    const sizes = MAX_SIZES[device];
    return fc.record({
      device: fc.constant(device),
      features: fc.tuple(
        fc.oneof(
          { weight: 6, arbitrary: fc.subarray([1 << 1, 1 << 28, 1 << 29]).map(sumBits) },
          { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
        ),
        fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.nat(3) }),
      ),
      queues: fc.tuple(...sizes.map((m, i) => queueArb(m, i))),
      tables: fc.array(
        fc.record({
          at: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...TABLE_AT) }, addrArb),
          descs: fc.array(descArb(12), { minLength: 1, maxLength: 24 }),
        }),
        { maxLength: 3 },
      ),
      blobs: fc.array(blobArb, { maxLength: 6 }),
      ops: fc.array(opArb(sizes.length), { minLength: 1, maxLength: 14 }),
      snapshotAt: fc.nat(14),
    }) as fc.Arbitrary<FuzzCase>;
  });

function sumBits(bits: number[]): number {
  return bits.reduce((a, b) => a | b, 0) >>> 0;
}

// --- the fake machine

/** Guest RAM access that counts: the work the device does. */
class CountingRam extends GuestRam {
  accesses = 0;
  offset(paddr: number, len: number): number {
    this.accesses++;
    return super.offset(paddr, len);
  }
}

class FuzzIrq {
  level = false;
  set(l: boolean): void {
    this.level = l;
  }
}

/** An in-memory disk whose next operation can be made to fail, with snapshot state. */
class FuzzStore implements BlockStore {
  readonly size = DISK_SIZE;
  readonly readOnly = false;
  failNext = false;
  private readonly data = new Uint8Array(DISK_SIZE);
  private check(): void {
    if (this.failNext) {
      this.failNext = false;
      throw new BlockIoError('injected EIO');
    }
  }
  read(offset: number, dest: Uint8Array): void {
    this.check();
    dest.set(this.data.subarray(offset, offset + dest.length));
  }
  write(offset: number, src: Uint8Array): void {
    this.check();
    this.data.set(src, offset);
  }
  flush(): void {
    this.check();
  }
  close(): void {}
  saveState(): State {
    return { data: this.data.slice(), failNext: this.failNext };
  }
  loadState(s: State): void {
    this.data.set(s.data as Uint8Array);
    this.failNext = s.failNext as boolean;
  }
}

/** Figures of one case, for the long run's report. */
export interface CaseStats {
  ops: number;
  /** Most RAM accesses in one operation. */
  maxAccesses: number;
  /** Slowest operation, ms. */
  maxOpMs: number;
  /** The device ended DEVICE_NEEDS_RESET. */
  needsReset: boolean;
  /** Requests the device returned to the driver (served or failed). */
  returned: number;
}

/**
 * Buses (guest RAM) are reused across cases, zeroed: allocating 64 KiB of
 * RAM three times a case made the garbage collector the fuzzer's main cost.
 */
const busPool: Bus[] = [];

function takeBus(): Bus {
  const bus = busPool.pop();
  if (!bus) return new Bus(FUZZ_RAM, FUZZ_RAM_SIZE);
  bus.ram8.fill(0);
  return bus;
}

class FuzzMachine {
  readonly bus = takeBus();
  readonly ram = new CountingRam(this.bus);
  readonly irq = new FuzzIrq();
  ticks = 0;
  readonly dev: VirtioMmio;
  readonly store = new FuzzStore();
  readonly model: VirtioDeviceModel;
  sent = 0;

  constructor(readonly kind: DeviceKind) {
    const mac = Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56);
    const sink = { write: (b: Uint8Array) => void (this.sent += b.length) };
    this.model =
      kind === 'blk'
        ? new VirtioBlk(this.store, 'fuzz')
        : kind === 'net'
          ? new VirtioNet({ send: (f) => void (this.sent += f.length) }, mac)
          : kind === 'rng'
            ? new VirtioRng({ fill: (b) => b.fill(0x5a) })
            : new VirtioConsole(sink);
    this.dev = new VirtioMmio(0, this.ram, this.irq, { now: () => this.ticks }, this.model);
    this.model.queueSizes.forEach((_, i) => {
      const q = this.dev.queue(i);
      const push = q.push.bind(q);
      q.push = (head, written) => {
        push(head, written);
        this.returned++;
      };
    });
  }

  /** Requests returned on the used rings so far. */
  returned = 0;

  /** Done with this machine: its RAM goes back to the pool. */
  release(): void {
    busPool.push(this.bus);
  }

  w(reg: number, v: number): void {
    this.dev.write(reg, 4, v >>> 0);
  }

  /** Raw RAM write by the "guest" (the driver owns RAM: no bounds from the device side). */
  poke(addr: number, bytes: ArrayLike<number>): void {
    const off = addr - FUZZ_RAM;
    for (let i = 0; i < bytes.length; i++)
      if (off + i >= 0 && off + i < FUZZ_RAM_SIZE) this.bus.ram8[off + i] = bytes[i];
  }

  pokeU(addr: number, value: number, width: number): void {
    const b: number[] = [];
    for (let i = 0; i < width; i++) b.push((value >>> (8 * i)) & 0xff);
    this.poke(addr, b);
  }

  pokeDesc(at: number, d: Desc): void {
    this.pokeU(at, d.addr % 2 ** 32, 4);
    this.pokeU(at + 4, Math.floor(d.addr / 2 ** 32), 4);
    this.pokeU(at + 8, d.len >>> 0, 4);
    this.pokeU(at + 12, d.flags, 2);
    this.pokeU(at + 14, d.next, 2);
  }

  /** The driver's set-up (§3.1.1) with the case's features and queues, then its rings. */
  setUp(c: FuzzCase): void {
    this.w(Reg.Status, 0);
    this.w(Reg.Status, 1);
    this.w(Reg.Status, 3);
    this.w(Reg.DriverFeaturesSel, 0);
    this.w(Reg.DriverFeatures, c.features[0]);
    this.w(Reg.DriverFeaturesSel, 1);
    this.w(Reg.DriverFeatures, c.features[1]);
    this.w(Reg.Status, 11);
    for (const t of c.tables) t.descs.forEach((d, i) => this.pokeDesc(t.at + 16 * i, d));
    for (const b of c.blobs) this.poke(b.at, b.bytes);
    c.queues.forEach((q, i) => {
      q.descs.forEach((d, k) => this.pokeDesc(q.desc + 16 * k, d));
      this.pokeU(q.avail, q.availFlags, 2);
      q.ring.forEach((h, k) => this.pokeU(q.avail + 4 + 2 * k, h, 2));
      this.pokeU(q.avail + 2, q.availIdx, 2);
      const n = Math.min(q.num, 0xffff);
      this.pokeU(q.avail + 4 + 2 * n, q.usedEvent, 2);
      this.setQueue(i, q.num, q.desc, q.avail, q.used);
      this.w(Reg.QueueReady, 1);
    });
    this.w(Reg.Status, 15);
  }

  setQueue(q: number, num: number, desc: number, avail: number, used: number): void {
    this.w(Reg.QueueSel, q);
    this.w(Reg.QueueNum, num);
    this.w(Reg.QueueDescLow, desc % 2 ** 32);
    this.w(Reg.QueueDescHigh, Math.floor(desc / 2 ** 32));
    this.w(Reg.QueueDriverLow, avail % 2 ** 32);
    this.w(Reg.QueueDriverHigh, Math.floor(avail / 2 ** 32));
    this.w(Reg.QueueDeviceLow, used % 2 ** 32);
    this.w(Reg.QueueDeviceHigh, Math.floor(used / 2 ** 32));
  }

  apply(op: Op, c: FuzzCase): void {
    switch (op.op) {
      case 'notify':
        this.w(Reg.QueueNotify, op.q);
        break;
      case 'input': {
        const bytes = new Uint8Array(op.len).fill(op.fill);
        if (this.model instanceof VirtioNet) this.model.deliver(bytes);
        else if (this.model instanceof VirtioConsole) this.model.deliver(bytes);
        break;
      }
      case 'link':
        if (this.model instanceof VirtioNet) this.model.setLink(op.up);
        break;
      case 'diskError':
        this.store.failNext = true;
        break;
      case 'advance':
        this.ticks += op.ticks;
        this.dev.update(this.ticks);
        break;
      case 'poke':
        this.pokeU(op.at, op.value, op.width);
        break;
      case 'offer': {
        const q = c.queues[op.q];
        if (!q) break;
        const n = Math.max(1, Math.min(q.num, 0xffff));
        const idx = readU16(this, q.avail + 2);
        const head = op.head >= 0x10000 ? op.head & 0xffff : op.head % Math.min(n, 24);
        this.pokeU(q.avail + 4 + 2 * (idx % n), head, 2);
        this.pokeU(q.avail + 2, (idx + op.bump) & 0xffff, 2);
        if (op.notify) this.w(Reg.QueueNotify, op.q);
        break;
      }
      case 'status':
        this.w(Reg.Status, op.value);
        break;
      case 'queue':
        this.setQueue(op.q, op.num, op.desc, op.avail, op.used);
        break;
      case 'ready':
        this.w(Reg.QueueSel, op.q);
        this.w(Reg.QueueReady, op.value);
        break;
      case 'config':
        this.dev.write(Reg.Config + op.offset, op.width, op.value);
        break;
      case 'ack':
        this.w(Reg.InterruptAck, op.value);
        break;
    }
  }

  /** RAM accesses one operation may cost: WORK_PER_DESCRIPTOR per descriptor the queues hold, squared per chain. */
  workBound(): number {
    let bound = 256;
    this.model.queueSizes.forEach((_, i) => {
      const q = this.dev.queue(i);
      const n = Math.min(q.num, q.maxSize);
      bound += WORK_PER_DESCRIPTOR * (n + 1) * (n + 2);
    });
    return bound;
  }

  /** Bounds on what the device holds and on its queues' indices. */
  checkHeld(): void {
    if (this.dev.deviceStatus & STATUS_NEEDS_RESET && !this.dev.failure)
      throw new FuzzViolation('invariant', 'DEVICE_NEEDS_RESET without a reason');
    let capacity = 0;
    this.model.queueSizes.forEach((_, i) => {
      const q = this.dev.queue(i);
      capacity += q.maxSize;
      // At most the queue's capacity: a driver that shrinks a queue it re-enables while
      // requests are in flight gets no new ones taken (pop refuses), but keeps those.
      const inFlight = (q.lastAvail - q.usedIdx) & 0xffff;
      if (inFlight > q.maxSize)
        throw new FuzzViolation(
          'memory',
          `queue ${i}: ${inFlight} requests in flight, capacity ${q.maxSize}`,
        );
    });
    // The devices' own holdings, read without copying them (they are private to the device).
    const held = this.model as unknown as Record<string, { length: number } | undefined>;
    for (const key of ['done', 'txDone']) {
      const n = held[key]?.length ?? 0;
      if (n > capacity)
        throw new FuzzViolation('memory', `${n} completions held, queues hold ${capacity}`);
    }
    if ((held.incoming?.length ?? 0) > 4096)
      throw new FuzzViolation('memory', `${held.incoming!.length} inputs held`);
  }

  /** After all time has passed: a live device has returned every request of its completing queues. */
  checkAllReturned(): void {
    this.ticks += 10_000_000;
    this.dev.update(this.ticks);
    if (!this.dev.live()) return;
    const completing: Record<DeviceKind, number[]> = {
      blk: [0],
      rng: [0],
      net: [1],
      console: [1, 3],
      'console-mp': [1, 3],
    };
    for (const i of completing[this.kind]) {
      const q = this.dev.queue(i);
      if (q.ready && q.lastAvail !== q.usedIdx)
        throw new FuzzViolation(
          'invariant',
          `queue ${i}: requests taken (${q.lastAvail}) but not returned (${q.usedIdx})`,
        );
    }
  }

  /** Does `o` look the same from outside: RAM, device state, output, interrupt line? */
  sameAs(o: FuzzMachine): boolean {
    return (
      this.sent === o.sent &&
      this.irq.level === o.irq.level &&
      this.ticks === o.ticks &&
      isDeepStrictEqual(this.bus.ram32, o.bus.ram32) &&
      isDeepStrictEqual(this.dev.saveState(), o.dev.saveState())
    );
  }

  /** A new machine in this one's state, through the snapshot text format. */
  restoredCopy(): FuzzMachine {
    const m = new FuzzMachine(this.kind);
    m.bus.ram8.set(this.bus.ram8);
    m.ticks = this.ticks;
    m.sent = this.sent;
    m.dev.loadState(stateFromJson(stateToJson(this.dev.saveState())));
    m.irq.level = this.irq.level;
    return m;
  }
}

function readU16(m: FuzzMachine, addr: number): number {
  const off = addr - FUZZ_RAM;
  if (off < 0 || off + 2 > FUZZ_RAM_SIZE) return 0;
  return m.bus.ram8[off] | (m.bus.ram8[off + 1] << 8);
}

function runOnce(c: FuzzCase, snapshotAt: number, stats: CaseStats): FuzzMachine {
  let m = new FuzzMachine(c.device);
  const step = (what: string, f: () => void) => {
    const bound = m.workBound();
    m.ram.accesses = 0;
    const t0 = performance.now();
    try {
      f();
    } catch (e) {
      if (e instanceof FuzzViolation) throw e;
      throw new FuzzViolation('crash', `${what} threw ${(e as Error)?.stack ?? String(e)}`);
    }
    const ms = performance.now() - t0;
    const work = m.ram.accesses;
    const after = m.workBound();
    if (work > Math.max(bound, after))
      throw new FuzzViolation('hang', `${what}: ${work} RAM accesses (bound ${bound})`);
    if (ms > SLOW_OP_MS) throw new FuzzViolation('hang', `${what} took ${ms.toFixed(0)} ms`);
    if (work > stats.maxAccesses) stats.maxAccesses = work;
    if (ms > stats.maxOpMs) stats.maxOpMs = ms;
    m.checkHeld();
  };
  step('set-up', () => m.setUp(c));
  c.ops.forEach((op, i) => {
    if (i === snapshotAt) {
      const old = m;
      m = m.restoredCopy();
      old.release();
    }
    step(JSON.stringify(op), () => m.apply(op, c));
    stats.ops++;
  });
  step('completion', () => m.checkAllReturned());
  return m;
}

/** Run one case; throws FuzzViolation when an invariant breaks. */
export function runFuzzCase(c: FuzzCase): CaseStats {
  const stats: CaseStats = { ops: 0, maxAccesses: 0, maxOpMs: 0, needsReset: false, returned: 0 };
  const a = runOnce(c, -1, stats);
  const b = runOnce(c, c.snapshotAt % c.ops.length, stats);
  if (!a.sameAs(b))
    throw new FuzzViolation(
      'nondeterminism',
      `the run restored from a snapshot before op ${c.snapshotAt % c.ops.length} ended elsewhere`,
    );
  stats.needsReset = (a.dev.deviceStatus & STATUS_NEEDS_RESET) !== 0;
  stats.returned = a.returned;
  a.release();
  b.release();
  return stats;
}
