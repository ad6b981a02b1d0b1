/**
 * FLW/FLD/FSW/FSD: floating-point loads and stores. An aligned access whose
 * page the TLB holds is done here, as the interpreter's integer loads and
 * stores do it (Linux saves and restores all 32 FP registers at a switch
 * between processes that use them); everything else takes the slow paths.
 */
import type { Cpu } from './cpu.js';
import { MSTATUS_FS } from './csr-numbers.js';
import { ACC_READ, ACC_WRITE, TLB_HI, TLB_OFF } from './hart-constants.js';
import { TLB_MASK } from './mmu.js';
import { loadSlow, storeSlow } from './slow-access.js';
import { trap } from './trap.js';

/** FLW/FLD/FSW/FSD. Returns false after a trap. */
export function fpLoadStore(h: Cpu, insn: number, f3: number): boolean {
  const isStore = (insn & 0x7f) === 0x27;
  const rs1 = (insn >>> 15) & 31;
  const imm = isStore ? ((insn >> 20) & ~0x1f) | ((insn >>> 7) & 0x1f) : insn >> 20;
  const bLo = h.regs[rs1 << 1];
  const aLo = (bLo + imm) | 0;
  const aHi = (h.regs[(rs1 << 1) | 1] + (imm >> 31) + (aLo >>> 0 < bLo >>> 0 ? 1 : 0)) | 0;
  const size = f3 === 2 ? 4 : 8;
  const fr = h.fpu.fr;
  if ((aLo & (size - 1)) === 0) {
    const acc = isStore ? ACC_WRITE : ACC_READ;
    const i = (((aLo >>> 12) ^ h.dataSalt) & TLB_MASK) << 2;
    const tag = h.tlbTag[acc];
    if (tag[i] === ((aLo & ~0xfff) | h.dataTag) && tag[i + TLB_HI] === aHi) {
      // A write-TLB entry means RAM that the hart may write and that needs no
      // bookkeeping (mmu.ts tlbInsert): what storeSlow would find.
      const w = (h.tlbOff[acc][i + TLB_OFF] + (aLo & 0xfff)) >>> 2;
      const ram32 = h.ram32;
      if (isStore) {
        const r = (insn >>> 20) & 31;
        ram32[w] = fr[2 * r];
        if (size === 8) ram32[w + 1] = fr[2 * r + 1];
        h.resAddr = -1;
      } else {
        const rd = (insn >>> 7) & 31;
        fr[2 * rd] = ram32[w];
        fr[2 * rd + 1] = size === 4 ? -1 : ram32[w + 1]; // NaN-box singles
        h.mstatus |= MSTATUS_FS;
      }
      return true;
    }
  }
  h.exc = -1;
  if (isStore) {
    const r = (insn >>> 20) & 31;
    storeSlow(h, aLo, aHi, size, fr[2 * r], fr[2 * r + 1]);
  } else {
    const rd = (insn >>> 7) & 31;
    const lo = loadSlow(h, aLo, aHi, size);
    if (h.exc < 0) {
      fr[2 * rd] = lo;
      fr[2 * rd + 1] = size === 4 ? -1 : h.ldHi; // NaN-box singles
      h.mstatus |= MSTATUS_FS;
    }
  }
  if (h.exc >= 0) {
    trap(h, h.exc, false, h.excTvalLo, h.excTvalHi);
    return false;
  }
  return true;
}
