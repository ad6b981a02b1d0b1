/**
 * Observers of the hart, for replay-time analysis (src/plugin): they are
 * told of traps, trap returns, CSR writes by guest instructions and, when
 * asked, of every instruction before it runs and after it is done. They get
 * numbers, not the hart: what they see cannot change what the guest does.
 *
 * With no hooks set (Cpu.hooks undefined) the cost is one field check on
 * paths that are slow anyway (a trap, an xRET, a CSR write); the
 * instruction hooks run the hart one instruction at a time on the
 * interpreter (runHooked below), and nothing else slows down for them.
 *
 * peekInstruction() and peekTranslate() let an observer see what the next
 * instruction is and where its access goes, as the hart would fetch and
 * translate them now, without the side effects of doing so (no A/D bits, no
 * TLB fills, no device reads).
 */
import type { Cpu } from './cpu.js';
import { MSTATUS_MPP, MSTATUS_MPP_SHIFT, MSTATUS_MPRV } from './csr-numbers.js';
import { ACC_FETCH, ACC_READ, ACC_WRITE, PRIV_M, TLB_HI, TLB_OFF } from './hart-constants.js';
import { enterSlice, interpret } from './interpreter.js';
import { TLB_MASK } from './mmu.js';
import { walkPage } from './page-walk.js';

export interface CpuHooks {
  /**
   * A trap was taken (pc is now at the handler): `epc` (lo, hi) is where it
   * happened, `from` and `to` the privilege before and after. Exceptions
   * and interrupts alike; not a debugger's watchpoint stop.
   */
  trap?(
    cause: number,
    interrupt: boolean,
    tvalLo: number,
    tvalHi: number,
    epcLo: number,
    epcHi: number,
    from: number,
    to: number,
  ): void;
  /** MRET (`machine`) or SRET returned from `from` to `to`, at the pc now. */
  xret?(machine: boolean, from: number, to: number): void;
  /** A guest CSR instruction wrote CSR `num` (read its value back for what it now holds). */
  csrWrite?(num: number): void;
  /** Called before each instruction (pc and icount as the hart has them). */
  insn?(): void;
  /**
   * With `insn` (the same one-at-a-time mode), called after each
   * instruction: `retired` is false when it trapped instead (the trap hook
   * has been told) or a debugger stopped the hart before it.
   */
  after?(retired: boolean): void;
}

/**
 * run() with an instruction hook: one interpreted instruction at a time,
 * the hook before each — the first of a trap handler too. The interpreter
 * goes on into the handler within the same call after a trap (a trapping
 * instruction does not count); a trap limit of one more trap makes it stop
 * at the handler's first fetch instead (every trap passes the slow fetch
 * path, interpreter.ts), and the loop then carries on there. The slice's
 * own limit on traps (enterSlice) still ends it.
 */
export function runHooked(h: Cpu, maxInsns: number): number {
  const max = maxInsns >= 0x7fffffff ? 0x7fffffff : maxInsns | 0;
  if (!enterSlice(h)) return 0;
  const hook = h.hooks!.insn!;
  const after = h.hooks!.after;
  const sliceLimit = h.trapLimit;
  let n = 0;
  while (n < max && h.trapsTaken < sliceLimit) {
    hook();
    const traps = h.trapsTaken;
    h.trapLimit = Math.min(sliceLimit, traps + 1);
    const r = interpret(h, 1, 0);
    n += r;
    if (after !== undefined) after(r !== 0);
    if (h.stopped) {
      // Stopped at a trap handler's first fetch only for the hook's sake: go on there.
      if (h.debugHit === 0 && h.trapsTaken > traps && h.trapsTaken < sliceLimit) {
        h.stopped = false;
        continue;
      }
      break;
    }
  }
  h.trapLimit = sliceLimit;
  return n;
}

/**
 * The physical address of virtual (vLo, vHi) for a data access (`fetch`
 * false: with mstatus.MPRV as loads and stores see it) or a fetch, as the
 * hart would translate it now, or -1 when the walk finds no mapping. Reads
 * the TLBs (their entries are what a walk would give, mmu.ts) and walks the
 * page table when they miss (page-walk.ts, refusing what the hart refuses to
 * map), like translate() in mmu.ts but with no side effects and no
 * permission checks: an access the permissions refuse traps, which the
 * caller sees (the `after` hook's `retired`).
 */
export function peekTranslate(h: Cpu, vLo: number, vHi: number, fetch: boolean): number {
  const vpn = vLo >>> 12;
  const po = vLo & 0xfff;
  if (fetch) {
    if (vpn === h.fVpn && vHi === h.fHi) return h.ramBase + h.fOff + po;
    const i = ((vpn ^ h.fetchSalt) & TLB_MASK) << 2;
    const tag = h.tlbTag[ACC_FETCH];
    if (tag[i] === ((vLo & ~0xfff) | h.fetchTag) && tag[i + TLB_HI] === vHi)
      return h.ramBase + h.tlbOff[ACC_FETCH][i + TLB_OFF] + po;
  } else {
    const want = (vLo & ~0xfff) | h.dataTag;
    const i = ((vpn ^ h.dataSalt) & TLB_MASK) << 2;
    for (const acc of [ACC_READ, ACC_WRITE]) {
      const tag = h.tlbTag[acc];
      if (tag[i] === want && tag[i + TLB_HI] === vHi)
        return h.ramBase + h.tlbOff[acc][i + TLB_OFF] + po;
    }
  }
  // Data accesses in M-mode with MPRV set translate at MPP (priv spec 3.1.6.3).
  let priv = h.priv;
  const ms = h.mstatus;
  if (!fetch && priv === PRIV_M && (ms & MSTATUS_MPRV) !== 0)
    priv = (ms & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT;
  const page = walkPage(h, priv, vLo, vHi);
  return page < 0 ? -1 : page * 4096 + po;
}

/**
 * The bits of the instruction at pc (16 in the low half, or 32, as the
 * interpreter fetches them), or -1 when the fetch would fault or reach
 * something other than RAM that `readOther` cannot read without side effects
 * (it returns a halfword at a physical address, or undefined).
 */
export function peekInstruction(h: Cpu, readOther?: (paddr: number) => number | undefined): number {
  const pcLo = h.pcLo,
    pcHi = h.pcHi;
  // The interpreter's own fast path: the page the pc is in.
  if (pcLo >>> 12 === h.fVpn && pcHi === h.fHi && (pcLo & 0xfff) !== 0xffe) {
    const i = (h.fOff + (pcLo & 0xfff)) >>> 1;
    const lo = h.ram16[i];
    return (lo & 3) !== 3 ? lo : lo | (h.ram16[i + 1] << 16);
  }
  const pa = peekTranslate(h, pcLo, pcHi, true);
  const lo = peekHalf(h, pa, readOther);
  if (lo < 0 || (lo & 3) !== 3) return lo;
  // A 32-bit instruction's upper half may be on the next page.
  let pa2 = pa + 2;
  if ((pcLo & 0xfff) === 0xffe) {
    const nLo = (pcLo + 2) | 0;
    pa2 = peekTranslate(h, nLo, nLo >>> 0 < pcLo >>> 0 ? (pcHi + 1) | 0 : pcHi, true);
  }
  const hi = peekHalf(h, pa2, readOther);
  return hi < 0 ? -1 : lo | (hi << 16);
}

function peekHalf(
  h: Cpu,
  pa: number,
  readOther: ((paddr: number) => number | undefined) | undefined,
): number {
  if (pa < 0) return -1;
  if (pa >= h.ramBase && pa + 2 <= h.ramBase + h.ramSize) return h.ram16[(pa - h.ramBase) >>> 1];
  return readOther?.(pa) ?? -1;
}

/** Would an SC to physical address `paddr` succeed now (atomic.ts: the reservation holds it)? */
export function scWouldSucceed(h: Cpu, paddr: number): boolean {
  return h.resAddr === paddr;
}
