/**
 * The plugin events that need the hart one instruction at a time (the
 * hooks' insn/after pair, cpu/hooks.ts): memory accesses (onMemory) and
 * basic blocks (onBlock).
 *
 * Before each instruction, its bits are read as the hart is about to fetch
 * them (peekInstruction: no side effects) and decoded with the shared
 * decoder's tables (cpu/decode.ts, the interpreter's way: the operation from
 * OP_TABLE, fields and immediates from the bits); the address a load, store
 * or atomic will access comes from the registers as they are then, and
 * where it goes from peekTranslate. After the instruction, if it retired
 * (an access that faults traps instead), the access is reported with its
 * value: for a store the source register as it was before (rs2 may be rd of
 * nothing, but an SC's rd may be its rs2), for a load the destination
 * register after (or, for x0, the RAM it read), for an AMO the RAM before
 * and after. Only accesses some subscription wants are worked out further
 * than their address. Jumps, taken branches, traps and xRETs mark the next
 * instruction as a block's first.
 *
 * Nothing here writes to the machine.
 */
import type { Cpu } from '../cpu/cpu.js';
import { opTable, Op, immI, immS, immB, opIndex } from '../cpu/decode.js';
import { peekInstruction, peekTranslate, scWouldSucceed } from '../cpu/hooks.js';
import { rvcTable } from '../cpu/rvc.js';
import { BootRom } from '../devices/boot-rom.js';
import type { Bus } from '../machine/bus.js';
import type { BlockEvent, MemoryEvent, MemoryFilter } from './plugin-api.js';

const u64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

/** The first `size` bytes of (lo, hi), unsigned. */
function sized(lo: number, hi: number, size: number): bigint {
  switch (size) {
    case 1:
      return BigInt(lo & 0xff);
    case 2:
      return BigInt(lo & 0xffff);
    case 4:
      return BigInt(lo >>> 0);
    default:
      return u64(lo, hi);
  }
}

/** (aHi, aLo) < (bHi, bLo), unsigned 64-bit. */
function ltU(aHi: number, aLo: number, bHi: number, bLo: number): boolean {
  return aHi >>> 0 < bHi >>> 0 || (aHi === bHi && aLo >>> 0 < bLo >>> 0);
}

const TWO64 = 1n << 64n;
/** Physical addresses are at most 56 bits (a number holds them exactly); ranges are cut there. */
const PHYS_END = 2 ** 56;

/** An onMemory subscription, its range in the forms the checks use. */
export interface MemoryWatch<S> {
  sub: S;
  read: boolean;
  write: boolean;
  physical: boolean;
  /** Virtual: the first and last byte as (hi, lo) words. */
  fromHi: number;
  fromLo: number;
  lastHi: number;
  lastLo: number;
  /** Physical: the first and last byte. */
  fromP: number;
  lastP: number;
}

function address(v: bigint | number, what: string): bigint {
  const a = typeof v === 'number' ? (Number.isSafeInteger(v) ? BigInt(v) : -1n) : v;
  if (typeof a !== 'bigint' || a < 0n || a > TWO64)
    throw new Error(`onMemory: ${what} must be an address (an integer from 0 to 2^64), not ${v}`);
  return a;
}

/** Check an onMemory filter and put it in the form the checks use. */
export function memoryWatch<S>(sub: S, f: MemoryFilter): MemoryWatch<S> {
  if (f === null || typeof f !== 'object')
    throw new Error("onMemory needs a filter: { from, to, kind: 'read' | 'write' | 'both' }");
  const from = address(f.from, 'from');
  const to = address(f.to, 'to');
  if (to <= from) throw new Error(`onMemory: the range [${from}, ${to}) is empty`);
  if (f.kind !== 'read' && f.kind !== 'write' && f.kind !== 'both')
    throw new Error(`onMemory: kind must be 'read', 'write' or 'both', not ${String(f.kind)}`);
  const last = to - 1n;
  const cap = (a: bigint) => (a > BigInt(PHYS_END) ? PHYS_END : Number(a));
  return {
    sub,
    read: f.kind !== 'write',
    write: f.kind !== 'read',
    physical: f.physical === true,
    fromHi: Number(BigInt.asIntN(32, from >> 32n)),
    fromLo: Number(BigInt.asIntN(32, from)),
    lastHi: Number(BigInt.asIntN(32, last >> 32n)),
    lastLo: Number(BigInt.asIntN(32, last)),
    fromP: cap(from),
    lastP: cap(last),
  };
}

/** What the instruction about to run accesses. */
const enum Kind {
  NONE,
  LOAD,
  FLOAD,
  STORE,
  FSTORE,
  LR,
  SC,
  AMO,
}

export class StepObserver<S> {
  /** The next instruction starts a block (the first one does; traps and xRETs set it too). */
  blockNext = true;

  // The instruction about to run, as far as blocks care: a jump, or a branch to fallthrough (ft).
  private jump = false;
  private branch = false;
  /** A branch whose target is its own fallthrough: taken or not, from the registers before it. */
  private takenToFt = false;
  private ftLo = 0;
  private ftHi = 0;

  // Its access, when some subscription wants it.
  private kind = Kind.NONE;
  private readonly matched: MemoryWatch<S>[] = [];
  private icount = 0;
  private pcLo = 0;
  private pcHi = 0;
  private aLo = 0;
  private aHi = 0;
  private pa = 0;
  private size = 0;
  private rd = 0;
  /** What a store will write (its source register now). */
  private sLo = 0;
  private sHi = 0;
  /** What RAM holds at the address now (AMOs, loads into x0). */
  private oLo = 0;
  private oHi = 0;
  private scOk = false;
  private readonly readOther = (pa: number): number | undefined => {
    // Instructions fetched from a device: only the boot ROM reads without side effects.
    const r = this.bus.deviceAt(pa);
    return r && r.dev instanceof BootRom ? r.dev.read(pa - r.base, 2) : undefined;
  };

  constructor(
    private readonly cpu: Cpu,
    private readonly bus: Bus,
    private readonly watches: readonly MemoryWatch<S>[],
    private readonly onBlock: ((e: BlockEvent) => void) | undefined,
    private readonly onMemory: (subs: S[], e: MemoryEvent) => void,
  ) {}

  /** Before an instruction: a block starting here; what it will jump to or access. */
  before(): void {
    const h = this.cpu;
    if (this.blockNext && this.onBlock !== undefined) {
      this.blockNext = false;
      this.onBlock({ icount: h.icount, pc: u64(h.pcLo, h.pcHi) });
    }
    this.kind = Kind.NONE;
    this.jump = this.branch = false;
    const raw = peekInstruction(h, this.readOther);
    if (raw === -1) return; // the fetch faults: a trap, nothing to see
    let insn = raw,
      len = 4;
    if ((raw & 3) !== 3) {
      insn = rvcTable[raw & 0xffff];
      len = 2;
      if (insn === 0) return;
    }
    const op = opTable()[opIndex(insn)] as Op;
    if (op >= Op.JAL && op <= Op.BGEU) {
      if (this.onBlock !== undefined) this.controlTransfer(op, insn, len);
      return;
    }
    if (this.watches.length !== 0 && op >= Op.LOAD) this.access(op, insn);
  }

  /** After it: whether the next instruction starts a block; its access, if it retired. */
  after(retired: boolean): void {
    const h = this.cpu;
    if (this.jump || this.branch) {
      if (retired && (this.jump || h.pcLo !== this.ftLo || h.pcHi !== this.ftHi || this.takenToFt))
        this.blockNext = true;
      this.jump = this.branch = false;
    }
    const kind = this.kind;
    if (kind === Kind.NONE) return;
    this.kind = Kind.NONE;
    if (!retired) return; // it trapped: no access
    const regs = h.regs;
    const rd = this.rd;
    switch (kind) {
      case Kind.LOAD:
      case Kind.LR:
        if (rd !== 0) this.report(false, regs[rd << 1], regs[(rd << 1) | 1]);
        else this.report(false, this.oLo, this.oHi);
        break;
      case Kind.FLOAD: {
        const fr = h.fpu.fr;
        this.report(false, fr[rd << 1], fr[(rd << 1) | 1]);
        break;
      }
      case Kind.STORE:
      case Kind.FSTORE:
        this.report(true, this.sLo, this.sHi);
        break;
      case Kind.SC:
        // rd is 0 when it stored (and x0 reads 0: the reservation, as atomic.ts checks it, says).
        if (rd !== 0 ? regs[rd << 1] === 0 : this.scOk) this.report(true, this.sLo, this.sHi);
        break;
      case Kind.AMO: {
        this.report(false, this.oLo, this.oHi);
        const wi = (this.pa - this.bus.ramBase) >>> 2;
        const r32 = this.bus.ram32;
        this.report(true, r32[wi], this.size === 8 ? r32[wi + 1] : 0);
        break;
      }
    }
  }

  private controlTransfer(op: Op, insn: number, len: number): void {
    const h = this.cpu;
    if (op === Op.JAL || op === Op.JALR) {
      this.jump = true;
      return;
    }
    this.branch = true;
    const pcLo = h.pcLo;
    this.ftLo = (pcLo + len) | 0;
    this.ftHi = this.ftLo >>> 0 < pcLo >>> 0 ? (h.pcHi + 1) | 0 : h.pcHi;
    this.takenToFt = false;
    if (immB(insn) !== len) return;
    // Taken or not, it goes on at the same pc: the condition says whether it was a transfer.
    const regs = h.regs;
    const a = (insn >>> 15) & 31,
      b = (insn >>> 20) & 31;
    const aLo = regs[a << 1],
      aHi = regs[(a << 1) | 1],
      bLo = regs[b << 1],
      bHi = regs[(b << 1) | 1];
    const eq = aLo === bLo && aHi === bHi;
    const lt = aHi < bHi || (aHi === bHi && aLo >>> 0 < bLo >>> 0);
    const ltu = ltU(aHi, aLo, bHi, bLo);
    switch (op) {
      case Op.BEQ:
        this.takenToFt = eq;
        break;
      case Op.BNE:
        this.takenToFt = !eq;
        break;
      case Op.BLT:
        this.takenToFt = lt;
        break;
      case Op.BGE:
        this.takenToFt = !lt;
        break;
      case Op.BLTU:
        this.takenToFt = ltu;
        break;
      default:
        this.takenToFt = !ltu;
    }
  }

  private access(op: Op, insn: number): void {
    const h = this.cpu;
    const f3 = (insn >>> 12) & 7;
    let imm = 0,
      size: number,
      kind: Kind;
    switch (op) {
      case Op.LOAD:
        imm = immI(insn);
        size = 1 << (f3 & 3);
        kind = Kind.LOAD;
        break;
      case Op.FLOAD:
        imm = immI(insn);
        size = f3 === 2 ? 4 : 8;
        kind = Kind.FLOAD;
        break;
      case Op.STORE:
        imm = immS(insn);
        size = 1 << f3;
        kind = Kind.STORE;
        break;
      case Op.FSTORE:
        imm = immS(insn);
        size = f3 === 2 ? 4 : 8;
        kind = Kind.FSTORE;
        break;
      case Op.AMO: {
        // Encodings atomic.ts refuses trap as illegal: no event then.
        size = f3 === 3 ? 8 : 4;
        const f5 = insn >>> 27;
        kind = f5 === 2 ? Kind.LR : f5 === 3 ? Kind.SC : Kind.AMO;
        break;
      }
      default:
        return;
    }
    const regs = h.regs;
    const rs1 = (insn >>> 15) & 31;
    const bLo = regs[rs1 << 1];
    const aLo = (bLo + imm) | 0;
    const aHi = (regs[(rs1 << 1) | 1] + (imm >> 31) + (aLo >>> 0 < bLo >>> 0 ? 1 : 0)) | 0;
    const reads = kind !== Kind.STORE && kind !== Kind.FSTORE && kind !== Kind.SC;
    const writes = kind !== Kind.LOAD && kind !== Kind.FLOAD && kind !== Kind.LR;
    // The last byte (an access past 2^64 - 1 is not canonical: it faults).
    const lastLo = (aLo + size - 1) | 0;
    const lastHi = lastLo >>> 0 < aLo >>> 0 ? (aHi + 1) | 0 : aHi;
    let pa = -2; // not translated yet
    const m = this.matched;
    m.length = 0;
    for (const w of this.watches) {
      if (!((reads && w.read) || (writes && w.write))) continue;
      if (w.physical) {
        if (pa === -2) pa = peekTranslate(h, aLo, aHi, false);
        if (pa < 0 || pa > w.lastP || pa + size - 1 < w.fromP) continue;
      } else if (ltU(w.lastHi, w.lastLo, aHi, aLo) || ltU(lastHi, lastLo, w.fromHi, w.fromLo))
        continue;
      m.push(w);
    }
    if (m.length === 0) return;
    if (pa === -2) pa = peekTranslate(h, aLo, aHi, false);
    if (pa < 0) return; // no mapping: it faults
    this.kind = kind;
    this.icount = h.icount;
    this.pcLo = h.pcLo;
    this.pcHi = h.pcHi;
    this.aLo = aLo;
    this.aHi = aHi;
    this.pa = pa;
    this.size = size;
    const rd = (this.rd = (insn >>> 7) & 31);
    const rs2 = (insn >>> 20) & 31;
    if (kind === Kind.STORE || kind === Kind.SC) {
      this.sLo = regs[rs2 << 1];
      this.sHi = regs[(rs2 << 1) | 1];
    } else if (kind === Kind.FSTORE) {
      this.sLo = h.fpu.fr[rs2 << 1];
      this.sHi = h.fpu.fr[(rs2 << 1) | 1];
    }
    if (kind === Kind.AMO || (rd === 0 && (kind === Kind.LOAD || kind === Kind.LR)))
      this.ramNow(aLo, aHi, pa, size);
    if (kind === Kind.SC) this.scOk = scWouldSucceed(h, pa);
  }

  /** What RAM holds at the access now, into oLo/oHi (0 for a device's registers). */
  private ramNow(aLo: number, aHi: number, pa: number, size: number): void {
    const bus = this.bus;
    const r8 = bus.ram8;
    let lo = 0,
      hi = 0;
    const inPage = 4096 - (aLo & 0xfff);
    for (let i = 0; i < size; i++) {
      let p = pa + i;
      if (i >= inPage) {
        // A misaligned access across a page boundary: the rest is on the next page.
        const nLo = (aLo + inPage) | 0;
        const nHi = nLo >>> 0 < aLo >>> 0 ? (aHi + 1) | 0 : aHi;
        const p2 = peekTranslate(this.cpu, nLo, nHi, false);
        p = p2 < 0 ? -1 : p2 + (i - inPage);
      }
      if (!bus.isRam(p, 1)) {
        lo = hi = 0;
        break;
      }
      const b = r8[p - bus.ramBase];
      if (i < 4) lo |= b << (8 * i);
      else hi |= b << (8 * (i - 4));
    }
    this.oLo = lo;
    this.oHi = hi;
  }

  private report(write: boolean, lo: number, hi: number): void {
    const subs: S[] = [];
    for (const w of this.matched) if (write ? w.write : w.read) subs.push(w.sub);
    if (subs.length === 0) return;
    const e: MemoryEvent = {
      icount: this.icount,
      pc: u64(this.pcLo, this.pcHi),
      vaddr: u64(this.aLo, this.aHi),
      paddr: BigInt(this.pa),
      size: this.size,
      write,
      value: sized(lo, hi, this.size),
    };
    if (!this.bus.isRam(this.pa, 1)) {
      const r = this.bus.deviceAt(this.pa);
      if (r) {
        e.device = r.dev.name;
        e.offset = this.pa - r.base;
      }
    }
    this.onMemory(subs, e);
  }
}
