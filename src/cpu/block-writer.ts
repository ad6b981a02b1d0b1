/**
 * How one region's WebAssembly function is written (translate-wasm.ts puts
 * regions and modules together): its locals, and BlockWriter, which writes
 * what instructions share — guest registers in locals, exits and their
 * sites (exitAt), chains to other regions, TLB lookups inline (access),
 * branches between basic blocks. The code of each instruction is
 * translate-insn.ts's (FP: translate-fp.ts's).
 */
import type { Decoded } from './decode.js';
import type { CodeAt, InlineCall } from './scan-region.js';
import { ACC_FETCH, TLB_OFF, TLB_SALT_BYTES_PER_TAG, alignMask } from './hart-constants.js';
import {
  HM_FETCH_TAG,
  HM_MSTATUS,
  HM_RES,
  NO_RESERVATION,
  tlbOffset,
  TLB_WAY2,
} from './hart-memory.js';
import { MSTATUS_FS } from './csr-numbers.js';
import { TLB_MASK } from './mmu.js';
import { FP_LOCALS } from './translate-fp.js';
import { T_I32, T_I64, T_VOID, W, type Bytes } from './wasm-writer.js';

/** The bits of a block's result besides the count (count = result >>> 2): it stopped for the interpreter, */
export const EXIT_INTERPRET = 1;
/** and (with EXIT_INTERPRET) at an access its memo's page did not hold (BlockWriter.access). */
export const EXIT_MEMO_MISS = 2;

// Locals: params 0 pcLo, 1 pcHi, 2 dTag, 3 room (instructions the block may retire), 4 carry;
// then these.
// V8's baseline compiler (Liftoff) spends time on every local a function declares, used or
// not (at entry and at every branch's merge): 100 more i64s made a boot's modules take
// 1.3-1.5 times as long to compile. So a region declares the FP locals only if it has FP
// instructions, and one i64 for each guest register it uses (BlockWriter.reg), after the rest.
export const DTAG = 2;
export const ROOM = 3;
export const CARRY = 4; // retired * 4 by the regions before this one in a chain (ChainTarget), 0 from the loop
export const PC = 5; // i64: the virtual address of the region's page
export const A = 6; // i64 scratch
export const B = 7; // i64 scratch
export const PC_OUT = 8; // i64: the next pc at an exit
export const TAG64 = 9; // i64: DTAG, to OR into a page's address for the TLB compare
export const L = 10; // i32: low word of an address
export const V = 11; // i32: scratch
export const I = 12; // i32: byte offset of the TLB record (index * 16)
export const RET = 13; // i32: the result at an exit
export const N4 = 14; // i32: instructions retired before the current basic block, * 4
export const S = 15; // i32: the basic block to run next (br_table index)
export const ROOM4 = 16; // i32: room * 4
export const MEMO = 17; // i32 × MEMOS: RAM offsets of earlier accesses in the basic block (see access)
export const MEMOS = 4;
export const SALT = MEMO + MEMOS; // i32: the data TLB's slot salt (tlbSalt) * 16, from DTAG
export const SITE = SALT + 1; // i32: an exit's pc offset and result (see exitAt)
export const CHAIN = SITE + 1; // i32: at an exit, the chain to take (1 + its number; 0: none)
export const FP = CHAIN + 1; // the FP instructions' locals (translate-fp.ts), in a region that has any
export const LOCALS: [number, number][] = [
  [5, T_I64],
  [10 + MEMOS, T_I32],
];
export const FP_COUNT = FP_LOCALS.reduce((n, [k]) => n + k, 0);

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

/**
 * An exitAt site packs the exit's pc offset from the entry above its result
 * (below 4,096: a basic block has far fewer than 1,023 instructions) in an
 * i32, so offsets up to ±512 KiB: the page, and branches out of it.
 */
export const SITE_SHIFT = 12;
export const SITE_D = 1 << SITE_SHIFT;
export const SITE_D_MAX = 1 << (31 - SITE_SHIFT);

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
  /** In this basic block: the reservation was ended, and no LR has set it since (endReservation). */
  private resEnded = false;

  /** Loads and stores look in the TLBs' second ways too (Region.secondWay). */
  secondWay = false;
  /** An access its memo's page does not hold looks its own up (Region.lookupOnMemoMiss). */
  lookupOnMemoMiss = false;

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
      .i32(TLB_SALT_BYTES_PER_TAG)
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
    this.resEnded = false;
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
   * in A for this run's tag bits, or the address is not `size`-aligned: one
   * compare, as the low bits a misaligned address has set are clear in
   * every tag (hart-constants.ts alignMask). The address so masked, with
   * the tag bits, is computed ('keep': and kept in B, which is free during a
   * lookup) or taken from B ('kept').
   */
  private tagMisses(acc: number, size: number, page: 'compute' | 'keep' | 'kept'): void {
    const b = this.b;
    b.get(I).mem(W.i64_load, 3, tlbOffset(acc));
    if (page === 'kept') b.get(B);
    else {
      b.get(A).i64(alignMask(size)).op(W.i64_and).get(TAG64).op(W.i64_or);
      if (page === 'keep') b.tee(B);
    }
    b.op(W.i64_ne);
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
   * stands in for the TLB lookup when this one is in the same page. When it
   * is not (a stack frame across a page's end: a function whose prologue
   * does so at a fixed depth does so at every call), the block leaves for
   * the interpreter, saying why (EXIT_MEMO_MISS); a page whose blocks do so
   * often is compiled again with the lookup there instead
   * (lookupOnMemoMiss: code-cache.ts memoMiss). Not always, as it makes a
   * boot's modules a fifth larger (V8's compile time).
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
      if (!this.lookupOnMemoMiss) {
        this.if_();
        this.exitAt(d, i * 4 + EXIT_INTERPRET + EXIT_MEMO_MISS);
        this.end();
        b.get(m.local).i32(delta).op(W.i32_add);
        return;
      }
      // Otherwise the lookup itself, which leaves on a TLB miss or misalignment. The memo
      // stays: its local still holds the earlier access's offset.
      b.byte(W.if_).byte(T_I32);
      this.ifs++;
      this.lookup(reg, x.imm, i, d, acc, size);
      b.op(W.else_);
      b.get(m.local).i32(delta).op(W.i32_add);
      this.end();
      return;
    }
    this.lookup(reg, x.imm, i, d, acc, size);
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
   * Push the RAM offset of the access at reg + imm, through the TLB; branch
   * out to the interpreter before instruction i (at d) on a miss or
   * misalignment. Leaves the address in A and its low word in L.
   */
  private lookup(reg: number, imm: number, i: number, d: number, acc: number, size: number): void {
    const b = this.b;
    this.get(reg);
    if (imm !== 0) b.i64(imm).op(W.i64_add);
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
  }

  /**
   * Before the JAL at index i (at d) of an inlined call to another page:
   * leave there, for the interpreter, unless the fetch TLB maps the
   * callee's address (at `callee` from the entry) to the RAM page it was
   * compiled from, for this run's privilege and address space, as the
   * block loop checks a block's own page.
   */
  calleeCheck(call: InlineCall, i: number, d: number, callee: number): void {
    this.pageCheck(call.page, callee, i, d);
  }

  /**
   * Before instruction i (at d): leave there, for the interpreter, unless
   * the fetch TLB maps the virtual address `at` bytes from the entry to RAM
   * page `page` now (an inlined callee's page, or the next page, where an
   * instruction's upper half is: scan-region.ts Crossing).
   */
  pageCheck(page: number, at: number, i: number, d: number): void {
    this.pcPlus(at);
    this.fetchMisses(page);
    this.if_();
    this.exitBefore(i, d);
    this.end();
  }

  /**
   * End the LR/SC reservation (every store, AMO and SC does: Cpu.resAddr),
   * once per basic block: a later store of the block finds it ended, unless
   * an LR set it again (setReservation). A boot's modules ended it 6,033
   * times, once for every store.
   */
  endReservation(): void {
    if (this.resEnded) return;
    this.b.i32(0).i32(NO_RESERVATION).mem(W.i32_store, 2, HM_RES);
    this.resEnded = true;
  }

  /** Set the reservation to the RAM offset in L (LR). */
  setReservation(): void {
    this.b.i32(0).get(L).mem(W.i32_store, 2, HM_RES);
    this.resEnded = false;
  }
}
