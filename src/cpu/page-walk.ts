/**
 * The page-table walk for observers (priv spec 4.3.2; Sv39 4.4, Sv48 4.5):
 * where a virtual address goes for the hart as it is now, for the debugger
 * (gdb/debug-memory.ts) and plugin hooks (hooks.ts). It has no side effects:
 * it reads satp's mode and root and the page-table entries in RAM, nothing
 * else — no TLB fill, no A/D update, no trap, no device read — and checks no
 * permissions (R/W/X, U, SUM, MXR) nor A/D bits: an access they refuse traps
 * instead, which observers see for themselves. The hart's own walk, with
 * those checks and the A/D updates, is translate() in mmu.ts.
 *
 * Sv57 is not here because the hart has none: satp is WARL and keeps only
 * modes 0, 8 and 9 (csr.ts).
 */
import type { Cpu } from './cpu.js';
import { PRIV_M } from './hart-constants.js';

/** Does satp translate at privilege `priv`? (M-mode and bare mode use physical addresses.) */
export function pagingOn(h: Cpu, priv: number): boolean {
  return priv !== PRIV_M && h.satpMode !== 0;
}

/**
 * The physical page number (physical address / 4096) of virtual (vLo, vHi)
 * with the hart at privilege `priv`, or -1 when nothing is mapped there: not
 * canonical, an invalid PTE, a PTE outside RAM, no leaf by level 0. The
 * privilege is the caller's choice: debugTranslate passes the hart's own,
 * peekTranslate MPP for a data access with MPRV set. A page number is below
 * 2^52, so a double holds it exactly; callers add the offset in their own
 * arithmetic.
 *
 * It refuses what the hart refuses to map, as translate() does: a PTE with W
 * but not R, or with any of bits 63:54 set (4.3.2 step 3; 4.4.1: reserved
 * here, as neither Svpbmt nor Svnapot is implemented); a misaligned
 * superpage (step 6); a bare address past the 56 physical bits (an access
 * fault). So an observer never sees memory the guest could not reach.
 */
export function walkPage(h: Cpu, priv: number, vLo: number, vHi: number): number {
  if (!pagingOn(h, priv)) {
    if (vHi >>> 0 >= 0x1000000) return -1;
    return (vHi >>> 0) * 1048576 + (vLo >>> 12);
  }
  const levels = h.satpMode === 9 ? 4 : 3;
  // Canonical: the bits above the VA width copy its top bit (38 for Sv39, 47 for Sv48).
  const top = levels === 4 ? vHi >> 15 : vHi >> 6;
  if (top !== 0 && top !== -1) return -1;
  const ram32 = h.ram32;
  let table = h.satpPpn * 4096;
  for (let level = levels - 1; level >= 0; level--) {
    // VPN[level]: 9 bits from bit 12 + 9 * level, which may straddle the two words. The
    // hart's translate() keeps the same lines inline: a shared function called there
    // looked slower on a boot (8 pairs, median 1.08, noisy).
    const shift = 12 + 9 * level;
    let vpn: number;
    if (shift + 9 <= 32) vpn = (vLo >>> shift) & 0x1ff;
    else if (shift >= 32) vpn = (vHi >>> (shift - 32)) & 0x1ff;
    else vpn = ((vLo >>> shift) | (vHi << (32 - shift))) & 0x1ff;
    // Below 2^56 and 8-aligned: exact in a double.
    const pteAddr = table + vpn * 8;
    // The hart would take an access fault; nothing but RAM is read.
    if (!(pteAddr >= h.ramBase && pteAddr + 8 <= h.ramBase + h.ramSize)) return -1;
    const pi = (pteAddr - h.ramBase) >>> 2;
    const pteLo = ram32[pi];
    const pteHi = ram32[pi + 1];
    if ((pteLo & 1) === 0) return -1; // V clear (step 3)
    if ((pteLo & 6) === 4 || (pteHi & 0xffc00000) !== 0) return -1; // step 3
    const ppn = (pteHi & 0x3fffff) * 4194304 + (pteLo >>> 10); // PTE bits 53:10
    if ((pteLo & 0xa) === 0) {
      // Neither R nor X: a pointer to the next level (step 4); none below level 0.
      if (level === 0) return -1;
      table = ppn * 4096;
      continue;
    }
    // A leaf at `level` maps 512^level pages: their numbers' low bits come from the VA (step 8).
    const lowPages = 1 << (9 * level);
    if (ppn % lowPages !== 0) return -1; // a misaligned superpage (step 6)
    return ppn + (((vLo >>> 12) | (vHi << 20)) & (lowPages - 1));
  }
  return -1;
}
