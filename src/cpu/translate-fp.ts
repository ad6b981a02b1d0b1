/**
 * The floating-point instructions blocks do themselves, with exactly
 * fp-load-store.ts's and fpu.ts's results, flags and traps.
 *
 * A block does the common cases: moves and sign injection (bit copies),
 * compares of numbers, conversions from integers, and add, subtract,
 * multiply, divide and truncating conversions of doubles in the range where
 * the host's round-to-nearest-even result is the RISC-V one and the only
 * flag it can raise is inexact, which an exact error term tells (TwoSum,
 * Dekker's product: fpu.ts uses the same). Within those instructions,
 * everything else — a NaN or an infinity among the operands, a result that
 * overflows or is tiny (the underflow flag), a rounding mode other than to
 * nearest, an operand out of the range where the error term is exact —
 * leaves the block before the instruction, and the interpreter does it.
 * The other instructions (single-precision arithmetic, fused multiply-adds,
 * square roots, min and max, fclass, other conversions) the block hands to
 * fpu.ts itself, through a function its module imports (FpCall), without
 * leaving: awk's `%` (an fnmsub.d) and musl's number formatting (an
 * fmadd.d) each cost a block exit, a turn of the dispatcher and an
 * interpreted instruction before.
 *
 * The FP registers, fflags and frm are in the hart area (HM_F, HM_FFLAGS,
 * HM_FRM); every instruction done here makes mstatus.FS Dirty, as the
 * interpreter does (interpreter.ts), after its checks.
 */
import { Op, type Decoded } from './decode.js';
import { ACC_READ, ACC_WRITE } from './hart-constants.js';
import { HART_AREA, HM_F, HM_FFLAGS, HM_FRM, HM_X } from './hart-memory.js';
import type { BlockWriter } from './block-writer.js';
import { T_F64, T_I64, W, type Bytes } from './wasm-writer.js';

/** Locals an FP instruction uses (from the first, `base`): five f64, two i64. */
export const FP_LOCALS: [number, number][] = [
  [5, T_F64],
  [2, T_I64],
];

/** fflags' inexact bit. */
const NX = 1;

/**
 * Bounds within which a product's or quotient's error term (Dekker) is
 * exact and the result neither overflows nor is tiny: operands of
 * magnitude 2^-400..2^400 for a product, 2^-200..2^200 for a quotient.
 */
const MUL_LO = 2 ** -400,
  MUL_HI = 2 ** 400,
  DIV_LO = 2 ** -200,
  DIV_HI = 2 ** 200;
/** The smallest normal double: a nonzero sum below it is tiny (the underflow flag: the interpreter's). */
const MIN_NORMAL = 2 ** -1022;
/** Veltkamp's splitter, 2^27 + 1. */
const SPLIT = 134217729;

/**
 * The function a block module imports to do an FP instruction it does not
 * do itself (FP_CALL): fpu.ts's, on the same registers and flags (the hart
 * area), so the block need not leave for the interpreter. Given the
 * instruction, it returns 1 when done, 0 when the instruction is illegal
 * (a reserved format, rounding mode or function), in which case it changed
 * nothing.
 */
export type FpCall = (insn: number) => number;

/** The function index of the imported FpCall in a block module (its only import). */
export const FP_CALL = 0;

/** Whether an FP instruction (OP-FP or a fused multiply-add) reads an integer register (rs1). */
function readsX(insn: number): boolean {
  if ((insn & 0x7f) !== 0x53) return false;
  const funct5 = insn >>> 27;
  return funct5 === 26 || funct5 === 30; // FCVT.S/D.W/L, FMV.W/D.X
}

/** Whether it writes an integer register (rd). */
function writesX(insn: number): boolean {
  if ((insn & 0x7f) !== 0x53) return false;
  const funct5 = insn >>> 27;
  return funct5 === 20 || funct5 === 24 || funct5 === 28; // compares, FCVT.W/L, FMV.X and FCLASS
}

/**
 * An FP instruction the block does not do itself, through FpCall: the
 * integer register it reads stored to the hart area first (the block keeps
 * registers in locals), the one it writes loaded back after. Illegal, it
 * leaves for the interpreter, which raises the exception.
 */
function writeFpCall(w: BlockWriter, x: Decoded, i: number, d: number): void {
  const b = w.b;
  w.fpEnter(i, d);
  if (readsX(x.insn) && x.rs1 !== 0) {
    b.i32(0);
    w.get(x.rs1);
    b.mem(W.i64_store, 3, HM_X + 8 * x.rs1);
  }
  b.i32(x.insn).byte(W.call).u32(FP_CALL).op(W.i32_eqz);
  w.if_();
  w.exitBefore(i, d);
  w.end();
  if (writesX(x.insn) && x.rd !== 0) {
    b.i32(0).mem(W.i64_load, 3, HM_X + 8 * x.rd);
    w.put(x.rd);
  }
  w.fpWrote();
}

/** Whether a block hands this FP instruction to fpu.ts (FpCall) rather than doing it itself. */
export function fpCalls(x: Decoded): boolean {
  return x.op === Op.FP && !fpTranslatable(x.insn);
}

/** Whether a block does this OP-FP instruction (its `insn`) itself; the rest leave to the interpreter. */
export function fpTranslatable(insn: number): boolean {
  if ((insn & 0x7f) !== 0x53) return false; // fused multiply-adds
  const funct5 = insn >>> 27;
  const fmt = (insn >>> 25) & 3;
  const f3 = (insn >>> 12) & 7;
  const rs2 = (insn >>> 20) & 31;
  const dbl = fmt === 1;
  if (fmt > 1) return false;
  switch (funct5) {
    case 4: // FSGNJ, FSGNJN, FSGNJX
      return f3 <= 2;
    case 28: // FMV.X.W, FMV.X.D (not FCLASS)
    case 30: // FMV.W.X, FMV.D.X
      return rs2 === 0 && f3 === 0;
    case 20: // FLE, FLT, FEQ
      return dbl && f3 <= 2;
    case 26: // FCVT.D.W, .WU, .L, .LU
      return dbl && rs2 <= 3 && (f3 <= 4 || f3 === 7);
    case 0: // FADD
    case 1: // FSUB
    case 2: // FMUL
    case 3: // FDIV
      return dbl && (f3 === 0 || f3 === 7);
    case 24: // FCVT.W, .WU, .L, .LU from a double, rounding towards zero
      return dbl && f3 === 1 && rs2 <= 3;
  }
  return false;
}

/** Push f[r]'s 64 bits. */
function getF(b: Bytes, r: number): void {
  b.i32(0).mem(W.i64_load, 3, HM_F + 8 * r);
}

/** The f64 local `f` = f[r] as a double. */
function getD(b: Bytes, r: number, f: number): void {
  getF(b, r);
  b.op(W.f64_reinterpret_i64).set(f);
}

/** f[r] = the i64 on the stack, through the i64 local `t`. */
function putF(b: Bytes, r: number, t: number): void {
  b.set(t)
    .i32(0)
    .get(t)
    .mem(W.i64_store, 3, HM_F + 8 * r);
}

/** fflags |= NX when the i32 on the stack is not zero. */
function inexactIf(w: BlockWriter, b: Bytes): void {
  w.if_();
  b.i32(0).i32(0).mem(W.i32_load, 2, HM_FFLAGS).i32(NX).op(W.i32_or);
  b.mem(W.i32_store, 2, HM_FFLAGS);
  w.end();
}

/** Leave before the instruction when the i32 on the stack is not zero. */
function exitIf(w: BlockWriter, i: number, d: number): void {
  w.if_();
  w.exitBefore(i, d);
  w.end();
}

/** Push whether the f64 in local `f` is outside [lo, hi] in magnitude (or NaN). */
function outside(b: Bytes, f: number, lo: number, hi: number): void {
  b.get(f).op(W.f64_abs).f64(lo).op(W.f64_ge);
  b.get(f).op(W.f64_abs).f64(hi).op(W.f64_le);
  b.op(W.i32_and).op(W.i32_eqz);
}

/** Push whether the f64 in local `f` is a NaN or an infinity. */
function notFinite(b: Bytes, f: number): void {
  b.get(f).op(W.f64_abs).f64(Infinity).op(W.f64_lt).op(W.i32_eqz);
}

/**
 * Push the error of the product of locals `x` and `y` against its rounded
 * value in `p` (Dekker, as fpu.ts's productError), using `t` and `u`.
 */
function productError(b: Bytes, x: number, y: number, p: number, t: number, u: number): void {
  // xh = t - (t - x) with t = SPLIT * x; xl = x - xh; likewise y into u (high) and y - u.
  b.f64(SPLIT).get(x).op(W.f64_mul).set(t);
  b.get(t).get(t).get(x).op(W.f64_sub).op(W.f64_sub).set(t);
  b.f64(SPLIT).get(y).op(W.f64_mul).set(u);
  b.get(u).get(u).get(y).op(W.f64_sub).op(W.f64_sub).set(u);
  // xh*yh - p + xh*yl + xl*yh + xl*yl, in that order
  b.get(t).get(u).op(W.f64_mul).get(p).op(W.f64_sub);
  b.get(t).get(y).get(u).op(W.f64_sub).op(W.f64_mul).op(W.f64_add);
  b.get(x).get(t).op(W.f64_sub).get(u).op(W.f64_mul).op(W.f64_add);
  b.get(x).get(t).op(W.f64_sub).get(y).get(u).op(W.f64_sub).op(W.f64_mul).op(W.f64_add);
}

/**
 * FLW/FLD/FSW/FSD (i-th of its basic block, at byte d), as fp-load-store.ts
 * does them, through the data TLB as integer loads and stores: a load
 * NaN-boxes a single and makes FS Dirty; a store writes the register's low
 * word or both, and ends the LR/SC reservation.
 */
export function writeFpLoadStore(
  w: BlockWriter,
  x: Decoded,
  i: number,
  d: number,
  base: number,
): void {
  const b = w.b;
  const T = base + 5;
  w.fpEnter(i, d);
  const wide = x.f3 === 3;
  if (x.op === Op.FSTORE) {
    w.access(x, i, d, ACC_WRITE, wide ? 8 : 4, true);
    getF(b, x.rs2);
    b.mem(wide ? W.i64_store : W.i64_store32, wide ? 3 : 2, HART_AREA);
    w.endReservation();
    return;
  }
  w.access(x, i, d, ACC_READ, wide ? 8 : 4, true);
  b.mem(wide ? W.i64_load : W.i64_load32_u, wide ? 3 : 2, HART_AREA);
  if (!wide) b.i64(-0x1_0000_0000).op(W.i64_or); // NaN-boxed: the upper word all ones
  putF(b, x.rd, T);
  w.fpWrote();
}

/**
 * One OP-FP instruction that fpTranslatable accepts (i-th of its basic
 * block, at byte d), its locals from `base` (FP_LOCALS).
 */
export function writeFp(w: BlockWriter, x: Decoded, i: number, d: number, base: number): void {
  if (fpCalls(x)) {
    writeFpCall(w, x, i, d);
    return;
  }
  const b = w.b;
  const insn = x.insn;
  const funct5 = insn >>> 27;
  const dbl = ((insn >>> 25) & 3) === 1;
  const f3 = (insn >>> 12) & 7;
  const { rd, rs1, rs2 } = x;
  const FA = base,
    FB = base + 1,
    FC = base + 2,
    FD = base + 3,
    FE = base + 4,
    T = base + 5,
    U = base + 6;
  w.fpEnter(i, d);
  switch (funct5) {
    case 4: {
      // Sign injection: rs1's magnitude, a sign from rs2 (copied, inverted, or XORed).
      // A single that is not NaN-boxed reads as the canonical NaN (fpu.ts).
      const bit = dbl ? -(2 ** 63) : 0x80000000;
      const unboxed = (r: number) => {
        getF(b, r);
        if (dbl) return;
        b.set(T);
        b.get(T).i64(0xffffffff).op(W.i64_and).i64(0x7fc00000);
        b.get(T).i64(32).op(W.i64_shr_u).i64(0xffffffff).op(W.i64_eq);
        b.op(W.select);
      };
      unboxed(rs1);
      b.set(U);
      const sign = () => (bit < 0 ? b.i64Min() : b.i64(bit));
      if (f3 === 2) {
        unboxed(rs2);
        sign();
        b.op(W.i64_and).get(U).op(W.i64_xor);
      } else {
        unboxed(rs2);
        if (f3 === 1) b.i64(-1).op(W.i64_xor);
        sign();
        b.op(W.i64_and);
        b.get(U);
        sign();
        b.i64(-1).op(W.i64_xor).op(W.i64_and).op(W.i64_or);
      }
      if (!dbl) b.i64(-0x1_0000_0000).op(W.i64_or);
      putF(b, rd, T);
      break;
    }
    case 28:
      // FMV.X.W / FMV.X.D: the bits (a single's sign-extended).
      getF(b, rs1);
      if (!dbl) b.op(W.i32_wrap_i64).op(W.i64_extend_i32_s);
      w.put(rd); // (x0: dropped)
      break;
    case 30:
      // FMV.W.X / FMV.D.X: the bits (a single NaN-boxed).
      w.get(rs1);
      if (!dbl) b.i64(0xffffffff).op(W.i64_and).i64(-0x1_0000_0000).op(W.i64_or);
      putF(b, rd, T);
      break;
    case 20: {
      // FLE / FLT / FEQ of numbers; a NaN (a flag, maybe) is the interpreter's.
      getD(b, rs1, FA);
      getD(b, rs2, FB);
      b.get(FA).get(FA).op(W.f64_ne).get(FB).get(FB).op(W.f64_ne).op(W.i32_or);
      exitIf(w, i, d);
      b.get(FA)
        .get(FB)
        .op(f3 === 2 ? W.f64_eq : f3 === 1 ? W.f64_lt : W.f64_le);
      b.op(W.i64_extend_i32_u);
      w.put(rd); // (x0: dropped)
      break;
    }
    case 26: {
      // FCVT.D.W / WU / L / LU: exact for 32-bit integers and for 64-bit ones of at most
      // 53 significant bits (then no rounding mode matters, but frm must be a valid one).
      if (f3 === 7) {
        b.i32(0).mem(W.i32_load, 2, HM_FRM).i32(4).op(W.i32_gt_u); // frm > 4 is illegal
        exitIf(w, i, d);
      }
      w.get(rs1);
      if (rs2 <= 1) {
        b.op(W.i32_wrap_i64).op(rs2 === 0 ? W.f64_convert_i32_s : W.f64_convert_i32_u);
      } else {
        b.set(T);
        // inexact when beyond 2^53 in magnitude (signed), or above it (unsigned)
        if (rs2 === 2)
          b.get(T)
            .i64(2 ** 53)
            .op(W.i64_add)
            .i64(2 ** 54);
        else b.get(T).i64(2 ** 53);
        b.op(W.i64_gt_u);
        exitIf(w, i, d);
        b.get(T).op(rs2 === 2 ? W.f64_convert_i64_s : W.f64_convert_i64_u);
      }
      b.op(W.i64_reinterpret_f64);
      putF(b, rd, T);
      break;
    }
    case 0:
    case 1:
    case 2:
    case 3: {
      // Round to nearest (static, or frm 0), finite operands and result, not tiny.
      if (f3 === 7) {
        b.i32(0).mem(W.i32_load, 2, HM_FRM);
        exitIf(w, i, d);
      }
      getD(b, rs1, FA);
      getD(b, rs2, FB);
      if (funct5 <= 1) {
        notFinite(b, FA);
        notFinite(b, FB);
        b.op(W.i32_or);
        exitIf(w, i, d);
        b.get(FA)
          .get(FB)
          .op(funct5 === 0 ? W.f64_add : W.f64_sub)
          .set(FC);
        // overflowed, or tiny and not zero
        notFinite(b, FC);
        b.get(FC).op(W.f64_abs).f64(MIN_NORMAL).op(W.f64_lt);
        b.get(FC).f64(0).op(W.f64_ne).op(W.i32_and);
        b.op(W.i32_or);
        exitIf(w, i, d);
        // TwoSum's error: bb = r - a; (a - (r - bb)) + (b' - bb), b' = ±b
        if (funct5 === 1) b.get(FB).op(W.f64_neg).set(FB);
        b.get(FC).get(FA).op(W.f64_sub).set(FD);
        b.get(FA).get(FC).get(FD).op(W.f64_sub).op(W.f64_sub);
        b.get(FB).get(FD).op(W.f64_sub).op(W.f64_add);
        b.f64(0).op(W.f64_ne);
        inexactIf(w, b);
      } else {
        const [lo, hi] = funct5 === 2 ? [MUL_LO, MUL_HI] : [DIV_LO, DIV_HI];
        outside(b, FA, lo, hi);
        outside(b, FB, lo, hi);
        b.op(W.i32_or);
        exitIf(w, i, d);
        if (funct5 === 2) {
          b.get(FA).get(FB).op(W.f64_mul).set(FC);
          productError(b, FA, FB, FC, FD, FE);
          b.f64(0).op(W.f64_ne);
        } else {
          // The quotient q is exact when q * b is a exactly: p = q * b rounded, and its error.
          b.get(FA).get(FB).op(W.f64_div).set(FC);
          b.get(FC).get(FB).op(W.f64_mul).set(FD);
          b.get(FD).get(FA).op(W.f64_ne);
          productError(b, FC, FB, FD, FA, FE); // a is no longer needed: FA is scratch
          b.f64(0).op(W.f64_ne).op(W.i32_or);
        }
        inexactIf(w, b);
      }
      b.get(FC).op(W.i64_reinterpret_f64);
      putF(b, rd, T);
      break;
    }
    case 24: {
      // FCVT.W / WU / L / LU.D, rounding towards zero, of a value in range (NaN and out of
      // range saturate and raise the invalid flag: the interpreter's).
      getD(b, rs1, FA);
      b.get(FA).op(W.f64_trunc).set(FB);
      const [lo, hi] =
        rs2 === 0
          ? [-(2 ** 31), 2 ** 31 - 1]
          : rs2 === 1
            ? [0, 2 ** 32 - 1]
            : rs2 === 2
              ? [-(2 ** 63), 2 ** 63]
              : [0, 2 ** 64];
      // in range: lo <= t <= hi for the 32-bit ones, lo <= t < hi for the 64-bit ones
      b.get(FB).f64(lo).op(W.f64_ge);
      b.get(FB)
        .f64(hi)
        .op(rs2 <= 1 ? W.f64_le : W.f64_lt);
      b.op(W.i32_and).op(W.i32_eqz);
      exitIf(w, i, d);
      b.get(FB).get(FA).op(W.f64_ne);
      inexactIf(w, b);
      if (rd !== 0) {
        b.get(FB).op(rs2 === 1 || rs2 === 3 ? W.i64_trunc_f64_u : W.i64_trunc_f64_s);
        // the 32-bit results are sign-extended
        if (rs2 <= 1) b.op(W.i32_wrap_i64).op(W.i64_extend_i32_s);
        w.put(rd);
      }
      break;
    }
  }
  w.fpWrote();
}
