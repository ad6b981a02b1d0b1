/**
 * The slow paths of loads, stores and fetches: TLB misses, misaligned and
 * page-crossing accesses, MMIO, watchpoints. A fault is left in h.exc (with
 * the address in excTval) for the caller to turn into a trap.
 */
import type { Cpu } from './cpu.js';
import { EXC_INSN_ACCESS, EXC_LOAD_ACCESS, EXC_STORE_ACCESS } from './csr-numbers.js';
import { checkWatch, debugPage } from './debug.js';
import { ACC_FETCH, ACC_READ, ACC_WRITE, TLB_HI, TLB_OFF } from './hart-constants.js';
import { TLB_MASK, flushTlb, tlbInsert, translate, writeChangesTranslations } from './mmu.js';

export function fault(h: Cpu, cause: number, vLo: number, vHi: number): void {
  h.exc = cause;
  h.excTvalLo = vLo;
  h.excTvalHi = vHi;
}

/** Translate for a data access of `size` bytes, faulting as the spec says. Returns paddr or -1. */
export function xlateData(h: Cpu, vLo: number, vHi: number, access: number): number {
  const pa = translate(h, vLo, vHi, access);
  if (pa < 0) {
    fault(h, h.xlateCause, vLo, vHi);
    return -1;
  }
  // A write hit on a page marks it dirty in the PTE, so the write TLB may cache it.
  tlbInsert(h, access, vLo, vHi, pa);
  return pa;
}

/** Slow path of loads (misaligned, page-crossing, MMIO, TLB miss). Value in return (lo) and ldHi. */
export function loadSlow(h: Cpu, vLo: number, vHi: number, size: number): number {
  const po = vLo & 0xfff;
  if ((vLo & (size - 1)) !== 0 && po + size > 4096) {
    // Page-crossing misaligned: byte by byte.
    let lo = 0,
      hi = 0;
    for (let i = 0; i < size; i++) {
      const aLo = (vLo + i) | 0;
      const aHi = aLo >>> 0 < vLo >>> 0 ? (vHi + 1) | 0 : vHi;
      const b = loadSlow(h, aLo, aHi, 1);
      if (h.exc >= 0) {
        h.excTvalLo = vLo;
        h.excTvalHi = vHi;
        return 0;
      }
      if (i < 4) lo |= (b & 0xff) << (8 * i);
      else hi |= (b & 0xff) << (8 * (i - 4));
    }
    h.ldHi = hi;
    return lo;
  }
  const pa = xlateData(h, vLo, vHi, ACC_READ);
  if (pa < 0) return 0;
  if (h.wpCount !== 0 && h.debugArmed) {
    checkWatch(h, vLo, vHi, size, false);
    if (h.exc >= 0) return 0;
  }
  if (pa >= h.ramBase && pa + size <= h.ramBase + h.ramSize) {
    const off = pa - h.ramBase;
    const r8 = h.ram8;
    let lo = 0,
      hi = 0;
    for (let i = 0; i < size; i++) {
      if (i < 4) lo |= r8[off + i] << (8 * i);
      else hi |= r8[off + i] << (8 * (i - 4));
    }
    h.ldHi = hi;
    return lo;
  }
  // MMIO: aligned accesses only (8 bytes = two 4-byte accesses).
  if ((pa & (size - 1)) !== 0) {
    fault(h, EXC_LOAD_ACCESS, vLo, vHi);
    return 0;
  }
  const bus = h.bus;
  bus.fault = false;
  let lo: number,
    hi = 0;
  if (size === 8) {
    lo = bus.load(pa, 4) | 0;
    hi = bus.load(pa + 4, 4) | 0;
  } else lo = bus.load(pa, size as 1 | 2 | 4) | 0;
  if (bus.fault) {
    bus.fault = false;
    fault(h, EXC_LOAD_ACCESS, vLo, vHi);
    return 0;
  }
  h.ldHi = hi;
  return lo;
}

/** Slow path of stores. */
export function storeSlow(
  h: Cpu,
  vLo: number,
  vHi: number,
  size: number,
  lo: number,
  hi: number,
): void {
  // Any store ends the reservation, as on the fast path (one rule everywhere).
  h.resAddr = -1;
  const po = vLo & 0xfff;
  if ((vLo & (size - 1)) !== 0 && po + size > 4096) {
    // Check both pages first so a fault leaves memory untouched.
    const endLo = (vLo + size - 1) | 0;
    const endHi = endLo >>> 0 < vLo >>> 0 ? (vHi + 1) | 0 : vHi;
    if (translate(h, vLo, vHi, ACC_WRITE) < 0 || translate(h, endLo, endHi, ACC_WRITE) < 0) {
      fault(h, h.xlateCause, vLo, vHi);
      return;
    }
    if (h.wpCount !== 0 && h.debugArmed && h.watchStopsBefore) {
      // Stopping before the access must leave every byte unwritten.
      checkWatch(h, vLo, vHi, size, true);
      if (h.exc >= 0) return;
    }
    for (let i = 0; i < size; i++) {
      const aLo = (vLo + i) | 0;
      const aHi = aLo >>> 0 < vLo >>> 0 ? (vHi + 1) | 0 : vHi;
      const b = i < 4 ? lo >>> (8 * i) : hi >>> (8 * (i - 4));
      storeSlow(h, aLo, aHi, 1, b & 0xff, 0);
      if (h.exc >= 0) return;
    }
    return;
  }
  const pa = xlateData(h, vLo, vHi, ACC_WRITE);
  if (pa < 0) return;
  if (h.wpCount !== 0 && h.debugArmed) {
    checkWatch(h, vLo, vHi, size, true);
    if (h.exc >= 0) return;
  }
  if (pa >= h.ramBase && pa + size <= h.ramBase + h.ramSize) {
    const off = pa - h.ramBase;
    const flush = h.ptPage[off >>> 12] !== 0 && writeChangesTranslations(h, off, size);
    const r8 = h.ram8;
    for (let i = 0; i < size; i++) r8[off + i] = i < 4 ? lo >>> (8 * i) : hi >>> (8 * (i - 4));
    // Pages kept out of the write TLB (tohost, watchpoints, page tables) are flagged here, not by tlbInsert.
    h.dirtyPages[off >>> 12] = 1;
    if (off - (off & 0xfff) === h.watchPage) h.bus.mmioWritten = true;
    if (flush) flushTlb(h);
    return;
  }
  if ((pa & (size - 1)) !== 0) {
    fault(h, EXC_STORE_ACCESS, vLo, vHi);
    return;
  }
  const bus = h.bus;
  bus.fault = false;
  if (size === 8) {
    bus.store(pa, 4, lo);
    bus.store(pa + 4, 4, hi);
  } else bus.store(pa, size as 1 | 2 | 4, lo);
  if (bus.fault) {
    bus.fault = false;
    fault(h, EXC_STORE_ACCESS, vLo, vHi);
  }
}

/**
 * Put the page of the pc vHi:vLo in the fetch TLB as the next fetch would
 * (the walk, its A bit), for the translator's dispatcher: where the block
 * loop stopped only because the fetch TLB did not map the pc, it looks
 * again and runs the block there. Before, the interpreter did the one
 * instruction (its fetch fills the TLB) and then the rest of that basic
 * block, a block's entry being only at its start: about 30 k times in a
 * boot, after SFENCE.VMA, privilege changes and new pages. False where the
 * fetch would fault or stop, or the page is not RAM, or a breakpoint or
 * watchpoint is set: the interpreter does the instruction then (and traps).
 */
export function fillFetchTlb(h: Cpu, vLo: number, vHi: number): boolean {
  // With breakpoints or watchpoints set, the interpreter's checks come first (a breakpoint
  // stops before the fetch's walk, which may set an A bit).
  if (h.debugHit !== 0 || h.trapsTaken >= h.trapLimit || h.bpCount + h.wpCount !== 0) return false;
  const pa = translate(h, vLo, vHi, ACC_FETCH);
  return pa >= 0 && tlbInsert(h, ACC_FETCH, vLo, vHi, pa);
}

/**
 * fetchSlow's result, the raw instruction bits (16 or 32). Passed in an
 * Int32Array, as the pc is (Cpu.pcLo): with V8's pointer compression (the
 * browser's) a 32-bit value returned or passed is a heap number whenever it
 * does not fit in 31 bits, and optimized code that had seen only small ones
 * bails out ("not a Smi") the first time it gets one.
 */
export const fetched = new Int32Array(1);

/** Fetch slow path at h's pc: true with the bits in fetched[0], or false with exc set. */
export function fetchSlow(h: Cpu): boolean {
  const pcLo = h.pcLo,
    pcHi = h.pcHi;
  const fvpn = pcLo >>> 12;
  const fi = ((fvpn ^ h.fetchSalt) & TLB_MASK) << 2;
  const fTag = h.tlbTag[ACC_FETCH];
  // RAM offset of the instruction (-1: not in RAM, at physical address pa). Offsets, not
  // physical addresses, on the common path: RAM's addresses are above 2^31, so V8 keeps
  // them as doubles, boxed wherever one meets a call's result.
  let off: number;
  let pa = -1;
  if (fTag[fi] === ((pcLo & ~0xfff) | h.fetchTag) && fTag[fi + TLB_HI] === pcHi) {
    // After a translated block, the interpreter often starts on a page the TLB holds already.
    off = h.tlbOff[ACC_FETCH][fi + TLB_OFF] + (pcLo & 0xfff);
  } else {
    pa = translate(h, pcLo, pcHi, ACC_FETCH);
    if (pa < 0) {
      fault(h, h.xlateCause, pcLo, pcHi);
      return false;
    }
    off = pa >= h.ramBase && pa + 2 <= h.ramBase + h.ramSize ? pa - h.ramBase : -1;
    if (off >= 0) tlbInsert(h, ACC_FETCH, pcLo, pcHi, pa);
  }
  let lowHalf: number;
  if (off >= 0) {
    // A page with a breakpoint is fetched through here every time (see debugPage).
    h.fVpn = h.bpCount !== 0 && debugPage(h, pcLo, pcHi, true) ? -1 : fvpn;
    h.fHi = pcHi;
    h.fOff = off - (pcLo & 0xfff);
    lowHalf = h.ram16[off >>> 1];
  } else {
    h.bus.fault = false;
    lowHalf = h.bus.load(pa, 2);
    if (h.bus.fault) {
      h.bus.fault = false;
      fault(h, EXC_INSN_ACCESS, pcLo, pcHi);
      return false;
    }
  }
  if ((lowHalf & 3) !== 3) {
    fetched[0] = lowHalf;
    return true;
  }
  // 32-bit instruction: the upper half may be on the next page.
  let highHalf: number;
  if ((pcLo & 0xfff) !== 0xffe && off >= 0 && off + 4 <= h.ramSize) {
    highHalf = h.ram16[(off + 2) >>> 1];
  } else {
    const nLo = (pcLo + 2) | 0;
    const nHi = nLo >>> 0 < pcLo >>> 0 ? (pcHi + 1) | 0 : pcHi;
    let pa2: number;
    if ((pcLo & 0xfff) === 0xffe) {
      pa2 = translate(h, nLo, nHi, ACC_FETCH);
      if (pa2 < 0) {
        fault(h, h.xlateCause, nLo, nHi);
        return false;
      }
    } else pa2 = (off >= 0 ? h.ramBase + off : pa) + 2;
    if (pa2 >= h.ramBase && pa2 + 2 <= h.ramBase + h.ramSize) {
      highHalf = h.ram16[(pa2 - h.ramBase) >>> 1];
    } else {
      h.bus.fault = false;
      highHalf = h.bus.load(pa2, 2);
      if (h.bus.fault) {
        h.bus.fault = false;
        fault(h, EXC_INSN_ACCESS, nLo, nHi);
        return false;
      }
    }
  }
  fetched[0] = lowHalf | (highHalf << 16);
  return true;
}
