/**
 * A split virtqueue (virtio 1.2 §2.7), device side: descriptor chains
 * (direct and indirect, §2.7.5.3), the available and used rings, and
 * notification suppression with event index (§2.7.7, §2.7.10).
 *
 * The guest owns this memory and may put anything in it. Structural errors
 * (an index out of the table, a chain longer than the queue — a loop —, a
 * malformed indirect table, a ring outside RAM, more requests in flight than
 * the queue has descriptors) throw VirtqueueError, which the transport
 * answers with DEVICE_NEEDS_RESET. A buffer outside RAM, or a chain covering
 * more bytes than any request may, does not break the queue: the chain is
 * returned with `badBuffer` set and the device fails just that request.
 *
 * So one request costs at most `num` descriptor reads whatever the guest
 * wrote, and one notify at most `num` requests.
 */
import { DmaError, type GuestRam } from './guest-ram.js';
import { SnapshotError, loadFields, saveFields, type State } from '../../snapshot/state.js';

/** The fields that make up this part's state (snapshots, checkpoints). */
const QUEUE_FIELDS = [
  'num',
  'ready',
  'descAddr',
  'availAddr',
  'usedAddr',
  'eventIdx',
  'indirect',
  'lastAvail',
  'usedIdx',
  'signalledUsed',
];

export class VirtqueueError extends Error {}

/**
 * Most bytes one chain may cover (readable and writable together). Above
 * every request a device serves (virtio-blk's largest is 254 MiB of data), so
 * it refuses only chains no driver builds, and bounds per-request host work.
 */
export const MAX_CHAIN_BYTES = 1 << 28;

const DESC_F_NEXT = 1;
const DESC_F_WRITE = 2;
const DESC_F_INDIRECT = 4;
const AVAIL_F_NO_INTERRUPT = 1;

/** One request: a descriptor chain split into its device-readable and device-writable buffers. */
export class DescriptorChain {
  readonly readAddr: number[] = [];
  readonly readLen: number[] = [];
  readonly writeAddr: number[] = [];
  readonly writeLen: number[] = [];
  readableBytes = 0;
  writableBytes = 0;
  /**
   * The request cannot be served as it stands: a buffer lies outside RAM
   * (its bytes are not in the lists), or the chain covers more than
   * MAX_CHAIN_BYTES. The device fails the request.
   */
  badBuffer = false;

  constructor(
    readonly head: number,
    private readonly ram: GuestRam,
  ) {}

  /** The first `max` readable bytes, gathered into one array. */
  readAll(max = this.readableBytes): Uint8Array {
    const out = new Uint8Array(Math.min(max, this.readableBytes));
    let pos = 0;
    for (let i = 0; i < this.readAddr.length && pos < out.length; i++) {
      const n = Math.min(this.readLen[i], out.length - pos);
      out.set(this.ram.view(this.readAddr[i], n), pos);
      pos += n;
    }
    return out;
  }

  /** Copy readable bytes [from, from+dest.length) into dest; returns the count copied. */
  readAt(from: number, dest: Uint8Array): number {
    let skip = from;
    let pos = 0;
    for (let i = 0; i < this.readAddr.length && pos < dest.length; i++) {
      const len = this.readLen[i];
      if (skip >= len) {
        skip -= len;
        continue;
      }
      const n = Math.min(len - skip, dest.length - pos);
      dest.set(this.ram.view(this.readAddr[i] + skip, n), pos);
      pos += n;
      skip = 0;
    }
    return pos;
  }

  /** Scatter `src` into the writable buffers starting at writable byte `at`; returns bytes written. */
  writeAt(at: number, src: Uint8Array): number {
    let skip = at;
    let pos = 0;
    for (let i = 0; i < this.writeAddr.length && pos < src.length; i++) {
      const len = this.writeLen[i];
      if (skip >= len) {
        skip -= len;
        continue;
      }
      const n = Math.min(len - skip, src.length - pos);
      const addr = this.writeAddr[i] + skip;
      this.ram.view(addr, n).set(src.subarray(pos, pos + n));
      this.ram.noteWrite(addr, n);
      pos += n;
      skip = 0;
    }
    return pos;
  }

  /**
   * Writable buffers as RAM views covering writable bytes [at, at+len), for
   * zero-copy fills (disk reads). The caller must call noteWritten after.
   */
  writableViews(at: number, len: number): { addr: number; view: Uint8Array }[] {
    const out: { addr: number; view: Uint8Array }[] = [];
    let skip = at;
    let left = len;
    for (let i = 0; i < this.writeAddr.length && left > 0; i++) {
      const l = this.writeLen[i];
      if (skip >= l) {
        skip -= l;
        continue;
      }
      const n = Math.min(l - skip, left);
      const addr = this.writeAddr[i] + skip;
      out.push({ addr, view: this.ram.view(addr, n) });
      left -= n;
      skip = 0;
    }
    return out;
  }

  noteWritten(views: { addr: number; view: Uint8Array }[]): void {
    for (const v of views) this.ram.noteWrite(v.addr, v.view.length);
  }
}

export class SplitVirtqueue {
  /** Queue size the driver chose (QueueNum); 0 until set. */
  num = 0;
  ready = false;
  descAddr = 0;
  availAddr = 0;
  usedAddr = 0;
  /** VIRTIO_F_RING_EVENT_IDX and VIRTIO_F_RING_INDIRECT_DESC were negotiated. */
  eventIdx = false;
  indirect = false;
  /** Next available-ring entry to take (free-running 16-bit). */
  lastAvail = 0;
  /** Next used-ring entry to fill (free-running 16-bit). */
  usedIdx = 0;
  /** usedIdx when the driver was last signalled (for event-index suppression). */
  private signalledUsed = 0;

  constructor(
    readonly index: number,
    readonly maxSize: number,
    private readonly ram: GuestRam,
  ) {}

  saveState(): State {
    return saveFields(this, QUEUE_FIELDS);
  }

  /** Put a saved queue back; one no driver could have set up is refused (SnapshotError). */
  loadState(s: State): void {
    loadFields(this, s, QUEUE_FIELDS, `virtqueue ${this.index}`);
    const u16 = (v: number) => Number.isInteger(v) && v >= 0 && v <= 0xffff;
    let why: string | undefined;
    if (!u16(this.lastAvail) || !u16(this.usedIdx) || !u16(this.signalledUsed))
      why = 'ring indices out of range';
    else if (!Number.isInteger(this.num) || this.num < 0 || this.num > 0xffffffff)
      why = `size ${this.num}`;
    else if (this.ready)
      // A queue not ready may hold any size the driver wrote; a ready one passed validate().
      try {
        this.validate();
      } catch (e) {
        if (!(e instanceof VirtqueueError)) throw e;
        why = e.message;
      }
    if (why) {
      this.reset();
      throw new SnapshotError(`virtqueue ${this.index} in the snapshot: ${why}`);
    }
  }

  reset(): void {
    this.num = 0;
    this.ready = false;
    this.descAddr = this.availAddr = this.usedAddr = 0;
    this.lastAvail = this.usedIdx = this.signalledUsed = 0;
  }

  /** Check the rings lie in RAM (when the driver marks the queue ready). */
  validate(): void {
    const n = this.num;
    if (n === 0 || n > this.maxSize) throw new VirtqueueError(`queue ${this.index}: bad size ${n}`);
    try {
      this.ram.offset(this.descAddr, 16 * n);
      this.ram.offset(this.availAddr, 6 + 2 * n);
      this.ram.offset(this.usedAddr, 6 + 8 * n);
    } catch (e) {
      if (e instanceof DmaError) throw new VirtqueueError(`queue ${this.index}: ring outside RAM`);
      throw e;
    }
  }

  private availIdx(): number {
    return this.ram.u16(this.availAddr + 2);
  }

  /** Requests are waiting in the available ring. */
  hasAvailable(): boolean {
    return this.ready && this.availIdx() !== this.lastAvail;
  }

  /** Take the next request, or undefined when the ring is empty. Throws VirtqueueError. */
  pop(): DescriptorChain | undefined {
    if (!this.ready) return undefined;
    const ram = this.ram;
    const idx = this.availIdx();
    const waiting = (idx - this.lastAvail) & 0xffff;
    if (waiting === 0) return undefined;
    if (waiting > this.num)
      throw new VirtqueueError(`queue ${this.index}: available index jumped by ${waiting}`);
    // Each request holds at least one of the queue's `num` descriptors until it is returned
    // (§2.7.13.1): more in flight means the driver offered descriptors it does not own.
    if (((this.lastAvail - this.usedIdx) & 0xffff) >= this.num)
      throw new VirtqueueError(
        `queue ${this.index}: more than ${this.num} requests in flight (descriptors offered twice)`,
      );
    const head = ram.u16(this.availAddr + 4 + 2 * (this.lastAvail % this.num));
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    return this.walk(head);
  }

  /**
   * Follow a chain from `head`: zero or more direct descriptors, possibly
   * ending in one that points to an indirect table (§2.7.5.3). Bounds
   * (§2.7.5.3.1): a driver never builds a chain longer than the queue size,
   * so the buffers of the whole chain, direct and indirect together, number
   * at most `num`; an indirect table's entries are indexed within its
   * length; tables do not nest. The walk therefore reads at most `num`
   * buffer descriptors plus one indirect one.
   */
  private walk(head: number): DescriptorChain {
    const ram = this.ram;
    const chain = new DescriptorChain(head, ram);
    let table = this.descAddr;
    let tableSize = this.num;
    let idx = head;
    let count = 0;
    let bytes = 0;
    let inIndirect = false;
    if (idx >= tableSize) throw new VirtqueueError(`queue ${this.index}: head ${idx} out of range`);
    for (;;) {
      const d = table + 16 * idx;
      const addr = ram.u64(d);
      const len = ram.u32(d + 8);
      const flags = ram.u16(d + 12);
      const next = ram.u16(d + 14);
      if (flags & DESC_F_INDIRECT) {
        // §2.7.5.3.1: only one level, not combined with NEXT, a whole number of descriptors.
        if (!this.indirect || inIndirect || flags & DESC_F_NEXT || len === 0 || len % 16)
          throw new VirtqueueError(`queue ${this.index}: bad indirect descriptor`);
        if (!ram.contains(addr, len))
          throw new VirtqueueError(`queue ${this.index}: indirect table outside RAM`);
        table = addr;
        tableSize = len / 16;
        idx = 0;
        inIndirect = true;
        continue;
      }
      // A loop, direct or indirect, ends here too: it never stops making the chain longer.
      if (++count > this.num)
        throw new VirtqueueError(
          `queue ${this.index}: descriptor chain loops or is longer than the queue (${this.num})`,
        );
      bytes += len;
      if (!ram.contains(addr, len)) chain.badBuffer = true;
      else if (flags & DESC_F_WRITE) {
        chain.writeAddr.push(addr);
        chain.writeLen.push(len);
        chain.writableBytes += len;
      } else {
        // §2.7.4.2: device-readable buffers come before device-writable ones.
        if (chain.writeAddr.length)
          throw new VirtqueueError(`queue ${this.index}: readable buffer after a writable one`);
        chain.readAddr.push(addr);
        chain.readLen.push(len);
        chain.readableBytes += len;
      }
      if (!(flags & DESC_F_NEXT)) break;
      idx = next;
      if (idx >= tableSize)
        throw new VirtqueueError(`queue ${this.index}: next index ${idx} out of range`);
    }
    if (bytes > MAX_CHAIN_BYTES) chain.badBuffer = true;
    return chain;
  }

  /** Return a request to the driver with `written` bytes written into its buffers. */
  push(head: number, written: number): void {
    const ram = this.ram;
    const slot = this.usedAddr + 4 + 8 * (this.usedIdx % this.num);
    ram.setU32(slot, head);
    ram.setU32(slot + 4, written);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    ram.setU16(this.usedAddr + 2, this.usedIdx);
  }

  /**
   * After pushing: should the driver be interrupted? (§2.7.7.2 / §2.7.10).
   * Also tells the driver, with event index, to notify us at its next addition.
   */
  shouldSignal(): boolean {
    const ram = this.ram;
    if (this.eventIdx) ram.setU16(this.usedAddr + 4 + 8 * this.num, this.lastAvail);
    const old = this.signalledUsed;
    const now = this.usedIdx;
    if (old === now) return false;
    let signal: boolean;
    if (this.eventIdx) {
      const usedEvent = ram.u16(this.availAddr + 4 + 2 * this.num);
      // vring_need_event: (u16)(new - event - 1) < (u16)(new - old)
      signal = ((now - usedEvent - 1) & 0xffff) < ((now - old) & 0xffff);
    } else {
      signal = (ram.u16(this.availAddr) & AVAIL_F_NO_INTERRUPT) === 0;
    }
    this.signalledUsed = now;
    return signal;
  }
}
