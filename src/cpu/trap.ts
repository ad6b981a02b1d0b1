/**
 * Traps, interrupts and privilege changes (priv spec 3.1.6.1, 3.1.9, 4.1.1),
 * and the Sstc timer that raises STIP.
 */
import type { Cpu } from './cpu.js';
import {
  CSR,
  IRQ_PRIORITY,
  MENVCFG_STCE_HI,
  MIP_STIP,
  MSTATUS_MIE,
  MSTATUS_MPIE,
  MSTATUS_MPP,
  MSTATUS_MPP_SHIFT,
  MSTATUS_MPRV,
  MSTATUS_MXR,
  MSTATUS_SIE,
  MSTATUS_SPIE,
  MSTATUS_SPP,
  MSTATUS_SUM,
} from './csr-numbers.js';
import {
  EXC_WATCH_STOP,
  PRIV_M,
  PRIV_S,
  TAG_MXR,
  TAG_PRIV_SHIFT,
  TAG_SUM,
  tlbSalt,
} from './hart-constants.js';

export function timeNow(h: Cpu): number {
  return h.clock.ticksAt(h.icount);
}

/** Sstc: STIP follows time >= stimecmp while menvcfg.STCE is set. */
export function updateSstc(h: Cpu): void {
  if ((h.csrHi[CSR.menvcfg] & MENVCFG_STCE_HI) === 0) return;
  if (timeNow(h) >= h.stimecmpTicks()) h.mip |= MIP_STIP;
  else h.mip &= ~MIP_STIP;
}

/** Enter a trap (priv spec 3.1.6.1, 4.1.1); pc is the faulting instruction's. */
export function trap(
  h: Cpu,
  cause: number,
  interrupt: boolean,
  tvalLo: number,
  tvalHi: number,
): void {
  if (cause === EXC_WATCH_STOP) {
    // Not a trap: the instruction is left undone; the next fetch takes the slow path,
    // which ends run() because debugHit is set.
    h.fVpn = -1;
    return;
  }
  h.trapsTaken++;
  const priv = h.priv;
  h.wfi = false;
  h.resAddr = -1;
  const deleg = priv <= PRIV_S && (((interrupt ? h.mideleg : h.medeleg) >>> cause) & 1) !== 0;
  const causeHi = interrupt ? 0x80000000 | 0 : 0;
  let ms = h.mstatus;
  if (deleg) {
    h.csrLo[CSR.scause] = cause;
    h.csrHi[CSR.scause] = causeHi;
    h.csrLo[CSR.sepc] = h.pcLo;
    h.csrHi[CSR.sepc] = h.pcHi;
    h.csrLo[CSR.stval] = tvalLo;
    h.csrHi[CSR.stval] = tvalHi;
    ms =
      (ms & ~(MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SIE)) | ((ms & MSTATUS_SIE) << 4) | (priv << 8);
    h.mstatus = ms;
    setPriv(h, PRIV_S);
    jumpToVector(h, h.csrLo[CSR.stvec], h.csrHi[CSR.stvec], cause, interrupt);
  } else {
    h.csrLo[CSR.mcause] = cause;
    h.csrHi[CSR.mcause] = causeHi;
    h.csrLo[CSR.mepc] = h.pcLo;
    h.csrHi[CSR.mepc] = h.pcHi;
    h.csrLo[CSR.mtval] = tvalLo;
    h.csrHi[CSR.mtval] = tvalHi;
    ms =
      (ms & ~(MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MIE)) |
      ((ms & MSTATUS_MIE) << 4) |
      (priv << MSTATUS_MPP_SHIFT);
    h.mstatus = ms;
    setPriv(h, PRIV_M);
    jumpToVector(h, h.csrLo[CSR.mtvec], h.csrHi[CSR.mtvec], cause, interrupt);
  }
  if (h.hooks?.trap !== undefined) {
    const epc = deleg ? CSR.sepc : CSR.mepc;
    h.hooks.trap(cause, interrupt, tvalLo, tvalHi, h.csrLo[epc], h.csrHi[epc], priv, h.priv);
  }
}

export function jumpToVector(
  h: Cpu,
  tvLo: number,
  tvHi: number,
  cause: number,
  interrupt: boolean,
): void {
  let lo = tvLo & ~3;
  let hi = tvHi;
  if (interrupt && (tvLo & 3) === 1) {
    const n = (lo + cause * 4) | 0;
    if (n >>> 0 < lo >>> 0) hi = (hi + 1) | 0;
    lo = n;
  }
  h.pcLo = lo;
  h.pcHi = hi;
}

export function setPriv(h: Cpu, p: number): void {
  h.priv = p;
  h.fVpn = -1;
  updateTags(h);
}

/**
 * Recompute the TLBs' tag bits (hart-constants.ts). Data: the effective data
 * privilege (MPRV/MPP considered) in bits 3-4, mstatus.SUM in bit 5 and MXR
 * in bit 6; fetch: the privilege; both: the address-space slot in bits 7-9.
 * Every input of a walk is in the tag, so changing one selects other
 * entries instead of flushing (Linux toggles SUM around every user copy and
 * writes satp at every switch between processes).
 */
export function updateTags(h: Cpu): void {
  const ms = h.mstatus;
  let p = h.priv;
  if (p === PRIV_M && (ms & MSTATUS_MPRV) !== 0) p = (ms & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT;
  h.dataTag =
    (p << TAG_PRIV_SHIFT) |
    ((ms & MSTATUS_SUM) !== 0 ? TAG_SUM : 0) |
    ((ms & MSTATUS_MXR) !== 0 ? TAG_MXR : 0) |
    h.spaceTag;
  h.fetchTag = (h.priv << TAG_PRIV_SHIFT) | h.spaceTag;
  h.dataSalt = tlbSalt(h.dataTag);
  h.fetchSalt = tlbSalt(h.fetchTag);
}

/** Deliver the highest-priority enabled pending interrupt, if any (priv spec 3.1.9). */
export function takeInterrupt(h: Cpu): boolean {
  const pending = h.mip & h.mie;
  if (pending === 0) return false;
  const priv = h.priv;
  const mEnabled = priv < PRIV_M || (h.mstatus & MSTATUS_MIE) !== 0;
  let cand = mEnabled ? pending & ~h.mideleg : 0;
  if (cand === 0) {
    const sEnabled = priv < PRIV_S || (priv === PRIV_S && (h.mstatus & MSTATUS_SIE) !== 0);
    cand = sEnabled ? pending & h.mideleg : 0;
  }
  if (cand === 0) return false;
  for (let i = 0; i < IRQ_PRIORITY.length; i++) {
    const irq = IRQ_PRIORITY[i];
    if ((cand >> irq) & 1) {
      trap(h, irq, true, 0, 0);
      return true;
    }
  }
  return false;
}
