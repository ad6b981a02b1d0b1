import { newPageFlags, nextFlagged } from '../util/page-flags.js';
import { bytesEqual, ZERO_PAGE } from '../util/bytes-equal.js';
import type { MmioDevice } from '../devices/device.js';
import { HART_AREA, wasmPagesFor } from '../cpu/hart-memory.js';

interface Region {
  base: number;
  size: number;
  dev: MmioDevice;
}

/**
 * The physical address space: one RAM block plus MMIO windows. Physical
 * addresses are plain non-negative numbers (at most 56 bits, exact in a double).
 *
 * The CPU reaches RAM directly through the typed-array views (its TLB holds
 * offsets into them); everything else comes here through load/store, which
 * report an access fault through `fault` instead of throwing, so the caller
 * can raise the architectural exception.
 */
export class Bus {
  /**
   * The WebAssembly memory RAM lives in (after the hart area, see
   * cpu/hart-memory.ts), which translated code addresses; undefined when
   * RAM is too large for one.
   */
  readonly memory: WebAssembly.Memory | undefined;
  /** RAM as a DataView (offset 0 is ramBase; the buffer under it may hold more than RAM). */
  readonly ramView: DataView;
  readonly ram8: Uint8Array;
  readonly ram16: Uint16Array;
  readonly ram32: Int32Array;
  private regions: Region[] = [];
  /** Set by load/store when the address hits neither RAM nor a device. */
  fault = false;
  /** Set by store when an MMIO write happened (the CPU ends its slice on it). */
  mmioWritten = false;
  /**
   * Called after anyone but the hart wrote guest RAM (DMA, HTIF, the
   * debugger, loaders): the hart drops what it cached of those bytes (its
   * reservation, translations walked through page-table pages).
   */
  onDmaWrite: ((paddr: number, len: number) => void) | undefined;
  /**
   * One byte per 4 KiB RAM page, set when the page may have been written
   * since the flag was last cleared (state digests hash only those pages).
   * The CPU sets it when a page enters its write TLB, so whoever clears
   * flags must also flush the CPU's write TLB.
   */
  readonly dirtyPages: Uint8Array;

  constructor(
    readonly ramBase: number,
    readonly ramSize: number,
  ) {
    if (ramSize % 4096 !== 0) throw new Error('RAM size must be a multiple of 4 KiB');
    this.memory = wasmMemory(ramSize);
    const buf = this.memory?.buffer ?? new ArrayBuffer(ramSize);
    const at = this.memory ? HART_AREA : 0;
    this.ram8 = new Uint8Array(buf, at, ramSize);
    this.ram16 = new Uint16Array(buf, at, ramSize / 2);
    this.ram32 = new Int32Array(buf, at, ramSize / 4);
    this.ramView = new DataView(buf, at, ramSize);
    // RAM is zero now; every write from here on flags its page.
    this.dirtyPages = newPageFlags(ramSize / 4096);
    this.touched = this.addDirtyListener(true);
  }

  private readonly dirtyListeners: Uint8Array[] = [];

  /**
   * Pages written at some time since the machine was made (as far as
   * collected; with dirtyPages, every such page). The others are zero and
   * were never touched: a restore leaves them alone, since first touching
   * host memory is slow and most of a guest's RAM is never used.
   */
  private readonly touched: Uint8Array;

  /** RAM page `p` may hold something other than zeros (it was written since the machine was made). */
  mayBeNonZero(p: number): boolean {
    return this.touched[p] !== 0 || this.dirtyPages[p] !== 0;
  }

  /**
   * RAM page `p` holds only zeros. A page never written since the machine
   * was made is known zero and not read: first touching host memory is slow
   * (reading or zeroing all of a 256 MiB guest's RAM took about 1 s on the
   * development host), and most of a guest's RAM is never used.
   */
  pageIsZero(p: number): boolean {
    if (!this.mayBeNonZero(p)) return true;
    // Most pages that are not zero show it in their first words, without a call.
    const r = this.ram32;
    for (let i = p * 1024; i < p * 1024 + 16; i++) if (r[i] !== 0) return false;
    return bytesEqual(this.ram8.subarray(p * 4096, p * 4096 + 4096), ZERO_PAGE);
  }

  /** Has any listener collected yet (then dirtyPages no longer holds every page ever written)? */
  private collected = false;

  /**
   * A bitmap (one byte per page) that collectDirty() will OR written pages
   * into. It starts with every page flagged — or, with `sinceZero`, with
   * those written at some time since the machine was made, as far as
   * collected: the caller then takes RAM as all zero at creation, and the
   * flags (with the bus's, at the next collect) bring every page written
   * since. The others are zero: a listener need not look at them.
   */
  addDirtyListener(sinceZero = false): Uint8Array {
    const map = newPageFlags(this.dirtyPages.length);
    if (!sinceZero) map.fill(1);
    else if (this.collected) map.set(this.touched);
    this.dirtyListeners.push(map);
    return map;
  }

  /**
   * Hand the pages written since the last call to every listener, and clear
   * the flags. The caller must also flush the CPU's write TLB (see dirtyPages).
   */
  collectDirty(): void {
    this.collected = true;
    const d = this.dirtyPages;
    const ls = this.dirtyListeners;
    for (let p = nextFlagged(d, 0); p >= 0; p = nextFlagged(d, p + 1)) {
      for (let i = 0; i < ls.length; i++) ls[i][p] = 1;
      d[p] = 0;
    }
  }

  /** Flag the RAM pages of [paddr, paddr+len) as written. */
  markDirty(paddr: number, len: number): void {
    if (len <= 0) return;
    const first = Math.max(0, Math.floor((paddr - this.ramBase) / 4096));
    const last = Math.min(
      this.dirtyPages.length - 1,
      Math.floor((paddr + len - 1 - this.ramBase) / 4096),
    );
    for (let p = first; p <= last; p++) this.dirtyPages[p] = 1;
  }

  attach(base: number, size: number, dev: MmioDevice): void {
    for (const r of this.regions) {
      if (base < r.base + r.size && r.base < base + size)
        throw new Error(`${dev.name} at 0x${base.toString(16)} overlaps ${r.dev.name}`);
    }
    this.regions.push({ base, size, dev });
    this.regions.sort((a, b) => a.base - b.base);
  }

  /** The device window holding `paddr` (its base and device), if any: for observers, read-only. */
  deviceAt(paddr: number): { readonly base: number; readonly dev: MmioDevice } | undefined {
    for (const r of this.regions) if (paddr >= r.base && paddr < r.base + r.size) return r;
    return undefined;
  }

  /** True when [paddr, paddr+len) lies wholly in RAM. */
  isRam(paddr: number, len: number): boolean {
    return paddr >= this.ramBase && paddr + len <= this.ramBase + this.ramSize;
  }

  private find(paddr: number, width: number): Region | undefined {
    for (const r of this.regions) {
      if (paddr >= r.base && paddr + width <= r.base + r.size) return r;
    }
    return undefined;
  }

  /** Load 1, 2 or 4 bytes (zero-extended, as an unsigned number). Sets `fault` when nothing answers. */
  load(paddr: number, width: 1 | 2 | 4): number {
    if (this.isRam(paddr, width)) {
      const off = paddr - this.ramBase;
      let v = 0;
      for (let i = width - 1; i >= 0; i--) v = v * 256 + this.ram8[off + i];
      return v;
    }
    const r = this.find(paddr, width);
    if (!r) {
      this.fault = true;
      return 0;
    }
    return r.dev.read(paddr - r.base, width) >>> 0;
  }

  /** Store the low 1, 2 or 4 bytes of `value`. Sets `fault` when nothing answers. */
  store(paddr: number, width: 1 | 2 | 4, value: number): void {
    if (this.isRam(paddr, width)) {
      const off = paddr - this.ramBase;
      for (let i = 0; i < width; i++) this.ram8[off + i] = (value >>> (8 * i)) & 0xff;
      this.noteDmaWrite(paddr, width);
      return;
    }
    const r = this.find(paddr, width);
    if (!r) {
      this.fault = true;
      return;
    }
    this.mmioWritten = true;
    r.dev.write(paddr - r.base, width, value >>> 0);
  }

  /** RAM at [paddr, paddr+len) was written by a device, the debugger or a loader (not the hart). */
  noteDmaWrite(paddr: number, len: number): void {
    this.markDirty(paddr, len);
    this.onDmaWrite?.(paddr, len);
  }

  /** Copy bytes into RAM (loaders); throws when the range is not RAM. */
  writeBytes(paddr: number, data: Uint8Array): void {
    if (!this.isRam(paddr, data.length))
      throw new Error(
        `image of ${data.length} bytes at 0x${paddr.toString(16)} does not fit in RAM ` +
          `(0x${this.ramBase.toString(16)}..0x${(this.ramBase + this.ramSize).toString(16)})`,
      );
    this.ram8.set(data, paddr - this.ramBase);
    this.noteDmaWrite(paddr, data.length);
  }

  readBytes(paddr: number, len: number): Uint8Array {
    if (!this.isRam(paddr, len)) throw new Error(`0x${paddr.toString(16)} is not RAM`);
    return this.ram8.slice(paddr - this.ramBase, paddr - this.ramBase + len);
  }
}

/**
 * A WebAssembly memory with room for the hart area and RAM (see
 * hart-memory.ts), or undefined when RAM is too large for one or the host
 * has no WebAssembly: the machine then runs on the interpreter alone.
 */
function wasmMemory(ramSize: number): WebAssembly.Memory | undefined {
  const pages = wasmPagesFor(ramSize);
  if (pages === 0 || typeof WebAssembly === 'undefined') return undefined;
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages });
  } catch {
    return undefined; // the host could not reserve it
  }
}
