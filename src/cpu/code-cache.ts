/**
 * Translated blocks, found by the RAM offset of their first instruction,
 * and the rule that keeps them true to RAM.
 *
 * A block is compiled from the bytes of one RAM page and never reaches past
 * it, but for the leaf functions it inlines (scan-region.ts), which it
 * checks are still mapped where they were; so it is valid for as long as
 * those pages are unchanged (it is listed under each: alsoOn), whatever
 * virtual address maps them. The page is then a code page (`codePage`): it is kept out
 * of the write TLB, so every write to it by the hart takes a slow path, and
 * every path that writes RAM — stores through tlbInsert, AMOs and SC
 * (atomicWrote), A/D updates of a walk, DMA, the debugger, loaders and
 * checkpoint restores (externalWrite) — calls pageWritten(), which drops
 * the page's blocks and clears the flag; a restore of all of RAM clears
 * the cache (VirtMachine.loadState). The
 * page is then an ordinary page until a block is compiled from it again. A
 * stale block can therefore never run (v86 flags and invalidates its code
 * pages the same way), and FENCE.I has nothing to do.
 *
 * Lookup goes through a direct-mapped table in the machine's memory, which
 * the block loop in WebAssembly reads, in front of a Map of every live
 * block. A slot holds a block's RAM offset (its key) and entry; the loop
 * looks in the slot of the virtual pc (pc / 2 modulo the table's size) and
 * takes the block only if the key is the offset the fetch TLB gives, so
 * where a block sits is only a hint. Indexed by the RAM offset, the slot
 * waited on the fetch TLB's load; by the pc, both loads go at once: awk
 * and gzip, whose loops turn every 20-30 instructions, ran 4-7% faster
 * (stop 50). A block is put in the slots of the pc it was compiled at and
 * of its offset (the interpreter looks there: interpreter.ts), and, found
 * at another pc (the page mapped twice, a new process's ASLR), in that
 * pc's; a dropped one is taken out of every slot with its page offset.
 * The hot counters are per slot of the RAM offset, so a collision only
 * makes a block hot sooner.
 * Block functions sit in one function table, where the loop calls them.
 * A region's function starts at any of its basic blocks, so each basic
 * block is a block here too (`shared`: the one at the region's entry owns
 * the function); all of them are on the region's page, so they go together.
 */
import type { Cpu } from './cpu.js';
import { CACHE_MASK, CACHE_SIZE, HM_CACHE } from './hart-memory.js';
import { evictFromWriteTlb } from './mmu.js';
import type { BlockFn } from './translate-wasm.js';
import { MAX_REGION } from './scan-region.js';
import { CompiledLog, type HotSeeds } from './hot-seeds.js';

/** One translated block. */
export interface Block {
  /** RAM offset of the first instruction. */
  readonly off: number;
  /** Instructions it retires when it runs to its end; 0 = nothing translatable here (interpret). */
  readonly len: number;
  /** Its function (see translate-wasm.ts for the result). */
  readonly run: BlockFn | undefined;
  /** Its index in the function table (0 for none). */
  readonly index: number;
  /** The basic block of its function it starts (a function starts at every basic block of its region). */
  readonly bb: number;
  /** Another block owns the function (this one starts a later basic block of its region). */
  readonly shared: boolean;
}

/**
 * A cache entry: table index << ENTRY_INDEX_SHIFT | basic block << ENTRY_LEN_BITS
 * | instruction count of that basic block (at most MAX_BASIC, 64; the basic
 * block's index is below MAX_REGION, 128: a region has at most one per
 * instruction).
 */
export const ENTRY_LEN_BITS = 7;
export const ENTRY_BB_BITS = 7;
export const ENTRY_INDEX_SHIFT = ENTRY_LEN_BITS + ENTRY_BB_BITS;

/**
 * The window of secondWayHit (and, apart, of memoMiss): a page's stops
 * count toward `secondWayAfter` (`memoMissAfter`) until there have been
 * this many of the kind on all pages; then every count of it restarts.
 */
export const CAREFUL_WINDOW = 65536;

export class CodeCache {
  /**
   * Slot s: at 2s the RAM offset it holds (-1: none), at 2s + 1 its entry
   * (ENTRY_INDEX_SHIFT), read only where the offset matches.
   */
  readonly slots: Int32Array;
  readonly block: (Block | undefined)[] = new Array<Block | undefined>(CACHE_SIZE).fill(undefined);
  /**
   * Visits to a slot's offset while it has no block: the dispatcher's
   * lookups, and the interpreter's taken jumps there (interpreter.ts).
   */
  readonly hits = new Uint16Array(CACHE_SIZE);
  /** Counters seeded from an earlier run of the same images (hot-seeds.ts), if any. */
  seeds: HotSeeds | undefined;
  /** Every block compiled so far, for the next run's seeds. */
  readonly compiledLog = new CompiledLog();
  /**
   * Visits to a block start before it is compiled; blocks compiled per
   * module; instructions the interpreter runs while the oldest waits, at
   * most; instructions per block. Tuned on a Linux boot (bench/); the
   * differential tests set 1, 1, 0 to translate everything at once, and
   * maxBlock to find one bad instruction.
   *
   * The wait counts interpreted instructions, not all of them: while
   * blocks run, a batch may fill up (fewer, larger modules), and while the
   * interpreter runs, code that is hot and queued is likely part of it.
   * Against a wait of 1 M instructions of any kind: a boot made 60 modules
   * instead of 103, interpreted 0.7 M fewer instructions, and took 0.953
   * and 0.958 of the time (two series of 16 alternations, both orders).
   *
   * 100 k, not 300 k (2026-12-06, README stop 43): queued code runs
   * interpreted while it waits, and V8's compile costs about a module's
   * bytes (33 µs a KB), little more per module. A boot + `sha256sum`
   * interprets 9.97 M instructions instead of 11.40 M, in 103 modules
   * instead of 63; callgrind: the hart's thread 0.956, all threads 0.969.
   */
  hotAfter = 150;
  batch = 64;
  batchWait = 100_000;
  maxBlock = MAX_REGION;
  /**
   * Visits by jumps (hits) at which a taken branch's target is traced into
   * the region that branches there (scan-region.ts), though it is not on
   * the trace's fall-through path. Region entries at 40: boot 7.04 M to
   * 5.37 M, `seq | gzip` 37.6 M to 29.6 M, awk's loop 51.8 M to 42.7 M (at
   * 10 hardly fewer than at 40).
   */
  takenHot = 40;
  /**
   * Live blocks at most. Past it the whole cache is emptied before more are
   * compiled (QEMU's tb_flush), so that a guest that keeps making new code
   * (a JIT, ever new programs on new pages) cannot grow the host's memory
   * without end. A Linux boot keeps about 3,700 blocks and an hour of an
   * idle shell running `date` every second about 11,300 (its programs' code
   * stays in the page cache, on the same pages). A bound at 8,192 made that
   * hour flush 8 times and compile 72,000 blocks, and its peak RSS rose from
   * 215 to 304 MiB (V8 frees dropped modules' code late): the bound is for
   * runaway code, not the working set.
   */
  maxLive = 32768;
  /** RAM offsets of hot blocks waiting to be compiled, and `interpreted` when the first was queued. */
  readonly queue: number[] = [];
  /** The virtual address (low word, high word) at which each queued block was found hot. */
  readonly queueVa: number[] = [];
  queuedAt = 0;
  /** Instructions the dispatcher had the interpreter run (the clock of batchWait). */
  interpreted = 0;
  /** Live blocks that own their function (and markers): what maxLive bounds. */
  functions = 0;
  /** Every live block by RAM offset. */
  readonly all = new Map<number, Block>();
  /** Blocks of each code page (RAM page number). */
  readonly byPage = new Map<number, Block[]>();
  /** 1: RAM page holds translated code (kept out of the write TLB). */
  readonly codePage: Uint8Array;
  /**
   * 1: blocks compiled from this RAM page look in the TLBs' second ways
   * too (mmu.ts secondWay), for good: the page's later code is likely the
   * same program's (secondWayHit).
   */
  readonly secondWayOn: Uint8Array;
  /** Per RAM page, its blocks' stops on second-way hits in this window. */
  private readonly secondWayStops: Uint16Array;
  /** Stops of each kind (second way, memo miss) on all pages in its window (CAREFUL_WINDOW). */
  private readonly carefulWindows = new Int32Array(2);
  /** Such stops on a page, within CAREFUL_WINDOW on all pages, that turn its second-way lookups on. */
  secondWayAfter = 4096;
  /**
   * 1: blocks compiled from this RAM page look the page up where an access
   * leaves the page of the earlier access it would reuse (block-writer.ts
   * access), for good (memoMiss).
   */
  readonly lookupOnMemoMiss: Uint8Array;
  /** Per RAM page, its blocks' stops at such accesses in their window. */
  private readonly memoMissStops: Uint16Array;
  /** Such stops on a page, within CAREFUL_WINDOW of them on all pages, that turn its lookups there on. */
  memoMissAfter = 4096;
  /** The functions of live blocks, for call_indirect; index 0 stays empty. */
  readonly table: WebAssembly.Table | undefined;
  private readonly freeIndex: number[] = [];
  private nextIndex = 1;

  // Figures for `--stats` and the bench.
  compiled = 0;
  compiledInsns = 0;
  compileMs = 0;
  modules = 0;
  invalidations = 0;
  insnsInBlocks = 0;
  /** Regions entered by the block loop (each costs it a turn, and the region its entry and exit). */
  regionEntries = 0;
  /** Regions entered by a chain from another, not by the loop (block-writer.ts ChainTarget). */
  chained = 0;
  /** Times the cache was emptied for room (maxLive). */
  flushes = 0;

  constructor(ramPages: number, memory: ArrayBuffer | undefined) {
    this.codePage = new Uint8Array(ramPages);
    this.secondWayOn = new Uint8Array(ramPages);
    this.secondWayStops = new Uint16Array(ramPages);
    this.lookupOnMemoMiss = new Uint8Array(ramPages);
    this.memoMissStops = new Uint16Array(ramPages);
    this.slots = memory
      ? new Int32Array(memory, HM_CACHE, 2 * CACHE_SIZE)
      : new Int32Array(2 * CACHE_SIZE);
    this.slots.fill(-1);
    this.table = memory ? new WebAssembly.Table({ element: 'anyfunc', initial: 1024 }) : undefined;
  }

  /** Interpreted instructions left before the queued blocks are due for compiling (batchWait). */
  untilDue(): number {
    return this.batchWait - (this.interpreted - this.queuedAt);
  }

  /** Blocks are queued, and have waited batchWait interpreted instructions. */
  batchDue(): boolean {
    return this.queue.length !== 0 && this.untilDue() <= 0;
  }

  /** The block at RAM offset `off`, if one was compiled (and puts it in the slot of virtual pc `va`). */
  find(off: number, va: number): Block | undefined {
    const slot = (va >>> 1) & CACHE_MASK;
    if (this.slots[slot << 1] === off) return this.block[slot];
    // Blocks live only on code pages: most misses (code not compiled yet) end here.
    if (this.codePage[off >>> 12] === 0) return undefined;
    const b = this.all.get(off);
    if (b !== undefined) this.fill(slot, b);
    return b;
  }

  private fill(slot: number, b: Block): void {
    this.slots[slot << 1] = b.off;
    this.slots[(slot << 1) | 1] = (b.index << ENTRY_INDEX_SHIFT) | (b.bb << ENTRY_LEN_BITS) | b.len;
    this.block[slot] = b;
  }

  /** A function-table index for a new block's function. */
  allocIndex(fn: BlockFn): number {
    const t = this.table!;
    const i = this.freeIndex.length > 0 ? this.freeIndex.pop()! : this.nextIndex++;
    if (i >= t.length) t.grow(t.length);
    t.set(i, fn);
    return i;
  }

  /** Add a freshly compiled block, found at virtual pc `va`; its page becomes a code page. */
  add(h: Cpu, b: Block, va: number): void {
    this.all.set(b.off, b);
    if (!b.shared) this.functions++;
    // The loop looks in the virtual pc's slot; the interpreter looks in the offset's too.
    this.fill((b.off >>> 1) & CACHE_MASK, b);
    this.fill((va >>> 1) & CACHE_MASK, b);
    // A marker (nothing translatable here) is watched too: the page may yet receive code.
    this.alsoOn(h, b.off >>> 12, b);
  }

  /**
   * Block `b` holds code of RAM page `page` too (an inlined callee's,
   * scan-region.ts): a write there drops it as well.
   */
  alsoOn(h: Cpu, page: number, b: Block): void {
    let list = this.byPage.get(page);
    if (list === undefined) this.byPage.set(page, (list = []));
    // Blocks dropped through another of their pages stay listed here until this page is
    // written; weed them out now and then, so that a page whose callee keeps changing
    // does not keep a growing list.
    if (list.length >= 64 && (list.length & (list.length - 1)) === 0) {
      const live = list.filter((x) => this.all.get(x.off) === x);
      list.length = 0;
      list.push(...live);
    }
    list.push(b);
    if (this.codePage[page] === 0) {
      this.codePage[page] = 1;
      evictFromWriteTlb(h, page);
    }
  }

  /**
   * A block of RAM page `page` stopped before a load or store whose page
   * the TLB held in its second way (the interpreter found it there). Two
   * pages in one TLB slot, both used in a loop, do that at every turn;
   * otherwise it is rare (a boot: about 7,000 such stops, 1,750 at most on
   * one page). Looking in both ways inline would cost every module a tenth
   * more code (V8's compile time), so only a page whose blocks stopped so
   * `secondWayAfter` times within CAREFUL_WINDOW stops gets it: its
   * blocks are dropped and compiled again.
   */
  secondWayHit(page: number): void {
    this.carefulStop(page, this.secondWayOn, this.secondWayStops, this.secondWayAfter, 0);
  }

  /**
   * A block of RAM page `page` stopped before a load or store that left
   * the page of the earlier access through the same register it would
   * reuse (block-writer.ts access): a stack frame across a page's end. A
   * function called at the same depth over and over does that at every
   * call (busybox ash's evaluator, in a shell loop: 60 stops a turn). A
   * page whose blocks stopped so `memoMissAfter` times in the window gets
   * the lookup there: its blocks are dropped and compiled again.
   */
  memoMiss(page: number): void {
    this.carefulStop(page, this.lookupOnMemoMiss, this.memoMissStops, this.memoMissAfter, 1);
  }

  /** A stop that code compiled more carefully (`on`) would not make, counted in `stops` (window `w`). */
  private carefulStop(
    page: number,
    on: Uint8Array,
    stops: Uint16Array,
    after: number,
    w: number,
  ): void {
    if (on[page] !== 0) return;
    if (++this.carefulWindows[w] === CAREFUL_WINDOW) {
      this.carefulWindows[w] = 0;
      stops.fill(0);
    }
    if (++stops[page] < after) return;
    on[page] = 1;
    this.pageWritten(page);
  }

  /** RAM page `page` was written (or is about to be): its blocks are stale. */
  pageWritten(page: number): void {
    if (this.codePage[page] === 0) return;
    this.codePage[page] = 0;
    this.invalidations++;
    const list = this.byPage.get(page);
    if (list === undefined) return;
    this.byPage.delete(page);
    for (const b of list) this.drop(b);
  }

  private drop(b: Block): void {
    // Dropped already, through another of its pages.
    if (this.all.get(b.off) !== b) return;
    this.all.delete(b.off);
    // From the slot of every virtual pc with the block's page offset (see find): the slot's
    // low 11 bits are that offset's, the rest (CACHE_BITS - 11) the virtual page's.
    for (let slot = (b.off & 4095) >>> 1; slot < CACHE_SIZE; slot += 4096 >>> 1)
      if (this.slots[slot << 1] === b.off) {
        this.slots[slot << 1] = -1;
        this.block[slot] = undefined;
      }
    if (b.index !== 0 && !b.shared) {
      this.table!.set(b.index, null);
      this.freeIndex.push(b.index);
    }
    if (!b.shared) this.functions--;
  }

  /** Room for `n` more blocks: when they would pass maxLive, every block goes (the queue stays). */
  makeRoom(n: number): void {
    if (this.functions + n <= this.maxLive) return;
    const queue = this.queue.splice(0);
    const vas = this.queueVa.splice(0);
    const queuedAt = this.queuedAt;
    this.clear();
    this.queue.push(...queue);
    this.queueVa.push(...vas);
    this.queuedAt = queuedAt;
    this.flushes++;
  }

  /** Drop every block (a reset, or a restore whose changed pages are unknown). */
  clear(): void {
    this.queue.length = 0;
    this.queueVa.length = 0;
    this.hits.fill(0);
    if (this.all.size === 0 && this.byPage.size === 0) return;
    for (const list of this.byPage.values()) for (const b of list) this.drop(b);
    for (const page of this.byPage.keys()) this.codePage[page] = 0;
    this.byPage.clear();
    this.invalidations++;
  }
}
