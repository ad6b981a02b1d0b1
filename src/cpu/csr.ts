/** Control and status registers: reads and writes with their side effects (priv spec chapter 2, 3.1, 4.1). */
import type { Cpu } from './cpu.js';
import {
  ALL_INTS,
  CSR,
  MEDELEG_MASK,
  MENVCFG_STCE_HI,
  MIP_SEIP,
  MIP_SSIP,
  MIP_STIP,
  MISA_HI,
  MISA_LO,
  MSTATUS_FS,
  MSTATUS_MPP,
  MSTATUS_MPP_SHIFT,
  MSTATUS_TVM,
  MSTATUS_WRITABLE,
  SSTATUS_MASK,
  S_INTS,
} from './csr-numbers.js';
import { PRIV_M, PRIV_S, PRIV_U, TWO32 } from './hart-constants.js';
import { selectAddressSpace } from './mmu.js';
import { timeNow, updateSstc, updateTags } from './trap.js';

/** CSRs whose writes can make an interrupt deliverable or move the Sstc timer (run() re-checks after them). */
export const IRQ_AFFECTING_CSR = new Uint8Array(4096);
for (const c of [
  CSR.mstatus,
  CSR.sstatus,
  CSR.mie,
  CSR.sie,
  CSR.mip,
  CSR.sip,
  CSR.mideleg,
  CSR.stimecmp,
  CSR.menvcfg,
  CSR.mcycle,
  CSR.minstret,
])
  IRQ_AFFECTING_CSR[c] = 1;
/**
 * CSRs whose writes move a timer deadline (Sstc): the slice must end, so the
 * board sets the next slice's length by the new deadline. Checking in place
 * is not enough: a deadline a few instructions ahead would be passed and its
 * interrupt taken at the slice's end — wherever that falls, which differs
 * between a recording and its replay.
 */
export const DEADLINE_CSR = new Uint8Array(4096);
DEADLINE_CSR[CSR.stimecmp] = 1;
DEADLINE_CSR[CSR.menvcfg] = 1;

export function counterAllowed(h: Cpu, num: number): boolean {
  const bit = 1 << (num & 31);
  if (h.priv === PRIV_M) return true;
  if ((h.mcounteren & bit) === 0) return false;
  if (h.priv === PRIV_U && (h.scounteren & bit) === 0) return false;
  return true;
}

export function setCv(h: Cpu, lo: number, hi: number): void {
  h.cvLo = lo | 0;
  h.cvHi = hi | 0;
}

export function setCvNum(h: Cpu, v: number): void {
  h.cvLo = (v % TWO32) | 0;
  h.cvHi = Math.floor(v / TWO32) | 0;
}

/** Read a CSR into cvLo/cvHi; false = illegal instruction (priv spec 2.1, 2.2). */
export function csrRead(h: Cpu, num: number): boolean {
  if (((num >>> 8) & 3) > h.priv) return false;
  const lo = h.csrLo,
    hi = h.csrHi;
  switch (num) {
    case CSR.fflags:
    case CSR.frm:
    case CSR.fcsr: {
      if ((h.mstatus & MSTATUS_FS) === 0) return false;
      const f = h.fpu;
      setCv(
        h,
        num === CSR.fflags ? f.fflags : num === CSR.frm ? f.frm : (f.frm << 5) | f.fflags,
        0,
      );
      return true;
    }
    case CSR.cycle:
    case CSR.instret:
      if (!counterAllowed(h, num)) return false;
      setCvNum(h, h.icount + (num === CSR.cycle ? h.cycleOffset : h.instretOffset));
      return true;
    case CSR.time:
      if (!counterAllowed(h, num)) return false;
      setCvNum(h, timeNow(h));
      return true;
    case CSR.mcycle:
      setCvNum(h, h.icount + h.cycleOffset);
      return true;
    case CSR.minstret:
      setCvNum(h, h.icount + h.instretOffset);
      return true;
    case CSR.sstatus: {
      const ms = h.mstatus & SSTATUS_MASK;
      setCv(h, ms, 2 | ((ms & MSTATUS_FS) === MSTATUS_FS ? 0x80000000 : 0));
      return true;
    }
    case CSR.mstatus: {
      const ms = h.mstatus;
      setCv(h, ms, 0xa | ((ms & MSTATUS_FS) === MSTATUS_FS ? 0x80000000 : 0));
      return true;
    }
    case CSR.sie:
      setCv(h, h.mie & h.mideleg, 0);
      return true;
    case CSR.sip:
      setCv(h, h.mip & h.mideleg, 0);
      return true;
    case CSR.mie:
      setCv(h, h.mie, 0);
      return true;
    case CSR.mip:
      setCv(h, h.mip, 0);
      return true;
    case CSR.misa:
      setCv(h, MISA_LO, MISA_HI);
      return true;
    case CSR.medeleg:
      setCv(h, h.medeleg, 0);
      return true;
    case CSR.mideleg:
      setCv(h, h.mideleg, 0);
      return true;
    case CSR.mcounteren:
      setCv(h, h.mcounteren, 0);
      return true;
    case CSR.scounteren:
      setCv(h, h.scounteren, 0);
      return true;
    case CSR.mcountinhibit:
      setCv(h, h.mcountinhibit, 0);
      return true;
    case CSR.mhartid:
      setCv(h, h.hartId, 0);
      return true;
    case CSR.mvendorid:
    case CSR.marchid:
    case CSR.mimpid:
    case CSR.mconfigptr:
      setCv(h, 0, 0);
      return true;
    case CSR.satp:
      if (h.priv === PRIV_S && (h.mstatus & MSTATUS_TVM) !== 0) return false;
      setCv(h, lo[num], hi[num]);
      return true;
    case CSR.stimecmp:
      if (h.priv === PRIV_S && (hi[CSR.menvcfg] & MENVCFG_STCE_HI) === 0) return false;
      setCv(h, lo[num], hi[num]);
      return true;
    case CSR.stvec:
    case CSR.sscratch:
    case CSR.sepc:
    case CSR.scause:
    case CSR.stval:
    case CSR.senvcfg:
    case CSR.mtvec:
    case CSR.mscratch:
    case CSR.mepc:
    case CSR.mcause:
    case CSR.mtval:
    case CSR.menvcfg:
    case CSR.tselect:
    case CSR.tdata1:
    case CSR.tdata2:
    case CSR.tdata3:
      setCv(h, lo[num], hi[num]);
      return true;
  }
  // PMP registers (stored, not enforced), HPM counters/events (hardwired zero).
  if ((num >= 0x3a0 && num <= 0x3af && (num & 1) === 0) || (num >= 0x3b0 && num <= 0x3ef)) {
    setCv(h, lo[num], hi[num]);
    return true;
  }
  if (
    (num >= 0xc03 && num <= 0xc1f) ||
    (num >= 0xb03 && num <= 0xb1f) ||
    (num >= 0x323 && num <= 0x33f)
  ) {
    if (num >= 0xc03 && num <= 0xc1f && !counterAllowed(h, num)) return false;
    setCv(h, 0, 0);
    return true;
  }
  return false;
}

/** Write a CSR (after csrRead succeeded); false = illegal. */
export function csrWrite(h: Cpu, num: number, vLo: number, vHi: number): boolean {
  if (num >>> 10 === 3) return false; // read-only space (priv spec 2.1)
  const lo = h.csrLo,
    hi = h.csrHi;
  switch (num) {
    case CSR.fflags:
      h.fpu.fflags = vLo & 0x1f;
      h.mstatus |= MSTATUS_FS;
      return true;
    case CSR.frm:
      h.fpu.frm = vLo & 7;
      h.mstatus |= MSTATUS_FS;
      return true;
    case CSR.fcsr:
      h.fpu.fflags = vLo & 0x1f;
      h.fpu.frm = (vLo >>> 5) & 7;
      h.mstatus |= MSTATUS_FS;
      return true;
    case CSR.mcycle:
      h.cycleOffset = vHi * TWO32 + (vLo >>> 0) - h.icount - 1;
      return true;
    case CSR.minstret:
      // The writing instruction itself retires after the write (priv spec 3.3.1).
      h.instretOffset = (vHi >>> 0) * TWO32 + (vLo >>> 0) - h.icount - 1;
      return true;
    case CSR.sstatus:
      writeMstatus(h, (h.mstatus & ~SSTATUS_MASK) | (vLo & SSTATUS_MASK));
      return true;
    case CSR.mstatus:
      writeMstatus(h, vLo);
      return true;
    case CSR.sie:
      h.mie = (h.mie & ~h.mideleg) | (vLo & h.mideleg);
      return true;
    case CSR.sip:
      h.mip = (h.mip & ~(MIP_SSIP & h.mideleg)) | (vLo & MIP_SSIP & h.mideleg);
      return true;
    case CSR.mie:
      h.mie = vLo & ALL_INTS;
      return true;
    case CSR.mip: {
      let mask = MIP_SSIP | MIP_SEIP;
      if ((hi[CSR.menvcfg] & MENVCFG_STCE_HI) === 0) mask |= MIP_STIP;
      h.mip = (h.mip & ~mask) | (vLo & mask);
      return true;
    }
    case CSR.misa:
      return true; // WARL: fixed
    case CSR.medeleg:
      h.medeleg = vLo & MEDELEG_MASK;
      return true;
    case CSR.mideleg:
      h.mideleg = vLo & S_INTS;
      return true;
    case CSR.mcounteren:
      h.mcounteren = vLo;
      return true;
    case CSR.scounteren:
      h.scounteren = vLo;
      return true;
    case CSR.mcountinhibit:
      h.mcountinhibit = vLo & ~2;
      return true;
    case CSR.satp: {
      const mode = vHi >>> 28;
      if (mode !== 0 && mode !== 8 && mode !== 9) return true; // WARL: unsupported mode, no change
      // ASID bits are not implemented (read as zero); PPN is 44 bits.
      lo[num] = vLo;
      hi[num] = (mode << 28) | (vHi & 0xfff);
      h.satpMode = mode;
      h.satpPpn = (vHi & 0xfff) * TWO32 + (vLo >>> 0);
      selectAddressSpace(h);
      return true;
    }
    case CSR.stvec:
    case CSR.mtvec:
      // Only direct and vectored modes.
      lo[num] = (vLo & 3) >= 2 ? vLo & ~3 : vLo;
      hi[num] = vHi;
      return true;
    case CSR.sepc:
    case CSR.mepc:
      lo[num] = vLo & ~1;
      hi[num] = vHi;
      return true;
    case CSR.menvcfg:
      // FIOM (bit 0) and STCE (bit 63) are implemented.
      lo[num] = vLo & 1;
      hi[num] = vHi & MENVCFG_STCE_HI;
      if ((hi[num] & MENVCFG_STCE_HI) === 0) h.mip &= ~MIP_STIP;
      updateSstc(h);
      return true;
    case CSR.senvcfg:
      lo[num] = vLo & 1;
      hi[num] = 0;
      return true;
    case CSR.stimecmp:
      lo[num] = vLo;
      hi[num] = vHi;
      updateSstc(h);
      return true;
    case CSR.sscratch:
    case CSR.scause:
    case CSR.stval:
    case CSR.mscratch:
    case CSR.mcause:
    case CSR.mtval:
      lo[num] = vLo;
      hi[num] = vHi;
      return true;
    case CSR.tselect:
    case CSR.tdata1:
    case CSR.tdata2:
    case CSR.tdata3:
      return true; // no triggers: writes ignored, reads 0
  }
  if (num >= 0x3a0 && num <= 0x3af && (num & 1) === 0) {
    lo[num] = vLo;
    hi[num] = vHi;
    return true;
  }
  if (num >= 0x3b0 && num <= 0x3ef) {
    lo[num] = vLo;
    hi[num] = vHi & 0x3fffff; // 54-bit pmpaddr
    return true;
  }
  if ((num >= 0xb03 && num <= 0xb1f) || (num >= 0x323 && num <= 0x33f)) return true;
  return false;
}

export function writeMstatus(h: Cpu, v: number): void {
  const old = h.mstatus;
  let n = (old & ~MSTATUS_WRITABLE) | (v & MSTATUS_WRITABLE);
  // MPP is WARL: the reserved value 2 becomes U.
  if ((n & MSTATUS_MPP) === 2 << MSTATUS_MPP_SHIFT) n &= ~MSTATUS_MPP;
  h.mstatus = n;
  // SUM and MXR are in the data TLBs' tags: no flush (see updateTags).
  updateTags(h);
}
