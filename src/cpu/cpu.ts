/**
 * One RV64IMAFDC hart: M/S/U modes, Sv39/Sv48, traps and interrupts.
 *
 * Registers are two Int32Arrays (low and high words) so that the hot loop
 * does only 32-bit integer arithmetic: no BigInt, no allocation per
 * instruction. Compressed instructions are expanded by table lookup (rvc.ts).
 * Memory goes through three direct-mapped TLBs (read, write, fetch) holding
 * RAM offsets, in the manner of TinyEMU; MMIO and faults take the slow path.
 *
 * The TLBs are a host cache, not architectural state: the guest sees a hart
 * that walks the page table on every access (DESIGN rule 8: no hidden
 * state). Two things keep that true. A walk sets the A (and for writes D)
 * bits before its result is cached, so a cached translation is what a fresh
 * walk would give, with no change to RAM; and every RAM page a walk read PTEs
 * from is flagged (ptPage), kept out of the write TLB, and any write to it —
 * a store, an AMO, DMA, the debugger — flushes the TLBs. So flushing them at
 * any moment (digests, checkpoints, restores, breakpoints) changes nothing
 * the guest can see.
 *
 * run(n) executes at most n retired instructions and can therefore stop at
 * any exact instruction count, which record/replay depends on.
 */
import type { Bus } from '../machine/bus.js';
import type { VirtualClock } from '../machine/clock.js';
import { rvcTable } from './rvc.js';
import {
  r64,
  mul64,
  mulh64,
  mulhsu64,
  mulhu64,
  div64,
  divu64,
  rem64,
  remu64,
  divw,
  divuw,
  remw,
  remuw,
} from './int64.js';
import { FpUnit } from './fpu.js';
import {
  CSR,
  EXC_BREAKPOINT,
  EXC_ECALL_U,
  EXC_ILLEGAL,
  EXC_INSN_ACCESS,
  EXC_INSN_PAGE,
  EXC_LOAD_ACCESS,
  EXC_LOAD_MISALIGNED,
  EXC_LOAD_PAGE,
  EXC_STORE_ACCESS,
  EXC_STORE_MISALIGNED,
  EXC_STORE_PAGE,
  IRQ_PRIORITY,
  MISA_HI,
  MISA_LO,
  MSTATUS_FS,
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
  MSTATUS_TSR,
  MSTATUS_TVM,
  MSTATUS_TW,
  MSTATUS_WRITABLE,
  SSTATUS_MASK,
} from './csr-numbers.js';
import { loadFields, saveFields, sub, type State } from '../snapshot/state.js';

/** Not a RISC-V cause: a watchpoint stopped the hart before an access (see watchStopsBefore). */
const EXC_WATCH_STOP = 0x40;

export const PRIV_U = 0;
export const PRIV_S = 1;
export const PRIV_M = 3;

const ACC_READ = 0;
const ACC_WRITE = 1;
const ACC_FETCH = 2;

const TLB_SIZE = 256;
const TLB_MASK = TLB_SIZE - 1;
/** Page-table pages tracked one by one; past this many, a flush clears the whole map. */
const PT_LIST_SIZE = 4096;
const TWO32 = 4294967296;

const MIP_SSIP = 1 << 1;
const MIP_STIP = 1 << 5;
const MIP_SEIP = 1 << 9;
const S_INTS = MIP_SSIP | MIP_STIP | MIP_SEIP;
const ALL_INTS = 0xaaa;
/** medeleg: every exception but ecall-from-M may be delegated. */
const MEDELEG_MASK = 0xb3ff;
const MENVCFG_STCE_HI = 1 << 31; // bit 63

/** The access-fault exception for an access type (priv spec table 3.6). */
function accessFaultCause(access: number): number {
  return access === ACC_FETCH
    ? EXC_INSN_ACCESS
    : access === ACC_WRITE
      ? EXC_STORE_ACCESS
      : EXC_LOAD_ACCESS;
}

/** CSRs whose writes can make an interrupt deliverable or move the Sstc timer (run() re-checks after them). */
const IRQ_AFFECTING_CSR = new Uint8Array(4096);
for (const c of [
  CSR.mstatus,
  CSR.sstatus,
  CSR.mie,
  CSR.sie,
  CSR.mip,
  CSR.sip,
  CSR.mideleg,
  CSR.stimecmp,
  CSR.menvcfg,
  CSR.mcycle,
  CSR.minstret,
])
  IRQ_AFFECTING_CSR[c] = 1;
/**
 * CSRs whose writes move a timer deadline (Sstc): the slice must end, so the
 * board sets the next slice's length by the new deadline. Checking in place
 * is not enough: a deadline a few instructions ahead would be passed and its
 * interrupt taken at the slice's end — wherever that falls, which differs
 * between a recording and its replay.
 */
const DEADLINE_CSR = new Uint8Array(4096);
DEADLINE_CSR[CSR.stimecmp] = 1;
DEADLINE_CSR[CSR.menvcfg] = 1;

const CPU_FIELDS = [
  'xl',
  'xh',
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

/** Traps in one run() with nothing retired between them before run() gives up (see trapsTaken). */
const MIN_TRAP_RUN = 1 << 16;

export class Cpu {
  readonly xl = new Int32Array(32);
  readonly xh = new Int32Array(32);
  pcLo = 0;
  pcHi = 0;
  priv = PRIV_M;
  readonly fpu = new FpUnit();
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
  private trapLimit = 0;
  /** Halted in WFI until an interrupt is pending. */
  wfi = false;

  // CSR state
  mstatus = 0;
  mip = 0;
  mie = 0;
  medeleg = 0;
  mideleg = 0;
  mcounteren = 0;
  scounteren = 0;
  mcountinhibit = 0;
  /** 64-bit CSRs kept as (lo, hi) pairs, indexed by CSR number. */
  private readonly csrLo = new Int32Array(4096);
  private readonly csrHi = new Int32Array(4096);
  private cycleOffset = 0;
  private instretOffset = 0;
  /** Value of the last csrRead. */
  private cvLo = 0;
  private cvHi = 0;

  /**
   * LR/SC reservation: the physical address of the last LR (-1 = none). One
   * rule on every path (unpriv spec 13.2 lets an implementation fail an SC
   * for any store in between): every store, AMO or SC of this hart, every
   * trap and xRET, and any write by a device or the debugger to the reserved
   * 8 bytes ends it.
   */
  private resAddr = -1;

  // Address translation
  private satpMode = 0; // 0 bare, 8 Sv39, 9 Sv48
  private satpPpn = 0; // root page number
  /** Set by translate() on failure: the exception cause. */
  private xlateCause = 0;
  private readonly tlbTagLo = [
    new Int32Array(TLB_SIZE),
    new Int32Array(TLB_SIZE),
    new Int32Array(TLB_SIZE),
  ];
  private readonly tlbTagHi = [
    new Int32Array(TLB_SIZE),
    new Int32Array(TLB_SIZE),
    new Int32Array(TLB_SIZE),
  ];
  private readonly tlbOff = [
    new Uint32Array(TLB_SIZE),
    new Uint32Array(TLB_SIZE),
    new Uint32Array(TLB_SIZE),
  ];
  /**
   * TLB tags carry the privilege they were filled under in bits 20-21 (above
   * the 20-bit VPN), so a trap or xRET need not flush: `dataTag` is that of
   * the effective data privilege (MPRV/MPP considered).
   */
  private dataTag = PRIV_M << 20;
  /** RAM pages a cached translation was walked through (1 = page-table page); see the file comment. */
  private readonly ptPage: Uint8Array;
  private readonly ptList = new Int32Array(PT_LIST_SIZE);
  /** Entries of ptList in use; PT_LIST_SIZE + 1 once it overflowed (clear the whole map then). */
  private ptCount = 0;
  /**
   * Write-TLB generation: bumped whenever the write TLB is emptied. A page
   * whose wtlbGen equals it may sit in the write TLB; markPtPage searches the
   * TLB only for those (a search per newly flagged page would dominate).
   */
  private wtlbEpoch = 1;
  private readonly wtlbGen: Int32Array;
  // Fetch page cache: the page the PC is in.
  private fVpn = -1;
  private fHi = 0;
  private fOff = 0;

  // Debugging (GDB). Breakpoints are virtual PCs; watchpoints virtual ranges. Pages
  // holding either never enter the TLBs or the fetch cache, so every access to them
  // takes a slow path where it is checked; the fast paths stay as they are.
  /** Why run() stopped for the debugger: 0 it did not, 1 breakpoint, 2 watchpoint. */
  debugHit = 0;
  /** Breakpoints and watchpoints stop run() (off while a debugger seeks). */
  debugArmed = true;
  private bpCount = 0;
  private readonly bpLo = new Int32Array(256);
  private readonly bpHi = new Int32Array(256);
  /** Do not stop at this (icount, pc) again: the breakpoint a continue starts from. */
  private bpSkipIcount = -1;
  private bpSkipLo = 0;
  private bpSkipHi = 0;
  private wpCount = 0;
  private readonly wpLo = new Int32Array(64);
  private readonly wpHi = new Int32Array(64);
  private readonly wpLen = new Int32Array(64);
  /** 1 write, 2 read, 3 access. */
  private readonly wpKind = new Uint8Array(64);
  /** The last watchpoint hit: its index, the access address, and the icount before the accessing instruction. */
  watchHit = { index: -1, addrLo: 0, addrHi: 0, write: false, icount: 0 };
  /**
   * A watchpoint hit stops the hart before the access, leaving the instruction
   * undone (live debugging, which cannot go back). Otherwise the instruction
   * completes and run() ends after it; a replay then seeks back to the hit's icount.
   */
  watchStopsBefore = false;

  /** Scratch for slow loads: high word of the value. */
  private ldHi = 0;
  /** Exception raised by a memory helper (-1 = none). */
  private exc = -1;
  private excTvalLo = 0;
  private excTvalHi = 0;

  private readonly dirtyPages: Uint8Array;
  /**
   * RAM offset of a page whose stores end the current run() right after
   * them, as MMIO writes do (-1: none). HTIF's tohost lives in RAM; watching
   * it makes a bare program's exit land at an exact icount.
   */
  watchPage = -1;
  private readonly ram8: Uint8Array;
  private readonly ram16: Uint16Array;
  private readonly ram32: Int32Array;
  private readonly ramBase: number;
  private readonly ramSize: number;

  constructor(
    readonly bus: Bus,
    readonly clock: VirtualClock,
    readonly hartId = 0,
  ) {
    this.ram8 = bus.ram8;
    this.dirtyPages = bus.dirtyPages;
    this.ram16 = bus.ram16;
    this.ram32 = bus.ram32;
    this.ramBase = bus.ramBase;
    this.ramSize = bus.ramSize;
    this.ptPage = new Uint8Array(bus.ramSize / 4096);
    this.wtlbGen = new Int32Array(bus.ramSize / 4096);
    // Devices, the debugger and loaders write RAM behind the hart's back.
    bus.onDmaWrite = (paddr, len) => this.externalWrite(paddr, len);
    this.flushTlb();
    this.reset(0x1000, 0);
  }

  reset(pcLo: number, pcHi: number): void {
    this.xl.fill(0);
    this.xh.fill(0);
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
    this.flushTlb();
    this.updateTags();
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
    const hi = this.csrHi[CSR.stimecmp] >>> 0;
    if (hi >= 0x200000) return Infinity;
    return hi * TWO32 + (this.csrLo[CSR.stimecmp] >>> 0);
  }

  private timeNow(): number {
    return this.clock.ticksAt(this.icount);
  }

  /** Sstc: STIP follows time >= stimecmp while menvcfg.STCE is set. */
  updateSstc(): void {
    if ((this.csrHi[CSR.menvcfg] & MENVCFG_STCE_HI) === 0) return;
    if (this.timeNow() >= this.stimecmpTicks()) this.mip |= MIP_STIP;
    else this.mip &= ~MIP_STIP;
  }

  /**
   * Forget every cached translation. Any caller may do this at any time: the
   * guest cannot tell (see the file comment). Page-table pages are tracked
   * only for cached translations, so their flags go too.
   */
  flushTlb(): void {
    for (let a = 0; a < 3; a++) this.tlbTagLo[a].fill(-1);
    this.newWtlbEpoch();
    this.fVpn = -1;
    const n = this.ptCount;
    if (n > PT_LIST_SIZE) this.ptPage.fill(0);
    else for (let i = 0; i < n; i++) this.ptPage[this.ptList[i]] = 0;
    this.ptCount = 0;
  }

  /** The write TLB was emptied: no page is in it any more. */
  private newWtlbEpoch(): void {
    if (++this.wtlbEpoch === 0x7fffffff) {
      this.wtlbGen.fill(0);
      this.wtlbEpoch = 1;
    }
  }

  /** A walk read PTEs from RAM page `page`: flag it, and keep it out of the write TLB from now on. */
  private markPtPage(page: number): void {
    this.ptPage[page] = 1;
    if (this.ptCount < PT_LIST_SIZE) this.ptList[this.ptCount] = page;
    if (this.ptCount <= PT_LIST_SIZE) this.ptCount++;
    if (this.wtlbGen[page] !== this.wtlbEpoch) return;
    const off = page * 4096;
    const tag = this.tlbTagLo[ACC_WRITE],
      offs = this.tlbOff[ACC_WRITE];
    for (let i = 0; i < TLB_SIZE; i++) if (tag[i] !== -1 && offs[i] === off) tag[i] = -1;
  }

  /**
   * RAM at [paddr, paddr+len) was written by someone other than this hart
   * (DMA, HTIF, the debugger, a loader): a write to the reserved bytes ends
   * the reservation, a write to a page-table page drops cached translations.
   */
  externalWrite(paddr: number, len: number): void {
    if (this.resAddr >= 0 && paddr < this.resAddr + 8 && this.resAddr < paddr + len)
      this.resAddr = -1;
    const first = Math.max(0, Math.floor((paddr - this.ramBase) / 4096));
    const last = Math.min(
      this.ptPage.length - 1,
      Math.floor((paddr + len - 1 - this.ramBase) / 4096),
    );
    for (let p = first; p <= last; p++)
      if (this.ptPage[p] !== 0) {
        this.flushTlb();
        return;
      }
  }

  // ---------------------------------------------------------------- traps

  /** Enter a trap (priv spec 3.1.6.1, 4.1.1); pc is the faulting instruction's. */
  private trap(cause: number, interrupt: boolean, tvalLo: number, tvalHi: number): void {
    if (cause === EXC_WATCH_STOP) {
      // Not a trap: the instruction is left undone; the next fetch takes the slow path,
      // which ends run() because debugHit is set.
      this.fVpn = -1;
      return;
    }
    this.trapsTaken++;
    const priv = this.priv;
    this.wfi = false;
    this.resAddr = -1;
    const deleg =
      priv <= PRIV_S && (((interrupt ? this.mideleg : this.medeleg) >>> cause) & 1) !== 0;
    const causeHi = interrupt ? 0x80000000 | 0 : 0;
    let ms = this.mstatus;
    if (deleg) {
      this.csrLo[CSR.scause] = cause;
      this.csrHi[CSR.scause] = causeHi;
      this.csrLo[CSR.sepc] = this.pcLo;
      this.csrHi[CSR.sepc] = this.pcHi;
      this.csrLo[CSR.stval] = tvalLo;
      this.csrHi[CSR.stval] = tvalHi;
      ms =
        (ms & ~(MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SIE)) |
        ((ms & MSTATUS_SIE) << 4) |
        (priv << 8);
      this.mstatus = ms;
      this.setPriv(PRIV_S);
      this.jumpToVector(this.csrLo[CSR.stvec], this.csrHi[CSR.stvec], cause, interrupt);
    } else {
      this.csrLo[CSR.mcause] = cause;
      this.csrHi[CSR.mcause] = causeHi;
      this.csrLo[CSR.mepc] = this.pcLo;
      this.csrHi[CSR.mepc] = this.pcHi;
      this.csrLo[CSR.mtval] = tvalLo;
      this.csrHi[CSR.mtval] = tvalHi;
      ms =
        (ms & ~(MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MIE)) |
        ((ms & MSTATUS_MIE) << 4) |
        (priv << MSTATUS_MPP_SHIFT);
      this.mstatus = ms;
      this.setPriv(PRIV_M);
      this.jumpToVector(this.csrLo[CSR.mtvec], this.csrHi[CSR.mtvec], cause, interrupt);
    }
  }

  private jumpToVector(tvLo: number, tvHi: number, cause: number, interrupt: boolean): void {
    let lo = tvLo & ~3;
    let hi = tvHi;
    if (interrupt && (tvLo & 3) === 1) {
      const n = (lo + cause * 4) | 0;
      if (n >>> 0 < lo >>> 0) hi = (hi + 1) | 0;
      lo = n;
    }
    this.pcLo = lo;
    this.pcHi = hi;
  }

  private setPriv(p: number): void {
    this.priv = p;
    this.fVpn = -1;
    this.updateTags();
  }

  private updateTags(): void {
    let p = this.priv;
    if (p === PRIV_M && (this.mstatus & MSTATUS_MPRV) !== 0)
      p = (this.mstatus & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT;
    this.dataTag = p << 20;
  }

  /** Deliver the highest-priority enabled pending interrupt, if any (priv spec 3.1.9). */
  private takeInterrupt(): boolean {
    const pending = this.mip & this.mie;
    if (pending === 0) return false;
    const priv = this.priv;
    const mEnabled = priv < PRIV_M || (this.mstatus & MSTATUS_MIE) !== 0;
    let cand = mEnabled ? pending & ~this.mideleg : 0;
    if (cand === 0) {
      const sEnabled = priv < PRIV_S || (priv === PRIV_S && (this.mstatus & MSTATUS_SIE) !== 0);
      cand = sEnabled ? pending & this.mideleg : 0;
    }
    if (cand === 0) return false;
    for (let i = 0; i < IRQ_PRIORITY.length; i++) {
      const irq = IRQ_PRIORITY[i];
      if ((cand >> irq) & 1) {
        this.trap(irq, true, 0, 0);
        return true;
      }
    }
    return false;
  }

  // ------------------------------------------------------ address translation

  /**
   * Translate a virtual address for an access; returns the physical address or
   * -1 with xlateCause set (priv spec 4.3.2, 4.4). Updates A/D bits in RAM.
   */
  private translate(vLo: number, vHi: number, access: number): number {
    let priv = this.priv;
    const ms = this.mstatus;
    if (access !== ACC_FETCH && priv === PRIV_M && (ms & MSTATUS_MPRV) !== 0)
      priv = (ms & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT;
    if (priv === PRIV_M || this.satpMode === 0) {
      // Bare: physical addresses are 56 bits at most.
      if (vHi >>> 0 >= 0x1000000) {
        this.xlateCause = accessFaultCause(access);
        return -1;
      }
      return (vHi >>> 0) * TWO32 + (vLo >>> 0);
    }
    const pageFault =
      access === ACC_FETCH ? EXC_INSN_PAGE : access === ACC_WRITE ? EXC_STORE_PAGE : EXC_LOAD_PAGE;
    const levels = this.satpMode === 9 ? 4 : 3;
    // Canonical check: bits above the VA width equal its top bit.
    const top = levels === 4 ? vHi >> 15 : vHi >> 6;
    if (top !== 0 && top !== -1) {
      this.xlateCause = pageFault;
      return -1;
    }
    let a = this.satpPpn * 4096;
    const ram32 = this.ram32;
    for (let level = levels - 1; level >= 0; level--) {
      // VPN[level]: 9 bits starting at bit 12 + 9*level.
      const shift = 12 + 9 * level;
      let vpn: number;
      if (shift + 9 <= 32) vpn = (vLo >>> shift) & 0x1ff;
      else if (shift >= 32) vpn = (vHi >>> (shift - 32)) & 0x1ff;
      else vpn = ((vLo >>> shift) | (vHi << (32 - shift))) & 0x1ff;
      const pteAddr = a + vpn * 8;
      if (!(pteAddr >= this.ramBase && pteAddr + 8 <= this.ramBase + this.ramSize)) {
        this.xlateCause = accessFaultCause(access);
        return -1;
      }
      const pi = (pteAddr - this.ramBase) >>> 2;
      if (this.ptPage[pi >>> 10] === 0) this.markPtPage(pi >>> 10);
      let pteLo = ram32[pi];
      const pteHi = ram32[pi + 1];
      if ((pteLo & 1) === 0 || (pteLo & 6) === 4 || (pteHi & 0xffc00000) !== 0) {
        // invalid, W without R, or reserved/Svpbmt/Svnapot bits set
        this.xlateCause = pageFault;
        return -1;
      }
      const ppn = (pteHi & 0x3fffff) * 4194304 + (pteLo >>> 10); // PTE bits 53:10
      if ((pteLo & 0xe) === 0) {
        // pointer to the next level
        if (level === 0) break;
        a = ppn * 4096;
        continue;
      }
      // Leaf: permission checks
      const u = (pteLo & 0x10) !== 0;
      if (priv === PRIV_U) {
        if (!u) break;
      } else if (u && (access === ACC_FETCH || (ms & MSTATUS_SUM) === 0)) break;
      if (access === ACC_FETCH) {
        if ((pteLo & 8) === 0) break;
      } else if (access === ACC_WRITE) {
        if ((pteLo & 4) === 0) break;
      } else if ((pteLo & 2) === 0 && !((ms & MSTATUS_MXR) !== 0 && (pteLo & 8) !== 0)) break;
      // Superpage alignment: low PPN bits must be zero.
      const lowPages = level === 0 ? 1 : Math.pow(512, level);
      if (ppn % lowPages !== 0) break;
      // A and D bits (updated by hardware, priv spec 4.3.1)
      const need = access === ACC_WRITE ? 0xc0 : 0x40;
      if ((pteLo & need) !== need) {
        pteLo |= need;
        ram32[pi] = pteLo;
        this.dirtyPages[pi >>> 10] = 1;
      }
      // Physical address: PPN with the low levels taken from the VA.
      const pageInSuper = level === 0 ? 0 : ((vLo >>> 12) | (vHi << 20)) & (lowPages - 1);
      return (ppn + pageInSuper) * 4096 + (vLo & 0xfff);
    }
    this.xlateCause = pageFault;
    return -1;
  }

  /** Insert a RAM page into TLB `access`, when the page is RAM. */
  private tlbInsert(access: number, vLo: number, vHi: number, paddr: number): void {
    const page = paddr - (paddr % 4096);
    if (page < this.ramBase || page + 4096 > this.ramBase + this.ramSize) return;
    // Stores to the watched page take the slow path, which stops the slice after them.
    if (access === ACC_WRITE && page - this.ramBase === this.watchPage) return;
    // Stores to page-table pages take the slow path, which drops the translations built on them.
    if (access === ACC_WRITE && this.ptPage[(page - this.ramBase) / 4096] !== 0) return;
    if (this.bpCount + this.wpCount !== 0 && this.debugPage(vLo, vHi, access === ACC_FETCH)) return;
    const vpn = vLo >>> 12;
    const idx = vpn & TLB_MASK;
    this.tlbTagLo[access][idx] = vpn | (access === ACC_FETCH ? this.priv << 20 : this.dataTag);
    this.tlbTagHi[access][idx] = vHi;
    this.tlbOff[access][idx] = page - this.ramBase;
    // Pages enter the write TLB before the fast path writes them: note them for state digests.
    if (access === ACC_WRITE) {
      this.dirtyPages[(page - this.ramBase) >>> 12] = 1;
      this.wtlbGen[(page - this.ramBase) >>> 12] = this.wtlbEpoch;
    }
  }

  /** The hart's architectural state (TLBs and caches are not state: they are flushed on load). */
  saveState(): State {
    return {
      ...saveFields(this, CPU_FIELDS),
      fpu: saveFields(this.fpu, FPU_FIELDS),
    };
  }

  loadState(s: State): void {
    loadFields(this, s, CPU_FIELDS, 'cpu');
    loadFields(this.fpu, sub(s, 'fpu', 'cpu'), FPU_FIELDS, 'cpu.fpu');
    this.flushTlb();
    this.updateTags();
    this.exc = -1;
  }

  /** Replace the breakpoints (virtual PCs as lo/hi words). */
  setBreakpoints(pcs: readonly { lo: number; hi: number }[]): void {
    if (pcs.length > this.bpLo.length)
      throw new RangeError(`at most ${this.bpLo.length} breakpoints`);
    pcs.forEach((p, i) => {
      this.bpLo[i] = p.lo;
      this.bpHi[i] = p.hi;
    });
    this.bpCount = pcs.length;
    this.flushTlb();
  }

  /** Replace the watchpoints: kind 1 write, 2 read, 3 access. */
  setWatchpoints(wps: readonly { lo: number; hi: number; len: number; kind: number }[]): void {
    if (wps.length > this.wpLo.length)
      throw new RangeError(`at most ${this.wpLo.length} watchpoints`);
    wps.forEach((w, i) => {
      this.wpLo[i] = w.lo;
      this.wpHi[i] = w.hi;
      this.wpLen[i] = w.len;
      this.wpKind[i] = w.kind;
    });
    this.wpCount = wps.length;
    this.flushTlb();
  }

  /** The next run() does not stop at the breakpoint at this icount and pc (resuming from it). */
  skipBreakpointOnce(icount: number, lo: number, hi: number): void {
    this.bpSkipIcount = icount;
    this.bpSkipLo = lo;
    this.bpSkipHi = hi;
  }

  /** Is there a breakpoint (fetch) or watchpoint (data) on this virtual page? */
  private debugPage(vLo: number, vHi: number, fetch: boolean): boolean {
    const page = vLo >>> 12;
    if (fetch) {
      for (let i = 0; i < this.bpCount; i++)
        if (this.bpHi[i] === vHi && this.bpLo[i] >>> 12 === page) return true;
      return false;
    }
    for (let i = 0; i < this.wpCount; i++) {
      if (this.wpHi[i] !== vHi) continue;
      const first = this.wpLo[i] >>> 12;
      const last = ((this.wpLo[i] >>> 0) + Math.max(1, this.wpLen[i]) - 1) / 4096;
      if (page >= first && page <= Math.floor(last)) return true;
    }
    return false;
  }

  private breakpointAt(pcLo: number, pcHi: number, icount: number): boolean {
    for (let i = 0; i < this.bpCount; i++)
      if (this.bpLo[i] === pcLo && this.bpHi[i] === pcHi) {
        if (icount === this.bpSkipIcount && pcLo === this.bpSkipLo && pcHi === this.bpSkipHi)
          return false;
        return true;
      }
    return false;
  }

  /** A data access that went through the slow path: does it hit a watchpoint? */
  private checkWatch(vLo: number, vHi: number, size: number, write: boolean): void {
    const a = vLo >>> 0;
    for (let i = 0; i < this.wpCount; i++) {
      const k = this.wpKind[i];
      if (this.wpHi[i] !== vHi || (write ? (k & 1) === 0 : (k & 2) === 0)) continue;
      const w = this.wpLo[i] >>> 0;
      if (a < w + this.wpLen[i] && w < a + size) {
        this.debugHit = 2;
        const h = this.watchHit;
        h.index = i;
        h.addrLo = vLo;
        h.addrHi = vHi;
        h.write = write;
        h.icount = this.icount;
        if (this.watchStopsBefore) this.exc = EXC_WATCH_STOP;
        // Otherwise end the slice after this instruction, as an MMIO store does.
        else this.bus.mmioWritten = true;
        return;
      }
    }
  }

  /** Forget write translations, so the next write to each page marks it dirty again. */
  flushWriteTlb(): void {
    this.tlbTagLo[ACC_WRITE].fill(-1);
    this.newWtlbEpoch();
  }

  private fault(cause: number, vLo: number, vHi: number): void {
    this.exc = cause;
    this.excTvalLo = vLo;
    this.excTvalHi = vHi;
  }

  /** Translate for a data access of `size` bytes, faulting as the spec says. Returns paddr or -1. */
  private xlateData(vLo: number, vHi: number, access: number): number {
    const pa = this.translate(vLo, vHi, access);
    if (pa < 0) {
      this.fault(this.xlateCause, vLo, vHi);
      return -1;
    }
    // A write hit on a page marks it dirty in the PTE, so the write TLB may cache it.
    this.tlbInsert(access, vLo, vHi, pa);
    return pa;
  }

  /** Slow path of loads (misaligned, page-crossing, MMIO, TLB miss). Value in return (lo) and ldHi. */
  loadSlow(vLo: number, vHi: number, size: number): number {
    const po = vLo & 0xfff;
    if ((vLo & (size - 1)) !== 0 && po + size > 4096) {
      // Page-crossing misaligned: byte by byte.
      let lo = 0,
        hi = 0;
      for (let i = 0; i < size; i++) {
        const aLo = (vLo + i) | 0;
        const aHi = aLo >>> 0 < vLo >>> 0 ? (vHi + 1) | 0 : vHi;
        const b = this.loadSlow(aLo, aHi, 1);
        if (this.exc >= 0) {
          this.excTvalLo = vLo;
          this.excTvalHi = vHi;
          return 0;
        }
        if (i < 4) lo |= (b & 0xff) << (8 * i);
        else hi |= (b & 0xff) << (8 * (i - 4));
      }
      this.ldHi = hi;
      return lo;
    }
    const pa = this.xlateData(vLo, vHi, ACC_READ);
    if (pa < 0) return 0;
    if (this.wpCount !== 0 && this.debugArmed) {
      this.checkWatch(vLo, vHi, size, false);
      if (this.exc >= 0) return 0;
    }
    if (pa >= this.ramBase && pa + size <= this.ramBase + this.ramSize) {
      const off = pa - this.ramBase;
      const r8 = this.ram8;
      let lo = 0,
        hi = 0;
      for (let i = 0; i < size; i++) {
        if (i < 4) lo |= r8[off + i] << (8 * i);
        else hi |= r8[off + i] << (8 * (i - 4));
      }
      this.ldHi = hi;
      return lo;
    }
    // MMIO: aligned accesses only (8 bytes = two 4-byte accesses).
    if ((pa & (size - 1)) !== 0) {
      this.fault(EXC_LOAD_ACCESS, vLo, vHi);
      return 0;
    }
    const bus = this.bus;
    bus.fault = false;
    let lo: number,
      hi = 0;
    if (size === 8) {
      lo = bus.load(pa, 4) | 0;
      hi = bus.load(pa + 4, 4) | 0;
    } else lo = bus.load(pa, size as 1 | 2 | 4) | 0;
    if (bus.fault) {
      bus.fault = false;
      this.fault(EXC_LOAD_ACCESS, vLo, vHi);
      return 0;
    }
    this.ldHi = hi;
    return lo;
  }

  /** Slow path of stores. */
  storeSlow(vLo: number, vHi: number, size: number, lo: number, hi: number): void {
    // Any store ends the reservation, as on the fast path (one rule everywhere).
    this.resAddr = -1;
    const po = vLo & 0xfff;
    if ((vLo & (size - 1)) !== 0 && po + size > 4096) {
      // Check both pages first so a fault leaves memory untouched.
      const endLo = (vLo + size - 1) | 0;
      const endHi = endLo >>> 0 < vLo >>> 0 ? (vHi + 1) | 0 : vHi;
      if (this.translate(vLo, vHi, ACC_WRITE) < 0 || this.translate(endLo, endHi, ACC_WRITE) < 0) {
        this.fault(this.xlateCause, vLo, vHi);
        return;
      }
      if (this.wpCount !== 0 && this.debugArmed && this.watchStopsBefore) {
        // Stopping before the access must leave every byte unwritten.
        this.checkWatch(vLo, vHi, size, true);
        if (this.exc >= 0) return;
      }
      for (let i = 0; i < size; i++) {
        const aLo = (vLo + i) | 0;
        const aHi = aLo >>> 0 < vLo >>> 0 ? (vHi + 1) | 0 : vHi;
        const b = i < 4 ? lo >>> (8 * i) : hi >>> (8 * (i - 4));
        this.storeSlow(aLo, aHi, 1, b & 0xff, 0);
        if (this.exc >= 0) return;
      }
      return;
    }
    const pa = this.xlateData(vLo, vHi, ACC_WRITE);
    if (pa < 0) return;
    if (this.wpCount !== 0 && this.debugArmed) {
      this.checkWatch(vLo, vHi, size, true);
      if (this.exc >= 0) return;
    }
    if (pa >= this.ramBase && pa + size <= this.ramBase + this.ramSize) {
      const off = pa - this.ramBase;
      const r8 = this.ram8;
      for (let i = 0; i < size; i++) r8[off + i] = i < 4 ? lo >>> (8 * i) : hi >>> (8 * (i - 4));
      // Pages kept out of the write TLB (tohost, watchpoints, page tables) are flagged here, not by tlbInsert.
      this.dirtyPages[off >>> 12] = 1;
      if (off - (off & 0xfff) === this.watchPage) this.bus.mmioWritten = true;
      if (this.ptPage[off >>> 12] !== 0) this.flushTlb();
      return;
    }
    if ((pa & (size - 1)) !== 0) {
      this.fault(EXC_STORE_ACCESS, vLo, vHi);
      return;
    }
    const bus = this.bus;
    bus.fault = false;
    if (size === 8) {
      bus.store(pa, 4, lo);
      bus.store(pa + 4, 4, hi);
    } else bus.store(pa, size as 1 | 2 | 4, lo);
    if (bus.fault) {
      bus.fault = false;
      this.fault(EXC_STORE_ACCESS, vLo, vHi);
    }
  }

  /** Fetch slow path: returns the raw instruction bits (16 or 32) or -1 with exc set. */
  private fetchSlow(pcLo: number, pcHi: number): number {
    const fvpn = pcLo >>> 12;
    const fidx = fvpn & TLB_MASK;
    const pa =
      this.tlbTagLo[ACC_FETCH][fidx] === (fvpn | (this.priv << 20)) &&
      this.tlbTagHi[ACC_FETCH][fidx] === pcHi
        ? this.ramBase + this.tlbOff[ACC_FETCH][fidx] + (pcLo & 0xfff)
        : this.translate(pcLo, pcHi, ACC_FETCH);
    if (pa < 0) {
      this.fault(this.xlateCause, pcLo, pcHi);
      return -1;
    }
    const inRam = pa >= this.ramBase && pa + 2 <= this.ramBase + this.ramSize;
    let lowHalf: number;
    if (inRam) {
      this.tlbInsert(ACC_FETCH, pcLo, pcHi, pa);
      // A page with a breakpoint is fetched through here every time (see debugPage).
      this.fVpn = this.bpCount !== 0 && this.debugPage(pcLo, pcHi, true) ? -1 : pcLo >>> 12;
      this.fHi = pcHi;
      this.fOff = pa - (pa % 4096) - this.ramBase;
      lowHalf = this.ram16[(pa - this.ramBase) >>> 1];
    } else {
      this.bus.fault = false;
      lowHalf = this.bus.load(pa, 2);
      if (this.bus.fault) {
        this.bus.fault = false;
        this.fault(EXC_INSN_ACCESS, pcLo, pcHi);
        return -1;
      }
    }
    if ((lowHalf & 3) !== 3) return lowHalf;
    // 32-bit instruction: the upper half may be on the next page.
    const nLo = (pcLo + 2) | 0;
    const nHi = nLo >>> 0 < pcLo >>> 0 ? (pcHi + 1) | 0 : pcHi;
    let pa2: number;
    if ((pcLo & 0xfff) === 0xffe) {
      pa2 = this.translate(nLo, nHi, ACC_FETCH);
      if (pa2 < 0) {
        this.fault(this.xlateCause, nLo, nHi);
        return -1;
      }
    } else pa2 = pa + 2;
    let highHalf: number;
    if (pa2 >= this.ramBase && pa2 + 2 <= this.ramBase + this.ramSize) {
      highHalf = this.ram16[(pa2 - this.ramBase) >>> 1];
    } else {
      this.bus.fault = false;
      highHalf = this.bus.load(pa2, 2);
      if (this.bus.fault) {
        this.bus.fault = false;
        this.fault(EXC_INSN_ACCESS, nLo, nHi);
        return -1;
      }
    }
    return lowHalf | (highHalf << 16) | 0;
  }

  // ------------------------------------------------------------------ CSRs

  private counterAllowed(num: number): boolean {
    const bit = 1 << (num & 31);
    if (this.priv === PRIV_M) return true;
    if ((this.mcounteren & bit) === 0) return false;
    if (this.priv === PRIV_U && (this.scounteren & bit) === 0) return false;
    return true;
  }

  private setCv(lo: number, hi: number): void {
    this.cvLo = lo | 0;
    this.cvHi = hi | 0;
  }

  private setCvNum(v: number): void {
    this.cvLo = (v % TWO32) | 0;
    this.cvHi = Math.floor(v / TWO32) | 0;
  }

  /** Read a CSR into cvLo/cvHi; false = illegal instruction (priv spec 2.1, 2.2). */
  csrRead(num: number): boolean {
    if (((num >>> 8) & 3) > this.priv) return false;
    const lo = this.csrLo,
      hi = this.csrHi;
    switch (num) {
      case CSR.fflags:
      case CSR.frm:
      case CSR.fcsr: {
        if ((this.mstatus & MSTATUS_FS) === 0) return false;
        const f = this.fpu;
        this.setCv(
          num === CSR.fflags ? f.fflags : num === CSR.frm ? f.frm : (f.frm << 5) | f.fflags,
          0,
        );
        return true;
      }
      case CSR.cycle:
      case CSR.instret:
        if (!this.counterAllowed(num)) return false;
        this.setCvNum(this.icount + (num === CSR.cycle ? this.cycleOffset : this.instretOffset));
        return true;
      case CSR.time:
        if (!this.counterAllowed(num)) return false;
        this.setCvNum(this.timeNow());
        return true;
      case CSR.mcycle:
        this.setCvNum(this.icount + this.cycleOffset);
        return true;
      case CSR.minstret:
        this.setCvNum(this.icount + this.instretOffset);
        return true;
      case CSR.sstatus: {
        const ms = this.mstatus & SSTATUS_MASK;
        this.setCv(ms, 2 | ((ms & MSTATUS_FS) === MSTATUS_FS ? 0x80000000 : 0));
        return true;
      }
      case CSR.mstatus: {
        const ms = this.mstatus;
        this.setCv(ms, 0xa | ((ms & MSTATUS_FS) === MSTATUS_FS ? 0x80000000 : 0));
        return true;
      }
      case CSR.sie:
        this.setCv(this.mie & this.mideleg, 0);
        return true;
      case CSR.sip:
        this.setCv(this.mip & this.mideleg, 0);
        return true;
      case CSR.mie:
        this.setCv(this.mie, 0);
        return true;
      case CSR.mip:
        this.setCv(this.mip, 0);
        return true;
      case CSR.misa:
        this.setCv(MISA_LO, MISA_HI);
        return true;
      case CSR.medeleg:
        this.setCv(this.medeleg, 0);
        return true;
      case CSR.mideleg:
        this.setCv(this.mideleg, 0);
        return true;
      case CSR.mcounteren:
        this.setCv(this.mcounteren, 0);
        return true;
      case CSR.scounteren:
        this.setCv(this.scounteren, 0);
        return true;
      case CSR.mcountinhibit:
        this.setCv(this.mcountinhibit, 0);
        return true;
      case CSR.mhartid:
        this.setCv(this.hartId, 0);
        return true;
      case CSR.mvendorid:
      case CSR.marchid:
      case CSR.mimpid:
      case CSR.mconfigptr:
        this.setCv(0, 0);
        return true;
      case CSR.satp:
        if (this.priv === PRIV_S && (this.mstatus & MSTATUS_TVM) !== 0) return false;
        this.setCv(lo[num], hi[num]);
        return true;
      case CSR.stimecmp:
        if (this.priv === PRIV_S && (hi[CSR.menvcfg] & MENVCFG_STCE_HI) === 0) return false;
        this.setCv(lo[num], hi[num]);
        return true;
      case CSR.stvec:
      case CSR.sscratch:
      case CSR.sepc:
      case CSR.scause:
      case CSR.stval:
      case CSR.senvcfg:
      case CSR.mtvec:
      case CSR.mscratch:
      case CSR.mepc:
      case CSR.mcause:
      case CSR.mtval:
      case CSR.menvcfg:
      case CSR.tselect:
      case CSR.tdata1:
      case CSR.tdata2:
      case CSR.tdata3:
        this.setCv(lo[num], hi[num]);
        return true;
    }
    // PMP registers (stored, not enforced), HPM counters/events (hardwired zero).
    if ((num >= 0x3a0 && num <= 0x3af && (num & 1) === 0) || (num >= 0x3b0 && num <= 0x3ef)) {
      this.setCv(lo[num], hi[num]);
      return true;
    }
    if (
      (num >= 0xc03 && num <= 0xc1f) ||
      (num >= 0xb03 && num <= 0xb1f) ||
      (num >= 0x323 && num <= 0x33f)
    ) {
      if (num >= 0xc03 && num <= 0xc1f && !this.counterAllowed(num)) return false;
      this.setCv(0, 0);
      return true;
    }
    return false;
  }

  /** Write a CSR (after csrRead succeeded); false = illegal. */
  csrWrite(num: number, vLo: number, vHi: number): boolean {
    if (num >>> 10 === 3) return false; // read-only space (priv spec 2.1)
    const lo = this.csrLo,
      hi = this.csrHi;
    switch (num) {
      case CSR.fflags:
        this.fpu.fflags = vLo & 0x1f;
        this.mstatus |= MSTATUS_FS;
        return true;
      case CSR.frm:
        this.fpu.frm = vLo & 7;
        this.mstatus |= MSTATUS_FS;
        return true;
      case CSR.fcsr:
        this.fpu.fflags = vLo & 0x1f;
        this.fpu.frm = (vLo >>> 5) & 7;
        this.mstatus |= MSTATUS_FS;
        return true;
      case CSR.mcycle:
        this.cycleOffset = vHi * TWO32 + (vLo >>> 0) - this.icount - 1;
        return true;
      case CSR.minstret:
        // The writing instruction itself retires after the write (priv spec 3.3.1).
        this.instretOffset = (vHi >>> 0) * TWO32 + (vLo >>> 0) - this.icount - 1;
        return true;
      case CSR.sstatus:
        this.writeMstatus((this.mstatus & ~SSTATUS_MASK) | (vLo & SSTATUS_MASK));
        return true;
      case CSR.mstatus:
        this.writeMstatus(vLo);
        return true;
      case CSR.sie:
        this.mie = (this.mie & ~this.mideleg) | (vLo & this.mideleg);
        return true;
      case CSR.sip:
        this.mip = (this.mip & ~(MIP_SSIP & this.mideleg)) | (vLo & MIP_SSIP & this.mideleg);
        return true;
      case CSR.mie:
        this.mie = vLo & ALL_INTS;
        return true;
      case CSR.mip: {
        let mask = MIP_SSIP | MIP_SEIP;
        if ((hi[CSR.menvcfg] & MENVCFG_STCE_HI) === 0) mask |= MIP_STIP;
        this.mip = (this.mip & ~mask) | (vLo & mask);
        return true;
      }
      case CSR.misa:
        return true; // WARL: fixed
      case CSR.medeleg:
        this.medeleg = vLo & MEDELEG_MASK;
        return true;
      case CSR.mideleg:
        this.mideleg = vLo & S_INTS;
        return true;
      case CSR.mcounteren:
        this.mcounteren = vLo;
        return true;
      case CSR.scounteren:
        this.scounteren = vLo;
        return true;
      case CSR.mcountinhibit:
        this.mcountinhibit = vLo & ~2;
        return true;
      case CSR.satp: {
        const mode = vHi >>> 28;
        if (mode !== 0 && mode !== 8 && mode !== 9) return true; // WARL: unsupported mode, no change
        // ASID bits are not implemented (read as zero); PPN is 44 bits.
        lo[num] = vLo;
        hi[num] = (mode << 28) | (vHi & 0xfff);
        this.satpMode = mode;
        this.satpPpn = (vHi & 0xfff) * TWO32 + (vLo >>> 0);
        this.flushTlb();
        return true;
      }
      case CSR.stvec:
      case CSR.mtvec:
        // Only direct and vectored modes.
        lo[num] = (vLo & 3) >= 2 ? vLo & ~3 : vLo;
        hi[num] = vHi;
        return true;
      case CSR.sepc:
      case CSR.mepc:
        lo[num] = vLo & ~1;
        hi[num] = vHi;
        return true;
      case CSR.menvcfg:
        // FIOM (bit 0) and STCE (bit 63) are implemented.
        lo[num] = vLo & 1;
        hi[num] = vHi & MENVCFG_STCE_HI;
        if ((hi[num] & MENVCFG_STCE_HI) === 0) this.mip &= ~MIP_STIP;
        this.updateSstc();
        return true;
      case CSR.senvcfg:
        lo[num] = vLo & 1;
        hi[num] = 0;
        return true;
      case CSR.stimecmp:
        lo[num] = vLo;
        hi[num] = vHi;
        this.updateSstc();
        return true;
      case CSR.sscratch:
      case CSR.scause:
      case CSR.stval:
      case CSR.mscratch:
      case CSR.mcause:
      case CSR.mtval:
        lo[num] = vLo;
        hi[num] = vHi;
        return true;
      case CSR.tselect:
      case CSR.tdata1:
      case CSR.tdata2:
      case CSR.tdata3:
        return true; // no triggers: writes ignored, reads 0
    }
    if (num >= 0x3a0 && num <= 0x3af && (num & 1) === 0) {
      lo[num] = vLo;
      hi[num] = vHi;
      return true;
    }
    if (num >= 0x3b0 && num <= 0x3ef) {
      lo[num] = vLo;
      hi[num] = vHi & 0x3fffff; // 54-bit pmpaddr
      return true;
    }
    if ((num >= 0xb03 && num <= 0xb1f) || (num >= 0x323 && num <= 0x33f)) return true;
    return false;
  }

  private writeMstatus(v: number): void {
    const old = this.mstatus;
    let n = (old & ~MSTATUS_WRITABLE) | (v & MSTATUS_WRITABLE);
    // MPP is WARL: the reserved value 2 becomes U.
    if ((n & MSTATUS_MPP) === 2 << MSTATUS_MPP_SHIFT) n &= ~MSTATUS_MPP;
    this.mstatus = n;
    if ((old ^ n) & (MSTATUS_SUM | MSTATUS_MXR)) this.flushTlb();
    this.updateTags();
  }

  /** The value a debugger or test sees for a CSR, ignoring privilege; undefined if absent. */
  readCsr(num: number): { lo: number; hi: number } | undefined {
    const p = this.priv;
    this.priv = PRIV_M;
    const ok = this.csrRead(num);
    this.priv = p;
    return ok ? { lo: this.cvLo, hi: this.cvHi } : undefined;
  }

  // ------------------------------------------------------------- execution

  /**
   * Execute at most `max` retired instructions; returns how many retired.
   * Returns early on WFI and MMIO stores (a device may have raised an
   * interrupt); after CSR writes, xRETs and SFENCE.VMA that may change which
   * interrupts are deliverable it checks for one in place.
   */
  run(maxInsns: number): number {
    // A small integer keeps the loop's comparison on the fast path (a double here deoptimizes it).
    const max = maxInsns >= 0x7fffffff ? 0x7fffffff : maxInsns | 0;
    this.updateSstc();
    if (this.wfi) {
      if ((this.mip & this.mie) === 0) return 0;
      this.wfi = false;
    }
    this.takeInterrupt();
    // Every trap passes the slow fetch path (setPriv drops the fetch page), which checks this.
    this.trapLimit = this.trapsTaken + (max > MIN_TRAP_RUN ? max : MIN_TRAP_RUN);

    const xl = this.xl,
      xh = this.xh;
    const ram8 = this.ram8,
      ram16 = this.ram16,
      ram32 = this.ram32;
    const rTagLo = this.tlbTagLo[ACC_READ],
      rTagHi = this.tlbTagHi[ACC_READ],
      rOff = this.tlbOff[ACC_READ];
    const wTagLo = this.tlbTagLo[ACC_WRITE],
      wTagHi = this.tlbTagHi[ACC_WRITE],
      wOff = this.tlbOff[ACC_WRITE];
    const bus = this.bus;
    const base = this.icount;
    let pcLo = this.pcLo,
      pcHi = this.pcHi;
    let n = 0;
    let stop = false;
    let irqCheck = false;
    let dTag = this.dataTag;

    while (n < max) {
      // ---- fetch
      let insn: number;
      let raw: number;
      let len = 4;
      if (pcLo >>> 12 === this.fVpn && pcHi === this.fHi && (pcLo & 0xfff) !== 0xffe) {
        const hi16 = (this.fOff + (pcLo & 0xfff)) >>> 1;
        raw = ram16[hi16];
        if ((raw & 3) === 3) raw = raw | (ram16[hi16 + 1] << 16);
      } else {
        this.pcLo = pcLo;
        this.pcHi = pcHi;
        this.exc = -1;
        // A watchpoint stopped the hart before this instruction's access (watchStopsBefore).
        if (this.debugHit !== 0) break;
        if (this.trapsTaken >= this.trapLimit) break;
        if (this.bpCount !== 0 && this.debugArmed && this.breakpointAt(pcLo, pcHi, base + n)) {
          this.debugHit = 1;
          break;
        }
        raw = this.fetchSlow(pcLo, pcHi);
        if (this.exc >= 0) {
          this.trap(this.exc, false, this.excTvalLo, this.excTvalHi);
          pcLo = this.pcLo;
          pcHi = this.pcHi;
          dTag = this.dataTag;
          continue;
        }
      }
      if ((raw & 3) !== 3) {
        insn = rvcTable[raw & 0xffff];
        len = 2;
        if (insn === 0) {
          this.pcLo = pcLo;
          this.pcHi = pcHi;
          this.trap(EXC_ILLEGAL, false, raw & 0xffff, 0);
          pcLo = this.pcLo;
          pcHi = this.pcHi;
          dTag = this.dataTag;
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
          xl[rd] = insn & 0xfffff000;
          xh[rd] = insn >> 31;
          break;
        case 0x17: {
          // AUIPC
          const imm = insn & 0xfffff000;
          const lo = (pcLo + imm) | 0;
          xh[rd] = (pcHi + (imm >> 31) + (lo >>> 0 < pcLo >>> 0 ? 1 : 0)) | 0;
          xl[rd] = lo;
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
          xl[rd] = npLo;
          xh[rd] = npHi;
          npLo = tLo;
          npHi = tHi;
          break;
        }
        case 0x67: {
          // JALR
          if (f3 !== 0) {
            illegal = true;
            break;
          }
          const imm = insn >> 20;
          const bLo = xl[rs1],
            bHi = xh[rs1];
          const tLo = (bLo + imm) | 0;
          const tHi = (bHi + (imm >> 31) + (tLo >>> 0 < bLo >>> 0 ? 1 : 0)) | 0;
          xl[rd] = npLo;
          xh[rd] = npHi;
          npLo = tLo & ~1;
          npHi = tHi;
          break;
        }
        case 0x63: {
          // branches
          const aLo = xl[rs1],
            aHi = xh[rs1],
            bLo = xl[rs2],
            bHi = xh[rs2];
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
          }
          break;
        }
        case 0x03: {
          // loads
          const imm = insn >> 20;
          const bLo = xl[rs1];
          const aLo = (bLo + imm) | 0;
          const aHi = (xh[rs1] + (imm >> 31) + (aLo >>> 0 < bLo >>> 0 ? 1 : 0)) | 0;
          const vpn = aLo >>> 12;
          const idx = vpn & TLB_MASK;
          let vLo = 0,
            vHi = 0;
          const size = 1 << (f3 & 3);
          if (f3 === 7) {
            illegal = true;
            break;
          }
          if (rTagLo[idx] === (vpn | dTag) && rTagHi[idx] === aHi && (aLo & (size - 1)) === 0) {
            const off = rOff[idx] + (aLo & 0xfff);
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
            this.pcLo = pcLo;
            this.pcHi = pcHi;
            this.icount = base + n;
            this.exc = -1;
            vLo = this.loadSlow(aLo, aHi, size);
            if (this.exc >= 0) {
              const cause = this.exc;
              this.trap(cause, false, this.excTvalLo, this.excTvalHi);
              pcLo = this.pcLo;
              pcHi = this.pcHi;
              dTag = this.dataTag;
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
                vHi = this.ldHi;
                break;
              case 4:
                vLo &= 0xff;
                break;
              case 5:
                vLo &= 0xffff;
                break;
            }
          }
          xl[rd] = vLo;
          xh[rd] = vHi;
          break;
        }
        case 0x23: {
          // stores
          if (f3 > 3) {
            illegal = true;
            break;
          }
          const imm = ((insn >> 20) & ~0x1f) | ((insn >>> 7) & 0x1f);
          const bLo = xl[rs1];
          const aLo = (bLo + imm) | 0;
          const aHi = (xh[rs1] + (imm >> 31) + (aLo >>> 0 < bLo >>> 0 ? 1 : 0)) | 0;
          const vpn = aLo >>> 12;
          const idx = vpn & TLB_MASK;
          const size = 1 << f3;
          const sLo = xl[rs2];
          if (wTagLo[idx] === (vpn | dTag) && wTagHi[idx] === aHi && (aLo & (size - 1)) === 0) {
            const off = wOff[idx] + (aLo & 0xfff);
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
                ram32[(off >>> 2) + 1] = xh[rs2];
                break;
            }
            if (this.resAddr >= 0) this.resAddr = -1;
          } else {
            this.pcLo = pcLo;
            this.pcHi = pcHi;
            this.icount = base + n;
            this.exc = -1;
            this.storeSlow(aLo, aHi, size, sLo, xh[rs2]);
            if (this.exc >= 0) {
              this.trap(this.exc, false, this.excTvalLo, this.excTvalHi);
              pcLo = this.pcLo;
              pcHi = this.pcHi;
              dTag = this.dataTag;
              continue;
            }
            if (bus.mmioWritten) stop = true;
          }
          break;
        }
        case 0x13: {
          // OP-IMM
          const imm = insn >> 20;
          const aLo = xl[rs1],
            aHi = xh[rs1];
          switch (f3) {
            case 0: {
              const lo = (aLo + imm) | 0;
              xh[rd] = (aHi + (imm >> 31) + (lo >>> 0 < aLo >>> 0 ? 1 : 0)) | 0;
              xl[rd] = lo;
              break;
            }
            case 1: {
              if (insn >>> 26 !== 0) {
                illegal = true;
                break;
              }
              const s = imm & 63;
              if (s === 0) {
                xl[rd] = aLo;
                xh[rd] = aHi;
              } else if (s < 32) {
                xh[rd] = (aHi << s) | (aLo >>> (32 - s));
                xl[rd] = aLo << s;
              } else {
                xh[rd] = aLo << (s - 32);
                xl[rd] = 0;
              }
              break;
            }
            case 2: {
              const iHi = imm >> 31;
              xl[rd] = aHi < iHi || (aHi === iHi && aLo >>> 0 < imm >>> 0) ? 1 : 0;
              xh[rd] = 0;
              break;
            }
            case 3: {
              const iHi = imm >> 31;
              xl[rd] = aHi >>> 0 < iHi >>> 0 || (aHi === iHi && aLo >>> 0 < imm >>> 0) ? 1 : 0;
              xh[rd] = 0;
              break;
            }
            case 4:
              xl[rd] = aLo ^ imm;
              xh[rd] = aHi ^ (imm >> 31);
              break;
            case 5: {
              const s = imm & 63;
              const kind = insn >>> 26;
              if (kind !== 0 && kind !== 0x10) {
                illegal = true;
                break;
              }
              if (s === 0) {
                xl[rd] = aLo;
                xh[rd] = aHi;
              } else if (kind === 0) {
                if (s < 32) {
                  xl[rd] = (aLo >>> s) | (aHi << (32 - s));
                  xh[rd] = aHi >>> s;
                } else {
                  xl[rd] = aHi >>> (s - 32);
                  xh[rd] = 0;
                }
              } else if (s < 32) {
                xl[rd] = (aLo >>> s) | (aHi << (32 - s));
                xh[rd] = aHi >> s;
              } else {
                xl[rd] = aHi >> (s - 32);
                xh[rd] = aHi >> 31;
              }
              break;
            }
            case 6:
              xl[rd] = aLo | imm;
              xh[rd] = aHi | (imm >> 31);
              break;
            case 7:
              xl[rd] = aLo & imm;
              xh[rd] = aHi & (imm >> 31);
              break;
          }
          break;
        }
        case 0x1b: {
          // OP-IMM-32
          const a = xl[rs1];
          let r: number;
          if (f3 === 0) r = (a + (insn >> 20)) | 0;
          else if (f3 === 1 && insn >>> 25 === 0) r = a << rs2;
          else if (f3 === 5 && insn >>> 25 === 0) r = a >>> rs2;
          else if (f3 === 5 && insn >>> 25 === 0x20) r = a >> rs2;
          else {
            illegal = true;
            break;
          }
          xl[rd] = r;
          xh[rd] = r >> 31;
          break;
        }
        case 0x33: {
          // OP
          const f7 = insn >>> 25;
          const aLo = xl[rs1],
            aHi = xh[rs1],
            bLo = xl[rs2],
            bHi = xh[rs2];
          if (f7 === 0) {
            switch (f3) {
              case 0: {
                const lo = (aLo + bLo) | 0;
                xh[rd] = (aHi + bHi + (lo >>> 0 < aLo >>> 0 ? 1 : 0)) | 0;
                xl[rd] = lo;
                break;
              }
              case 1: {
                const s = bLo & 63;
                if (s === 0) {
                  xl[rd] = aLo;
                  xh[rd] = aHi;
                } else if (s < 32) {
                  xh[rd] = (aHi << s) | (aLo >>> (32 - s));
                  xl[rd] = aLo << s;
                } else {
                  xh[rd] = aLo << (s - 32);
                  xl[rd] = 0;
                }
                break;
              }
              case 2:
                xl[rd] = aHi < bHi || (aHi === bHi && aLo >>> 0 < bLo >>> 0) ? 1 : 0;
                xh[rd] = 0;
                break;
              case 3:
                xl[rd] = aHi >>> 0 < bHi >>> 0 || (aHi === bHi && aLo >>> 0 < bLo >>> 0) ? 1 : 0;
                xh[rd] = 0;
                break;
              case 4:
                xl[rd] = aLo ^ bLo;
                xh[rd] = aHi ^ bHi;
                break;
              case 5: {
                const s = bLo & 63;
                if (s === 0) {
                  xl[rd] = aLo;
                  xh[rd] = aHi;
                } else if (s < 32) {
                  xl[rd] = (aLo >>> s) | (aHi << (32 - s));
                  xh[rd] = aHi >>> s;
                } else {
                  xl[rd] = aHi >>> (s - 32);
                  xh[rd] = 0;
                }
                break;
              }
              case 6:
                xl[rd] = aLo | bLo;
                xh[rd] = aHi | bHi;
                break;
              case 7:
                xl[rd] = aLo & bLo;
                xh[rd] = aHi & bHi;
                break;
            }
          } else if (f7 === 0x20) {
            if (f3 === 0) {
              const lo = (aLo - bLo) | 0;
              xh[rd] = (aHi - bHi - (aLo >>> 0 < bLo >>> 0 ? 1 : 0)) | 0;
              xl[rd] = lo;
            } else if (f3 === 5) {
              const s = bLo & 63;
              if (s === 0) {
                xl[rd] = aLo;
                xh[rd] = aHi;
              } else if (s < 32) {
                xl[rd] = (aLo >>> s) | (aHi << (32 - s));
                xh[rd] = aHi >> s;
              } else {
                xl[rd] = aHi >> (s - 32);
                xh[rd] = aHi >> 31;
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
            xl[rd] = r64[0];
            xh[rd] = r64[1];
          } else illegal = true;
          break;
        }
        case 0x3b: {
          // OP-32
          const f7 = insn >>> 25;
          const a = xl[rs1],
            b = xl[rs2];
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
            xl[rd] = r;
            xh[rd] = r >> 31;
          }
          break;
        }
        case 0x0f: // FENCE, FENCE.I: nothing to do for one in-order hart without a code cache
          if (f3 > 1) illegal = true;
          break;
        case 0x73: {
          // SYSTEM
          this.pcLo = pcLo;
          this.pcHi = pcHi;
          this.icount = base + n;
          if (f3 === 0) {
            const r = this.system(insn, raw, len);
            if (r < 0) {
              // trapped (pc already moved to the handler)
              pcLo = this.pcLo;
              pcHi = this.pcHi;
              dTag = this.dataTag;
              continue;
            }
            if (r === 1) {
              // xRET or WFI: system() set the next pc
              npLo = this.pcLo;
              npHi = this.pcHi;
            }
            // WFI ends the slice; after xRET or SFENCE.VMA interrupts may have become deliverable.
            if (this.wfi) stop = true;
            else if (r !== 0) irqCheck = true;
            break;
          }
          // CSR instructions
          const csr = insn >>> 20;
          const imm = f3 >= 5;
          const srcLo = imm ? rs1 : xl[rs1],
            srcHi = imm ? 0 : xh[rs1];
          const op = f3 & 3;
          if (op === 0) {
            illegal = true;
            break;
          }
          // csrrw with rd=x0 does not read; csrrs/csrrc with rs1=x0 (or uimm 0) do not write.
          const writes = op === 1 || rs1 !== 0;
          if (!this.csrRead(csr)) {
            illegal = true;
            break;
          }
          const oldLo = this.cvLo,
            oldHi = this.cvHi;
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
            if (!this.csrWrite(csr, nLo, nHi)) {
              illegal = true;
              break;
            }
            // Deliverable interrupts or the Sstc timer may have changed: look after this instruction.
            if (IRQ_AFFECTING_CSR[csr]) irqCheck = true;
            if (DEADLINE_CSR[csr]) stop = true;
          }
          xl[rd] = oldLo;
          xh[rd] = oldHi;
          break;
        }
        case 0x2f: {
          // A extension
          this.pcLo = pcLo;
          this.pcHi = pcHi;
          this.icount = base + n;
          const r = this.atomic(insn);
          if (r < 0) {
            pcLo = this.pcLo;
            pcHi = this.pcHi;
            dTag = this.dataTag;
            continue;
          }
          if (r === 0) illegal = true;
          if (bus.mmioWritten) stop = true; // a watchpoint hit
          break;
        }
        case 0x07:
        case 0x27: {
          // FLW/FLD/FSW/FSD
          if ((this.mstatus & MSTATUS_FS) === 0 || (f3 !== 2 && f3 !== 3)) {
            illegal = true;
            break;
          }
          this.pcLo = pcLo;
          this.pcHi = pcHi;
          this.icount = base + n;
          if (!this.fpLoadStore(insn, f3)) {
            pcLo = this.pcLo;
            pcHi = this.pcHi;
            dTag = this.dataTag;
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
          if ((this.mstatus & MSTATUS_FS) === 0 || !this.fpu.execute(insn, xl, xh)) illegal = true;
          else this.mstatus |= MSTATUS_FS;
          break;
        default:
          illegal = true;
      }
      if (illegal) {
        this.pcLo = pcLo;
        this.pcHi = pcHi;
        this.trap(EXC_ILLEGAL, false, len === 2 ? raw & 0xffff : raw, 0);
        pcLo = this.pcLo;
        pcHi = this.pcHi;
        dTag = this.dataTag;
        continue;
      }
      xl[0] = 0;
      xh[0] = 0;
      pcLo = npLo;
      pcHi = npHi;
      n++;
      if (irqCheck) {
        // Exactly what a new run() would do here, without leaving the loop: the same
        // instruction boundary whatever the slicing, so replay stays exact.
        irqCheck = false;
        this.pcLo = pcLo;
        this.pcHi = pcHi;
        this.icount = base + n;
        this.updateSstc();
        if (this.takeInterrupt()) {
          pcLo = this.pcLo;
          pcHi = this.pcHi;
        }
        dTag = this.dataTag;
      }
      if (stop) break;
    }
    this.pcLo = pcLo;
    this.pcHi = pcHi;
    this.icount = base + n;
    return n;
  }

  /**
   * ECALL, EBREAK, xRET, WFI, SFENCE.VMA. Returns -1 after a trap, 1 when the
   * instruction set pc itself (xRET) or halted (WFI), 0 to fall through, 3 for
   * sfence. Illegal encodings trap here.
   */
  private system(insn: number, raw: number, len: number): number {
    const priv = this.priv;
    if (insn === 0x00000073) {
      this.trap(EXC_ECALL_U + priv, false, 0, 0);
      return -1;
    }
    if (insn === 0x00100073) {
      this.trap(EXC_BREAKPOINT, false, this.pcLo, this.pcHi);
      return -1;
    }
    if (insn === 0x30200073) {
      // MRET (priv spec 3.3.2)
      if (priv < PRIV_M) return this.illegalInstruction(raw, len);
      let ms = this.mstatus;
      const mpp = (ms & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT;
      ms = (ms & ~(MSTATUS_MIE | MSTATUS_MPP)) | ((ms & MSTATUS_MPIE) >>> 4) | MSTATUS_MPIE;
      if (mpp !== PRIV_M) ms &= ~MSTATUS_MPRV;
      this.mstatus = ms;
      this.setPriv(mpp);
      this.pcLo = this.csrLo[CSR.mepc];
      this.pcHi = this.csrHi[CSR.mepc];
      this.resAddr = -1;
      return 1;
    }
    if (insn === 0x10200073) {
      // SRET
      if (priv < PRIV_S || (priv === PRIV_S && (this.mstatus & MSTATUS_TSR) !== 0))
        return this.illegalInstruction(raw, len);
      let ms = this.mstatus;
      const spp = (ms & MSTATUS_SPP) >>> 8;
      ms =
        (ms & ~(MSTATUS_SIE | MSTATUS_SPP | MSTATUS_MPRV)) |
        ((ms & MSTATUS_SPIE) >>> 4) |
        MSTATUS_SPIE;
      this.mstatus = ms;
      this.setPriv(spp);
      this.pcLo = this.csrLo[CSR.sepc];
      this.pcHi = this.csrHi[CSR.sepc];
      this.resAddr = -1;
      return 1;
    }
    if (insn === 0x10500073) {
      // WFI (priv spec 3.3.3): TW traps it below M; U-mode may never wait.
      if (priv === PRIV_U || (priv === PRIV_S && (this.mstatus & MSTATUS_TW) !== 0))
        return this.illegalInstruction(raw, len);
      // Advance past the WFI, then halt until an interrupt is pending.
      const lo = (this.pcLo + len) | 0;
      this.pcHi = lo >>> 0 < this.pcLo >>> 0 ? (this.pcHi + 1) | 0 : this.pcHi;
      this.pcLo = lo;
      if ((this.mip & this.mie) === 0) this.wfi = true;
      return 1;
    }
    if (insn >>> 25 === 0x09 && ((insn >>> 7) & 0x1f) === 0) {
      // SFENCE.VMA
      if (priv === PRIV_U || (priv === PRIV_S && (this.mstatus & MSTATUS_TVM) !== 0))
        return this.illegalInstruction(raw, len);
      this.flushTlb();
      return 3;
    }
    return this.illegalInstruction(raw, len);
  }

  /** Raise an illegal-instruction trap; mtval holds the instruction's own bits. Returns -1. */
  private illegalInstruction(raw: number, len: number): number {
    this.trap(EXC_ILLEGAL, false, len === 2 ? raw & 0xffff : raw, 0);
    return -1;
  }

  /** LR/SC/AMO. Returns 1 ok, 0 illegal, -1 trapped. */
  private atomic(insn: number): number {
    const f3 = (insn >>> 12) & 7;
    if (f3 !== 2 && f3 !== 3) return 0;
    const f5 = insn >>> 27;
    const rd = (insn >>> 7) & 31,
      rs1 = (insn >>> 15) & 31,
      rs2 = (insn >>> 20) & 31;
    const xl = this.xl,
      xh = this.xh;
    const aLo = xl[rs1],
      aHi = xh[rs1];
    const size = f3 === 2 ? 4 : 8;
    const isLr = f5 === 2;
    if (isLr && rs2 !== 0) return 0;
    if (!isLr && f5 !== 3 && [0, 1, 4, 8, 12, 16, 20, 24, 28].indexOf(f5) < 0) return 0;
    if ((aLo & (size - 1)) !== 0) {
      this.trap(isLr ? EXC_LOAD_MISALIGNED : EXC_STORE_MISALIGNED, false, aLo, aHi);
      return -1;
    }
    const pa = this.translate(aLo, aHi, isLr ? ACC_READ : ACC_WRITE);
    if (pa < 0) {
      this.trap(this.xlateCause, false, aLo, aHi);
      return -1;
    }
    if (!(pa >= this.ramBase && pa + size <= this.ramBase + this.ramSize)) {
      this.trap(isLr ? EXC_LOAD_ACCESS : EXC_STORE_ACCESS, false, aLo, aHi);
      return -1;
    }
    if (this.wpCount !== 0 && this.debugArmed) {
      // An AMO reads and writes; LR only reads; SC writes (the store may then not happen).
      this.exc = -1;
      if (f5 !== 3) this.checkWatch(aLo, aHi, size, false);
      if (!isLr) this.checkWatch(aLo, aHi, size, true);
      if (this.exc >= 0) {
        this.trap(this.exc, false, aLo, aHi);
        return -1;
      }
    }
    const wi = (pa - this.ramBase) >>> 2;
    const ram32 = this.ram32;
    const oLo = ram32[wi];
    const oHi = size === 8 ? ram32[wi + 1] : oLo >> 31;
    if (isLr) {
      this.resAddr = pa;
      xl[rd] = oLo;
      xh[rd] = oHi;
      xl[0] = xh[0] = 0;
      return 1;
    }
    if (f5 === 3) {
      // SC
      if (this.resAddr === pa) {
        ram32[wi] = xl[rs2];
        if (size === 8) ram32[wi + 1] = xh[rs2];
        this.atomicWrote(wi >>> 10);
        xl[rd] = 0;
      } else xl[rd] = 1;
      xh[rd] = 0;
      this.resAddr = -1;
      xl[0] = xh[0] = 0;
      return 1;
    }
    const bLo = xl[rs2];
    const bHi = size === 8 ? xh[rs2] : bLo >> 31;
    let nLo = 0,
      nHi = 0;
    switch (f5) {
      case 1: // AMOSWAP
        nLo = bLo;
        nHi = bHi;
        break;
      case 0: // AMOADD
        nLo = (oLo + bLo) | 0;
        nHi = (oHi + bHi + (nLo >>> 0 < oLo >>> 0 ? 1 : 0)) | 0;
        break;
      case 4:
        nLo = oLo ^ bLo;
        nHi = oHi ^ bHi;
        break;
      case 12:
        nLo = oLo & bLo;
        nHi = oHi & bHi;
        break;
      case 8:
        nLo = oLo | bLo;
        nHi = oHi | bHi;
        break;
      default: {
        // MIN/MAX/MINU/MAXU
        const signed = f5 === 16 || f5 === 20;
        let less: boolean;
        if (size === 4) less = signed ? oLo < bLo : oLo >>> 0 < bLo >>> 0;
        else if (signed) less = oHi < bHi || (oHi === bHi && oLo >>> 0 < bLo >>> 0);
        else less = oHi >>> 0 < bHi >>> 0 || (oHi === bHi && oLo >>> 0 < bLo >>> 0);
        const pickOld = f5 === 16 || f5 === 24 ? less : !less;
        nLo = pickOld ? oLo : bLo;
        nHi = pickOld ? oHi : bHi;
      }
    }
    ram32[wi] = nLo;
    if (size === 8) ram32[wi + 1] = nHi;
    this.atomicWrote(wi >>> 10);
    this.resAddr = -1;
    xl[rd] = oLo;
    xh[rd] = oHi;
    xl[0] = xh[0] = 0;
    return 1;
  }

  /** Bookkeeping after an AMO or SC wrote RAM page `page` (the stores' slow path does the same). */
  private atomicWrote(page: number): void {
    this.dirtyPages[page] = 1;
    // An HTIF exit written by an AMO lands at this instruction, as a store's does.
    if (page * 4096 === this.watchPage) this.bus.mmioWritten = true;
    // Linux clears accessed bits with AMOs (ptep_test_and_clear_young), without an SFENCE.
    if (this.ptPage[page] !== 0) this.flushTlb();
  }

  /** FLW/FLD/FSW/FSD. Returns false after a trap. */
  private fpLoadStore(insn: number, f3: number): boolean {
    const isStore = (insn & 0x7f) === 0x27;
    const rs1 = (insn >>> 15) & 31;
    const imm = isStore ? ((insn >> 20) & ~0x1f) | ((insn >>> 7) & 0x1f) : insn >> 20;
    const bLo = this.xl[rs1];
    const aLo = (bLo + imm) | 0;
    const aHi = (this.xh[rs1] + (imm >> 31) + (aLo >>> 0 < bLo >>> 0 ? 1 : 0)) | 0;
    const size = f3 === 2 ? 4 : 8;
    const fr = this.fpu.fr;
    this.exc = -1;
    if (isStore) {
      const r = (insn >>> 20) & 31;
      this.storeSlow(aLo, aHi, size, fr[2 * r], fr[2 * r + 1]);
    } else {
      const rd = (insn >>> 7) & 31;
      const lo = this.loadSlow(aLo, aHi, size);
      if (this.exc < 0) {
        fr[2 * rd] = lo;
        fr[2 * rd + 1] = size === 4 ? -1 : this.ldHi; // NaN-box singles
        this.mstatus |= MSTATUS_FS;
      }
    }
    if (this.exc >= 0) {
      this.trap(this.exc, false, this.excTvalLo, this.excTvalHi);
      return false;
    }
    return true;
  }
}
