/**
 * A virtio-mmio driver written in the test, poking registers and building
 * rings in guest RAM by hand — so tests can do what a well-behaved driver
 * does, and also everything a hostile one might.
 */
import { Bus } from '../../src/machine/bus.js';
import { GuestRam } from '../../src/devices/virtio/guest-ram.js';
import {
  Reg,
  VirtioMmio,
  STATUS_ACKNOWLEDGE,
  STATUS_DRIVER,
  STATUS_DRIVER_OK,
  STATUS_FEATURES_OK,
} from '../../src/devices/virtio/mmio.js';
import type { VirtioDeviceModel } from '../../src/devices/virtio/device-model.js';

export const RAM = 0x80000000;
export const RAM_SIZE = 1 << 20;

export class FakeIrq {
  level = false;
  raised = 0;
  set(l: boolean): void {
    if (l && !this.level) this.raised++;
    this.level = l;
  }
}

export interface QueueLayout {
  desc: number;
  avail: number;
  used: number;
  num: number;
  /** Next free descriptor and next avail slot (driver side). */
  nextDesc: number;
  availIdx: number;
  usedSeen: number;
}

export class TestDriver {
  readonly bus = new Bus(RAM, RAM_SIZE);
  readonly ram = new GuestRam(this.bus);
  readonly irq = new FakeIrq();
  ticks = 0;
  readonly dev: VirtioMmio;
  readonly queues: QueueLayout[] = [];
  /** Bump allocator for data buffers, above the rings. */
  private heap = RAM + 0x40000;

  constructor(readonly model: VirtioDeviceModel | undefined) {
    this.dev = new VirtioMmio(0, this.ram, this.irq, { now: () => this.ticks }, model);
  }

  r(reg: number): number {
    return this.dev.read(reg, 4);
  }

  w(reg: number, v: number): void {
    this.dev.write(reg, 4, v >>> 0);
  }

  features(): [number, number] {
    this.w(Reg.DeviceFeaturesSel, 0);
    const lo = this.r(Reg.DeviceFeatures);
    this.w(Reg.DeviceFeaturesSel, 1);
    return [lo, this.r(Reg.DeviceFeatures)];
  }

  /** The standard initialisation (§3.1.1), accepting `accept` (default: all offered). */
  init(accept?: [number, number], queueNums?: number[]): void {
    this.w(Reg.Status, 0);
    this.w(Reg.Status, STATUS_ACKNOWLEDGE);
    this.w(Reg.Status, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    const [lo, hi] = accept ?? this.features();
    this.w(Reg.DriverFeaturesSel, 0);
    this.w(Reg.DriverFeatures, lo);
    this.w(Reg.DriverFeaturesSel, 1);
    this.w(Reg.DriverFeatures, hi);
    this.w(Reg.Status, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
    const nq = this.model?.queueSizes.length ?? 0;
    for (let q = 0; q < nq; q++) this.setupQueue(q, queueNums?.[q] ?? 16);
    this.w(Reg.Status, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
  }

  setupQueue(q: number, num: number, at = RAM + 0x1000 + q * 0x4000): QueueLayout {
    const lay: QueueLayout = {
      desc: at,
      avail: at + 16 * num,
      used: at + 0x2000,
      num,
      nextDesc: 0,
      availIdx: 0,
      usedSeen: 0,
    };
    this.queues[q] = lay;
    if (this.ram.offset(RAM, 0) === 0 && at >= RAM && at + 0x3000 <= RAM + RAM_SIZE)
      this.ram.view(at, 0x3000).fill(0); // a fresh ring, as a driver allocates one
    this.w(Reg.QueueSel, q);
    this.w(Reg.QueueNum, num);
    this.w(Reg.QueueDescLow, lay.desc);
    this.w(Reg.QueueDescHigh, 0);
    this.w(Reg.QueueDriverLow, lay.avail);
    this.w(Reg.QueueDriverHigh, 0);
    this.w(Reg.QueueDeviceLow, lay.used);
    this.w(Reg.QueueDeviceHigh, 0);
    this.w(Reg.QueueReady, 1);
    return lay;
  }

  alloc(len: number, fill?: Uint8Array): number {
    const a = this.heap;
    this.heap += (len + 15) & ~15;
    if (fill) this.ram.view(a, fill.length).set(fill);
    return a;
  }

  /** Write descriptor `i` of queue `q` raw. */
  desc(q: number, i: number, addr: number, len: number, flags: number, next: number): void {
    const d = this.queues[q].desc + 16 * i;
    this.ram.setU32(d, addr % 0x100000000);
    this.ram.setU32(d + 4, Math.floor(addr / 0x100000000));
    this.ram.setU32(d + 8, len);
    this.ram.setU16(d + 12, flags);
    this.ram.setU16(d + 14, next);
  }

  /** Build a chain from buffers ({addr,len,write}) and make it available; returns its head. */
  submit(q: number, bufs: { addr: number; len: number; write?: boolean }[], notify = true): number {
    const lay = this.queues[q];
    const head = lay.nextDesc;
    bufs.forEach((b, k) => {
      const i = (head + k) % lay.num;
      const last = k === bufs.length - 1;
      this.desc(q, i, b.addr, b.len, (last ? 0 : 1) | (b.write ? 2 : 0), (i + 1) % lay.num);
    });
    lay.nextDesc = (head + bufs.length) % lay.num;
    this.offer(q, head, notify);
    return head;
  }

  /** Put `head` in the available ring and optionally notify. */
  offer(q: number, head: number, notify = true): void {
    const lay = this.queues[q];
    this.ram.setU16(lay.avail + 4 + 2 * (lay.availIdx % lay.num), head);
    lay.availIdx = (lay.availIdx + 1) & 0xffff;
    this.ram.setU16(lay.avail + 2, lay.availIdx);
    if (notify) this.w(Reg.QueueNotify, q);
  }

  usedIdx(q: number): number {
    return this.ram.u16(this.queues[q].used + 2);
  }

  /** Used entries not yet seen: [head, len][]. */
  takeUsed(q: number): [number, number][] {
    const lay = this.queues[q];
    const out: [number, number][] = [];
    const idx = this.usedIdx(q);
    while (lay.usedSeen !== idx) {
      const e = lay.used + 4 + 8 * (lay.usedSeen % lay.num);
      out.push([this.ram.u32(e), this.ram.u32(e + 4)]);
      lay.usedSeen = (lay.usedSeen + 1) & 0xffff;
    }
    return out;
  }

  /** Advance virtual time and let the device complete what is due. */
  advance(ticks: number): void {
    this.ticks += ticks;
    this.dev.update(this.ticks);
  }

  ack(): number {
    const s = this.r(Reg.InterruptStatus);
    this.w(Reg.InterruptAck, s);
    return s;
  }

  bytes(addr: number, len: number): Uint8Array {
    return this.ram.view(addr, len).slice();
  }
}

/** An in-memory disk for device tests. */
export class MemoryStore {
  readonly data: Uint8Array;
  flushes = 0;
  failNext = false;
  constructor(
    readonly size: number,
    readonly readOnly = false,
  ) {
    this.data = new Uint8Array(size);
  }
  read(offset: number, dest: Uint8Array): void {
    dest.set(this.data.subarray(offset, offset + dest.length));
  }
  write(offset: number, src: Uint8Array): void {
    this.data.set(src, offset);
  }
  flush(): void {
    this.flushes++;
  }
  close(): void {}
}
