/** The A extension: LR/SC and AMOs (unpriv spec chapter 13), on RAM only. */
import type { Cpu } from './cpu.js';
import {
  EXC_LOAD_ACCESS,
  EXC_LOAD_MISALIGNED,
  EXC_STORE_ACCESS,
  EXC_STORE_MISALIGNED,
} from './csr-numbers.js';
import { checkWatch } from './debug.js';
import { ACC_READ, ACC_WRITE, TLB_HI, TLB_OFF } from './hart-constants.js';
import { TLB_MASK, flushTlb, tlbInsert, translate } from './mmu.js';
import { trap } from './trap.js';

/** LR/SC/AMO. Returns 1 ok, 0 illegal, -1 trapped. */
export function atomic(h: Cpu, insn: number): number {
  const f3 = (insn >>> 12) & 7;
  if (f3 !== 2 && f3 !== 3) return 0;
  const f5 = insn >>> 27;
  const rd = (insn >>> 7) & 31,
    rs1 = (insn >>> 15) & 31,
    rs2 = (insn >>> 20) & 31;
  const regs = h.regs;
  const aLo = regs[rs1 << 1],
    aHi = regs[(rs1 << 1) | 1];
  const size = f3 === 2 ? 4 : 8;
  const isLr = f5 === 2;
  if (isLr && rs2 !== 0) return 0;
  if (!isLr && f5 !== 3 && [0, 1, 4, 8, 12, 16, 20, 24, 28].indexOf(f5) < 0) return 0;
  if ((aLo & (size - 1)) !== 0) {
    trap(h, isLr ? EXC_LOAD_MISALIGNED : EXC_STORE_MISALIGNED, false, aLo, aHi);
    return -1;
  }
  const acc = isLr ? ACC_READ : ACC_WRITE;
  const i = (((aLo >>> 12) ^ h.dataSalt) & TLB_MASK) << 2;
  const tag = h.tlbTag[acc];
  let pa: number;
  if (tag[i] === ((aLo & ~0xfff) | h.dataTag) && tag[i + TLB_HI] === aHi) {
    // The TLB holds what a walk would give (mmu.ts), A and D already set.
    pa = h.ramBase + h.tlbOff[acc][i + TLB_OFF] + (aLo & 0xfff);
  } else {
    pa = translate(h, aLo, aHi, acc);
    if (pa < 0) {
      trap(h, h.xlateCause, false, aLo, aHi);
      return -1;
    }
    if (!(pa >= h.ramBase && pa + size <= h.ramBase + h.ramSize)) {
      trap(h, isLr ? EXC_LOAD_ACCESS : EXC_STORE_ACCESS, false, aLo, aHi);
      return -1;
    }
    // As a load's or store's slow path does: the next access to this page, in a
    // block too (translated AMOs go through the write TLB), takes the fast path.
    tlbInsert(h, acc, aLo, aHi, pa);
  }
  if (h.wpCount !== 0 && h.debugArmed) {
    // An AMO reads and writes; LR only reads; SC writes (the store may then not happen).
    h.exc = -1;
    if (f5 !== 3) checkWatch(h, aLo, aHi, size, false);
    if (!isLr) checkWatch(h, aLo, aHi, size, true);
    if (h.exc >= 0) {
      trap(h, h.exc, false, aLo, aHi);
      return -1;
    }
  }
  const wi = (pa - h.ramBase) >>> 2;
  const ram32 = h.ram32;
  const oLo = ram32[wi];
  const oHi = size === 8 ? ram32[wi + 1] : oLo >> 31;
  if (isLr) {
    h.resAddr = pa;
    regs[rd << 1] = oLo;
    regs[(rd << 1) | 1] = oHi;
    regs[0] = regs[1] = 0;
    return 1;
  }
  if (f5 === 3) {
    // SC
    if (h.resAddr === pa) {
      ram32[wi] = regs[rs2 << 1];
      if (size === 8) ram32[wi + 1] = regs[(rs2 << 1) | 1];
      atomicWrote(h, wi >>> 10);
      regs[rd << 1] = 0;
    } else regs[rd << 1] = 1;
    regs[(rd << 1) | 1] = 0;
    h.resAddr = -1;
    regs[0] = regs[1] = 0;
    return 1;
  }
  const bLo = regs[rs2 << 1];
  const bHi = size === 8 ? regs[(rs2 << 1) | 1] : bLo >> 31;
  let nLo = 0,
    nHi = 0;
  switch (f5) {
    case 1: // AMOSWAP
      nLo = bLo;
      nHi = bHi;
      break;
    case 0: // AMOADD
      nLo = (oLo + bLo) | 0;
      nHi = (oHi + bHi + (nLo >>> 0 < oLo >>> 0 ? 1 : 0)) | 0;
      break;
    case 4:
      nLo = oLo ^ bLo;
      nHi = oHi ^ bHi;
      break;
    case 12:
      nLo = oLo & bLo;
      nHi = oHi & bHi;
      break;
    case 8:
      nLo = oLo | bLo;
      nHi = oHi | bHi;
      break;
    default: {
      // MIN/MAX/MINU/MAXU
      const signed = f5 === 16 || f5 === 20;
      let less: boolean;
      if (size === 4) less = signed ? oLo < bLo : oLo >>> 0 < bLo >>> 0;
      else if (signed) less = oHi < bHi || (oHi === bHi && oLo >>> 0 < bLo >>> 0);
      else less = oHi >>> 0 < bHi >>> 0 || (oHi === bHi && oLo >>> 0 < bLo >>> 0);
      const pickOld = f5 === 16 || f5 === 24 ? less : !less;
      nLo = pickOld ? oLo : bLo;
      nHi = pickOld ? oHi : bHi;
    }
  }
  ram32[wi] = nLo;
  if (size === 8) ram32[wi + 1] = nHi;
  atomicWrote(h, wi >>> 10);
  h.resAddr = -1;
  regs[rd << 1] = oLo;
  regs[(rd << 1) | 1] = oHi;
  regs[0] = regs[1] = 0;
  return 1;
}

/** Bookkeeping after an AMO or SC wrote RAM page `page` (the stores' slow path does the same). */
export function atomicWrote(h: Cpu, page: number): void {
  h.dirtyPages[page] = 1;
  h.code.pageWritten(page);
  // An HTIF exit written by an AMO lands at this instruction, as a store's does.
  if (page * 4096 === h.watchPage) h.bus.mmioWritten = true;
  // Linux clears accessed bits with AMOs (ptep_test_and_clear_young), without an SFENCE.
  if (h.ptPage[page] !== 0) flushTlb(h);
}
