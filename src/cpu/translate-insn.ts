/**
 * The code of one instruction in a region's function: integer ALU ops in
 * native i64 arithmetic, LUI/AUIPC, links, loads and stores through the
 * TLBs inline, AMOs and LR/SC, sstatus accesses, divisions with RISC-V's
 * results. BlockWriter (block-writer.ts) writes what they share; FP
 * instructions are translate-fp.ts's.
 */
import { Op, type Decoded } from './decode.js';
import { fpCsrAccess } from './scan-region.js';
import { ACC_READ, ACC_WRITE, TAG_PRIV_SHIFT } from './hart-constants.js';
import { HART_AREA, HM_FFLAGS, HM_FRM, HM_MIE, HM_MIP, HM_MSTATUS, HM_RES } from './hart-memory.js';
import { CSR, MSTATUS_FS, MSTATUS_SIE, SSTATUS_MASK } from './csr-numbers.js';
import { writeFp, writeFpLoadStore } from './translate-fp.js';
import { T_I32, T_I64, W } from './wasm-writer.js';
import { A, B, DTAG, FP, L, V, type BlockWriter } from './block-writer.js';

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

/**
 * An AMO, LR or SC through the TLBs, as atomic.ts does it. A write-TLB
 * hit means what the interpreter checks too: the page is RAM, writable
 * (so readable), not watched, not a page table, already dirty, and holds
 * no blocks (mmu.ts tlbInsert); a read-TLB hit (LR) that the page is RAM,
 * readable and not watched.
 */
function writeAmo(w: BlockWriter, x: Decoded, i: number, d: number): void {
  const b = w.b;
  const f5 = x.insn >>> 27;
  const wide = x.f3 === 3;
  if (f5 === AMO_LR) {
    // The reservation is the RAM offset of the address (its low word: blocks run on RAM below 4 GiB).
    w.access(x, i, d, ACC_READ, wide ? 8 : 4);
    b.tee(L)
      .mem(wide ? W.i64_load : W.i64_load32_s, wide ? 3 : 2, HART_AREA)
      .set(A);
    w.setReservation();
    b.get(A);
    w.put(x.rd);
    return;
  }
  if (f5 === AMO_SC) {
    // It stores only while the reservation holds this address; rd = 0 if it stored, 1 if not.
    w.access(x, i, d, ACC_WRITE, wide ? 8 : 4);
    b.tee(L).i32(0).mem(W.i32_load, 2, HM_RES).op(W.i32_eq).tee(V);
    w.if_();
    b.get(L);
    w.get(x.rs2);
    b.mem(wide ? W.i64_store : W.i64_store32, wide ? 3 : 2, HART_AREA);
    w.end();
    w.endReservation();
    b.get(V).i32(1).op(W.i32_xor).op(W.i64_extend_i32_u);
    w.put(x.rd);
    return;
  }
  w.access(x, i, d, ACC_WRITE, wide ? 8 : 4);
  b.set(L); // the RAM offset
  b.get(L)
    .mem(wide ? W.i64_load : W.i64_load32_s, wide ? 3 : 2, HART_AREA)
    .set(A);
  w.get(x.rs2);
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
  w.endReservation();
  b.get(A);
  w.put(x.rd);
}

/**
 * The sstatus accesses of scan-region.ts sstatusAccess, as csr.ts reads
 * and writes sstatus. U-mode may not: the interpreter raises the
 * exception. (The data tag's privilege is the hart's below M, and M's or
 * less in M: a block may leave to the interpreter an access M-mode could
 * do, never the other way.)
 */
function writeSstatus(w: BlockWriter, x: Decoded, i: number, d: number): void {
  const b = w.b;
  b.get(DTAG)
    .i32(3 << TAG_PRIV_SHIFT)
    .op(W.i32_and)
    .op(W.i32_eqz); // the privilege (hart-constants.ts)
  if (x.op === Op.CSRRS && x.rs1 !== 0) {
    // csrs: only SIE among the writable bits, and no interrupt pending and enabled
    // (the interpreter would look for one after the write).
    w.get(x.rs1);
    b.op(W.i32_wrap_i64)
      .tee(V)
      .i32(SSTATUS_MASK & ~MSTATUS_SIE)
      .op(W.i32_and)
      .op(W.i32_or);
    b.i32(0).mem(W.i32_load, 2, HM_MIP).i32(0).mem(W.i32_load, 2, HM_MIE).op(W.i32_and);
    b.op(W.i32_or);
  }
  w.if_();
  w.exitBefore(i, d);
  w.end();
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
  w.put(x.rd);
}

/**
 * An access to fflags, frm or fcsr (scan-region.ts fpCsrAccess), as csr.ts
 * reads and writes them: with mstatus.FS Off, the interpreter does it (it
 * raises the illegal instruction); a write (csrrw always, csrrs and csrrc
 * with a source other than x0 or 0) keeps the bits the CSR has and makes FS
 * Dirty; rd gets the value before.
 */
function writeFpCsr(w: BlockWriter, x: Decoded, i: number, d: number): void {
  const b = w.b;
  const num = x.imm;
  w.fpEnter(i, d);
  // The value before, in L.
  if (num === CSR.fflags) b.i32(0).mem(W.i32_load, 2, HM_FFLAGS);
  else if (num === CSR.frm) b.i32(0).mem(W.i32_load, 2, HM_FRM);
  else {
    b.i32(0).mem(W.i32_load, 2, HM_FRM).i32(5).op(W.i32_shl);
    b.i32(0).mem(W.i32_load, 2, HM_FFLAGS).op(W.i32_or);
  }
  b.set(L);
  const imm = x.op === Op.CSRRWI || x.op === Op.CSRRSI || x.op === Op.CSRRCI;
  const kind =
    x.op === Op.CSRRW || x.op === Op.CSRRWI ? 1 : x.op === Op.CSRRS || x.op === Op.CSRRSI ? 2 : 3;
  if (kind === 1 || x.rs1 !== 0) {
    // The new value, in V: the source (a register's low word, or the 5-bit immediate) as is,
    // or set into the value before, or cleared from it.
    if (imm) b.i32(x.rs1);
    else {
      w.get(x.rs1);
      b.op(W.i32_wrap_i64);
    }
    if (kind === 2) b.get(L).op(W.i32_or);
    else if (kind === 3) b.i32(-1).op(W.i32_xor).get(L).op(W.i32_and);
    b.set(V);
    if (num !== CSR.frm) b.i32(0).get(V).i32(0x1f).op(W.i32_and).mem(W.i32_store, 2, HM_FFLAGS);
    if (num !== CSR.fflags) {
      b.i32(0).get(V);
      if (num === CSR.fcsr) b.i32(5).op(W.i32_shr_u);
      b.i32(7).op(W.i32_and).mem(W.i32_store, 2, HM_FRM);
    }
    w.fpWrote();
  }
  if (x.rd === 0) return;
  b.get(L).op(W.i64_extend_i32_u);
  w.put(x.rd);
}

/** Divisions and remainders with RISC-V's results for a zero divisor and overflow (unpriv spec 13.2). */
function writeDivide(w: BlockWriter, x: Decoded): void {
  const b = w.b;
  const wide = x.op === Op.DIV || x.op === Op.DIVU || x.op === Op.REM || x.op === Op.REMU;
  const isDiv = x.op === Op.DIV || x.op === Op.DIVU || x.op === Op.DIVW || x.op === Op.DIVUW;
  const signed = x.op === Op.DIV || x.op === Op.REM || x.op === Op.DIVW || x.op === Op.REMW;
  // A = dividend, B = divisor (as i64; the W forms use their low words)
  w.get(x.rs1);
  b.set(A);
  w.get(x.rs2);
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
  w.put(x.rd);
}

/**
 * One instruction (i-th of its basic block, at byte d from the entry). A
 * branch leaves its condition on the stack, and a JAL only writes its link.
 */
export function writeInsn(w: BlockWriter, x: Decoded, i: number, d: number): void {
  const b = w.b;
  const { rd, rs1, rs2, imm } = x;
  let o: W | undefined;
  switch (x.op) {
    case Op.LUI:
      if (rd !== 0) b.i64(imm).set(w.reg[rd]);
      return;
    case Op.AUIPC:
      if (rd !== 0) {
        w.pcPlus(d + imm);
        w.put(rd);
      }
      return;
    case Op.JAL:
      // The link; where control goes is the region writer's (writeRegion).
      if (rd !== 0) {
        w.pcPlus(d + x.len);
        w.put(rd);
      }
      return;
    case Op.JALR:
      // The target is taken before the link is written (rd may be rs1).
      w.get(rs1);
      b.i64(imm).op(W.i64_add).i64(-2).op(W.i64_and).set(A);
      if (rd !== 0) {
        w.pcPlus(d + x.len);
        w.put(rd);
      }
      b.get(A);
      w.exitWith((i + 1) * 4);
      return;
    case Op.LOAD: {
      const [op, lg] = LOADS[x.f3];
      w.access(x, i, d, ACC_READ, 1 << lg, true);
      if (rd === 0) b.op(W.drop);
      else b.mem(op, lg, HART_AREA).set(w.reg[rd]);
      return;
    }
    case Op.STORE:
      w.access(x, i, d, ACC_WRITE, 1 << x.f3, true);
      w.get(rs2);
      b.mem(STORES[x.f3], x.f3, HART_AREA);
      w.endReservation();
      return;
    case Op.AMO:
      writeAmo(w, x, i, d);
      return;
    case Op.FLOAD:
    case Op.FSTORE:
      writeFpLoadStore(w, x, i, d, FP);
      return;
    case Op.FP:
      writeFp(w, x, i, d, FP);
      return;
    case Op.CSRRW:
    case Op.CSRRS:
    case Op.CSRRC:
    case Op.CSRRWI:
    case Op.CSRRSI:
    case Op.CSRRCI:
      // The accesses scan-region.ts lets into blocks: sstatus's, and the FP CSRs'.
      if (fpCsrAccess(x)) writeFpCsr(w, x, i, d);
      else writeSstatus(w, x, i, d);
      return;
    case Op.SLTI:
    case Op.SLTIU:
      if (rd === 0) return;
      w.get(rs1);
      b.i64(imm)
        .op(x.op === Op.SLTI ? W.i64_lt_s : W.i64_lt_u)
        .op(W.i64_extend_i32_u);
      w.put(rd);
      return;
    case Op.SLT:
    case Op.SLTU:
      if (rd === 0) return;
      w.get(rs1);
      w.get(rs2);
      b.op(x.op === Op.SLT ? W.i64_lt_s : W.i64_lt_u).op(W.i64_extend_i32_u);
      w.put(rd);
      return;
    case Op.DIV:
    case Op.DIVU:
    case Op.REM:
    case Op.REMU:
    case Op.DIVW:
    case Op.DIVUW:
    case Op.REMW:
    case Op.REMUW:
      if (rd !== 0) writeDivide(w, x);
      return;
    case Op.FENCE:
      // FENCE orders nothing on one in-order hart; FENCE.I has nothing to do
      // because a write to a code page drops its blocks (code-cache.ts).
      return;
  }
  if ((o = BRANCH_CMP[x.op]) !== undefined) {
    // The condition; where control goes is the region writer's (writeRegion).
    w.get(rs1);
    w.get(rs2);
    b.op(o);
    return;
  }
  if (rd === 0) return; // an ALU op to x0 has no effect
  if ((o = ALU_IMM[x.op]) !== undefined) {
    w.get(rs1);
    b.i64(imm).op(o);
  } else if ((o = ALU_REG[x.op]) !== undefined) {
    w.get(rs1);
    w.get(rs2);
    b.op(o);
  } else if ((o = ALU_IMM_W[x.op]) !== undefined) {
    w.get(rs1);
    b.op(W.i32_wrap_i64).i32(imm).op(o).op(W.i64_extend_i32_s);
  } else if ((o = ALU_REG_W[x.op]) !== undefined) {
    w.get(rs1);
    b.op(W.i32_wrap_i64);
    w.get(rs2);
    b.op(W.i32_wrap_i64).op(o).op(W.i64_extend_i32_s);
  } else throw new Error(`translator: no code for op ${x.op}`);
  w.put(rd);
}
