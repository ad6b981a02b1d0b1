/** FLW/FLD/FSW/FSD: floating-point loads and stores, always through the slow paths. */
import type { Cpu } from './cpu.js';
import { MSTATUS_FS } from './csr-numbers.js';
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
