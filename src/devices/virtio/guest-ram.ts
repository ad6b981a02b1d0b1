/**
 * Device access to guest RAM (DMA) for the virtio devices. Every address the
 * guest hands a device is checked here: an access outside RAM throws
 * DmaError, which the transport turns into a failed request or
 * DEVICE_NEEDS_RESET, never a host crash.
 */
import type { Bus } from '../../machine/bus.js';

export class DmaError extends Error {}

export class GuestRam {
  private readonly ram8: Uint8Array;
  private readonly base: number;
  private readonly size: number;

  constructor(private readonly bus: Bus) {
    this.ram8 = bus.ram8;
    this.base = bus.ramBase;
    this.size = bus.ramSize;
  }

  /** Does [paddr, paddr+len) lie in RAM? (A check without the cost of an exception.) */
  contains(paddr: number, len: number): boolean {
    const off = paddr - this.base;
    return off >= 0 && len >= 0 && off + len <= this.size;
  }

  /** RAM offset of [paddr, paddr+len), or throws DmaError. */
  offset(paddr: number, len: number): number {
    const off = paddr - this.base;
    if (!(off >= 0 && len >= 0 && off + len <= this.size))
      throw new DmaError(`DMA outside RAM: 0x${paddr.toString(16)} (+${len})`);
    return off;
  }

  u16(paddr: number): number {
    const o = this.offset(paddr, 2);
    return this.ram8[o] | (this.ram8[o + 1] << 8);
  }

  u32(paddr: number): number {
    const o = this.offset(paddr, 4);
    const r = this.ram8;
    return (r[o] | (r[o + 1] << 8) | (r[o + 2] << 16) | (r[o + 3] << 24)) >>> 0;
  }

  /** A 64-bit guest address as a number; addresses at or above 2^53 can never be RAM. */
  u64(paddr: number): number {
    const lo = this.u32(paddr);
    const hi = this.u32(paddr + 4);
    return hi >= 0x200000 ? Number.MAX_SAFE_INTEGER : hi * 0x100000000 + lo;
  }

  setU16(paddr: number, v: number): void {
    const o = this.offset(paddr, 2);
    this.ram8[o] = v & 0xff;
    this.ram8[o + 1] = (v >>> 8) & 0xff;
    this.bus.noteDmaWrite(paddr, 2);
  }

  setU32(paddr: number, v: number): void {
    const o = this.offset(paddr, 4);
    const r = this.ram8;
    r[o] = v & 0xff;
    r[o + 1] = (v >>> 8) & 0xff;
    r[o + 2] = (v >>> 16) & 0xff;
    r[o + 3] = (v >>> 24) & 0xff;
    this.bus.noteDmaWrite(paddr, 4);
  }

  /** A view of guest RAM (no copy). Call noteWrite after writing into it. */
  view(paddr: number, len: number): Uint8Array {
    const o = this.offset(paddr, len);
    return this.ram8.subarray(o, o + len);
  }

  noteWrite(paddr: number, len: number): void {
    this.bus.noteDmaWrite(paddr, len);
  }
}
