/**
 * The translator: a region of guest code in one RAM page (scan-region.ts)
 * compiled to a WebAssembly function, with native 64-bit arithmetic. (The
 * code and the counters call a compiled region a block.)
 *
 * What a region holds: integer ALU (RV64I, M except the high multiplies),
 * LUI/AUIPC, loads, stores, AMOs and LR/SC through the TLBs inline (a
 * load or store in the page of an earlier one through the same base
 * register skips the lookup: see Memo), branches and
 * JALs within the page, calls to inlined leaf functions on any page
 * (calleeCheck), sstatus reads and SIE clears. Everything else —
 * other CSR accesses, SYSTEM, FP, MULH*,
 * illegal encodings — and every access that misses a TLB or is misaligned
 * ends the block *before* that instruction, with pc on it: the interpreter
 * executes it, so traps, MMIO, watchpoints and TLB fills are exactly the
 * interpreter's. A block never traps, and it changes nothing the
 * interpreter would not have changed by the same instruction boundary.
 *
 * The function takes the entry pc (as two i32: an i64 parameter would cost
 * a BigInt per call), the data-TLB tag bits with, above them, the basic
 * block to start at (any basic block of the region is an entry: see
 * dispatch.ts), the room (instructions it may retire: it runs a basic
 * block only if it fits), and the count of the regions before it in a
 * chain (ChainTarget; 0 from the block loop); it loads the
 * registers it uses into i64 locals, and on every exit writes back those it
 * writes and the next pc (hart-memory.ts), and returns
 *   retired * 4 | 1 if the interpreter must go next.
 * The LR/SC reservation is in the hart area too (HM_RES): LR sets it, and
 * SC, every store and every AMO end it there, as the interpreter does.
 * Guest RAM is at HART_AREA in the same memory, so a RAM access is one load
 * or store with a constant offset.
 *
 * Instructions are decoded by decode.ts; the differential tests check that
 * the interpreter and blocks agree. A block is position-independent: it
 * takes its virtual pc at entry, so it serves every virtual address that
 * maps its page.
 */
import { Op, type Decoded } from './decode.js';
import {
  endsInReturn,
  isBranch,
  type CodeAt,
  type InlineCall,
  type Region,
} from './scan-region.js';
import { ACC_FETCH, ACC_READ, ACC_WRITE, TLB_OFF, TLB_SALT_MUL } from './hart-constants.js';
import {
  HART_AREA,
  HM_CHAINS,
  HM_FETCH_TAG,
  HM_MIE,
  HM_MIP,
  HM_MSTATUS,
  HM_PC,
  HM_RES,
  HM_X,
  NO_RESERVATION,
  tlbOffset,
  TLB_WAY2,
} from './hart-memory.js';
import { MSTATUS_FS, MSTATUS_SIE, SSTATUS_MASK } from './csr-numbers.js';
import { TLB_MASK } from './mmu.js';
import { FP_LOCALS, writeFp, writeFpLoadStore } from './translate-fp.js';
import { ModuleWriter, T_I32, T_I64, T_VOID, W, wasmModule, type Bytes } from './wasm-writer.js';

/** The bit of a block's result besides the count (count = result >>> 2). */
export const EXIT_INTERPRET = 1;

// Locals: params 0 pcLo, 1 pcHi, 2 dTag, 3 room (instructions the block may retire), 4 carry;
// then these.
// V8's baseline compiler (Liftoff) spends time on every local a function declares, used or
// not (at entry and at every branch's merge): 100 more i64s made a boot's modules take
// 1.3-1.5 times as long to compile. So a region declares the FP locals only if it has FP
// instructions, and one i64 for each guest register it uses (BlockWriter.reg), after the rest.
const DTAG = 2;
const ROOM = 3;
const CARRY = 4; // retired * 4 by the regions before this one in a chain (ChainTarget), 0 from the loop
const PC = 5; // i64: the virtual address of the region's page
const A = 6; // i64 scratch
const B = 7; // i64 scratch
const PC_OUT = 8; // i64: the next pc at an exit
const TAG64 = 9; // i64: DTAG, to OR into a page's address for the TLB compare
const L = 10; // i32: low word of an address
const V = 11; // i32: scratch
const I = 12; // i32: byte offset of the TLB record (index * 16)
const RET = 13; // i32: the result at an exit
const N4 = 14; // i32: instructions retired before the current basic block, * 4
const S = 15; // i32: the basic block to run next (br_table index)
const ROOM4 = 16; // i32: room * 4
const MEMO = 17; // i32 × MEMOS: RAM offsets of earlier accesses in the basic block (see access)
const MEMOS = 4;
const SALT = MEMO + MEMOS; // i32: the data TLB's slot salt (tlbSalt) * 16, from DTAG
const SITE = SALT + 1; // i32: an exit's pc offset and result (see exitAt)
const CHAIN = SITE + 1; // i32: at an exit, the chain to take (1 + its number; 0: none)
const FP = CHAIN + 1; // the FP instructions' locals (translate-fp.ts), in a region that has any
const LOCALS: [number, number][] = [
  [5, T_I64],
  [10 + MEMOS, T_I32],
];
const FP_COUNT = FP_LOCALS.reduce((n, [k]) => n + k, 0);

/**
 * An access earlier in the current basic block: a later one through the same
 * base register, not written since, with the same kind of access, reuses
 * its TLB lookup when it falls in the same page (a hash round loads its
 * words through one pointer: md5 does 8 loads through 2 registers a turn).
 * Nothing between two instructions of a basic block can change a TLB entry:
 * fills, flushes, privilege and satp changes all happen in the interpreter,
 * outside blocks. So the interpreter would have hit the same entry.
 */
interface Memo {
  reg: number;
  imm: number;
  acc: number;
  /** The access's size: its address is aligned to it. */
  size: number;
  /** The local that holds its RAM offset. */
  local: number;
}

/** Whether this host lets us compile WebAssembly at run time (a page's CSP may forbid it). */
export const canCompile: boolean = (() => {
  try {
    const bytes = wasmModule([], [], []);
    return typeof WebAssembly !== 'undefined' && WebAssembly.validate(bytes);
  } catch {
    return false;
  }
})();

/**
 * Whether this host's WebAssembly has tail calls (return_call: in V8 since
 * 11.2, Node 20, Chrome 112; Firefox 121, Safari 18.2). Without them,
 * regions do not chain (ChainTarget): every exit goes back to the block loop.
 */
export const canTailCall: boolean = (() => {
  try {
    const body = new Uint8Array([W.return_call, 0]);
    return canCompile && WebAssembly.validate(wasmModule([], [], [{ locals: [], body }]));
  } catch {
    return false;
  }
})();

/** Registers an instruction reads, as a bit mask (x0 never counts). */
function readMask(x: Decoded): number {
  switch (x.op) {
    case Op.LUI:
    case Op.AUIPC:
    case Op.JAL:
    case Op.FENCE:
    case Op.CSRRCI:
      return 0;
    case Op.JALR:
    case Op.LOAD:
    case Op.FLOAD: // the FP registers are not in locals (HM_F)
    case Op.FSTORE:
    case Op.CSRRS:
    case Op.ADDI:
    case Op.SLTI:
    case Op.SLTIU:
    case Op.XORI:
    case Op.ORI:
    case Op.ANDI:
    case Op.SLLI:
    case Op.SRLI:
    case Op.SRAI:
    case Op.ADDIW:
    case Op.SLLIW:
    case Op.SRLIW:
    case Op.SRAIW:
      return (1 << x.rs1) & ~1;
    default:
      return ((1 << x.rs1) | (1 << x.rs2)) & ~1;
  }
}

/** Registers an instruction writes, as a bit mask. */
function writeMask(x: Decoded): number {
  if (x.op === Op.STORE || x.op === Op.FENCE || isBranch(x)) return 0;
  if (x.op === Op.FLOAD || x.op === Op.FSTORE) return 0; // rd is an FP register (HM_F)
  return (1 << x.rd) & ~1;
}

const BRANCH_CMP: Partial<Record<Op, W>> = {
  [Op.BEQ]: W.i64_eq,
  [Op.BNE]: W.i64_ne,
  [Op.BLT]: W.i64_lt_s,
  [Op.BGE]: W.i64_ge_s,
  [Op.BLTU]: W.i64_lt_u,
  [Op.BGEU]: W.i64_ge_u,
};

const ALU_IMM: Partial<Record<Op, W>> = {
  [Op.ADDI]: W.i64_add,
  [Op.XORI]: W.i64_xor,
  [Op.ORI]: W.i64_or,
  [Op.ANDI]: W.i64_and,
  [Op.SLLI]: W.i64_shl,
  [Op.SRLI]: W.i64_shr_u,
  [Op.SRAI]: W.i64_shr_s,
};

const ALU_REG: Partial<Record<Op, W>> = {
  [Op.ADD]: W.i64_add,
  [Op.SUB]: W.i64_sub,
  [Op.XOR]: W.i64_xor,
  [Op.OR]: W.i64_or,
  [Op.AND]: W.i64_and,
  [Op.SLL]: W.i64_shl,
  [Op.SRL]: W.i64_shr_u,
  [Op.SRA]: W.i64_shr_s,
  [Op.MUL]: W.i64_mul,
};

const ALU_IMM_W: Partial<Record<Op, W>> = {
  [Op.ADDIW]: W.i32_add,
  [Op.SLLIW]: W.i32_shl,
  [Op.SRLIW]: W.i32_shr_u,
  [Op.SRAIW]: W.i32_shr_s,
};

const ALU_REG_W: Partial<Record<Op, W>> = {
  [Op.ADDW]: W.i32_add,
  [Op.SUBW]: W.i32_sub,
  [Op.SLLW]: W.i32_shl,
  [Op.SRLW]: W.i32_shr_u,
  [Op.SRAW]: W.i32_shr_s,
  [Op.MULW]: W.i32_mul,
};

/**
 * An exitAt site packs the exit's pc offset from the entry above its result
 * (below 4,096: a basic block has far fewer than 1,023 instructions) in an
 * i32, so offsets up to ±512 KiB: the page, and branches out of it.
 */
const SITE_SHIFT = 12;
const SITE_D = 1 << SITE_SHIFT;
const SITE_D_MAX = 1 << (31 - SITE_SHIFT);

/** AMO funct5 values (unpriv spec 13.4): SWAP, the MIN/MAX family, and those that are one i64 op. */
const AMO_SWAP = 1;
const AMO_LR = 2;
const AMO_SC = 3;
const AMO_MIN = 16;
const AMO_MAX = 20;
const AMO_MINU = 24;
const AMO_ALU: Partial<Record<number, W>> = {
  0: W.i64_add,
  4: W.i64_xor,
  8: W.i64_or,
  12: W.i64_and,
};

/** Load opcode and log2 size by funct3 (LB LH LW LD LBU LHU LWU). */
const LOADS: [W, number][] = [
  [W.i64_load8_s, 0],
  [W.i64_load16_s, 1],
  [W.i64_load32_s, 2],
  [W.i64_load, 3],
  [W.i64_load8_u, 0],
  [W.i64_load16_u, 1],
  [W.i64_load32_u, 2],
];
const STORES: W[] = [W.i64_store8, W.i64_store16, W.i64_store32, W.i64_store];

/** Emits one region's function body into a module being written. */
export class BlockWriter {
  /** Depth of the exit label from the current basic block's code, outside any `if`. */
  base = 0;
  /** Ifs and blocks open around the current point. */
  private ifs = 0;
  /** 1 inside the `loop` around a basic block that branches to itself (see loopBack). */
  inLoop = 0;

  /** The depth of a label `d` levels out from the current basic block's code, from here. */
  private depth(d: number): number {
    return d + this.ifs + this.inLoop;
  }

  /**
   * Accesses earlier in this basic block that later ones may reuse (see
   * Memo): one for each MEMO local, reg 0 when there is none.
   */
  private readonly memo: Memo[] = Array.from({ length: MEMOS }, (_, k) => ({
    reg: 0,
    imm: 0,
    acc: 0,
    size: 0,
    local: MEMO + k,
  }));
  private memoNext = 0;

  /** The local of each guest register the region uses (x1..x31; see LOCALS). */
  readonly reg = new Uint8Array(32);

  constructor(readonly b: Bytes) {}

  /**
   * In this basic block: mstatus.FS was found not Off (FP instructions may
   * run), and set to Dirty (one changed FP state). Only FP instructions
   * change FS within a block (sstatus accesses touch SIE only), so each
   * holds to the basic block's end.
   */
  private fpOn = false;
  private fpDirty = false;

  /** Loads and stores look in the TLBs' second ways too (Region.secondWay). */
  secondWay = false;

  /** The chains this region's exits take (writeChains), in the order of their numbers. */
  readonly chains: ChainTarget[] = [];
  /** The module's chain targets by RAM offset, this region's page's RAM offset, where code is. */
  private targets: Map<number, ChainTarget> | undefined;
  private pageRam = 0;
  private codeAt: CodeAt | undefined;

  /**
   * The number (from 1) of the chain an exit to the pc entry + d takes: a
   * region of this module starts a basic block there, on this page or, where
   * `codeAt` finds the pc now, another one (the chain checks the fetch TLB
   * there first: writeChains). 0: none.
   */
  chainTo(d: number): number {
    const p = this.origin + d;
    if (this.targets === undefined || p < -SITE_D_MAX || p >= SITE_D_MAX) return 0;
    const ram = p >= 0 && p < 4096 ? this.pageRam + p : (this.codeAt?.(d) ?? -1);
    const t = ram < 0 ? undefined : this.targets.get(ram);
    if (t === undefined) return 0;
    const c = this.chains.indexOf(t);
    return c >= 0 ? c + 1 : this.chains.push(t);
  }

  /** Whether the chain to `t` leaves this region's page. */
  away(t: ChainTarget): boolean {
    return t.page !== this.pageRam >>> 12;
  }

  /**
   * Push whether the fetch TLB does not map the virtual address (i64) on
   * the stack to RAM page `page` now, for this privilege and address space.
   */
  fetchMisses(page: number): void {
    const b = this.b;
    const fetchTlb = tlbOffset(ACC_FETCH);
    b.tee(A).op(W.i32_wrap_i64);
    b.i32(8)
      .op(W.i32_shr_u)
      .i32(0)
      .mem(W.i32_load, 2, HM_FETCH_TAG)
      .tee(V)
      .i32(TLB_SALT_MUL << 4)
      .op(W.i32_mul)
      .op(W.i32_xor)
      .i32(TLB_MASK << 4)
      .op(W.i32_and)
      .tee(I);
    b.mem(W.i64_load, 3, fetchTlb);
    b.get(A).i64(-4096).op(W.i64_and).get(V).op(W.i64_extend_i32_u).op(W.i64_or).op(W.i64_ne);
    b.get(I)
      .mem(W.i32_load, 2, fetchTlb + 4 * TLB_OFF)
      .i32(page * 4096)
      .op(W.i32_ne)
      .op(W.i32_or);
  }

  /** Ready for a new region's function (a writer is reused: a boot writes thousands). */
  reset(origin: number, targets?: Map<number, ChainTarget>, pageRam = 0, codeAt?: CodeAt): void {
    this.targets = targets;
    this.pageRam = pageRam;
    this.codeAt = codeAt;
    this.chains.length = 0;
    this.base = 0;
    this.ifs = 0;
    this.inLoop = 0;
    this.memoNext = 0;
    this.origin = origin;
    this.reg.fill(0);
    this.startBasicBlock();
  }

  /** A new basic block: it may be entered from elsewhere, so nothing earlier is known. */
  startBasicBlock(): void {
    for (const m of this.memo) m.reg = 0;
    this.fpOn = false;
    this.fpDirty = false;
  }

  /** Before an FP instruction (i-th, at d): leave for the interpreter if mstatus.FS is Off (it is illegal then). */
  fpEnter(i: number, d: number): void {
    if (this.fpOn) return;
    this.b.i32(0).mem(W.i32_load, 2, HM_MSTATUS).i32(MSTATUS_FS).op(W.i32_and).op(W.i32_eqz);
    this.if_();
    this.exitBefore(i, d);
    this.end();
    this.fpOn = true;
  }

  /** After an FP instruction that changed FP state: FS is Dirty (as the interpreter sets it). */
  fpWrote(): void {
    if (this.fpDirty) return;
    const b = this.b;
    b.i32(0).i32(0).mem(W.i32_load, 2, HM_MSTATUS).i32(MSTATUS_FS).op(W.i32_or);
    b.mem(W.i32_store, 2, HM_MSTATUS);
    this.fpDirty = true;
  }

  /** After an instruction: accesses through the registers it wrote are no guide any more. */
  wrote(mask: number): void {
    if (mask === 0) return;
    for (const m of this.memo) if (((mask >>> m.reg) & 1) !== 0) m.reg = 0;
  }

  get(r: number): void {
    if (r === 0) this.b.i64(0);
    else this.b.get(this.reg[r]);
  }

  /** Pop the value into rd (dropped for x0). */
  put(rd: number): void {
    if (rd === 0) this.b.op(W.drop);
    else this.b.set(this.reg[rd]);
  }

  /** The region's entry's offset in its page: offsets from the entry (`at`) plus this are from the page. */
  origin = 0;

  /** Push the pc of entry + c. */
  pcPlus(c: number): void {
    this.b
      .get(PC)
      .i64(this.origin + c)
      .op(W.i64_add);
  }

  /**
   * Leave with the i64 on the stack as the next pc and, as the result,
   * `ret` plus the count of the basic blocks run before this one.
   */
  exitWith(ret: number): void {
    this.b
      .set(PC_OUT)
      .get(N4)
      .i32(ret)
      .op(W.i32_add)
      .set(RET)
      .byte(W.br)
      .u32(this.depth(this.base + 1));
  }

  /**
   * Leave for the pc entry + d with the result `ret` plus the count of the
   * basic blocks run before this one, through the code at the region's end
   * that all such exits share: one constant and a branch here (a region
   * has an exit at every load and store).
   */
  exitAt(d: number, ret: number): void {
    const p = this.origin + d;
    if (p < -SITE_D_MAX || p >= SITE_D_MAX || ret >= SITE_D) {
      // A JAL's target far outside the page: the long way.
      this.pcPlus(d);
      this.exitWith(ret);
      return;
    }
    this.b
      .i32(p * SITE_D + ret)
      .set(SITE)
      .byte(W.br)
      .u32(this.depth(this.base));
  }

  /**
   * Go on at basic block j, `skip` blocks after the current one (j = k +
   * skip + 1): a branch to the end of j's `block`, which is open around the
   * current block's code. A direct jump, where goTo's dispatch is an
   * indirect one, which mispredicts more the more blocks a region has.
   */
  goForward(skip: number): void {
    this.b.byte(W.br).u32(this.depth(skip));
  }

  /** Go back to the start of the current basic block, through the `loop` around it: a direct jump too. */
  loopBack(): void {
    this.b.byte(W.br).u32(this.ifs);
  }

  /** Go on at basic block `k` of the region (through the dispatch at the loop's top). */
  goTo(k: number): void {
    this.b
      .i32(k)
      .set(S)
      .byte(W.br)
      .u32(this.depth(this.base - 1));
  }

  /** Whether no `if` is open (code here may fall through to the next basic block). */
  get straight(): boolean {
    return this.ifs === 0;
  }

  /** Open a `block` (a label to branch past the code up to its end). */
  open(): void {
    this.b.byte(W.block).byte(T_VOID);
    this.ifs++;
  }

  /** Open an `if` on the i32 on the stack. */
  if_(): void {
    this.b.byte(W.if_).byte(T_VOID);
    this.ifs++;
  }

  end(): void {
    this.b.op(W.end);
    this.ifs--;
  }

  /** Leave before instruction i at byte d: the interpreter does it. */
  exitBefore(i: number, d: number): void {
    this.exitAt(d, i * 4 + EXIT_INTERPRET);
  }

  /**
   * Push whether the TLB record at I does not hold the page of the address
   * in A for this run's tag bits, or the address (L its low word) is not
   * `size`-aligned. The page with the tag bits is computed ('keep': and kept
   * in B, which is free during a lookup) or taken from B ('kept').
   */
  private tagMisses(acc: number, size: number, page: 'compute' | 'keep' | 'kept'): void {
    const b = this.b;
    b.get(I).mem(W.i64_load, 3, tlbOffset(acc));
    if (page === 'kept') b.get(B);
    else {
      b.get(A).i64(-4096).op(W.i64_and).get(TAG64).op(W.i64_or);
      if (page === 'keep') b.tee(B);
    }
    b.op(W.i64_ne);
    if (size > 1) {
      b.get(L);
      this.orMisaligned(size);
    }
  }

  /** OR into the exit condition under it whether the address on top is not `size`-aligned. */
  private orMisaligned(size: number): void {
    this.b
      .i32(size - 1)
      .op(W.i32_and)
      .op(W.i32_or);
  }

  /**
   * Push the RAM offset of the access at rs1 + imm; branch out to the
   * interpreter before it on a TLB miss or misalignment. With `memo`
   * (loads and stores), an earlier access through rs1 in this basic block
   * stands in for the TLB lookup when this one is in the same page.
   */
  access(x: Decoded, i: number, d: number, acc: number, size: number, memo = false): void {
    const b = this.b;
    const reg = x.rs1;
    let m: Memo | undefined;
    if (memo && reg !== 0)
      for (const e of this.memo)
        if (e.reg === reg && e.acc === acc) {
          m = e;
          break;
        }
    if (m !== undefined) {
      const delta = x.imm - m.imm;
      // Same page: the earlier access's page offset plus the difference stays within it (so
      // the upper bits of the address are the same too); a negative sum is huge unsigned.
      b.get(m.local).i32(4095).op(W.i32_and).i32(delta).op(W.i32_add);
      b.i32(4096 - size).op(W.i32_gt_u);
      // Aligned for sure when the earlier access was at least as aligned and the difference keeps it.
      if (size > 1 && !(m.size >= size && delta % size === 0)) {
        b.get(m.local).i32(delta).op(W.i32_add);
        this.orMisaligned(size);
      }
      this.if_();
      this.exitBefore(i, d);
      this.end();
      b.get(m.local).i32(delta).op(W.i32_add);
      return;
    }
    this.get(reg);
    if (x.imm !== 0) b.i64(x.imm).op(W.i64_add);
    b.tee(A).op(W.i32_wrap_i64).tee(L);
    // The record's offset, ((VPN ^ salt) & TLB_MASK) * 16: the address's bits 8-11 are masked off.
    b.i32(8)
      .op(W.i32_shr_u)
      .get(SALT)
      .op(W.i32_xor)
      .i32(TLB_MASK << 4)
      .op(W.i32_and)
      .set(I);
    // Its tag (both words) against the page's address with the tag bits (hart-constants.ts).
    // In a region that looks in the second ways too (Region.secondWay), a miss looks again in
    // the slot's second way (mmu.ts secondWay), TLB_WAY2 bytes on, where I then points.
    if (this.secondWay) {
      this.open();
      this.tagMisses(acc, size, 'keep');
      b.op(W.i32_eqz).byte(W.br_if).u32(0);
      b.get(I).i32(TLB_WAY2).op(W.i32_add).set(I);
      this.tagMisses(acc, size, 'kept');
    } else this.tagMisses(acc, size, 'compute');
    this.if_();
    this.exitBefore(i, d);
    this.end();
    if (this.secondWay) this.end();
    // RAM offset of the access: the TLB's page offset plus the page offset of the address.
    b.get(I).mem(W.i32_load, 2, tlbOffset(acc) + 4 * TLB_OFF);
    b.get(L).i32(4095).op(W.i32_and).op(W.i32_add);
    if (memo && reg !== 0) {
      // Kept for later accesses through rs1 (the oldest kept one makes room).
      const k = this.memoNext++ % MEMOS;
      for (const e of this.memo) if (e.reg === reg && e.acc === acc) e.reg = 0;
      const e = this.memo[k];
      e.reg = reg;
      e.imm = x.imm;
      e.acc = acc;
      e.size = size;
      b.tee(e.local);
    }
  }

  /**
   * Before the JAL at index i (at d) of an inlined call to another page:
   * leave there, for the interpreter, unless the fetch TLB maps the
   * callee's address (at `callee` from the entry) to the RAM page it was
   * compiled from, for this run's privilege and address space, as the
   * block loop checks a block's own page.
   */
  calleeCheck(call: InlineCall, i: number, d: number, callee: number): void {
    this.pcPlus(callee);
    this.fetchMisses(call.page);
    this.if_();
    this.exitBefore(i, d);
    this.end();
  }

  /** End the LR/SC reservation (every store, AMO and SC does: Cpu.resAddr). */
  endReservation(): void {
    this.b.i32(0).i32(NO_RESERVATION).mem(W.i32_store, 2, HM_RES);
  }

  /**
   * An AMO, LR or SC through the TLBs, as atomic.ts does it. A write-TLB
   * hit means what the interpreter checks too: the page is RAM, writable
   * (so readable), not watched, not a page table, already dirty, and holds
   * no blocks (mmu.ts tlbInsert); a read-TLB hit (LR) that the page is RAM,
   * readable and not watched.
   */
  amo(x: Decoded, i: number, d: number): void {
    const b = this.b;
    const f5 = x.insn >>> 27;
    const wide = x.f3 === 3;
    if (f5 === AMO_LR) {
      // The reservation is the RAM offset of the address (its low word: blocks run on RAM below 4 GiB).
      this.access(x, i, d, ACC_READ, wide ? 8 : 4);
      b.tee(L)
        .mem(wide ? W.i64_load : W.i64_load32_s, wide ? 3 : 2, HART_AREA)
        .set(A);
      b.i32(0).get(L).mem(W.i32_store, 2, HM_RES);
      b.get(A);
      this.put(x.rd);
      return;
    }
    if (f5 === AMO_SC) {
      // It stores only while the reservation holds this address; rd = 0 if it stored, 1 if not.
      this.access(x, i, d, ACC_WRITE, wide ? 8 : 4);
      b.tee(L).i32(0).mem(W.i32_load, 2, HM_RES).op(W.i32_eq).tee(V);
      this.if_();
      b.get(L);
      this.get(x.rs2);
      b.mem(wide ? W.i64_store : W.i64_store32, wide ? 3 : 2, HART_AREA);
      this.end();
      this.endReservation();
      b.get(V).i32(1).op(W.i32_xor).op(W.i64_extend_i32_u);
      this.put(x.rd);
      return;
    }
    this.access(x, i, d, ACC_WRITE, wide ? 8 : 4);
    b.set(L); // the RAM offset
    b.get(L)
      .mem(wide ? W.i64_load : W.i64_load32_s, wide ? 3 : 2, HART_AREA)
      .set(A);
    this.get(x.rs2);
    if (!wide) b.op(W.i32_wrap_i64).op(W.i64_extend_i32_s);
    b.set(B);
    b.get(L);
    // The new value; a word's upper half is not stored, and its sign-extended
    // operands compare as 32-bit ones do, signed or not.
    const alu = AMO_ALU[f5];
    if (f5 === AMO_SWAP) b.get(B);
    else if (alu !== undefined) b.get(A).get(B).op(alu);
    else {
      // MIN, MAX, MINU, MAXU: select(old, operand, old < operand) is the minimum.
      const signed = f5 === AMO_MIN || f5 === AMO_MAX;
      const min = f5 === AMO_MIN || f5 === AMO_MINU;
      b.get(min ? A : B).get(min ? B : A);
      b.get(A)
        .get(B)
        .op(signed ? W.i64_lt_s : W.i64_lt_u);
      b.op(W.select);
    }
    b.mem(wide ? W.i64_store : W.i64_store32, wide ? 3 : 2, HART_AREA);
    this.endReservation();
    b.get(A);
    this.put(x.rd);
  }

  /**
   * The sstatus accesses of scan-region.ts sstatusAccess, as csr.ts reads
   * and writes sstatus. U-mode may not: the interpreter raises the
   * exception. (The data tag's privilege is the hart's below M, and M's or
   * less in M: a block may leave to the interpreter an access M-mode could
   * do, never the other way.)
   */
  sstatus(x: Decoded, i: number, d: number): void {
    const b = this.b;
    b.get(DTAG).i32(3).op(W.i32_and).op(W.i32_eqz); // the privilege (hart-constants.ts)
    if (x.op === Op.CSRRS && x.rs1 !== 0) {
      // csrs: only SIE among the writable bits, and no interrupt pending and enabled
      // (the interpreter would look for one after the write).
      this.get(x.rs1);
      b.op(W.i32_wrap_i64)
        .tee(V)
        .i32(SSTATUS_MASK & ~MSTATUS_SIE)
        .op(W.i32_and)
        .op(W.i32_or);
      b.i32(0).mem(W.i32_load, 2, HM_MIP).i32(0).mem(W.i32_load, 2, HM_MIE).op(W.i32_and);
      b.op(W.i32_or);
    }
    this.if_();
    this.exitBefore(i, d);
    this.end();
    b.i32(0).mem(W.i32_load, 2, HM_MSTATUS).set(L);
    if (x.op === Op.CSRRCI && x.rs1 !== 0)
      b.i32(0).get(L).i32(~x.rs1).op(W.i32_and).mem(W.i32_store, 2, HM_MSTATUS);
    if (x.op === Op.CSRRS && x.rs1 !== 0)
      b.i32(0)
        .get(L)
        .get(V)
        .i32(MSTATUS_SIE)
        .op(W.i32_and)
        .op(W.i32_or)
        .mem(W.i32_store, 2, HM_MSTATUS);
    if (x.rd === 0) return;
    // The low word: the sstatus bits; the high word: UXL = 2, and SD when FS is dirty.
    b.get(L).i32(SSTATUS_MASK).op(W.i32_and).op(W.i64_extend_i32_u);
    b.i64(2 * 2 ** 32).op(W.i64_or);
    b.get(L).i32(MSTATUS_FS).op(W.i32_and).i32(MSTATUS_FS).op(W.i32_eq);
    b.op(W.i64_extend_i32_u).i64(63).op(W.i64_shl).op(W.i64_or);
    this.put(x.rd);
  }

  /** Divisions and remainders with RISC-V's results for a zero divisor and overflow (unpriv spec 13.2). */
  divide(x: Decoded): void {
    const b = this.b;
    const wide = x.op === Op.DIV || x.op === Op.DIVU || x.op === Op.REM || x.op === Op.REMU;
    const isDiv = x.op === Op.DIV || x.op === Op.DIVU || x.op === Op.DIVW || x.op === Op.DIVUW;
    const signed = x.op === Op.DIV || x.op === Op.REM || x.op === Op.DIVW || x.op === Op.REMW;
    // A = dividend, B = divisor (as i64; the W forms use their low words)
    this.get(x.rs1);
    b.set(A);
    this.get(x.rs2);
    b.set(B);
    const narrow = () => {
      if (!wide) b.op(W.i32_wrap_i64);
    };
    const T = wide ? T_I64 : T_I32;
    // divisor == 0 ?
    b.get(B);
    narrow();
    b.op(wide ? W.i64_eqz : W.i32_eqz);
    b.byte(W.if_).byte(T);
    if (isDiv) {
      if (wide) b.i64(-1);
      else b.i32(-1);
    } else {
      b.get(A);
      narrow();
    }
    b.op(W.else_);
    if (isDiv && signed) {
      // overflow: MIN / -1 = MIN (wasm would trap)
      b.get(B);
      narrow();
      if (wide) b.i64(-1).op(W.i64_eq);
      else b.i32(-1).op(W.i32_eq);
      b.get(A);
      narrow();
      if (wide) b.i64Min().op(W.i64_eq);
      else b.i32(-0x80000000).op(W.i32_eq);
      b.op(W.i32_and);
      b.byte(W.if_).byte(T);
      b.get(A);
      narrow();
      b.op(W.else_);
    }
    b.get(A);
    narrow();
    b.get(B);
    narrow();
    const op = isDiv
      ? signed
        ? wide
          ? W.i64_div_s
          : W.i32_div_s
        : wide
          ? W.i64_div_u
          : W.i32_div_u
      : signed
        ? wide
          ? W.i64_rem_s
          : W.i32_rem_s
        : wide
          ? W.i64_rem_u
          : W.i32_rem_u;
    b.op(op);
    if (isDiv && signed) b.op(W.end);
    b.op(W.end);
    if (!wide) b.op(W.i64_extend_i32_s);
    this.put(x.rd);
  }

  /**
   * One instruction (i-th of its basic block, at byte d from the entry). A
   * branch leaves its condition on the stack, and a JAL only writes its link.
   */
  insn(x: Decoded, i: number, d: number): void {
    const b = this.b;
    const { rd, rs1, rs2, imm } = x;
    let o: W | undefined;
    switch (x.op) {
      case Op.LUI:
        if (rd !== 0) b.i64(imm).set(this.reg[rd]);
        return;
      case Op.AUIPC:
        if (rd !== 0) {
          this.pcPlus(d + imm);
          this.put(rd);
        }
        return;
      case Op.JAL:
        // The link; where control goes is the region writer's (writeRegion).
        if (rd !== 0) {
          this.pcPlus(d + x.len);
          this.put(rd);
        }
        return;
      case Op.JALR:
        // The target is taken before the link is written (rd may be rs1).
        this.get(rs1);
        b.i64(imm).op(W.i64_add).i64(-2).op(W.i64_and).set(A);
        if (rd !== 0) {
          this.pcPlus(d + x.len);
          this.put(rd);
        }
        b.get(A);
        this.exitWith((i + 1) * 4);
        return;
      case Op.LOAD: {
        const [op, lg] = LOADS[x.f3];
        this.access(x, i, d, ACC_READ, 1 << lg, true);
        if (rd === 0) b.op(W.drop);
        else b.mem(op, lg, HART_AREA).set(this.reg[rd]);
        return;
      }
      case Op.STORE:
        this.access(x, i, d, ACC_WRITE, 1 << x.f3, true);
        this.get(rs2);
        b.mem(STORES[x.f3], x.f3, HART_AREA);
        this.endReservation();
        return;
      case Op.AMO:
        this.amo(x, i, d);
        return;
      case Op.FLOAD:
      case Op.FSTORE:
        writeFpLoadStore(this, x, i, d, FP);
        return;
      case Op.FP:
        writeFp(this, x, i, d, FP);
        return;
      case Op.CSRRS:
      case Op.CSRRCI:
        this.sstatus(x, i, d);
        return;
      case Op.SLTI:
      case Op.SLTIU:
        if (rd === 0) return;
        this.get(rs1);
        b.i64(imm)
          .op(x.op === Op.SLTI ? W.i64_lt_s : W.i64_lt_u)
          .op(W.i64_extend_i32_u);
        this.put(rd);
        return;
      case Op.SLT:
      case Op.SLTU:
        if (rd === 0) return;
        this.get(rs1);
        this.get(rs2);
        b.op(x.op === Op.SLT ? W.i64_lt_s : W.i64_lt_u).op(W.i64_extend_i32_u);
        this.put(rd);
        return;
      case Op.DIV:
      case Op.DIVU:
      case Op.REM:
      case Op.REMU:
      case Op.DIVW:
      case Op.DIVUW:
      case Op.REMW:
      case Op.REMUW:
        if (rd !== 0) this.divide(x);
        return;
      case Op.FENCE:
        // FENCE orders nothing on one in-order hart; FENCE.I has nothing to do
        // because a write to a code page drops its blocks (code-cache.ts).
        return;
    }
    if ((o = BRANCH_CMP[x.op]) !== undefined) {
      // The condition; where control goes is the region writer's (writeRegion).
      this.get(rs1);
      this.get(rs2);
      b.op(o);
      return;
    }
    if (rd === 0) return; // an ALU op to x0 has no effect
    if ((o = ALU_IMM[x.op]) !== undefined) {
      this.get(rs1);
      b.i64(imm).op(o);
    } else if ((o = ALU_REG[x.op]) !== undefined) {
      this.get(rs1);
      this.get(rs2);
      b.op(o);
    } else if ((o = ALU_IMM_W[x.op]) !== undefined) {
      this.get(rs1);
      b.op(W.i32_wrap_i64).i32(imm).op(o).op(W.i64_extend_i32_s);
    } else if ((o = ALU_REG_W[x.op]) !== undefined) {
      this.get(rs1);
      b.op(W.i32_wrap_i64);
      this.get(rs2);
      b.op(W.i32_wrap_i64).op(o).op(W.i64_extend_i32_s);
    } else throw new Error(`translator: no code for op ${x.op}`);
    this.put(rd);
  }
}

/** The writer of every region's function (reset for each: a boot writes thousands). */
let blockWriter: BlockWriter | undefined;

/**
 * Write the function of a region into the module being written:
 *
 *   load the registers used; S = entry
 *   block $exit
 *     block $at
 *       loop $top
 *         block $b(K-1) … block $b0  br_table S  end  code of b0
 *         …  end  code of b(K-1)
 *       end
 *     end
 *     next pc and result from SITE (exitAt)
 *   end
 *   write back the registers written, the next pc; return the result
 *
 * A basic block's edge to a later one branches to the end of that one's
 * `block` (or falls through to the one whose code follows), an edge to an
 * earlier one goes through $top, and a basic block that branches to itself
 * is wrapped in a `loop` of its own; each after adding its count to N4 and
 * checking that the next basic block fits in the room left (QEMU's icount
 * rule, as the block loop checks for the first one). An edge out of the
 * region exits.
 */
export function writeRegion(
  m: ModuleWriter,
  r: Region,
  targets?: Map<number, ChainTarget>,
  off = 0,
  codeAt?: CodeAt,
): void {
  let reads = 0,
    writes = 0,
    fp = false;
  for (const bb of r.blocks)
    for (const x of bb.insns) {
      reads |= readMask(x);
      writes |= writeMask(x);
      if (x.op === Op.FLOAD || x.op === Op.FSTORE || x.op === Op.FP) fp = true;
    }
  const used = reads | writes;
  const b = m.b;
  if (blockWriter?.b !== b) blockWriter = new BlockWriter(b);
  const w = blockWriter;
  w.reset(r.entryPo, targets, off - r.entryPo, codeAt);
  w.secondWay = r.secondWay === true;
  let next = FP + (fp ? FP_COUNT : 0);
  const first = next;
  for (let x = 1; x < 32; x++) if (((used >>> x) & 1) !== 0) w.reg[x] = next++;
  const regs: [number, number] = [next - first, T_I64];
  m.beginFunction(fp ? [...LOCALS, ...FP_LOCALS, regs] : [...LOCALS, regs]);
  // PC = the page's address, pcHi:pcLo without the offset (the entry may be any basic block)
  b.get(0).i32(-4096).op(W.i32_and).op(W.i64_extend_i32_u);
  b.get(1).op(W.i64_extend_i32_u).i64(32).op(W.i64_shl);
  b.op(W.i64_or).set(PC);
  // A region entered by a chain counts on from the regions before it.
  b.get(CARRY).set(N4);
  // The basic block to start at is above the tag bits.
  const K = r.blocks.length;
  if (K > 1) b.get(DTAG).i32(BB_SHIFT).op(W.i32_shr_u).set(S);
  b.get(DTAG)
    .i32((1 << BB_SHIFT) - 1)
    .op(W.i32_and)
    .set(DTAG);
  b.get(DTAG)
    .i32(TLB_SALT_MUL << 4)
    .op(W.i32_mul)
    .set(SALT);
  b.get(DTAG).op(W.i64_extend_i32_u).set(TAG64);
  // Every register used is loaded: one written only part of the way is written back whole.
  for (let x = 1; x < 32; x++) {
    if (((used >>> x) & 1) === 0) continue;
    b.i32(0)
      .mem(W.i64_load, 3, HM_X + 8 * x)
      .set(w.reg[x]);
  }
  b.get(ROOM).i32(2).op(W.i32_shl).set(ROOM4);
  b.byte(W.block).byte(T_VOID); // $exit
  b.byte(W.block).byte(T_VOID); // $at
  b.byte(W.loop).byte(T_VOID); // $top
  if (K > 1) {
    for (let k = 0; k < K; k++) b.byte(W.block).byte(T_VOID);
    b.get(S).byte(W.br_table).u32(K);
    for (let k = 0; k < K; k++) b.u32(k);
    b.u32(K - 1);
  }
  for (let k = 0; k < K; k++) {
    if (K > 1) b.op(W.end); // of $bk: its code follows
    w.base = K - k;
    // A basic block that branches to itself (a copy or a hash loop) is a wasm loop of its own.
    const self = r.blocks[k].taken === k;
    if (self) {
      b.byte(W.loop).byte(T_VOID);
      w.inLoop = 1;
    }
    writeBasicBlock(w, r, k);
    if (self) {
      b.op(W.end);
      w.inLoop = 0;
    }
  }
  b.op(W.end); // $top
  b.op(W.end); // $at
  b.get(PC)
    .get(SITE)
    .i32(SITE_SHIFT)
    .op(W.i32_shr_s)
    .op(W.i64_extend_i32_s)
    .op(W.i64_add)
    .set(PC_OUT);
  b.get(N4)
    .get(SITE)
    .i32(SITE_D - 1)
    .op(W.i32_and)
    .op(W.i32_add)
    .set(RET);
  b.op(W.end); // $exit
  for (let x = 1; x < 32; x++) {
    if (((writes >>> x) & 1) === 0) continue;
    b.i32(0)
      .get(w.reg[x])
      .mem(W.i64_store, 3, HM_X + 8 * x);
  }
  b.i32(0).get(PC_OUT).mem(W.i64_store, 3, HM_PC);
  if (w.chains.length !== 0) writeChains(w);
  b.get(RET);
  m.endFunction();
}

/**
 * The end of a region with chains: CHAIN = c (1..n) goes on in the c-th
 * chain's region by a tail call, with the next pc, the basic block there,
 * the same room and the count so far; 0 returns.
 *
 *   block $ret  block $c(n) … block $c1  br_table CHAIN  end  call 1  …  end  call n  end
 */
function writeChains(w: BlockWriter): void {
  const b = w.b;
  const n = w.chains.length;
  for (let c = 0; c <= n; c++) b.byte(W.block).byte(T_VOID);
  b.get(CHAIN)
    .byte(W.br_table)
    .u32(n + 1)
    .u32(n);
  for (let c = 1; c <= n; c++) b.u32(c - 1);
  b.u32(n);
  for (const t of w.chains) {
    b.op(W.end);
    // Only if its first basic block fits in the room (as the block loop checks) and, on
    // another page, the fetch TLB maps the pc there now; otherwise back to the loop.
    b.get(RET)
      .i32(t.len * 4)
      .op(W.i32_add)
      .get(ROOM4)
      .op(W.i32_gt_u);
    if (w.away(t)) {
      b.get(PC_OUT);
      w.fetchMisses(t.page);
      b.op(W.i32_or);
    }
    b.byte(W.if_).byte(T_VOID).get(RET).op(W.return_).op(W.end);
    b.i32(0)
      .i32(0)
      .mem(W.i32_load, 2, HM_CHAINS)
      .i32(1)
      .op(W.i32_add)
      .mem(W.i32_store, 2, HM_CHAINS);
    b.get(PC_OUT).op(W.i32_wrap_i64);
    b.get(PC_OUT).i64(32).op(W.i64_shr_u).op(W.i32_wrap_i64);
    b.get(DTAG)
      .i32(t.bb << BB_SHIFT)
      .op(W.i32_or);
    b.get(ROOM).get(RET);
    b.byte(W.return_call).u32(t.fn);
  }
  b.op(W.end); // $ret
}

/** The code of basic block k of region r; every path through it ends in a branch. */
function writeBasicBlock(w: BlockWriter, r: Region, k: number): void {
  const bb = r.blocks[k];
  const n = bb.insns.length;
  const last = bb.insns[n - 1];
  w.startBasicBlock();
  const calls = bb.calls;
  let c = 0;
  for (let i = 0; i < n; i++) {
    const call = calls?.[c];
    if (call !== undefined) {
      // An inlined callee's return (see InlineCall): it retires, and the block goes on.
      if (i === call.i + call.n) {
        c++;
        continue;
      }
      if (i === call.i && call.away) w.calleeCheck(call, i, bb.at[i], bb.at[i + 1]);
    }
    w.insn(bb.insns[i], i, bb.at[i]);
    w.wrote(writeMask(bb.insns[i]));
  }
  const d = bb.at[n - 1];
  if (endsInReturn(bb)) edge(w, r, k, bb.next, bb.nextStops, bb.at[n], n);
  else if (isBranch(last)) {
    w.if_(); // on the condition insn() left
    edge(w, r, k, bb.taken, bb.takenStops, d + last.imm, n);
    w.end();
    edge(w, r, k, bb.next, bb.nextStops, bb.at[n], n);
  } else if (last.op === Op.JAL) edge(w, r, k, bb.taken, bb.takenStops, d + last.imm, n);
  else if (last.op !== Op.JALR) edge(w, r, k, bb.next, bb.nextStops, bb.at[n], n);
}

/**
 * Control leaves basic block k after `count` instructions for block j of
 * the region, or (j = -1) for the pc entry + d, out of the region.
 */
function edge(
  w: BlockWriter,
  r: Region,
  k: number,
  j: number,
  stops: boolean,
  d: number,
  count: number,
): void {
  const b = w.b;
  if (j < 0) {
    // To a basic block of a region of this module: the exit takes the chain (writeChains).
    const chain = stops ? 0 : w.chainTo(d);
    if (chain !== 0) b.i32(chain).set(CHAIN);
    w.exitAt(d, count * 4 + (stops ? EXIT_INTERPRET : 0));
    return;
  }
  b.get(N4)
    .i32(count * 4)
    .op(W.i32_add)
    .tee(N4);
  // Block j must fit in the room left; if not, leave at its start (the dispatcher interprets the rest).
  b.i32(r.blocks[j].insns.length * 4)
    .op(W.i32_add)
    .get(ROOM4)
    .op(W.i32_gt_u);
  w.if_();
  w.exitAt(r.blocks[j].at[0], 0);
  w.end();
  if (j > k) {
    if (j !== k + 1 || !w.straight) w.goForward(j - k - 1);
  } else if (j === k && w.inLoop !== 0) w.loopBack();
  else w.goTo(j);
}

/**
 * A compiled region: (pcLo, pcHi, dataTag | basic block << BB_SHIFT, room, carry) -> retired * 4
 * | EXIT_* bits, carry (retired * 4 before it in a chain) included.
 */
export type BlockFn = (
  pcLo: number,
  pcHi: number,
  dTag: number,
  room: number,
  carry?: number,
) => number;
/** Where the basic block to start at is in a block function's third argument (above the tag bits). */
export const BB_SHIFT = 16;

/** The parameter and result types of block functions. */
export const BLOCK_PARAMS = [T_I32, T_I32, T_I32, T_I32, T_I32];
/** The room a block function may be given at most (its result counts instructions * 4 in an i32). */
export const MAX_ROOM = 1 << 28;
export const BLOCK_RESULTS = [T_I32];

const writer = new ModuleWriter();

/**
 * A basic block of a region in the module being written, where an exit of
 * another region of the module may go on by a tail call (`return_call`)
 * instead of returning to the block loop: function `fn`, basic block `bb`
 * of `len` instructions, in a region on RAM page `page`.
 *
 * Chains: a region's exit by a branch or jump to a pc where such a basic
 * block starts goes there at once if the block fits in the room left,
 * after writing back its registers and the pc as any exit does; the next
 * region counts on from the instructions so far (its `carry` argument)
 * against the same room, so the count and the budget are as the loop would
 * have them. A trace stops where it reaches another region of its batch
 * (scan-region.ts), so such exits are common. On the region's own page
 * the fetch TLB maps the target as it did at the first region's entry
 * (nothing that changes the TLB runs in a block); on another page the
 * chain checks the fetch TLB first, as the loop would (fetchMisses).
 * A region is listed under the pages of every region it can chain to
 * (closePages), so none runs stale code. A loop turn costs about 10 ns,
 * the lookups and an indirect call; a chain is one direct call.
 */
export interface ChainTarget {
  fn: number;
  bb: number;
  len: number;
  /** The RAM page of its region. */
  page: number;
}

/** The basic blocks of `regions` (entered at RAM offsets `offs`) by RAM offset: the first region's where two start one. */
function chainTargets(regions: Region[], offs: readonly number[]): Map<number, ChainTarget> {
  const at = new Map<number, ChainTarget>();
  regions.forEach((r, fn) =>
    r.blocks.forEach((bb, k) => {
      const o = offs[fn] + bb.at[0];
      if (!at.has(o)) at.set(o, { fn, bb: k, len: bb.insns.length, page: offs[fn] >>> 12 });
    }),
  );
  return at;
}

/**
 * Each region's pages (its own, its inlined callees') take in those of the
 * regions it chains to, and theirs, so that a write to any page a chain
 * can run code from drops every region that can start the chain
 * (code-cache.ts lists a region under each page of `pages`).
 */
function closePages(regions: Region[], offs: readonly number[], chained: number[][]): void {
  const sets = regions.map((r) => new Set(r.pages));
  for (let changed = true; changed;) {
    changed = false;
    regions.forEach((_, i) => {
      for (const j of chained[i])
        for (const page of [offs[j] >>> 12, ...sets[j]])
          if (page !== offs[i] >>> 12 && !sets[i].has(page)) {
            sets[i].add(page);
            changed = true;
          }
    });
  }
  regions.forEach((r, i) => {
    if (sets[i].size !== r.pages.length) r.pages = [...sets[i]];
  });
}

/**
 * Compile regions into one module sharing `memory`; their entries in order.
 * With the regions' RAM offsets (`offs`) and where each finds code now
 * (`codeAt`, for exits to other pages), their exits chain (ChainTarget),
 * and each region's `pages` grow by those of the regions it chains to.
 */
export function compileBlocks(
  memory: WebAssembly.Memory,
  regions: Region[],
  offs?: readonly number[],
  codeAt?: readonly CodeAt[],
): BlockFn[] {
  writer.begin(BLOCK_PARAMS, BLOCK_RESULTS, regions.length);
  const targets = offs && canTailCall ? chainTargets(regions, offs) : undefined;
  const chained: number[][] = [];
  regions.forEach((r, i) => {
    writeRegion(writer, r, targets, offs?.[i], codeAt?.[i]);
    chained.push(blockWriter!.chains.map((t) => t.fn));
  });
  if (targets !== undefined) closePages(regions, offs!, chained);
  const inst = new WebAssembly.Instance(
    new WebAssembly.Module(writer.finish() as Uint8Array<ArrayBuffer>),
    {
      m: { mem: memory },
    },
  );
  const out: BlockFn[] = [];
  for (let i = 0; i < regions.length; i++) out.push(inst.exports[String(i)] as BlockFn);
  return out;
}
