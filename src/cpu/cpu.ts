/**
 * One RV64IMAFDC hart: M/S/U modes, Sv39/Sv48, traps and interrupts.
 *
 * This class holds the hart's state and its interface to the rest of the
 * machine. The work is done by one module per job, each a set of functions
 * over this state (as TinyEMU's C functions take the CPU state):
 *
 * - interpreter.ts   run(): fetch, decode, execute; the inline TLB fast paths
 * - mmu.ts           page-table walks, the TLBs, and why they hold no guest-visible state
 * - slow-access.ts   loads, stores and fetches that miss the TLBs (MMIO, faults, misaligned)
 * - csr.ts           CSR reads and writes
 * - trap.ts          traps, interrupts, privilege changes, the Sstc timer
 * - system.ts        ECALL, EBREAK, xRET, WFI, SFENCE.VMA
 * - atomic.ts        LR/SC and AMOs
 * - fp-load-store.ts FP loads and stores; fpu.ts the F and D arithmetic
 * - debug.ts         breakpoints and watchpoints
 * - hooks.ts         observers (plugins): traps, xRETs, CSR writes, each instruction before and after
 * - dispatch.ts, translate-wasm.ts, code-cache.ts: the translating engine
 *   (blocks compiled to WebAssembly: block-writer.ts, translate-insn.ts,
 *   translate-fp.ts write a block's code) and the blocks' cache;
 *   hart-memory.ts the memory they share with the interpreter
 * - decode.ts        the decoded form the translator works from
 *
 * The fields below are public so those modules can reach them; code outside
 * src/cpu uses the methods and the fields documented for it (registers, pc,
 * priv, icount, wfi, the debug fields).
 */
import type { Bus } from '../machine/bus.js';
import type { VirtualClock } from '../machine/clock.js';
import { FpUnit } from './fpu.js';
import { CSR, MENVCFG_STCE_HI } from './csr-numbers.js';
import { PRIV_M, TAG_PRIV_SHIFT, TWO32, tlbSalt } from './hart-constants.js';
import {
  PT_LIST_SIZE,
  SPACE_SLOTS,
  TLB_SIZE,
  externalWrite,
  flushTlb,
  flushWriteTlb,
  forgetTranslations,
  selectAddressSpace,
} from './mmu.js';
import { updateSstc } from './trap.js';
import { csrRead, csrWrite } from './csr.js';
import { setBreakpoints, setWatchpoints, skipBreakpointOnce } from './debug.js';
import { run } from './interpreter.js';
import {
  HART_AREA,
  HM_MIE,
  HM_MIP,
  HM_MSTATUS,
  HM_PC,
  HM_RES,
  HM_X,
  HM_F,
  HM_FFLAGS,
  NO_RESERVATION,
  tlbOffset,
  TLB_WAY2,
} from './hart-memory.js';
import { CodeCache } from './code-cache.js';
import { runTranslated } from './dispatch.js';
import { canCompile } from './translate-wasm.js';
import { runHooked, type CpuHooks } from './hooks.js';
import { loadFields, saveFields, sub, type State } from '../snapshot/state.js';

export { PRIV_U, PRIV_S, PRIV_M } from './hart-constants.js';

/** The execution engines (see Cpu.engine). */
export type Engine = 'translate' | 'interp';
export const ENGINES: readonly Engine[] = ['translate', 'interp'];

/** Saved as they are; the registers are saved apart, as the fields xl and xh (low and high words). */
const CPU_FIELDS = [
  'pcLo',
  'pcHi',
  'priv',
  'icount',
  'wfi',
  'mstatus',
  'mip',
  'mie',
  'medeleg',
  'mideleg',
  'mcounteren',
  'scounteren',
  'mcountinhibit',
  'csrLo',
  'csrHi',
  'cycleOffset',
  'instretOffset',
  'resAddr',
  'satpMode',
  'satpPpn',
] as const;
const FPU_FIELDS = ['fr', 'fflags', 'frm'] as const;

export class Cpu {
  /**
   * The integer registers, x[r] as its low word at 2r and high word at 2r + 1
   * (in the machine's memory when it has one: see hart-memory.ts).
   */
  readonly regs: Int32Array;
  /**
   * The pc, in the hart area (HM_PC, where the block loop takes it and leaves
   * the next one). Kept in an Int32Array, not in fields: V8 with pointer compression
   * (the browser's) holds only 31-bit integers unboxed, and a kernel address's
   * low word as a field value or an argument became a heap number (an
   * allocation) or made optimized code bail out ("not a Smi").
   */
  get pcLo(): number {
    return this.hart32[HM_PC >> 2];
  }
  set pcLo(v: number) {
    this.hart32[HM_PC >> 2] = v;
  }
  get pcHi(): number {
    return this.hart32[(HM_PC >> 2) + 1];
  }
  set pcHi(v: number) {
    this.hart32[(HM_PC >> 2) + 1] = v;
  }
  priv = PRIV_M;
  readonly fpu: FpUnit;
  /** Retired instructions. Exact whenever code outside run() looks at it. */
  icount = 0;
  /**
   * Traps taken. run() returns after a long run of traps with no instruction
   * retired (a hart whose trap vector faults too traps forever at one
   * icount): the host must get control back. Not guest state: where run()
   * returns after a trap is invisible to the guest (a trap never makes an
   * interrupt takeable that was not before it).
   */
  trapsTaken = 0;
  trapLimit = 0;
  /** Halted in WFI until an interrupt is pending. */
  wfi = false;

  // CSR state
  /** mstatus's low word, in the hart area (HM_MSTATUS): translated code reads and clears sstatus bits. */
  get mstatus(): number {
    return this.hart32[HM_MSTATUS >> 2];
  }
  set mstatus(v: number) {
    this.hart32[HM_MSTATUS >> 2] = v;
  }
  /** mip and mie, in the hart area too (HM_MIP, HM_MIE): translated code looks at them. */
  get mip(): number {
    return this.hart32[HM_MIP >> 2];
  }
  set mip(v: number) {
    this.hart32[HM_MIP >> 2] = v;
  }
  get mie(): number {
    return this.hart32[HM_MIE >> 2];
  }
  set mie(v: number) {
    this.hart32[HM_MIE >> 2] = v;
  }
  medeleg = 0;
  mideleg = 0;
  mcounteren = 0;
  scounteren = 0;
  mcountinhibit = 0;
  /** 64-bit CSRs kept as (lo, hi) pairs, indexed by CSR number. */
  readonly csrLo = new Int32Array(4096);
  readonly csrHi = new Int32Array(4096);
  cycleOffset = 0;
  instretOffset = 0;
  /** Value of the last csrRead. */
  cvLo = 0;
  cvHi = 0;

  /**
   * LR/SC reservation: the physical address of the last LR (-1 = none). One
   * rule on every path (unpriv spec 13.2 lets an implementation fail an SC
   * for any store in between): every store, AMO or SC of this hart, every
   * trap and xRET, and any write by a device or the debugger to the reserved
   * 8 bytes ends it. Kept in the hart area as a RAM offset (HM_RES), where
   * blocks set, check and end it.
   */
  get resAddr(): number {
    const lo = this.hart32[HM_RES >> 2];
    return lo === NO_RESERVATION
      ? -1
      : this.ramBase + this.hart32[(HM_RES >> 2) + 1] * 0x1_0000_0000 + (lo >>> 0);
  }
  set resAddr(pa: number) {
    const off = pa - this.ramBase;
    // Only LR sets one, on RAM; anything else (a state from elsewhere) is none.
    if (pa < 0 || !(off >= 0 && off < this.ramSize) || off % 4 !== 0) {
      this.hart32[HM_RES >> 2] = NO_RESERVATION;
      return;
    }
    this.hart32[HM_RES >> 2] = off | 0;
    this.hart32[(HM_RES >> 2) + 1] = Math.floor(off / 0x1_0000_0000);
  }

  // Address translation
  satpMode = 0; // 0 bare, 8 Sv39, 9 Sv48
  satpPpn = 0; // root page number
  /** Set by translate() on failure: the exception cause. */
  xlateCause = 0;
  /** Lookups the TLBs' second ways answered (mmu.ts secondWay): dispatch.ts watches it. */
  secondWayHits = 0;
  /**
   * The TLBs by access type (ACC_*), records of four words (hart-memory.ts):
   * at index << 2 the tag's low word, + TLB_HI its high word; and the same
   * memory as unsigned words, for the RAM offset at + TLB_OFF.
   */
  readonly tlbTag: Int32Array[];
  readonly tlbOff: Uint32Array[];
  /** Their second ways, laid out alike (mmu.ts tlbInsert, secondWay). */
  readonly tlbTag2: Int32Array[];
  readonly tlbOff2: Uint32Array[];
  /** The hart area of the machine's memory as words (HM_PC is where the block loop leaves the next pc). */
  readonly hart32: Int32Array;
  /**
   * TLB tags carry, in the page offset's bits, the privilege they were
   * filled under and for data TLBs mstatus.SUM and MXR (hart-constants.ts),
   * so a trap, an xRET or an mstatus write need not flush: `dataTag` is the
   * current data accesses' (see updateTags in trap.ts).
   */
  dataTag = PRIV_M << TAG_PRIV_SHIFT;
  /** The fetch TLB's tag bits: privilege and address space (see updateTags in trap.ts). */
  fetchTag = PRIV_M << TAG_PRIV_SHIFT;
  /** The TLB slot salts of dataTag and fetchTag (tlbSalt). */
  dataSalt = tlbSalt(PRIV_M << TAG_PRIV_SHIFT);
  fetchSalt = tlbSalt(PRIV_M << TAG_PRIV_SHIFT);
  /**
   * Address spaces the TLBs hold entries of: satp's mode and root page
   * (mode * 2^44 + PPN) per slot, -1 for none. The current slot is in the
   * tags' bits 7-9 (spaceTag), so a satp write back to a recent root
   * finds its entries again instead of flushing (see selectAddressSpace).
   */
  readonly spaceRoots = new Float64Array(SPACE_SLOTS).fill(-1);
  spaceNext = 0;
  spaceTag = 0;
  /** RAM pages a cached translation was walked through (1 = page-table page); see the file comment. */
  readonly ptPage: Uint8Array;
  readonly ptList = new Int32Array(PT_LIST_SIZE);
  /** Entries of ptList in use; PT_LIST_SIZE + 1 once it overflowed (clear the whole map then). */
  ptCount = 0;
  /**
   * Write-TLB generation: bumped whenever the write TLB is emptied. A page
   * whose wtlbGen equals it may sit in the write TLB; markPtPage searches the
   * TLB only for those (a search per newly flagged page would dominate).
   */
  wtlbEpoch = 1;
  readonly wtlbGen: Int32Array;
  // Fetch page cache: the page the PC is in.
  fVpn = -1;
  fHi = 0;
  fOff = 0;

  // Debugging (GDB). Breakpoints are virtual PCs; watchpoints virtual ranges. Pages
  // holding either never enter the TLBs or the fetch cache, so every access to them
  // takes a slow path where it is checked; the fast paths stay as they are.
  /** Why run() stopped for the debugger: 0 it did not, 1 breakpoint, 2 watchpoint. */
  debugHit = 0;
  /** Breakpoints and watchpoints stop run() (off while a debugger seeks). */
  debugArmed = true;
  bpCount = 0;
  readonly bpLo = new Int32Array(256);
  readonly bpHi = new Int32Array(256);
  /** Do not stop at this (icount, pc) again: the breakpoint a continue starts from. */
  bpSkipIcount = -1;
  bpSkipLo = 0;
  bpSkipHi = 0;
  wpCount = 0;
  readonly wpLo = new Int32Array(64);
  readonly wpHi = new Int32Array(64);
  readonly wpLen = new Int32Array(64);
  /** 1 write, 2 read, 3 access. */
  readonly wpKind = new Uint8Array(64);
  /** The last watchpoint hit: its index, the access address, and the icount before the accessing instruction. */
  watchHit = { index: -1, addrLo: 0, addrHi: 0, write: false, icount: 0 };
  /**
   * A watchpoint hit stops the hart before the access, leaving the instruction
   * undone (live debugging, which cannot go back). Otherwise the instruction
   * completes and run() ends after it; a replay then seeks back to the hit's icount.
   */
  watchStopsBefore = false;

  /** Scratch for slow loads: high word of the value. */
  ldHi = 0;
  /** Exception raised by a memory helper (-1 = none). */
  exc = -1;
  excTvalLo = 0;
  excTvalHi = 0;

  readonly dirtyPages: Uint8Array;
  /**
   * RAM offset of a page whose stores end the current run() right after
   * them, as MMIO writes do (-1: none). HTIF's tohost lives in RAM; watching
   * it makes a bare program's exit land at an exact icount.
   */
  watchPage = -1;
  readonly ram8: Uint8Array;
  readonly ram16: Uint16Array;
  readonly ram32: Int32Array;
  readonly ramBase: number;
  readonly ramSize: number;

  /**
   * Which engine run() uses: 'translate' compiles hot code to WebAssembly
   * (dispatch.ts), 'interp' interprets every instruction. Both give the
   * same results at every instruction boundary; hosts that forbid
   * compiling code at run time get the interpreter.
   */
  engine: Engine = canCompile ? 'translate' : 'interp';
  /** Translated blocks and the code pages they came from. */
  readonly code: CodeCache;
  /**
   * The code cache's slots (keys at even indices) and visit counters, for
   * the interpreter's look at a jump's target (interpreter.ts): typed
   * arrays reached from the hart, not through the CodeCache, whose hidden
   * class V8 may change.
   */
  readonly cacheSlots: Int32Array;
  readonly cacheHits: Uint16Array;
  /** Set by interpret() when it returned for a reason that ends the slice (see dispatch.ts). */
  stopped = false;
  /** Observers of traps, xRETs, CSR writes and instructions (hooks.ts); none by default. */
  hooks: CpuHooks | undefined = undefined;

  constructor(
    readonly bus: Bus,
    readonly clock: VirtualClock,
    readonly hartId = 0,
  ) {
    // The state translated code touches lives in the machine's memory (hart-memory.ts).
    const mem = bus.memory?.buffer;
    const words = (at: number, n: number) => (mem ? new Int32Array(mem, at, n) : new Int32Array(n));
    this.hart32 = words(0, HART_AREA / 4);
    this.regs = words(HM_X, 64);
    this.fpu = new FpUnit(words(HM_F, 64), words(HM_FFLAGS, 2));
    this.tlbTag = [0, 1, 2].map((a) => words(tlbOffset(a), TLB_SIZE * 4));
    this.tlbOff = this.tlbTag.map((t) => new Uint32Array(t.buffer, t.byteOffset, t.length));
    this.tlbTag2 = [0, 1, 2].map((a) => words(tlbOffset(a) + TLB_WAY2, TLB_SIZE * 4));
    this.tlbOff2 = this.tlbTag2.map((t) => new Uint32Array(t.buffer, t.byteOffset, t.length));
    if (!mem) this.engine = 'interp';
    this.ram8 = bus.ram8;
    this.dirtyPages = bus.dirtyPages;
    this.ram16 = bus.ram16;
    this.ram32 = bus.ram32;
    this.ramBase = bus.ramBase;
    this.ramSize = bus.ramSize;
    this.ptPage = new Uint8Array(bus.ramSize / 4096);
    this.wtlbGen = new Int32Array(bus.ramSize / 4096);
    this.code = new CodeCache(bus.ramSize / 4096, mem);
    this.cacheSlots = this.code.slots;
    this.cacheHits = this.code.hits;
    // Devices, the debugger and loaders write RAM behind the hart's back.
    bus.onDmaWrite = (paddr, len) => this.externalWrite(paddr, len);
    this.flushTlb();
    this.reset(0x1000, 0);
  }

  reset(pcLo: number, pcHi: number): void {
    this.regs.fill(0);
    this.pcLo = pcLo | 0;
    this.pcHi = pcHi | 0;
    this.priv = PRIV_M;
    this.mstatus = 0;
    this.mip = 0;
    this.mie = 0;
    this.medeleg = 0;
    this.mideleg = 0;
    this.csrLo.fill(0);
    this.csrHi.fill(0);
    // stimecmp resets to "never" so that enabling Sstc raises no spurious STIP.
    this.csrLo[CSR.stimecmp] = -1;
    this.csrHi[CSR.stimecmp] = -1;
    this.satpMode = 0;
    this.satpPpn = 0;
    this.wfi = false;
    this.resAddr = -1;
    forgetTranslations(this);
    selectAddressSpace(this);
    this.code.clear();
  }

  setPc(lo: number, hi: number): void {
    this.pcLo = lo | 0;
    this.pcHi = hi | 0;
  }

  /** HartInterruptLines for this hart: devices raise or lower mip bits. */
  setPending(mask: number, level: boolean): void {
    if (level) this.mip |= mask;
    else this.mip &= ~mask;
  }

  /** True when some interrupt is pending and enabled in mie (what wakes WFI). */
  interruptPending(): boolean {
    return (this.mip & this.mie) !== 0;
  }

  /** stimecmp in ticks for the board's deadline; +Infinity when Sstc is off or it is out of reach. */
  stimecmpTicks(): number {
    if ((this.csrHi[CSR.menvcfg] & MENVCFG_STCE_HI) === 0) return Infinity;
    const hi = this.csrHi[CSR.stimecmp];
    if (hi < 0 || hi >= 0x200000) return Infinity;
    // The low word as unsigned without `>>> 0`: V8 compiled that for the values it had
    // seen, below 2^31, and threw away the code of every caller it was inlined in
    // (the interpreter's loop among them) the first time the guest's stimecmp had bit 31 set.
    // Nor `lo + TWO32` on a branch of its own: the warm-up never reached that add, and the
    // guest's first stimecmp with bit 31 set threw away the optimized code of seven
    // functions (the board's slice, the dispatcher...). A constant has no type feedback.
    const lo = this.csrLo[CSR.stimecmp];
    return hi * TWO32 + lo + (lo < 0 ? TWO32 : 0);
  }

  /** The hart's architectural state (TLBs and caches are not state: they are flushed on load). */
  saveState(): State {
    const xl = new Int32Array(32),
      xh = new Int32Array(32);
    for (let r = 0; r < 32; r++) {
      xl[r] = this.regs[2 * r];
      xh[r] = this.regs[2 * r + 1];
    }
    return {
      xl,
      xh,
      ...saveFields(this, CPU_FIELDS),
      fpu: saveFields(this.fpu, FPU_FIELDS),
    };
  }

  loadState(s: State): void {
    const x = { xl: new Int32Array(32), xh: new Int32Array(32) };
    loadFields(x, s, ['xl', 'xh'], 'cpu');
    loadFields(this, s, CPU_FIELDS, 'cpu');
    for (let r = 0; r < 32; r++) {
      this.regs[2 * r] = x.xl[r];
      this.regs[2 * r + 1] = x.xh[r];
    }
    loadFields(this.fpu, sub(s, 'fpu', 'cpu'), FPU_FIELDS, 'cpu.fpu');
    forgetTranslations(this);
    selectAddressSpace(this);
    this.exc = -1;
  }

  /** The value a debugger or test sees for a CSR, ignoring privilege; undefined if absent. */
  readCsr(num: number): { lo: number; hi: number } | undefined {
    const p = this.priv;
    this.priv = PRIV_M;
    const ok = this.csrRead(num);
    this.priv = p;
    return ok ? { lo: this.cvLo, hi: this.cvHi } : undefined;
  }

  updateSstc(): void {
    updateSstc(this);
  }

  /**
   * Forget every cached translation. Any caller may do this at any time: the
   * guest cannot tell (see mmu.ts).
   */
  flushTlb(): void {
    flushTlb(this);
  }

  /** Forget write translations, so the next write to each page marks it dirty again. */
  flushWriteTlb(): void {
    flushWriteTlb(this);
  }

  /**
   * RAM at [paddr, paddr+len) was written by someone other than this hart
   * (DMA, HTIF, the debugger, a loader).
   */
  externalWrite(paddr: number, len: number): void {
    externalWrite(this, paddr, len);
  }

  /** Replace the breakpoints (virtual PCs as lo/hi words). */
  setBreakpoints(pcs: readonly { lo: number; hi: number }[]): void {
    setBreakpoints(this, pcs);
  }

  /** Replace the watchpoints: kind 1 write, 2 read, 3 access. */
  setWatchpoints(wps: readonly { lo: number; hi: number; len: number; kind: number }[]): void {
    setWatchpoints(this, wps);
  }

  /** The next run() does not stop at the breakpoint at this icount and pc (resuming from it). */
  skipBreakpointOnce(icount: number, lo: number, hi: number): void {
    skipBreakpointOnce(this, icount, lo, hi);
  }

  /** Read a CSR as an instruction would, into cvLo/cvHi; false = illegal (priv spec 2.1, 2.2). */
  csrRead(num: number): boolean {
    return csrRead(this, num);
  }

  /** Write a CSR (after csrRead succeeded); false = illegal. */
  csrWrite(num: number, vLo: number, vHi: number): boolean {
    return csrWrite(this, num, vLo, vHi);
  }

  /**
   * Execute at most `max` retired instructions; returns how many retired
   * (see interpreter.ts).
   */
  run(maxInsns: number): number {
    if (this.hooks?.insn !== undefined) return runHooked(this, maxInsns);
    // No WebAssembly memory (RAM too large for one): the interpreter, whatever was asked.
    return this.engine === 'translate' && this.bus.memory !== undefined
      ? runTranslated(this, maxInsns)
      : run(this, maxInsns);
  }
}
