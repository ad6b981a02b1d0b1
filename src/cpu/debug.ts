/**
 * Breakpoints and watchpoints for the debugger (GDB). Breakpoints are
 * virtual PCs; watchpoints virtual ranges. Pages holding either never enter
 * the TLBs or the fetch cache, so every access to them takes a slow path
 * where it is checked; the fast paths stay as they are.
 */
import type { Cpu } from './cpu.js';
import { EXC_WATCH_STOP } from './hart-constants.js';
import { flushTlb } from './mmu.js';

/** Replace the breakpoints (virtual PCs as lo/hi words). */
export function setBreakpoints(h: Cpu, pcs: readonly { lo: number; hi: number }[]): void {
  if (pcs.length > h.bpLo.length) throw new RangeError(`at most ${h.bpLo.length} breakpoints`);
  pcs.forEach((p, i) => {
    h.bpLo[i] = p.lo;
    h.bpHi[i] = p.hi;
  });
  h.bpCount = pcs.length;
  flushTlb(h);
}

/** Replace the watchpoints: kind 1 write, 2 read, 3 access. */
export function setWatchpoints(
  h: Cpu,
  wps: readonly { lo: number; hi: number; len: number; kind: number }[],
): void {
  if (wps.length > h.wpLo.length) throw new RangeError(`at most ${h.wpLo.length} watchpoints`);
  wps.forEach((w, i) => {
    h.wpLo[i] = w.lo;
    h.wpHi[i] = w.hi;
    h.wpLen[i] = w.len;
    h.wpKind[i] = w.kind;
  });
  h.wpCount = wps.length;
  flushTlb(h);
}

/** The next run() does not stop at the breakpoint at this icount and pc (resuming from it). */
export function skipBreakpointOnce(h: Cpu, icount: number, lo: number, hi: number): void {
  h.bpSkipIcount = icount;
  h.bpSkipLo = lo;
  h.bpSkipHi = hi;
}

/** Is there a breakpoint (fetch) or watchpoint (data) on this virtual page? */
export function debugPage(h: Cpu, vLo: number, vHi: number, fetch: boolean): boolean {
  const page = vLo >>> 12;
  if (fetch) {
    for (let i = 0; i < h.bpCount; i++)
      if (h.bpHi[i] === vHi && h.bpLo[i] >>> 12 === page) return true;
    return false;
  }
  for (let i = 0; i < h.wpCount; i++) {
    if (h.wpHi[i] !== vHi) continue;
    const first = h.wpLo[i] >>> 12;
    const last = ((h.wpLo[i] >>> 0) + Math.max(1, h.wpLen[i]) - 1) / 4096;
    if (page >= first && page <= Math.floor(last)) return true;
  }
  return false;
}

export function breakpointAt(h: Cpu, pcLo: number, pcHi: number, icount: number): boolean {
  for (let i = 0; i < h.bpCount; i++)
    if (h.bpLo[i] === pcLo && h.bpHi[i] === pcHi) {
      if (icount === h.bpSkipIcount && pcLo === h.bpSkipLo && pcHi === h.bpSkipHi) return false;
      return true;
    }
  return false;
}

/** A data access that went through the slow path: does it hit a watchpoint? */
export function checkWatch(h: Cpu, vLo: number, vHi: number, size: number, write: boolean): void {
  const a = vLo >>> 0;
  for (let i = 0; i < h.wpCount; i++) {
    const k = h.wpKind[i];
    if (h.wpHi[i] !== vHi || (write ? (k & 1) === 0 : (k & 2) === 0)) continue;
    const w = h.wpLo[i] >>> 0;
    if (a < w + h.wpLen[i] && w < a + size) {
      h.debugHit = 2;
      const hit = h.watchHit;
      hit.index = i;
      hit.addrLo = vLo;
      hit.addrHi = vHi;
      hit.write = write;
      hit.icount = h.icount;
      if (h.watchStopsBefore) h.exc = EXC_WATCH_STOP;
      // Otherwise end the slice after this instruction, as an MMIO store does.
      else h.bus.mmioWritten = true;
      return;
    }
  }
}
