/**
 * What the translator compiles from one entry point: a region of one RAM
 * page, cut into basic blocks. The region is the trace from the entry:
 * straight-line code, the fall-through of each conditional branch, and
 * JALs within the page, up to `maxInsns` instructions. A branch whose
 * target is an instruction of the region goes there without leaving it, so
 * a loop within the trace runs in one call with the guest's registers in
 * locals (QEMU chains its translation blocks for the same reason).
 *
 * Following taken branches too (every path from the entry in the page) was
 * measured: regions three times larger cost more to compile, and to load
 * and write back registers on each entry, than they saved — the Linux boot
 * took 25-80% longer. Taken branches to code outside the trace leave it,
 * unless that code comes back to the entry within a few instructions
 * (loopsBackTo): the rest of a loop; or unless the interpreter went there
 * often (`takenHot`: its visits, CodeCache.hits), so that the branch is
 * taken in practice (an early-out test that always holds would otherwise
 * leave the region at every call); or unless it is a function's return, a
 * short straight run to a JALR (returnsSoon), which is copied into the
 * region even where another region holds it: an early return (`if (!p)
 * return;`, musl's free(NULL)) then leaves once, not through a second
 * region. On awk's loop, 10% fewer region entries.
 *
 * A JAL that calls a short leaf function is inlined, on any page
 * (InlineCall): the trace goes on after the call.
 *
 * A region ends where control leaves the page (JALR, a jump out of the
 * page, the page's end), before an instruction blocks leave to the
 * interpreter (translatable() below), after `maxInsns` instructions, and
 * where code is compiled already (`compiledAt`: every basic block of a
 * compiled region is an entry, see dispatch.ts) unless that code loops back
 * to the entry soon, or an inlined call returns there; each such edge is an exit
 * with the pc it leads to. Code whose
 * instructions overlap (a branch into the middle of a 32-bit instruction)
 * is left to the interpreter: an edge to such a place is an exit too.
 */
import { Op, decode, type Decoded } from './decode.js';
import { CSR, MSTATUS_SIE } from './csr-numbers.js';

/**
 * Instructions at most in one basic block, but for an inlined callee's
 * (MAX_CALLEE) that a call at its end brings in: 88, and block lengths fit
 * the cache entry's 7 bits.
 */
export const MAX_BASIC = 64;
/**
 * Instructions at most in one region (a region's compile cost grows with
 * it; a basic block's index in it fits the cache entry's 7 bits).
 */
export const MAX_REGION = 128;

/** Where a basic block's control goes at its end: a block of the region, or out (-1). */
export interface BasicBlock {
  /** Byte offset of each instruction from the region's entry, then of the block's end (fall-through). */
  at: number[];
  insns: Decoded[];
  /**
   * Successors by index in the region: `taken` for the last instruction's
   * branch or JAL target, `next` for falling through. -1: the edge leaves
   * the region (to the pc it leads to). An instruction that leaves by
   * itself (JALR, JAL out of the page) has neither.
   */
  taken: number;
  next: number;
  /** Falling through leads to an instruction the interpreter must do. */
  nextStops: boolean;
  /** Likewise for the branch target. */
  takenStops: boolean;
  /** Calls whose callee is inlined in this block (see InlineCall), in order. */
  calls?: InlineCall[];
  /** Its last instruction crosses into the next virtual page (see Crossing). */
  crossing?: Crossing;
}

/**
 * A 32-bit instruction at page offset 4094, whose upper half is the first
 * halfword of the next virtual page, found in RAM page `page` through the
 * mapping when it was compiled (CodeAt). It is the last of its basic block
 * (the region's trace leaves the page after it). The block checks before it
 * that the fetch TLB still maps the next page there, and leaves for the
 * interpreter otherwise (block-writer.ts pageCheck); the region is dropped
 * when that page is written (Region.pages).
 */
export interface Crossing {
  page: number;
}

/**
 * A JAL to a short leaf function, inlined: the JAL (at index `i` of its
 * basic block) writes its link as usual, the callee's instructions follow
 * (at their own offsets from the entry), and its return — a JALR through
 * the link, which the callee does not write — goes on with the
 * instruction after the JAL, in the same basic block. The return stays in
 * the block's instructions (it retires), as index i + n, and does nothing.
 * A callee on another page (`page`, a RAM page, when `away`) is valid only
 * where the fetch TLB maps its address to that page: the block checks that
 * before the JAL, and leaves there otherwise (block-writer.ts calleeCheck); the
 * block is dropped when that page is written (code-cache.ts).
 */
export interface InlineCall {
  i: number;
  n: number;
  page: number;
  away: boolean;
}

/** Instructions at most in an inlined callee, its return included. */
export const MAX_CALLEE = 24;

/**
 * Where the code at the virtual address `d` bytes from a region's entry is
 * in RAM now (its RAM offset), or -1 (nothing maps it there): what
 * lets a region inline a callee on another page.
 */
export type CodeAt = (d: number) => number;

export interface Region {
  blocks: BasicBlock[];
  /** Index of the block at the entry. */
  entry: number;
  /** The entry's offset in its page (`at` offsets are from the entry). */
  entryPo: number;
  /** Instructions in all blocks. */
  insns: number;
  /**
   * RAM pages other than the region's own that its code comes from: inlined
   * callees' (see InlineCall), and the upper half of an instruction that
   * crosses the page's end (see Crossing).
   */
  pages: number[];
  /** Its loads and stores look in the TLBs' second ways too (code-cache.ts secondWayOn). */
  secondWay?: boolean;
  /** An access that leaves its memo's page looks its own up (code-cache.ts lookupOnMemoMiss). */
  lookupOnMemoMiss?: boolean;
  /**
   * Page offsets where the trace went on but the region had no room left
   * (maxInsns): the code there runs whenever the region runs to its end,
   * so it is as hot as the entry (dispatch.ts compiles it with the region).
   */
  cuts: number[];
}

/** Can the translator do this instruction inside a block? */
function translatable(x: Decoded): boolean {
  switch (x.op) {
    case Op.AMO: {
      // AMOs, LR (rs2 must be 0) and SC on words and doublewords.
      const f5 = x.insn >>> 27;
      return (
        (x.f3 === 2 || x.f3 === 3) &&
        (f5 === 1 || (f5 & 3) === 0 || f5 === 3 || (f5 === 2 && x.rs2 === 0))
      );
    }
    case Op.CSRRS:
    case Op.CSRRCI:
      return sstatusAccess(x) || fpCsrAccess(x);
    case Op.CSRRW:
    case Op.CSRRC:
    case Op.CSRRWI:
    case Op.CSRRSI:
      return fpCsrAccess(x);
    case Op.FP:
      // Those a block does not do itself it calls the interpreter's code for (translate-fp.ts FpCall).
      return true;
    case Op.ILLEGAL:
    case Op.SYSTEM:
    case Op.MULH:
    case Op.MULHSU:
    case Op.MULHU:
      return false;
  }
  return true;
}

/**
 * The sstatus accesses a block does itself (Linux's irqs_disabled(),
 * local_irq_save() and local_irq_restore(), thousands of times a second):
 * csrr; csrrs that sets SIE at most (the block checks the register's
 * value); csrrci with SIE or nothing as its mask. SIE is in no TLB tag, and
 * clearing an enable makes no interrupt deliverable; setting one can, so
 * the block leaves that case to the interpreter when any interrupt is
 * pending and enabled (translate-insn.ts).
 */
export function sstatusAccess(x: Decoded): boolean {
  if (x.imm !== CSR.sstatus) return false;
  return x.op === Op.CSRRS || (x.op === Op.CSRRCI && (x.rs1 & ~MSTATUS_SIE) === 0);
}

/**
 * Any access to fflags, frm or fcsr (frflags, fsflags, frrm, fsrm, frcsr,
 * fscsr and their immediate forms), which a block does itself in the hart
 * area (HM_FFLAGS, HM_FRM) as FP instructions do: musl's number formatting
 * saves, clears and restores the flags and reads the rounding mode for
 * every number it prints. They are user-level CSRs that no interrupt,
 * privilege or TLB tag depends on; with mstatus.FS Off the block leaves
 * them to the interpreter, which raises the illegal instruction.
 */
export function fpCsrAccess(x: Decoded): boolean {
  return x.imm === CSR.fflags || x.imm === CSR.frm || x.imm === CSR.fcsr;
}

/** A conditional branch (BEQ … BGEU)? */
export function isBranch(x: Decoded): boolean {
  return x.op >= Op.BEQ && x.op <= Op.BGEU;
}

/** A region's instruction count at its entry, for the block loop's budget check. */
export function entryLength(r: Region): number {
  return r.blocks[r.entry].insns.length;
}

// Scratch, reused by every scan (typed arrays: a Linux boot scans thousands of
// regions, and Maps and Sets for each allocated 28 MB of a boot's 78).
// Per page halfword, bits: an instruction starts here, or its upper half is
// here; a basic block starts here if the trace reaches it; the interpreter
// must do the instruction here.
const cover = new Uint8Array(2048);
const HALF_START = 1,
  HALF_TAIL = 2,
  LEADER = 4,
  STOP = 8;
/** The decoded instruction at each halfword marked HALF_START in this scan. */
const decodedAt: (Decoded | undefined)[] = new Array<Decoded | undefined>(2048).fill(undefined);
/** The index of the basic block starting at each halfword (-1: none). */
const blockAt = new Int16Array(2048);

/** The inlined callee of the JAL at each halfword, if any. */
const calleeAt: (Callee | undefined)[] = new Array<Callee | undefined>(2048).fill(undefined);
/**
 * The halfwords where this scan set calleeAt, cleared by the next (filling
 * the whole array each time was three quarters of scanRegion's time).
 */
const calleesSet: number[] = [];

interface Callee {
  insns: Decoded[];
  /** Offsets from the region's entry. */
  at: number[];
  page: number;
  away: boolean;
}

/**
 * The instruction at offset `p` of the page at RAM offset `page`;
 * undefined when it crosses the page's end.
 */
function decodeAt(ram16: Uint16Array, page: number, p: number): Decoded | undefined {
  let raw = ram16[(page + p) >>> 1];
  if ((raw & 3) === 3) {
    if (p + 4 > 4096) return undefined;
    raw = raw | (ram16[(page + p + 2) >>> 1] << 16) | 0;
  }
  return decode(raw);
}

/**
 * The 32-bit instruction at offset 4094 of the page at RAM offset `page`,
 * its upper half the first halfword of the RAM page at offset `next` (where
 * the next virtual page is now); undefined when the halfword at 4094 does
 * not start a 32-bit instruction.
 */
function crossingAt(ram16: Uint16Array, page: number, next: number): Decoded | undefined {
  const low = ram16[(page + 4094) >>> 1];
  if ((low & 3) !== 3) return undefined;
  return decode(low | (ram16[next >>> 1] << 16) | 0);
}

/**
 * The leaf function at RAM offset `c` (at `d` bytes from the entry) that a
 * JAL linking through `link` calls, if it can be inlined: straight-line
 * code the translator does, on one page, that does not write the link and
 * ends in a return through it, in at most `room` instructions.
 */
function leafAt(
  ram16: Uint16Array,
  c: number,
  d: number,
  link: number,
  room: number,
): Callee | undefined {
  const page = c - (c & 4095);
  const insns: Decoded[] = [];
  const at: number[] = [];
  for (let q = c & 4095; insns.length < room && q < 4096;) {
    const x = decodeAt(ram16, page, q);
    if (x === undefined) return undefined;
    insns.push(x);
    at.push(d + q - (c & 4095));
    if (x.op === Op.JALR) {
      if (x.rd !== 0 || x.rs1 !== link || x.imm !== 0) return undefined;
      return { insns, at, page: c >>> 12, away: false };
    }
    if (!translatable(x) || isBranch(x) || x.op === Op.JAL || x.rd === link) return undefined;
    q += x.len;
  }
  return undefined;
}

/** Instructions loopsBackTo looks at. */
const LOOP_LOOKAHEAD = 16;

/**
 * Whether the code at page offset `p` reaches the region's entry within a
 * few instructions, along its fall-throughs and jumps in the page, by a
 * branch or jump to it.
 */
function loopsBackTo(ram16: Uint16Array, page: number, p: number, entryPo: number): boolean {
  for (let k = 0; k < LOOP_LOOKAHEAD && p >= 0 && p < 4096 && (p & 1) === 0; k++) {
    const x = decodeAt(ram16, page, p);
    if (x === undefined) return false;
    if (isBranch(x) || x.op === Op.JAL) {
      if (p + x.imm === entryPo) return true;
      if (x.op === Op.JAL) {
        if (x.rd !== 0) return false;
        p += x.imm;
        continue;
      }
    } else if (x.op === Op.JALR || !translatable(x)) return false;
    p += x.len;
  }
  return false;
}

/** Instructions returnsSoon looks at. */
const RETURN_LOOKAHEAD = 12;

/**
 * Whether the code at page offset `p` is a short run, all of it
 * translatable, with no branch or call, jumps within the page at most, that
 * ends in a JALR: a function's epilogue and return, where an early-out
 * branch goes (`if (!p) return;`).
 */
function returnsSoon(ram16: Uint16Array, page: number, p: number): boolean {
  for (let k = 0; k < RETURN_LOOKAHEAD && p >= 0 && p < 4096 && (p & 1) === 0; k++) {
    const x = decodeAt(ram16, page, p);
    if (x === undefined || !translatable(x) || isBranch(x)) return false;
    if (x.op === Op.JALR) return true;
    if (x.op === Op.JAL) {
      if (x.rd !== 0) return false;
      p += x.imm;
    } else p += x.len;
  }
  return false;
}

/** Marks a work item of scanRegion as a return's run (returnsSoon): copied, even where compiled already. */
const TAIL = 0x10000;

/** The basic block at page offset `po`, or -1 (not one of the region's). */
function blockStartingAt(po: number): number {
  return po >= 0 && po < 4096 && (po & 1) === 0 ? blockAt[po >>> 1] : -1;
}

/** Whether the instruction at page offset `po` is one the interpreter must do. */
function stopsAt(po: number): boolean {
  return po >= 0 && po < 4096 && (po & 1) === 0 && (cover[po >>> 1] & STOP) !== 0;
}

/**
 * Take back the straight-line instructions decoded in [from, to) (see the
 * cut in scanRegion); returns how many there were.
 */
function forget(from: number, to: number): number {
  let n = 0;
  for (let h = from >>> 1; h < to >>> 1; h++) {
    if ((cover[h] & HALF_START) !== 0) n++;
    n += calleeAt[h]?.insns.length ?? 0;
    calleeAt[h] = undefined;
    cover[h] &= ~(HALF_START | HALF_TAIL);
    decodedAt[h] = undefined;
  }
  return n;
}

/**
 * Explore the region at RAM offset `off` (code in `ram16`); undefined when
 * its first instruction is one the translator leaves to the interpreter.
 */
export function scanRegion(
  ram16: Uint16Array,
  off: number,
  maxInsns = MAX_REGION,
  compiledAt?: (off: number) => boolean,
  codeAt?: CodeAt,
  takenHot?: (off: number) => boolean,
): Region | undefined {
  const entryPo = off & 4095;
  const page = off - entryPo;
  const work = [entryPo];
  const cuts: number[] = [];
  const pages: number[] = [];
  /** List a RAM page the region's code comes from besides its own (Region.pages). */
  const addPage = (p: number) => {
    if (p !== page >>> 12 && pages.indexOf(p) < 0) pages.push(p);
  };
  let returnAt = -1; // where the last inlined call returns
  let crossPage = -1; // the RAM page of the upper half of the instruction at 4094 (Crossing)
  let through = -1; // compiled code the trace goes through (loopsBackTo)
  let total = 0;
  let lo = 2048,
    hi = -1; // the halfwords decoded lie in [lo, hi]
  cover.fill(0);
  blockAt.fill(-1);
  for (const h of calleesSet) calleeAt[h] = undefined;
  calleesSet.length = 0;
  cover[entryPo >>> 1] = LEADER;
  while (work.length !== 0) {
    let p = work.pop()!;
    const tail = (p & TAIL) !== 0;
    p &= ~TAIL;
    // Where this straight run of the trace starts.
    const runStart = p;
    for (;;) {
      if (p < 0 || p >= 4096) break;
      const h = p >>> 1;
      if ((cover[h] & 3) === HALF_START) {
        cover[h] |= LEADER; // joins code decoded already: a block starts here
        break;
      }
      if ((cover[h] & 3) === HALF_TAIL) break; // an exit to p
      // Code compiled already from there: an exit to it rather than a second copy. (Not
      // where an inlined call returns: the code there, often a loop's rest back to the
      // call, became hot as the return's target while the call was not inlined yet.)
      if (
        !tail &&
        p !== entryPo &&
        p !== returnAt &&
        p !== through &&
        compiledAt !== undefined &&
        compiledAt(page + p)
      ) {
        // Unless that code soon comes back here: a loop split between two regions would
        // leave one for the other at every turn (inflate_fast's literal path).
        if (!loopsBackTo(ram16, page, p, entryPo)) break;
        through = p;
      }
      if (total >= maxInsns) {
        // Out of room: cut where this run starts (a branch's fall-through or
        // target) rather than in its middle, so that a loop body that starts
        // there is not split between two regions, each iteration then
        // leaving one for the other (md5's rounds: 17 calls per 64 bytes
        // instead of 6). A run the region starts with is cut where it is.
        // (The room given back may go to a run still queued: a taken branch's loop rest.)
        if (p !== runStart && runStart !== entryPo) {
          total -= forget(runStart, p);
          cuts.push(runStart);
        } else cuts.push(p);
        break;
      }
      let x = decodeAt(ram16, page, p);
      if (x === undefined) {
        // It crosses the page's end: its upper half is where the next virtual page is in RAM
        // now. Only an instruction that does not jump (the trace leaves the page after it).
        const next = codeAt === undefined ? -1 : codeAt(4096 - entryPo);
        x = next >= 0 && (next & 4095) === 0 ? crossingAt(ram16, page, next) : undefined;
        if (
          x === undefined ||
          !translatable(x) ||
          isBranch(x) ||
          x.op === Op.JAL ||
          x.op === Op.JALR
        )
          break;
        crossPage = next >>> 12;
      }
      const wide = x.len === 4;
      // Its upper half overlaps code decoded already.
      if (wide && h + 1 < 2048 && (cover[h + 1] & 3) !== 0) break;
      if (!translatable(x)) {
        cover[h] |= STOP;
        break;
      }
      decodedAt[h] = x;
      cover[h] |= HALF_START;
      if (h < lo) lo = h;
      if (h > hi) hi = h;
      if (wide && h + 1 < 2048) cover[h + 1] |= HALF_TAIL;
      total++;
      if (x.op === Op.JAL && x.rd !== 0 && codeAt !== undefined && p + 4 < 4096) {
        // A call: inline the callee if it is a short leaf (leafAt), and go on after the JAL.
        const t = p + x.imm;
        // (On the region's own page the block loop has checked the mapping; elsewhere the block does.)
        const c = t >= 0 && t < 4096 ? page + t : codeAt(t - entryPo);
        const callee =
          c < 0
            ? undefined
            : leafAt(ram16, c, t - entryPo, x.rd, Math.min(MAX_CALLEE, maxInsns - total));
        if (callee !== undefined) {
          callee.away = t < 0 || t >= 4096;
          calleeAt[h] = callee;
          calleesSet.push(h);
          total += callee.insns.length;
          cover[(p + 4) >>> 1] |= LEADER; // (the return's target, as a branch's fall-through)
          p += 4;
          returnAt = p;
          continue;
        }
      }
      if (isBranch(x) || x.op === Op.JAL) {
        const t = p + x.imm;
        if (t >= 0 && t < 4096 && (t & 1) === 0) {
          cover[t >>> 1] |= LEADER; // a block starts there if the trace reaches it
          // A function's return (an early out, or a jump to the epilogue) is copied: that
          // saves leaving for the block that holds it, and that block's own exit, at each
          // early return.
          const fresh = (cover[t >>> 1] & 3) === 0;
          const ret = fresh && returnsSoon(ram16, page, t);
          if (x.op === Op.JAL) work.push(ret ? t | TAIL : t);
          // A taken branch to code that soon comes back to the entry: the rest of a loop.
          else if (fresh && loopsBackTo(ram16, page, t, entryPo)) work.push(t);
          else if (ret) work.push(t | TAIL);
          // A branch the code takes in practice.
          else if (fresh && takenHot !== undefined && takenHot(page + t)) work.push(t);
        }
        if (x.op === Op.JAL) break;
        cover[(p + x.len) >>> 1] |= LEADER;
        work.push(p + x.len);
        break;
      }
      if (x.op === Op.JALR) break;
      p += x.len;
    }
  }
  if ((cover[entryPo >>> 1] & 3) !== HALF_START) return undefined;

  // Cut the decoded instructions, in address order, into basic blocks.
  const blocks: BasicBlock[] = [];
  const ends: number[] = []; // page offset where each block falls through
  let cur: BasicBlock | undefined;
  let curEnd = -1;
  for (let h = lo; h <= hi; h++) {
    if ((cover[h] & 3) !== HALF_START) continue;
    const s = h * 2;
    const x = decodedAt[h]!;
    const last = cur?.insns[cur.insns.length - 1];
    const ended =
      last !== undefined && (isBranch(last) || last.op === Op.JAL || last.op === Op.JALR);
    if (
      cur === undefined ||
      (cover[h] & LEADER) !== 0 ||
      ended ||
      curEnd !== s ||
      cur.insns.length >= MAX_BASIC
    ) {
      if (cur !== undefined) {
        cur.at.push(curEnd - entryPo);
        ends.push(curEnd);
      }
      cur = { at: [], insns: [], taken: -1, next: -1, nextStops: false, takenStops: false };
      blockAt[h] = blocks.length;
      blocks.push(cur);
    }
    cur.insns.push(x);
    cur.at.push(s - entryPo);
    curEnd = s + x.len;
    if (curEnd > 4096) {
      cur.crossing = { page: crossPage };
      addPage(crossPage);
    }
    const callee = calleeAt[h];
    if (callee !== undefined) {
      // (Listed here, where a cut has taken back the calls it cut off.)
      addPage(callee.page);
      (cur.calls ??= []).push({
        i: cur.insns.length - 1,
        n: callee.insns.length,
        page: callee.page,
        away: callee.away,
      });
      cur.insns.push(...callee.insns);
      cur.at.push(...callee.at);
    }
  }
  cur!.at.push(curEnd - entryPo);
  ends.push(curEnd);

  // Link the edges.
  for (let k = 0; k < blocks.length; k++) {
    const bb = blocks[k];
    const last = bb.insns[bb.insns.length - 1];
    const lastPo = bb.at[bb.insns.length - 1] + entryPo;
    if (endsInReturn(bb)) {
      // An inlined callee's return: on to the instruction after its call.
      bb.next = blockStartingAt(ends[k]);
      bb.nextStops = stopsAt(ends[k]);
      continue;
    }
    if (isBranch(last) || last.op === Op.JAL) {
      const t = lastPo + last.imm;
      bb.taken = blockStartingAt(t);
      bb.takenStops = stopsAt(t);
    }
    if (last.op !== Op.JAL && last.op !== Op.JALR) {
      bb.next = blockStartingAt(ends[k]);
      bb.nextStops = stopsAt(ends[k]);
    }
  }
  return { blocks, entry: blockAt[entryPo >>> 1], entryPo, insns: total, cuts, pages };
}

/** Whether a basic block's last instruction is an inlined callee's return (see InlineCall). */
export function endsInReturn(bb: BasicBlock): boolean {
  const c = bb.calls?.[bb.calls.length - 1];
  return c !== undefined && c.i + c.n === bb.insns.length - 1;
}
