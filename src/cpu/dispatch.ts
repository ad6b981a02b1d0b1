/**
 * The translating engine: run translated blocks where there are some, the
 * interpreter everywhere else, with exactly the interpreter's results at
 * every instruction boundary (DESIGN rule 10: the engines agree).
 *
 * The slice is entered once, as run() enters it (enterSlice). Then, in
 * turn: the block loop (block-loop.ts) runs blocks for as long as it finds
 * them; where it finds none, this loop counts the visit and queues the
 * block for compiling once it is hot (CodeCache.hotAfter); where a block
 * stopped before an instruction it leaves to the interpreter, or nothing
 * can be translated, or the block would not fit in the budget (QEMU's
 * icount rule: a block that could overrun the budget is not entered), the
 * interpreter runs on, to the next taken branch or jump whose target has a
 * block, or becomes hot, or is on a page the fetch TLB does not map: it
 * counts the other visits itself (interpreter.ts).
 *
 * Hot blocks are compiled in batches, one WebAssembly module per batch (a
 * module per block costs several times more per block): when `batch` are
 * waiting, or when the interpreter has run `batchWait` instructions since
 * the oldest was queued.
 */
import type { Cpu } from './cpu.js';
import { ACC_FETCH, TLB_HI, TLB_OFF } from './hart-constants.js';
import type { Block } from './code-cache.js';
import { peekTranslate } from './hooks.js';
import { CACHE_MASK, HM_CHAINS, HM_ENTRIES } from './hart-memory.js';
import { enterSlice, interpret } from './interpreter.js';
import { fillFetchTlb } from './slow-access.js';
import { TLB_MASK } from './mmu.js';
import { LOOP_INTERPRET, LOOP_MEMO_MISS, makeBlockLoop, type BlockLoop } from './block-loop.js';
import { compileBlocks, MAX_ROOM, type BlockFn } from './translate-wasm.js';
import type { FpCall } from './translate-fp.js';
import { entryLength, scanRegion, type CodeAt, type Region } from './scan-region.js';

const loops = new WeakMap<Cpu, BlockLoop>();

/** Each hart's FpCall for its block modules: the interpreter's FP unit on its registers. */
const fpCalls = new WeakMap<Cpu, FpCall>();
function fpCallOf(h: Cpu): FpCall {
  let f = fpCalls.get(h);
  if (f === undefined) {
    const fpu = h.fpu,
      regs = h.regs;
    fpCalls.set(h, (f = (insn) => (fpu.execute(insn, regs) ? 1 : 0)));
  }
  return f;
}

/** Regions compiled at most per batch because the region before them was cut for size. */
const MAX_FOLLOW = 64;

export function runTranslated(h: Cpu, maxInsns: number): number {
  const max = maxInsns >= 0x7fffffff ? 0x7fffffff : maxInsns | 0;
  if (!enterSlice(h)) return 0;
  let loop = loops.get(h);
  if (loop === undefined) loops.set(h, (loop = makeBlockLoop(h.bus.memory!, h.code.table!)));
  const code = h.code;
  const hits = code.hits;
  const hot = code.hotAfter;
  const fTag = h.tlbTag[ACC_FETCH],
    fOff = h.tlbOff[ACC_FETCH];
  const hart32 = h.hart32;
  const base = h.icount;
  if (code.batchDue()) compileQueued(h);
  let n = 0;
  while (n < max) {
    // The pc is in the hart area (Cpu.pcLo), where the loop takes it and leaves the next one.
    const k = loop(max - n < MAX_ROOM ? max - n : MAX_ROOM, h.fetchTag, h.dataTag, 0);
    const flags = hart32[2];
    const pcLo = hart32[0];
    code.regionEntries += hart32[HM_ENTRIES >> 2];
    if (hart32[HM_CHAINS >> 2] !== 0) {
      code.chained += hart32[HM_CHAINS >> 2];
      hart32[HM_CHAINS >> 2] = 0;
    }
    if (k !== 0) {
      n += k;
      h.icount = base + n;
      code.insnsInBlocks += k;
      if (n >= max) break;
    }
    let step = 1; // what the interpreter does: one instruction, or on to compiled or hot code
    if ((flags & LOOP_INTERPRET) === 0) {
      // The loop found no block here, or none that fits the budget.
      const ti = (((pcLo >>> 12) ^ h.fetchSalt) & TLB_MASK) << 2;
      // Not in the fetch TLB: fill it and look again (fillFetchTlb), or where that fails, one
      // interpreted instruction (it traps).
      if (fTag[ti] === ((pcLo & ~0xfff) | h.fetchTag) && fTag[ti + TLB_HI] === hart32[1]) {
        const off = fOff[ti + TLB_OFF] + (pcLo & 0xfff);
        let b = code.find(off, pcLo);
        if (b === undefined) {
          const slot = (off >>> 1) & CACHE_MASK;
          const visits = ++hits[slot];
          if (visits === hot) {
            if (code.seeds !== undefined && !code.seeds.holds(off, h.ram8))
              hits[slot] = 1; // seeded for other code than this (hot-seeds.ts): count afresh
            else {
              // Queued; the counter stays at `hot` until the batch is compiled.
              if (code.queue.length === 0) code.queuedAt = code.interpreted;
              code.queue.push(off);
              code.queueVa.push(pcLo, hart32[1]);
              if (code.queue.length >= code.batch || code.batchDue()) {
                compileQueued(h);
                b = code.find(off, pcLo);
              }
            }
          } else if (visits > hot) hits[slot] = hot;
        }
        if (b === undefined) {
          step = max - n; // not compiled (yet)
          // The interpreter goes on through queued code (interpreter.ts): come back when the
          // queue is due (batchWait), not only at the run's end.
          const due = code.untilDue();
          if (due < step && code.queue.length !== 0) step = due > 1 ? due : 1;
        } else if (b.len === 0)
          step = 1; // nothing translatable here: this one instruction
        else if (b.len <= max - n)
          continue; // found by the Map after a slot collision, or just compiled
        else step = max - n; // it does not fit: the slice's last instructions
      } else if (fillFetchTlb(h, pcLo, hart32[1])) continue;
    }
    // After a block's stop, the one instruction it left (the next may start a block);
    // in code not compiled yet, on to a jump into compiled or hot code (interpreter.ts).
    const secondWayHits = h.secondWayHits,
      pcHi = hart32[1];
    const ran = interpret(h, step, hot);
    // A block that stopped before an access the TLB's second way held, or one its memo's page
    // did not (code-cache.ts).
    const secondWay = h.secondWayHits !== secondWayHits && (flags & LOOP_INTERPRET) !== 0;
    if (secondWay || (flags & LOOP_MEMO_MISS) !== 0) {
      const off = peekTranslate(h, pcLo, pcHi, true) - h.ramBase;
      if (off >= 0 && off < h.ramSize) {
        if (secondWay) code.secondWayHit(off >>> 12);
        else code.memoMiss(off >>> 12);
      }
    }
    n += ran;
    code.interpreted += ran;
    if (h.stopped) break;
    // batchWait counts interpreted instructions: look here, where they are counted, not only
    // at the slice's entry (a run of the hart may be a million instructions: virt.ts).
    if (code.batchDue()) compileQueued(h);
  }
  return n;
}

/** Compile the queued blocks, in one module. */
export function compileQueued(h: Cpu): void {
  const code = h.code;
  const t0 = performance.now();
  const offs: number[] = [];
  const regions: Region[] = [];
  const codeAts: CodeAt[] = [];
  // The virtual page each region was found at (its blocks go in the code cache's slots there).
  const pageVas: number[] = [];
  // Where the regions of this batch start basic blocks: a queued entry there needs no region of its own.
  const leaders = new Set<number>();
  const compiledAt = (o: number): boolean => code.all.has(o) || leaders.has(o);
  // Code the interpreter reached often by jumps (the hot counters: queued entries hold `hotAfter`).
  const takenHot = (o: number): boolean => code.hits[(o >>> 1) & CACHE_MASK] >= code.takenHot;
  code.makeRoom(code.queue.length + MAX_FOLLOW);
  const queue = code.queue;
  // The virtual address each was queued at (low and high words), for the callees it may inline.
  const vas = code.queueVa;
  let follow = MAX_FOLLOW;
  // (The loop also reaches what it appends.)
  for (let q = 0; q < queue.length; q++) {
    const off = queue[q];
    code.hits[(off >>> 1) & CACHE_MASK] = 0;
    if (code.all.has(off) || leaders.has(off)) continue;
    const vaLo = vas[2 * q],
      vaHi = vas[2 * q + 1];
    // Where the code d bytes from the entry is in RAM now, as a fetch would find it (the
    // fetch TLB, else a walk without side effects: the code may not have run yet). Only a
    // guess: the block checks the fetch TLB when it runs (calleeCheck).
    const codeAt = (d: number): number => {
      const lo = (vaLo + d) | 0;
      const hi =
        (vaHi + (d < 0 ? (lo >>> 0 > vaLo >>> 0 ? -1 : 0) : lo >>> 0 < vaLo >>> 0 ? 1 : 0)) | 0;
      const pa = peekTranslate(h, lo, hi, true) - h.ramBase;
      return pa < 0 || pa >= h.ramSize ? -1 : pa;
    };
    const region = scanRegion(h.ram16, off, code.maxBlock, compiledAt, codeAt, takenHot);
    if (region === undefined) {
      code.add(h, { off, len: 0, run: undefined, index: 0, bb: 0, shared: false }, vaLo);
      continue;
    }
    region.secondWay = code.secondWayOn[off >>> 12] !== 0;
    region.lookupOnMemoMiss = code.lookupOnMemoMiss[off >>> 12] !== 0;
    offs.push(off);
    pageVas.push(vaLo & ~0xfff);
    regions.push(region);
    codeAts.push(codeAt);
    for (const bb of region.blocks) leaders.add(off + bb.at[0]);
    // Long straight code (an unrolled hash round) would otherwise wait for
    // `hotAfter` visits at each cut, one cut after another.
    for (const po of region.cuts) {
      const next = off - (off & 4095) + po;
      if (follow > 0 && !code.all.has(next) && queue.indexOf(next) < 0) {
        queue.push(next);
        vas.push((vaLo & ~0xfff) | po, vaHi);
        follow--;
      }
    }
  }
  code.queue.length = 0;
  code.queueVa.length = 0;
  if (regions.length !== 0) {
    const runs: BlockFn[] = compileBlocks(h.bus.memory!, regions, offs, codeAts, fpCallOf(h));
    code.modules++;
    for (let i = 0; i < runs.length; i++) {
      const r = regions[i];
      const run = runs[i];
      const index = code.allocIndex(run);
      // Each block of the region is listed under the pages of its inlined callees too, and
      // those of the regions it chains to (compileBlocks): a write to one drops the whole region.
      const place = (b: Block) => {
        code.add(h, b, pageVas[i] | (b.off & 0xfff));
        code.compiledLog.note(b.off, b.shared, h.ram8);
        for (const page of r.pages) code.alsoOn(h, page, b);
      };
      place({ off: offs[i], len: entryLength(r), run, index, bb: r.entry, shared: false });
      // Every other basic block of the region is an entry too: control reaching it later
      // (a loop's head, the code after a call) runs compiled code at once, and compiling
      // a region from there would compile much of this one again.
      for (let k = 0; k < r.blocks.length; k++) {
        const at = offs[i] + r.blocks[k].at[0];
        if (k === r.entry || code.all.has(at)) continue;
        place({ off: at, len: r.blocks[k].insns.length, run, index, bb: k, shared: true });
      }
      code.compiled++;
      code.compiledInsns += r.insns;
    }
  }
  code.compileMs += performance.now() - t0;
}
