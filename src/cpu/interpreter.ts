/**
 * The interpreter: fetch, decode and execute one instruction at a time.
 *
 * Registers are two Int32Arrays (low and high words) so that the loop does
 * only 32-bit integer arithmetic: no BigInt, no allocation per instruction.
 * Compressed instructions are expanded by table lookup (rvc.ts). Loads,
 * stores and fetches hit the TLBs inline; everything else goes through
 * slow-access.ts, and traps through trap.ts.
 *
 * run(h, n) executes at most n retired instructions and can therefore stop
 * at any exact instruction count, which record/replay depends on.
 */
import type { Cpu } from './cpu.js';
import { atomic } from './atomic.js';
import { DEADLINE_CSR, IRQ_AFFECTING_CSR, csrRead, csrWrite } from './csr.js';
import { EXC_ILLEGAL, MSTATUS_FS } from './csr-numbers.js';
import { breakpointAt } from './debug.js';
import { fpLoadStore } from './fp-load-store.js';
import { ACC_FETCH, ACC_READ, ACC_WRITE, TLB_HI, TLB_OFF } from './hart-constants.js';
import {
  div64,
  divu64,
  divuw,
  divw,
  mul64,
  mulh64,
  mulhsu64,
  mulhu64,
  r64,
  rem64,
  remu64,
  remuw,
  remw,
} from './int64.js';
import { CACHE_MASK, HM_RES, NO_RESERVATION } from './hart-memory.js';
import { TLB_MASK } from './mmu.js';
import { rvcTable } from './rvc.js';
import { fetchSlow, fetched, loadSlow, storeSlow } from './slow-access.js';
import { system } from './system.js';
import { takeInterrupt, trap, updateSstc } from './trap.js';

/**
 * Traps in one run() before it gives up and returns (see Cpu.trapsTaken): a
 * hart that traps at every fetch retires nothing, and the host must get
 * control back soon. Not tied to the run's length (up to a million
 * instructions: virt.ts), so a storm ends as soon as before; a run that
 * really takes this many traps just returns early, which the guest cannot see.
 */
const TRAPS_PER_RUN = 1 << 16;

/**
 * Execute at most `max` retired instructions; returns how many retired.
 * Returns early on WFI and MMIO stores (a device may have raised an
 * interrupt); after CSR writes, xRETs and SFENCE.VMA that may change which
 * interrupts are deliverable it checks for one in place.
 */
export function run(h: Cpu, maxInsns: number): number {
  // A small integer keeps the loop's comparison on the fast path (a double here deoptimizes it).
  const max = maxInsns >= 0x7fffffff ? 0x7fffffff : maxInsns | 0;
  if (!enterSlice(h)) return 0;
  return interpret(h, max, 0);
}

/**
 * What every slice does before its first instruction: the Sstc timer, a WFI
 * that may end, a pending interrupt. False: the hart stays in WFI.
 */
export function enterSlice(h: Cpu): boolean {
  updateSstc(h);
  if (h.wfi) {
    if ((h.mip & h.mie) === 0) return false;
    h.wfi = false;
  }
  takeInterrupt(h);
  // Every trap passes the slow fetch path (setPriv drops the fetch page), which checks this.
  h.trapLimit = h.trapsTaken + TRAPS_PER_RUN;
  return true;
}

/**
 * The interpreter's loop: at most `max` instructions from the current pc,
 * with no entry work (a slice already entered). With `hotAfter` > 0 (the
 * translator's dispatcher, see dispatch.ts) it also returns right after a
 * taken branch or jump, or a fall through into the next page, to where a
 * block may start: on a page the fetch TLB does not map, or at
 * an address whose code cache slot is taken (a block, maybe behind another)
 * or whose offset's slot holds a block there (code-cache.ts),
 * or whose visits reach `hotAfter` (queued for compiling). Other visits it
 * counts, as the dispatcher would, and goes on: a return to the dispatcher
 * cost more than the few instructions between jumps in cold code. Sets
 * `h.stopped` when it returned for a reason that ends the slice (WFI, an
 * MMIO store, a debugger stop...), not for the budget or a jump.
 */
export function interpret(h: Cpu, max: number, hotAfter: number): number {
  h.stopped = false;
  const regs = h.regs;
  const ram8 = h.ram8,
    ram16 = h.ram16,
    ram32 = h.ram32;
  const rTag = h.tlbTag[ACC_READ],
    rOff = h.tlbOff[ACC_READ];
  const wTag = h.tlbTag[ACC_WRITE],
    wOff = h.tlbOff[ACC_WRITE];
  const bus = h.bus;
  const cacheSlots = h.cacheSlots,
    cacheHits = h.cacheHits;
  const hart32 = h.hart32;
  const fTag = h.tlbTag[ACC_FETCH],
    fOff = h.tlbOff[ACC_FETCH];
  const exitOnJump = hotAfter > 0;
  const base = h.icount;
  let pcLo = h.pcLo,
    pcHi = h.pcHi;
  let n = 0;
  let stop = false;
  let irqCheck = false;
  let jumped = false;
  let dTag = h.dataTag;
  let dSalt = h.dataSalt;

  while (n < max) {
    // ---- fetch
    let insn: number;
    let raw: number;
    let len = 4;
    if (pcLo >>> 12 === h.fVpn && pcHi === h.fHi && (pcLo & 0xfff) !== 0xffe) {
      const hi16 = (h.fOff + (pcLo & 0xfff)) >>> 1;
      raw = ram16[hi16];
      if ((raw & 3) === 3) raw = raw | (ram16[hi16 + 1] << 16);
    } else {
      h.pcLo = pcLo;
      h.pcHi = pcHi;
      h.exc = -1;
      // A watchpoint stopped the hart before this instruction's access (watchStopsBefore).
      if (h.debugHit !== 0 || h.trapsTaken >= h.trapLimit) {
        h.stopped = true;
        break;
      }
      if (h.bpCount !== 0 && h.debugArmed && breakpointAt(h, pcLo, pcHi, base + n)) {
        h.debugHit = 1;
        h.stopped = true;
        break;
      }
      raw = fetchSlow(h) ? fetched[0] : 0;
      if (h.exc >= 0) {
        h.icount = base + n; // traps see the icount of the instruction (hooks.ts)
        trap(h, h.exc, false, h.excTvalLo, h.excTvalHi);
        pcLo = h.pcLo;
        pcHi = h.pcHi;
        dTag = h.dataTag;
        dSalt = h.dataSalt;
        continue;
      }
    }
    if ((raw & 3) !== 3) {
      insn = rvcTable[raw & 0xffff];
      len = 2;
      if (insn === 0) {
        h.pcLo = pcLo;
        h.pcHi = pcHi;
        h.icount = base + n;
        trap(h, EXC_ILLEGAL, false, raw & 0xffff, 0);
        pcLo = h.pcLo;
        pcHi = h.pcHi;
        dTag = h.dataTag;
        dSalt = h.dataSalt;
        continue;
      }
    } else insn = raw;

    // next PC (64-bit add of len)
    let npLo = (pcLo + len) | 0;
    let npHi = npLo >>> 0 < pcLo >>> 0 ? (pcHi + 1) | 0 : pcHi;
    const rd = (insn >>> 7) & 31;
    const rs1 = (insn >>> 15) & 31;
    const rs2 = (insn >>> 20) & 31;
    const f3 = (insn >>> 12) & 7;
    let illegal = false;

    switch (insn & 0x7f) {
      case 0x37: // LUI
        regs[rd << 1] = insn & 0xfffff000;
        regs[(rd << 1) | 1] = insn >> 31;
        break;
      case 0x17: {
        // AUIPC
        const imm = insn & 0xfffff000;
        const lo = (pcLo + imm) | 0;
        regs[(rd << 1) | 1] = (pcHi + (imm >> 31) + (lo >>> 0 < pcLo >>> 0 ? 1 : 0)) | 0;
        regs[rd << 1] = lo;
        break;
      }
      case 0x6f: {
        // JAL
        const imm =
          ((insn >> 11) & 0xfff00000) |
          (insn & 0xff000) |
          ((insn >>> 9) & 0x800) |
          ((insn >>> 20) & 0x7fe);
        const tLo = (pcLo + imm) | 0;
        const tHi = (pcHi + (imm >> 31) + (tLo >>> 0 < pcLo >>> 0 ? 1 : 0)) | 0;
        regs[rd << 1] = npLo;
        regs[(rd << 1) | 1] = npHi;
        npLo = tLo;
        npHi = tHi;
        jumped = exitOnJump;
        break;
      }
      case 0x67: {
        // JALR
        if (f3 !== 0) {
          illegal = true;
          break;
        }
        const imm = insn >> 20;
        const bLo = regs[rs1 << 1],
          bHi = regs[(rs1 << 1) | 1];
        const tLo = (bLo + imm) | 0;
        const tHi = (bHi + (imm >> 31) + (tLo >>> 0 < bLo >>> 0 ? 1 : 0)) | 0;
        regs[rd << 1] = npLo;
        regs[(rd << 1) | 1] = npHi;
        npLo = tLo & ~1;
        npHi = tHi;
        jumped = exitOnJump;
        break;
      }
      case 0x63: {
        // branches
        const aLo = regs[rs1 << 1],
          aHi = regs[(rs1 << 1) | 1],
          bLo = regs[rs2 << 1],
          bHi = regs[(rs2 << 1) | 1];
        let take: boolean;
        switch (f3) {
          case 0:
            take = aLo === bLo && aHi === bHi;
            break;
          case 1:
            take = aLo !== bLo || aHi !== bHi;
            break;
          case 4:
            take = aHi < bHi || (aHi === bHi && aLo >>> 0 < bLo >>> 0);
            break;
          case 5:
            take = aHi > bHi || (aHi === bHi && aLo >>> 0 >= bLo >>> 0);
            break;
          case 6:
            take = aHi >>> 0 < bHi >>> 0 || (aHi === bHi && aLo >>> 0 < bLo >>> 0);
            break;
          case 7:
            take = aHi >>> 0 > bHi >>> 0 || (aHi === bHi && aLo >>> 0 >= bLo >>> 0);
            break;
          default:
            illegal = true;
            take = false;
        }
        if (take) {
          const imm =
            ((insn >> 19) & 0xfffff000) |
            ((insn << 4) & 0x800) |
            ((insn >>> 20) & 0x7e0) |
            ((insn >>> 7) & 0x1e);
          npLo = (pcLo + imm) | 0;
          npHi = (pcHi + (imm >> 31) + (npLo >>> 0 < pcLo >>> 0 ? 1 : 0)) | 0;
          jumped = exitOnJump;
        }
        break;
      }
      case 0x03: {
        // loads
        const imm = insn >> 20;
        const bLo = regs[rs1 << 1];
        const aLo = (bLo + imm) | 0;
        const aHi = (regs[(rs1 << 1) | 1] + (imm >> 31) + (aLo >>> 0 < bLo >>> 0 ? 1 : 0)) | 0;
        const ti = (((aLo >>> 12) ^ dSalt) & TLB_MASK) << 2;
        let vLo = 0,
          vHi = 0;
        const size = 1 << (f3 & 3);
        if (f3 === 7) {
          illegal = true;
          break;
        }
        // The page, the tag bits and the alignment in one compare (hart-constants.ts alignMask).
        if (rTag[ti] === ((aLo & (-4096 | (size - 1))) | dTag) && rTag[ti + TLB_HI] === aHi) {
          const off = rOff[ti + TLB_OFF] + (aLo & 0xfff);
          switch (f3) {
            case 0:
              vLo = (ram8[off] << 24) >> 24;
              vHi = vLo >> 31;
              break;
            case 1:
              vLo = (ram16[off >>> 1] << 16) >> 16;
              vHi = vLo >> 31;
              break;
            case 2:
              vLo = ram32[off >>> 2];
              vHi = vLo >> 31;
              break;
            case 3:
              vLo = ram32[off >>> 2];
              vHi = ram32[(off >>> 2) + 1];
              break;
            case 4:
              vLo = ram8[off];
              break;
            case 5:
              vLo = ram16[off >>> 1];
              break;
            case 6:
              vLo = ram32[off >>> 2];
              break;
          }
        } else {
          h.pcLo = pcLo;
          h.pcHi = pcHi;
          h.icount = base + n;
          h.exc = -1;
          vLo = loadSlow(h, aLo, aHi, size);
          if (h.exc >= 0) {
            const cause = h.exc;
            trap(h, cause, false, h.excTvalLo, h.excTvalHi);
            pcLo = h.pcLo;
            pcHi = h.pcHi;
            dTag = h.dataTag;
            dSalt = h.dataSalt;
            continue;
          }
          if (bus.mmioWritten) stop = true; // a watchpoint hit
          switch (f3) {
            case 0:
              vLo = (vLo << 24) >> 24;
              vHi = vLo >> 31;
              break;
            case 1:
              vLo = (vLo << 16) >> 16;
              vHi = vLo >> 31;
              break;
            case 2:
              vHi = vLo >> 31;
              break;
            case 3:
              vHi = h.ldHi;
              break;
            case 4:
              vLo &= 0xff;
              break;
            case 5:
              vLo &= 0xffff;
              break;
          }
        }
        regs[rd << 1] = vLo;
        regs[(rd << 1) | 1] = vHi;
        break;
      }
      case 0x23: {
        // stores
        if (f3 > 3) {
          illegal = true;
          break;
        }
        const imm = ((insn >> 20) & ~0x1f) | ((insn >>> 7) & 0x1f);
        const bLo = regs[rs1 << 1];
        const aLo = (bLo + imm) | 0;
        const aHi = (regs[(rs1 << 1) | 1] + (imm >> 31) + (aLo >>> 0 < bLo >>> 0 ? 1 : 0)) | 0;
        const ti = (((aLo >>> 12) ^ dSalt) & TLB_MASK) << 2;
        const size = 1 << f3;
        const sLo = regs[rs2 << 1];
        if (wTag[ti] === ((aLo & (-4096 | (size - 1))) | dTag) && wTag[ti + TLB_HI] === aHi) {
          const off = wOff[ti + TLB_OFF] + (aLo & 0xfff);
          switch (f3) {
            case 0:
              ram8[off] = sLo;
              break;
            case 1:
              ram16[off >>> 1] = sLo;
              break;
            case 2:
              ram32[off >>> 2] = sLo;
              break;
            case 3:
              ram32[off >>> 2] = sLo;
              ram32[(off >>> 2) + 1] = regs[(rs2 << 1) | 1];
              break;
          }
          hart32[HM_RES >> 2] = NO_RESERVATION; // any store ends the reservation (Cpu.resAddr)
        } else {
          h.pcLo = pcLo;
          h.pcHi = pcHi;
          h.icount = base + n;
          h.exc = -1;
          storeSlow(h, aLo, aHi, size, sLo, regs[(rs2 << 1) | 1]);
          if (h.exc >= 0) {
            trap(h, h.exc, false, h.excTvalLo, h.excTvalHi);
            pcLo = h.pcLo;
            pcHi = h.pcHi;
            dTag = h.dataTag;
            dSalt = h.dataSalt;
            continue;
          }
          if (bus.mmioWritten) stop = true;
        }
        break;
      }
      case 0x13: {
        // OP-IMM
        const imm = insn >> 20;
        const aLo = regs[rs1 << 1],
          aHi = regs[(rs1 << 1) | 1];
        switch (f3) {
          case 0: {
            const lo = (aLo + imm) | 0;
            regs[(rd << 1) | 1] = (aHi + (imm >> 31) + (lo >>> 0 < aLo >>> 0 ? 1 : 0)) | 0;
            regs[rd << 1] = lo;
            break;
          }
          case 1: {
            if (insn >>> 26 !== 0) {
              illegal = true;
              break;
            }
            const s = imm & 63;
            if (s === 0) {
              regs[rd << 1] = aLo;
              regs[(rd << 1) | 1] = aHi;
            } else if (s < 32) {
              regs[(rd << 1) | 1] = (aHi << s) | (aLo >>> (32 - s));
              regs[rd << 1] = aLo << s;
            } else {
              regs[(rd << 1) | 1] = aLo << (s - 32);
              regs[rd << 1] = 0;
            }
            break;
          }
          case 2: {
            const iHi = imm >> 31;
            regs[rd << 1] = aHi < iHi || (aHi === iHi && aLo >>> 0 < imm >>> 0) ? 1 : 0;
            regs[(rd << 1) | 1] = 0;
            break;
          }
          case 3: {
            const iHi = imm >> 31;
            regs[rd << 1] = aHi >>> 0 < iHi >>> 0 || (aHi === iHi && aLo >>> 0 < imm >>> 0) ? 1 : 0;
            regs[(rd << 1) | 1] = 0;
            break;
          }
          case 4:
            regs[rd << 1] = aLo ^ imm;
            regs[(rd << 1) | 1] = aHi ^ (imm >> 31);
            break;
          case 5: {
            const s = imm & 63;
            const kind = insn >>> 26;
            if (kind !== 0 && kind !== 0x10) {
              illegal = true;
              break;
            }
            if (s === 0) {
              regs[rd << 1] = aLo;
              regs[(rd << 1) | 1] = aHi;
            } else if (kind === 0) {
              if (s < 32) {
                regs[rd << 1] = (aLo >>> s) | (aHi << (32 - s));
                regs[(rd << 1) | 1] = aHi >>> s;
              } else {
                regs[rd << 1] = aHi >>> (s - 32);
                regs[(rd << 1) | 1] = 0;
              }
            } else if (s < 32) {
              regs[rd << 1] = (aLo >>> s) | (aHi << (32 - s));
              regs[(rd << 1) | 1] = aHi >> s;
            } else {
              regs[rd << 1] = aHi >> (s - 32);
              regs[(rd << 1) | 1] = aHi >> 31;
            }
            break;
          }
          case 6:
            regs[rd << 1] = aLo | imm;
            regs[(rd << 1) | 1] = aHi | (imm >> 31);
            break;
          case 7:
            regs[rd << 1] = aLo & imm;
            regs[(rd << 1) | 1] = aHi & (imm >> 31);
            break;
        }
        break;
      }
      case 0x1b: {
        // OP-IMM-32
        const a = regs[rs1 << 1];
        let r: number;
        if (f3 === 0) r = (a + (insn >> 20)) | 0;
        else if (f3 === 1 && insn >>> 25 === 0) r = a << rs2;
        else if (f3 === 5 && insn >>> 25 === 0) r = a >>> rs2;
        else if (f3 === 5 && insn >>> 25 === 0x20) r = a >> rs2;
        else {
          illegal = true;
          break;
        }
        regs[rd << 1] = r;
        regs[(rd << 1) | 1] = r >> 31;
        break;
      }
      case 0x33: {
        // OP
        const f7 = insn >>> 25;
        const aLo = regs[rs1 << 1],
          aHi = regs[(rs1 << 1) | 1],
          bLo = regs[rs2 << 1],
          bHi = regs[(rs2 << 1) | 1];
        if (f7 === 0) {
          switch (f3) {
            case 0: {
              const lo = (aLo + bLo) | 0;
              regs[(rd << 1) | 1] = (aHi + bHi + (lo >>> 0 < aLo >>> 0 ? 1 : 0)) | 0;
              regs[rd << 1] = lo;
              break;
            }
            case 1: {
              const s = bLo & 63;
              if (s === 0) {
                regs[rd << 1] = aLo;
                regs[(rd << 1) | 1] = aHi;
              } else if (s < 32) {
                regs[(rd << 1) | 1] = (aHi << s) | (aLo >>> (32 - s));
                regs[rd << 1] = aLo << s;
              } else {
                regs[(rd << 1) | 1] = aLo << (s - 32);
                regs[rd << 1] = 0;
              }
              break;
            }
            case 2:
              regs[rd << 1] = aHi < bHi || (aHi === bHi && aLo >>> 0 < bLo >>> 0) ? 1 : 0;
              regs[(rd << 1) | 1] = 0;
              break;
            case 3:
              regs[rd << 1] =
                aHi >>> 0 < bHi >>> 0 || (aHi === bHi && aLo >>> 0 < bLo >>> 0) ? 1 : 0;
              regs[(rd << 1) | 1] = 0;
              break;
            case 4:
              regs[rd << 1] = aLo ^ bLo;
              regs[(rd << 1) | 1] = aHi ^ bHi;
              break;
            case 5: {
              const s = bLo & 63;
              if (s === 0) {
                regs[rd << 1] = aLo;
                regs[(rd << 1) | 1] = aHi;
              } else if (s < 32) {
                regs[rd << 1] = (aLo >>> s) | (aHi << (32 - s));
                regs[(rd << 1) | 1] = aHi >>> s;
              } else {
                regs[rd << 1] = aHi >>> (s - 32);
                regs[(rd << 1) | 1] = 0;
              }
              break;
            }
            case 6:
              regs[rd << 1] = aLo | bLo;
              regs[(rd << 1) | 1] = aHi | bHi;
              break;
            case 7:
              regs[rd << 1] = aLo & bLo;
              regs[(rd << 1) | 1] = aHi & bHi;
              break;
          }
        } else if (f7 === 0x20) {
          if (f3 === 0) {
            const lo = (aLo - bLo) | 0;
            regs[(rd << 1) | 1] = (aHi - bHi - (aLo >>> 0 < bLo >>> 0 ? 1 : 0)) | 0;
            regs[rd << 1] = lo;
          } else if (f3 === 5) {
            const s = bLo & 63;
            if (s === 0) {
              regs[rd << 1] = aLo;
              regs[(rd << 1) | 1] = aHi;
            } else if (s < 32) {
              regs[rd << 1] = (aLo >>> s) | (aHi << (32 - s));
              regs[(rd << 1) | 1] = aHi >> s;
            } else {
              regs[rd << 1] = aHi >> (s - 32);
              regs[(rd << 1) | 1] = aHi >> 31;
            }
          } else illegal = true;
        } else if (f7 === 1) {
          switch (f3) {
            case 0:
              mul64(aLo, aHi, bLo, bHi);
              break;
            case 1:
              mulh64(aLo, aHi, bLo, bHi);
              break;
            case 2:
              mulhsu64(aLo, aHi, bLo, bHi);
              break;
            case 3:
              mulhu64(aLo, aHi, bLo, bHi);
              break;
            case 4:
              div64(aLo, aHi, bLo, bHi);
              break;
            case 5:
              divu64(aLo, aHi, bLo, bHi);
              break;
            case 6:
              rem64(aLo, aHi, bLo, bHi);
              break;
            case 7:
              remu64(aLo, aHi, bLo, bHi);
              break;
          }
          regs[rd << 1] = r64[0];
          regs[(rd << 1) | 1] = r64[1];
        } else illegal = true;
        break;
      }
      case 0x3b: {
        // OP-32
        const f7 = insn >>> 25;
        const a = regs[rs1 << 1],
          b = regs[rs2 << 1];
        let r = 0;
        if (f7 === 0) {
          if (f3 === 0) r = (a + b) | 0;
          else if (f3 === 1) r = a << (b & 31);
          else if (f3 === 5) r = a >>> (b & 31);
          else illegal = true;
        } else if (f7 === 0x20) {
          if (f3 === 0) r = (a - b) | 0;
          else if (f3 === 5) r = a >> (b & 31);
          else illegal = true;
        } else if (f7 === 1) {
          switch (f3) {
            case 0:
              r = Math.imul(a, b);
              break;
            case 4:
              r = divw(a, b);
              break;
            case 5:
              r = divuw(a, b);
              break;
            case 6:
              r = remw(a, b);
              break;
            case 7:
              r = remuw(a, b);
              break;
            default:
              illegal = true;
          }
        } else illegal = true;
        if (!illegal) {
          regs[rd << 1] = r;
          regs[(rd << 1) | 1] = r >> 31;
        }
        break;
      }
      case 0x0f: // FENCE, FENCE.I: nothing to do for one in-order hart without a code cache
        if (f3 > 1) illegal = true;
        break;
      case 0x73: {
        // SYSTEM
        h.pcLo = pcLo;
        h.pcHi = pcHi;
        h.icount = base + n;
        if (f3 === 0) {
          const r = system(h, insn, raw, len);
          if (r < 0) {
            // trapped (pc already moved to the handler)
            pcLo = h.pcLo;
            pcHi = h.pcHi;
            dTag = h.dataTag;
            dSalt = h.dataSalt;
            continue;
          }
          if (r === 1) {
            // xRET or WFI: system() set the next pc
            npLo = h.pcLo;
            npHi = h.pcHi;
          }
          // WFI ends the slice; after xRET or SFENCE.VMA interrupts may have become deliverable.
          if (h.wfi) stop = true;
          else if (r !== 0) irqCheck = true;
          break;
        }
        // CSR instructions
        const csr = insn >>> 20;
        const imm = f3 >= 5;
        const srcLo = imm ? rs1 : regs[rs1 << 1],
          srcHi = imm ? 0 : regs[(rs1 << 1) | 1];
        const op = f3 & 3;
        if (op === 0) {
          illegal = true;
          break;
        }
        // csrrw with rd=x0 does not read; csrrs/csrrc with rs1=x0 (or uimm 0) do not write.
        const writes = op === 1 || rs1 !== 0;
        if (!csrRead(h, csr)) {
          illegal = true;
          break;
        }
        const oldLo = h.cvLo,
          oldHi = h.cvHi;
        if (writes) {
          let nLo: number, nHi: number;
          if (op === 1) {
            nLo = srcLo;
            nHi = srcHi;
          } else if (op === 2) {
            nLo = oldLo | srcLo;
            nHi = oldHi | srcHi;
          } else {
            nLo = oldLo & ~srcLo;
            nHi = oldHi & ~srcHi;
          }
          if (!csrWrite(h, csr, nLo, nHi)) {
            illegal = true;
            break;
          }
          if (h.hooks !== undefined) h.hooks.csrWrite?.(csr);
          // Deliverable interrupts or the Sstc timer may have changed: look after this instruction.
          if (IRQ_AFFECTING_CSR[csr]) irqCheck = true;
          if (DEADLINE_CSR[csr]) stop = true;
          // mstatus and satp writes change the data TLB's tag bits.
          dTag = h.dataTag;
          dSalt = h.dataSalt;
        }
        regs[rd << 1] = oldLo;
        regs[(rd << 1) | 1] = oldHi;
        break;
      }
      case 0x2f: {
        // A extension
        h.pcLo = pcLo;
        h.pcHi = pcHi;
        h.icount = base + n;
        const r = atomic(h, insn);
        if (r < 0) {
          pcLo = h.pcLo;
          pcHi = h.pcHi;
          dTag = h.dataTag;
          dSalt = h.dataSalt;
          continue;
        }
        if (r === 0) illegal = true;
        if (bus.mmioWritten) stop = true; // a watchpoint hit
        break;
      }
      case 0x07:
      case 0x27: {
        // FLW/FLD/FSW/FSD
        if ((h.mstatus & MSTATUS_FS) === 0 || (f3 !== 2 && f3 !== 3)) {
          illegal = true;
          break;
        }
        h.pcLo = pcLo;
        h.pcHi = pcHi;
        h.icount = base + n;
        if (!fpLoadStore(h, insn, f3)) {
          pcLo = h.pcLo;
          pcHi = h.pcHi;
          dTag = h.dataTag;
          dSalt = h.dataSalt;
          continue;
        }
        if (bus.mmioWritten) stop = true;
        break;
      }
      case 0x53:
      case 0x43:
      case 0x47:
      case 0x4b:
      case 0x4f:
        if ((h.mstatus & MSTATUS_FS) === 0 || !h.fpu.execute(insn, regs)) illegal = true;
        else h.mstatus |= MSTATUS_FS;
        break;
      default:
        illegal = true;
    }
    if (illegal) {
      h.pcLo = pcLo;
      h.pcHi = pcHi;
      h.icount = base + n;
      trap(h, EXC_ILLEGAL, false, len === 2 ? raw & 0xffff : raw, 0);
      pcLo = h.pcLo;
      pcHi = h.pcHi;
      dTag = h.dataTag;
      dSalt = h.dataSalt;
      continue;
    }
    regs[0] = 0;
    regs[1] = 0;
    // Falling through into the next page is a way into compiled code as a jump is: blocks
    // never cross a page, so a function that does is cut there (an unrolled hash ran its
    // next page's 1,600 instructions here, interpreted, at every call).
    if (((npLo ^ pcLo) & ~0xfff) !== 0) jumped = exitOnJump;
    pcLo = npLo;
    pcHi = npHi;
    n++;
    if (irqCheck) {
      // Exactly what a new run() would do here, without leaving the loop: the same
      // instruction boundary whatever the slicing, so replay stays exact.
      irqCheck = false;
      h.pcLo = pcLo;
      h.pcHi = pcHi;
      h.icount = base + n;
      updateSstc(h);
      if (takeInterrupt(h)) {
        pcLo = h.pcLo;
        pcHi = h.pcHi;
      }
      dTag = h.dataTag;
      dSalt = h.dataSalt;
    }
    if (stop) {
      h.stopped = true;
      break;
    }
    if (jumped) {
      // The target's RAM offset, if the fetch TLB maps it (as the dispatcher finds it).
      let off: number;
      if (pcLo >>> 12 === h.fVpn && pcHi === h.fHi) off = (h.fOff + (pcLo & 0xfff)) | 0;
      else {
        const ti = (((pcLo >>> 12) ^ h.fetchSalt) & TLB_MASK) << 2;
        // One expression, no ||: the warm-up then gives every part of it type feedback.
        if (((fTag[ti] ^ ((pcLo & ~0xfff) | h.fetchTag)) | (fTag[ti + TLB_HI] ^ pcHi)) !== 0) break;
        off = (fOff[ti + TLB_OFF] + (pcLo & 0xfff)) | 0;
      }
      const slot = (off >>> 1) & CACHE_MASK;
      if (cacheSlots[((pcLo >>> 1) & CACHE_MASK) << 1] !== -1 || cacheSlots[slot << 1] === off)
        break;
      // Past hotAfter: queued already, and the dispatcher would only send it back.
      const visits = cacheHits[slot];
      if (visits < hotAfter) {
        if (visits + 1 === hotAfter) break;
        cacheHits[slot] = visits + 1;
      }
      jumped = false;
    }
  }
  h.pcLo = pcLo;
  h.pcHi = pcHi;
  h.icount = base + n;
  return n;
}
