/**
 * Differential testing of the execution engines: two copies of one machine,
 * one on the translator and one on the interpreter (the reference), run in
 * equal slices and compared after each — every hart and device field, and
 * every RAM page either wrote. On the first difference both go back to the
 * start of that slice and a binary search on the instruction count finds
 * the first boundary where they differ; the result names it: icount, the
 * instruction the engines disagree after, and the fields and pages that
 * differ.
 *
 * The run compares the translator as users run it. For the search it
 * compiles every block at its first visit (no hotness threshold, no
 * batching), so that what runs translated does not depend on how often
 * code ran before a restore. The search re-runs a prefix
 * of the slice as one slice, and a block runs translated only when it fits
 * in the prefix: the boundary found first is the end of the culprit block.
 * A second search with one-instruction blocks then finds the instruction
 * itself; if the difference needs a longer block to show (a bug between
 * instructions of a block), the block's end is what is reported.
 */
import type { Engine } from '../cpu/cpu.js';
import { MAX_REGION } from '../cpu/scan-region.js';
import { RamPages, type PageRefs } from '../snapshot/ram-pages.js';
import type { State } from '../snapshot/state.js';
import { stateLeaves } from '../replay/state-leaves.js';
import { fieldNames, describePageDifferences } from '../replay/digest-report.js';
import { hex64 } from '../replay/hex.js';
import type { VirtMachine } from './virt.js';
import { debugRead } from '../gdb/debug-memory.js';

export interface LockstepOptions {
  /** Instructions per compared slice. */
  slice: number;
  /** Stop after this many instructions (when the guest has not stopped before). */
  maxInsns: number;
  /** Called after each compared slice (progress). */
  progress?: (icount: number) => void;
}

export interface Divergence {
  /** Instructions both had executed when their states first differed. */
  icount: number;
  /** The pc (interpreter's) before the last instruction executed, and its bits. */
  pc: string;
  insn: string;
  /** The pc each engine is at. */
  pcTranslate: string;
  pcInterp: string;
  /** Fields that differ, and RAM. */
  fields: string;
  ram: string;
}

export interface LockstepResult {
  /** Instructions compared. */
  icount: number;
  /** Slices compared. */
  slices: number;
  /** Why the run ended: 'budget', an exit kind, or 'diverged'. */
  end: string;
  divergence?: Divergence;
}

interface Saved {
  state: State;
  ram: PageRefs;
}

/** One engine's machine, with what going back to a slice's start needs. */
class Side {
  readonly ram: RamPages;
  readonly written: Uint8Array;

  constructor(readonly vm: VirtMachine) {
    this.ram = new RamPages(vm);
    this.written = vm.bus.addDirtyListener();
  }

  save(): Saved {
    return { state: this.vm.saveState(), ram: this.ram.capture().refs };
  }

  restore(s: Saved): void {
    this.ram.restore(s.ram);
    this.vm.loadState(s.state, true);
  }
}

/** Compare the two machines; undefined when they are the same. */
function compare(a: Side, b: Side): { fields: string; ram: string } | undefined {
  a.vm.collectDirty();
  b.vm.collectDirty();
  const pages: number[] = [];
  const ra = a.vm.bus.ram32,
    rb = b.vm.bus.ram32;
  for (let p = 0; p < a.written.length; p++) {
    if (!a.written[p] && !b.written[p]) continue;
    a.written[p] = b.written[p] = 0;
    for (let i = p * 1024; i < p * 1024 + 1024; i++)
      if (ra[i] !== rb[i]) {
        pages.push(p);
        break;
      }
  }
  const sa = a.vm.saveState({ digest: true });
  let la = stateLeaves(sa, false);
  const lb = stateLeaves(b.vm.saveState({ digest: true }), false);
  const diff: number[] = [];
  if (la.values.length !== lb.values.length) diff.push(0);
  else
    for (let i = 0; i < la.values.length; i += 2)
      if (la.values[i] !== lb.values[i] || la.values[i + 1] !== lb.values[i + 1]) diff.push(i / 2);
  if (pages.length === 0 && diff.length === 0) return undefined;
  if (diff.length !== 0) la = stateLeaves(sa, true); // with the fields' names
  return {
    fields: diff.length ? fieldNames(la, diff) : '',
    ram: pages.length ? describePageDifferences(pages, a.vm.bus.ramBase) : '',
  };
}

function pcText(vm: VirtMachine): string {
  return hex64(vm.cpu.pcLo, vm.cpu.pcHi);
}

/**
 * Run `make('translate')` and `make('interp')` side by side and compare
 * them (see the file comment). `make` must build the same machine each time
 * (same images, no host input).
 */
export function lockstep(
  make: (engine: Engine) => VirtMachine,
  opts: LockstepOptions,
): LockstepResult {
  const a = new Side(make('translate'));
  const b = new Side(make('interp'));
  let slices = 0;
  for (;;) {
    const start = a.vm.cpu.icount;
    if (start >= opts.maxInsns) return { icount: start, slices, end: 'budget' };
    const budget = Math.min(opts.slice, opts.maxInsns - start);
    const sa = a.save(),
      sb = b.save();
    const ra = a.vm.runSlice(budget);
    const rb = b.vm.runSlice(budget);
    slices++;
    const diff =
      ra.executed !== rb.executed || ra.result !== rb.result
        ? {
            fields: `executed ${ra.executed} (${ra.result}) and ${rb.executed} (${rb.result}) instructions`,
            ram: '',
          }
        : compare(a, b);
    if (diff) {
      const slice: Divergence = {
        icount: start,
        pc: 'a slice of ' + budget,
        insn: 'not found',
        pcTranslate: pcText(a.vm),
        pcInterp: pcText(b.vm),
        ...diff,
      };
      return {
        icount: start,
        slices,
        end: 'diverged',
        divergence: bisect(a, b, sa, sb, budget) ?? slice,
      };
    }
    opts.progress?.(a.vm.cpu.icount);
    if (ra.result !== 'budget' && ra.result !== 'idle') {
      return { icount: a.vm.cpu.icount, slices, end: a.vm.exit?.kind ?? ra.result };
    }
    if (ra.result === 'idle') {
      // Both idle at the same icount: let guest time pass as the run loop would.
      const t = Math.floor(Math.min(a.vm.nextDeadline(), b.vm.nextDeadline()));
      if (t === Infinity) return { icount: a.vm.cpu.icount, slices, end: 'idle forever' };
      for (const vm of [a.vm, b.vm]) if (t > vm.now()) vm.advanceTimeTo(t);
    }
  }
}

/**
 * The first instruction count in (0, budget] after which the two differ,
 * from the saved slice start; undefined when the difference does not show
 * again with every block translated at its first visit.
 */
function bisect(a: Side, b: Side, sa: Saved, sb: Saved, budget: number): Divergence | undefined {
  const at = (k: number) => {
    a.restore(sa);
    b.restore(sb);
    compare(a, b); // forget the pages the restore flagged
    const ea = a.vm.runSlice(k).executed;
    const eb = b.vm.runSlice(k).executed;
    return ea !== eb ? { fields: `executed ${ea} and ${eb} instructions`, ram: '' } : compare(a, b);
  };
  const code = a.vm.cpu.code;
  code.hotAfter = 1;
  code.batch = 1;
  code.batchWait = 0;
  code.clear();
  if (at(budget) === undefined) return undefined;
  const search = (lo: number, hi: number) => {
    // same after lo, different after hi
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (at(mid) === undefined) lo = mid;
      else hi = mid;
    }
    return lo;
  };
  let lo = search(0, budget);
  // Again with one-instruction blocks, for the instruction itself.
  code.maxBlock = 1;
  code.clear();
  if (at(lo + 1) !== undefined) lo = search(0, lo + 1);
  else {
    code.maxBlock = MAX_REGION;
    code.clear();
  }
  const hi = lo + 1;
  // The instruction between lo and hi, as the reference executes it.
  at(lo);
  const pc = pcText(b.vm);
  const bits = readInsn(b.vm);
  const d = at(hi)!;
  return {
    icount: a.vm.cpu.icount,
    pc,
    insn: bits,
    pcTranslate: pcText(a.vm),
    pcInterp: pcText(b.vm),
    fields: d.fields,
    ram: d.ram,
  };
}

/** The bits of the instruction at the hart's pc (as the debugger reads memory). */
function readInsn(vm: VirtMachine): string {
  const pc = (BigInt(vm.cpu.pcHi >>> 0) << 32n) | BigInt(vm.cpu.pcLo >>> 0);
  const b = debugRead(vm, pc, 4);
  if (b.length < 2) return 'not readable';
  const lo = b[0] | (b[1] << 8);
  if ((lo & 3) !== 3) return `0x${lo.toString(16).padStart(4, '0')}`;
  if (b.length < 4) return 'not readable';
  return `0x${((lo | (b[2] << 16) | (b[3] << 24)) >>> 0).toString(16).padStart(8, '0')}`;
}

/** A one-paragraph report of a divergence. */
export function describeDivergence(d: Divergence): string {
  return [
    `engines differ after instruction ${d.icount}: the instruction at ${d.pc} (${d.insn})`,
    `  pc: translate ${d.pcTranslate}, interp ${d.pcInterp}`,
    d.fields ? `  fields: ${d.fields}` : '',
    d.ram ? `  ${d.ram}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}
