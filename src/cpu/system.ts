/** SYSTEM instructions other than CSR accesses: ECALL, EBREAK, MRET, SRET, WFI, SFENCE.VMA (priv spec 3.3). */
import type { Cpu } from './cpu.js';
import {
  CSR,
  EXC_BREAKPOINT,
  EXC_ECALL_U,
  EXC_ILLEGAL,
  MSTATUS_MIE,
  MSTATUS_MPIE,
  MSTATUS_MPP,
  MSTATUS_MPP_SHIFT,
  MSTATUS_MPRV,
  MSTATUS_SIE,
  MSTATUS_SPIE,
  MSTATUS_SPP,
  MSTATUS_TSR,
  MSTATUS_TVM,
  MSTATUS_TW,
} from './csr-numbers.js';
import { PRIV_M, PRIV_S, PRIV_U } from './hart-constants.js';
import { setPriv, trap } from './trap.js';

/**
 * ECALL, EBREAK, xRET, WFI, SFENCE.VMA. Returns -1 after a trap, 1 when the
 * instruction set pc itself (xRET) or halted (WFI), 0 to fall through, 3 for
 * sfence. Illegal encodings trap here.
 */
export function system(h: Cpu, insn: number, raw: number, len: number): number {
  const priv = h.priv;
  if (insn === 0x00000073) {
    trap(h, EXC_ECALL_U + priv, false, 0, 0);
    return -1;
  }
  if (insn === 0x00100073) {
    trap(h, EXC_BREAKPOINT, false, h.pcLo, h.pcHi);
    return -1;
  }
  if (insn === 0x30200073) {
    // MRET (priv spec 3.3.2)
    if (priv < PRIV_M) return illegalInstruction(h, raw, len);
    let ms = h.mstatus;
    const mpp = (ms & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT;
    ms = (ms & ~(MSTATUS_MIE | MSTATUS_MPP)) | ((ms & MSTATUS_MPIE) >>> 4) | MSTATUS_MPIE;
    if (mpp !== PRIV_M) ms &= ~MSTATUS_MPRV;
    h.mstatus = ms;
    setPriv(h, mpp);
    h.pcLo = h.csrLo[CSR.mepc];
    h.pcHi = h.csrHi[CSR.mepc];
    h.resAddr = -1;
    h.hooks?.xret?.(true, priv, mpp);
    return 1;
  }
  if (insn === 0x10200073) {
    // SRET
    if (priv < PRIV_S || (priv === PRIV_S && (h.mstatus & MSTATUS_TSR) !== 0))
      return illegalInstruction(h, raw, len);
    let ms = h.mstatus;
    const spp = (ms & MSTATUS_SPP) >>> 8;
    ms =
      (ms & ~(MSTATUS_SIE | MSTATUS_SPP | MSTATUS_MPRV)) |
      ((ms & MSTATUS_SPIE) >>> 4) |
      MSTATUS_SPIE;
    h.mstatus = ms;
    setPriv(h, spp);
    h.pcLo = h.csrLo[CSR.sepc];
    h.pcHi = h.csrHi[CSR.sepc];
    h.resAddr = -1;
    h.hooks?.xret?.(false, priv, spp);
    return 1;
  }
  if (insn === 0x10500073) {
    // WFI (priv spec 3.3.3): TW traps it below M; U-mode may never wait.
    if (priv === PRIV_U || (priv === PRIV_S && (h.mstatus & MSTATUS_TW) !== 0))
      return illegalInstruction(h, raw, len);
    // Advance past the WFI, then halt until an interrupt is pending.
    const lo = (h.pcLo + len) | 0;
    h.pcHi = lo >>> 0 < h.pcLo >>> 0 ? (h.pcHi + 1) | 0 : h.pcHi;
    h.pcLo = lo;
    if ((h.mip & h.mie) === 0) h.wfi = true;
    return 1;
  }
  if (insn >>> 25 === 0x09 && ((insn >>> 7) & 0x1f) === 0) {
    // SFENCE.VMA
    if (priv === PRIV_U || (priv === PRIV_S && (h.mstatus & MSTATUS_TVM) !== 0))
      return illegalInstruction(h, raw, len);
    // Nothing to drop: the TLBs already hold only what a walk now would give
    // (mmu.ts). A write to a page-table page a cached walk read flushed them
    // when it happened, satp writes flush, and privilege, MPRV, SUM and MXR
    // are in the tags; the hart behaves as one that walks on every access,
    // which the fence's ordering permits (priv spec 4.2.1).
    return 3;
  }
  return illegalInstruction(h, raw, len);
}

/** Raise an illegal-instruction trap; mtval holds the instruction's own bits. Returns -1. */
export function illegalInstruction(h: Cpu, raw: number, len: number): number {
  trap(h, EXC_ILLEGAL, false, len === 2 ? raw & 0xffff : raw, 0);
  return -1;
}
