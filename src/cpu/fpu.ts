/**
 * F and D extensions on bit patterns (f registers are Int32 pairs; singles
 * NaN-boxed). Arithmetic uses host doubles, which are IEEE round-to-nearest-
 * even, and error-free transformations (TwoSum, Dekker's product) to find the
 * sign of the rounding error; that error drives the inexact flag and the
 * directed rounding modes (RTZ, RDN, RUP, RMM). NaN results are always the
 * canonical NaN. Known gaps: fused multiply-add adds the product's error term
 * after the sum, so a result can be off by one ulp when both roundings
 * interact; underflow is flagged on tiny inexact results of +,-,*,/.
 */
const f64 = new Float64Array(1);
const i32 = new Int32Array(f64.buffer);
const f32 = new Float32Array(1);
const i32s = new Int32Array(f32.buffer);

const NV = 16,
  DZ = 8,
  OF = 4,
  UF = 2,
  NX = 1;

const TWO32 = 4294967296;

export class FpUnit {
  /**
   * f0..f31 as Int32 pairs, low word first. In the machine's memory when it
   * has one (hart-memory.ts HM_F), where translated code loads and stores them.
   */
  constructor(
    readonly fr = new Int32Array(64),
    /** fflags and frm (HM_FFLAGS, HM_FRM), where translated code reads and sets them too. */
    private readonly fcsr = new Int32Array(2),
  ) {}

  get fflags(): number {
    return this.fcsr[0];
  }
  set fflags(v: number) {
    this.fcsr[0] = v;
  }
  get frm(): number {
    return this.fcsr[1];
  }
  set frm(v: number) {
    this.fcsr[1] = v;
  }

  private getD(r: number): number {
    i32[0] = this.fr[2 * r];
    i32[1] = this.fr[2 * r + 1];
    return f64[0];
  }
  private isSNaND(r: number): boolean {
    const hi = this.fr[2 * r + 1];
    return (
      (hi & 0x7ff00000) === 0x7ff00000 &&
      (hi & 0x80000) === 0 &&
      ((hi & 0xfffff) | this.fr[2 * r]) !== 0
    );
  }
  private getS(r: number): number {
    if (this.fr[2 * r + 1] !== -1) return NaN; // not NaN-boxed
    i32s[0] = this.fr[2 * r];
    return f32[0];
  }
  private isSNaNS(r: number): boolean {
    if (this.fr[2 * r + 1] !== -1) return false;
    const b = this.fr[2 * r];
    return (b & 0x7f800000) === 0x7f800000 && (b & 0x400000) === 0 && (b & 0x3fffff) !== 0;
  }
  private setD(r: number, v: number): void {
    if (v !== v) {
      this.fr[2 * r] = 0;
      this.fr[2 * r + 1] = 0x7ff80000;
      return;
    }
    f64[0] = v;
    this.fr[2 * r] = i32[0];
    this.fr[2 * r + 1] = i32[1];
  }
  private setS(r: number, v: number): void {
    this.fr[2 * r + 1] = -1;
    if (v !== v) {
      this.fr[2 * r] = 0x7fc00000;
      return;
    }
    f32[0] = v;
    this.fr[2 * r] = i32s[0];
  }
  private flagsD(exact: number, r: number): void {
    if (r !== exact) this.fflags |= NX;
    if (!isFinite(r) && isFinite(exact)) this.fflags |= OF | NX;
  }

  // The register access of an instruction's format (no closures: this runs per FP instruction).
  private get(dbl: boolean, r: number): number {
    return dbl ? this.getD(r) : this.getS(r);
  }
  private set(dbl: boolean, r: number, v: number): void {
    if (dbl) this.setD(r, v);
    else this.setS(r, Math.fround(v));
  }
  private snan(dbl: boolean, r: number): boolean {
    return dbl ? this.isSNaND(r) : this.isSNaNS(r);
  }

  execute(insn: number, regs: Int32Array): boolean {
    const op = insn & 0x7f;
    const rd = (insn >>> 7) & 31,
      rs1 = (insn >>> 15) & 31,
      rs2 = (insn >>> 20) & 31,
      rs3 = insn >>> 27;
    // funct3 is a rounding mode (7: dynamic, frm) only where the instruction has one; where
    // it picks the operation (sign injection, min/max, compares, moves, fclass), its other
    // values are reserved and trap whatever frm holds (unpriv 20.6, 20.8, 20.9).
    const funct3 = (insn >>> 12) & 7;
    const rm = funct3 === 7 ? this.frm : funct3;
    const fmt = (insn >>> 25) & 3;
    if (fmt > 1) return false;
    const dbl = fmt === 1;
    if (op !== 0x53) {
      if (rm > 4) return false;
      const a = this.get(dbl, rs1),
        b = this.get(dbl, rs2),
        c = this.get(dbl, rs3);
      if (this.snan(dbl, rs1) || this.snan(dbl, rs2) || this.snan(dbl, rs3)) this.fflags |= NV;
      let p = a * b;
      let e = isFinite(p) && p !== 0 ? productError(a, b, p) : 0; // a*b = p + e exactly
      if (op === 0x4b || op === 0x4f) {
        p = -p;
        e = -e;
      }
      const addend = op === 0x47 || op === 0x4f ? -c : c;
      if ((Math.abs(a) === Infinity && b === 0) || (Math.abs(b) === Infinity && a === 0))
        this.fflags |= NV;
      let r: number;
      if (!isFinite(p) || !isFinite(addend)) {
        r = p + addend; // infinities and NaNs: no rounding to speak of
        if (!dbl) r = Math.fround(r);
      } else {
        // Fused, one rounding (Boldo & Melquiond): the low parts are summed in
        // round-to-odd so that the final round-to-nearest is the correct one.
        const th = addend + p;
        const tl = sumError(addend, p, th);
        const v0 = tl + e;
        const ve = sumError(tl, e, v0);
        const v = ve === 0 ? v0 : roundOdd(v0, ve);
        const d = th + v;
        const de = sumError(th, v, d);
        // sign of (exact - d)
        const lost = de !== 0 ? de : ve;
        // to single via a round-to-odd double, which then rounds correctly again
        const dOdd = dbl || lost === 0 || !isFinite(d) ? d : roundOdd(d, lost);
        const rn = dbl ? d : Math.fround(dOdd); // the round-to-nearest-even result
        const overflowed = !isFinite(rn);
        r = roundTo(rn, dOdd, overflowed ? 1 : lost, rm, dbl);
        if (r === r && (lost !== 0 || rn !== dOdd || r !== rn)) this.fflags |= NX;
        if (overflowed) this.fflags |= OF | NX;
      }
      if (r !== r && a === a && b === b && c === c) this.fflags |= NV;
      this.set(dbl, rd, r);
      return true;
    }
    const f7 = insn >>> 25;
    switch (f7 >>> 2) {
      case 0: // FADD
      case 1: // FSUB
      case 2: // FMUL
      case 3: {
        // FDIV
        if (rm > 4) return false;
        const a = this.get(dbl, rs1),
          b = this.get(dbl, rs2);
        if (this.snan(dbl, rs1) || this.snan(dbl, rs2)) this.fflags |= NV;
        const k = f7 >>> 2;
        const r = k === 0 ? a + b : k === 1 ? a - b : k === 2 ? a * b : a / b;
        if (r !== r && a === a && b === b) this.fflags |= NV;
        if (k === 3 && b === 0 && a === a && a !== 0 && isFinite(a)) this.fflags |= DZ;
        let rr = dbl ? r : Math.fround(r);
        if (r === r) {
          const overflowed = !isFinite(rr) && isFinite(a) && isFinite(b) && !(k === 3 && b === 0);
          rr = roundTo(rr, r, overflowed ? 1 : residual(k, a, b, r), rm, dbl);
          if (inexact(k, a, b, r) || rr !== r) this.fflags |= NX;
          if (overflowed) this.fflags |= OF | NX;
          const tiny = dbl ? 2.2250738585072014e-308 : 1.1754943508222875e-38;
          if (rr !== 0 && Math.abs(rr) < tiny && this.fflags & NX) this.fflags |= UF;
        }
        this.set(dbl, rd, rr);
        return true;
      }
      case 11: {
        // FSQRT
        if (rs2 !== 0 || rm > 4) return false;
        const a = this.get(dbl, rs1);
        if (this.snan(dbl, rs1) || a < 0) this.fflags |= NV;
        const r = Math.sqrt(a);
        let rr = dbl ? r : Math.fround(r);
        rr = roundTo(rr, r, residual(4, a, 0, r), rm, dbl);
        if (rr === rr && isFinite(rr) && (rr * rr !== a || productError(rr, rr, rr * rr) !== 0))
          this.fflags |= NX;
        this.set(dbl, rd, rr);
        return true;
      }
      case 4: {
        // FSGNJ
        const w = dbl ? 2 * rs1 + 1 : 2 * rs1;
        const v = dbl
          ? this.fr[2 * rs1 + 1]
          : this.fr[2 * rs1 + 1] === -1
            ? this.fr[2 * rs1]
            : 0x7fc00000;
        const s2 = dbl
          ? this.fr[2 * rs2 + 1]
          : this.fr[2 * rs2 + 1] === -1
            ? this.fr[2 * rs2]
            : 0x7fc00000;
        let sign: number;
        if (funct3 === 0) sign = s2 & 0x80000000;
        else if (funct3 === 1) sign = ~s2 & 0x80000000;
        else if (funct3 === 2) sign = (v ^ s2) & 0x80000000;
        else return false;
        const nv = (v & 0x7fffffff) | sign;
        if (dbl) {
          this.fr[2 * rd] = this.fr[2 * rs1];
          this.fr[2 * rd + 1] = nv;
        } else {
          this.fr[2 * rd] = nv;
          this.fr[2 * rd + 1] = -1;
        }
        void w;
        return true;
      }
      case 5: {
        // FMIN/FMAX (funct3 0, 1; the others are reserved, whatever the operands)
        if (funct3 > 1) return false;
        const a = this.get(dbl, rs1),
          b = this.get(dbl, rs2);
        if (this.snan(dbl, rs1) || this.snan(dbl, rs2)) this.fflags |= NV;
        let r: number;
        if (a !== a && b !== b) r = NaN;
        else if (a !== a) r = b;
        else if (b !== b) r = a;
        else if (funct3 === 0) r = a < b || (a === b && Object.is(a, -0)) ? a : b;
        else r = a > b || (a === b && Object.is(a, 0)) ? a : b;
        this.set(dbl, rd, r);
        return true;
      }
      case 8: {
        // FCVT.S.D / FCVT.D.S
        if (rm > 4) return false;
        if (dbl && rs2 === 0) {
          const a = this.getS(rs1);
          if (this.isSNaNS(rs1)) this.fflags |= NV;
          this.setD(rd, a);
          return true;
        }
        if (!dbl && rs2 === 1) {
          const a = this.getD(rs1);
          if (this.isSNaND(rs1)) this.fflags |= NV;
          const r =
            a === a
              ? roundTo(
                  Math.fround(a),
                  a,
                  isFinite(Math.fround(a)) || !isFinite(a) ? 0 : 1,
                  rm,
                  false,
                )
              : a;
          if (r === r) this.flagsD(a, r);
          this.setS(rd, r);
          return true;
        }
        return false;
      }
      case 20: {
        // FEQ/FLT/FLE
        const a = this.get(dbl, rs1),
          b = this.get(dbl, rs2);
        let r: boolean;
        if (funct3 === 2) {
          if (this.snan(dbl, rs1) || this.snan(dbl, rs2)) this.fflags |= NV;
          r = a === b;
        } else if (funct3 === 1 || funct3 === 0) {
          if (a !== a || b !== b) this.fflags |= NV;
          r = funct3 === 1 ? a < b : a <= b;
        } else return false;
        regs[rd << 1] = r ? 1 : 0;
        regs[(rd << 1) | 1] = 0;
        return true;
      }
      case 24: {
        // FCVT.W/WU/L/LU from float
        let a = this.get(dbl, rs1);
        if (rm > 4) return false;
        const t = rs2;
        const orig = a;
        a = roundInt(a, rm);
        // Out-of-range and NaN inputs saturate and raise NV (unpriv spec 11.7, table 11.4).
        let lo = 0,
          hi = 0;
        let invalid = true;
        const nan = a !== a;
        if (t === 0) {
          if (nan || a > 2147483647) lo = 0x7fffffff;
          else if (a < -2147483648) lo = -0x80000000;
          else {
            lo = a | 0;
            invalid = false;
          }
          hi = lo >> 31;
        } else if (t === 1) {
          if (nan || a > 4294967295) lo = -1;
          else if (a < 0) lo = 0;
          else {
            lo = (a >>> 0) | 0;
            invalid = false;
          }
          hi = lo >> 31;
        } else if (t === 2) {
          if (nan || a >= 9223372036854775808) {
            lo = -1;
            hi = 0x7fffffff;
          } else if (a < -9223372036854775808) hi = -0x80000000;
          else {
            [lo, hi] = splitInt(a);
            invalid = false;
          }
        } else if (t === 3) {
          if (nan || a >= 18446744073709551616) {
            lo = -1;
            hi = -1;
          } else if (a >= 0) {
            [lo, hi] = splitInt(a);
            invalid = false;
          }
        } else return false;
        if (invalid) this.fflags |= NV;
        else if (a !== orig) this.fflags |= NX;
        regs[rd << 1] = lo;
        regs[(rd << 1) | 1] = hi;
        return true;
      }
      case 26: {
        // FCVT.S/D.W/WU/L/LU from integer
        if (rm > 4) return false;
        const lo = regs[rs1 << 1],
          hi = regs[(rs1 << 1) | 1];
        let hiPart = 0;
        const loPart = rs2 >= 2 ? lo >>> 0 : rs2 === 0 ? lo : lo >>> 0;
        if (rs2 === 2) hiPart = hi * TWO32;
        else if (rs2 === 3) hiPart = (hi >>> 0) * TWO32;
        else if (rs2 > 3) return false;
        const v = hiPart + loPart;
        const r = roundTo(dbl ? v : Math.fround(v), v, sumError(hiPart, loPart, v), rm, dbl);
        if (r !== v || sumError(hiPart, loPart, v) !== 0) this.fflags |= NX;
        this.set(dbl, rd, r);
        return true;
      }
      case 28: {
        if (rs2 !== 0) return false;
        if (funct3 === 0) {
          // FMV.X.W / FMV.X.D
          if (dbl) {
            regs[rd << 1] = this.fr[2 * rs1];
            regs[(rd << 1) | 1] = this.fr[2 * rs1 + 1];
          } else {
            regs[rd << 1] = this.fr[2 * rs1];
            regs[(rd << 1) | 1] = this.fr[2 * rs1] >> 31;
          }
          return true;
        }
        if (funct3 === 1) {
          // FCLASS
          regs[rd << 1] = dbl
            ? classD(this.fr[2 * rs1], this.fr[2 * rs1 + 1])
            : this.fr[2 * rs1 + 1] === -1
              ? classS(this.fr[2 * rs1])
              : 1 << 9;
          regs[(rd << 1) | 1] = 0;
          return true;
        }
        return false;
      }
      case 30: {
        // FMV.W.X / FMV.D.X
        if (rs2 !== 0 || funct3 !== 0) return false;
        this.fr[2 * rd] = regs[rs1 << 1];
        this.fr[2 * rd + 1] = dbl ? regs[(rs1 << 1) | 1] : -1;
        return true;
      }
    }
    return false;
  }
}

const SPLIT = 134217729; // 2^27 + 1, Veltkamp splitting
/** Error of the product a*b against its rounded value p (Dekker), for finite values. */
function productError(a: number, b: number, p: number): number {
  let t = SPLIT * a;
  const ah = t - (t - a),
    al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b),
    bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}
/** Error of the sum a+b against its rounded value s (Knuth TwoSum). */
function sumError(a: number, b: number, s: number): number {
  const bb = s - a;
  return a - (s - bb) + (b - bb);
}
/** Was the double-precision result r of op k (0 add, 1 sub, 2 mul, 3 div) on a, b inexact? */
function inexact(k: number, a: number, b: number, r: number): boolean {
  if (!isFinite(r) || !isFinite(a) || !isFinite(b)) return false;
  switch (k) {
    case 0:
      return sumError(a, b, r) !== 0;
    case 1:
      return sumError(a, -b, r) !== 0;
    case 2:
      return productError(a, b, r) !== 0;
    default: {
      if (b === 0) return false;
      const p = r * b;
      return p !== a || productError(r, b, p) !== 0;
    }
  }
}

/** Sign of (exact result - r) for op k on doubles a, b whose rounded result is r; 0 when exact. */
function residual(k: number, a: number, b: number, r: number): number {
  if (!isFinite(r) || !isFinite(a) || !isFinite(b)) return 0;
  switch (k) {
    case 0:
      return sumError(a, b, r);
    case 1:
      return sumError(a, -b, r);
    case 2:
      return productError(a, b, r);
    case 3: {
      if (b === 0) return 0;
      const p = r * b;
      // exact - r = (a - r*b) / b; the remainder is exact, and at a tie the quotient is too
      return (a - p - productError(r, b, p)) / b;
    }
    default: {
      // square root: a - r*r has the sign of (sqrt(a) - r)
      const p = r * r;
      return a - p - productError(r, r, p);
    }
  }
}

const bits64 = new Float64Array(1);
const bits64i = new Int32Array(bits64.buffer);
const bits32 = new Float32Array(1);
const bits32i = new Int32Array(bits32.buffer);

/** Round-to-odd of x = s + err (s = RN(x), err != 0): the neighbour of x with an odd last bit. */
function roundOdd(s: number, err: number): number {
  if (!isFinite(s)) return s;
  // toward zero first
  const rz = err < 0 === s > 0 && s !== 0 ? step(s, s < 0, true) : s;
  bits64[0] = rz;
  if (bits64i[0] & 1) return rz;
  return step(rz, rz > 0 || (rz === 0 && err > 0), true);
}

/** The neighbour of x toward +inf (up=true) or -inf, in double or single precision. */
function step(x: number, up: boolean, dbl: boolean): number {
  if (x === 0) {
    const tiny = dbl ? 5e-324 : 1.401298464324817e-45;
    return up ? tiny : -tiny;
  }
  const away = x > 0 === up; // moving away from zero grows the magnitude
  if (dbl) {
    bits64[0] = x;
    let lo = bits64i[0] >>> 0,
      hi = bits64i[1];
    if (away) {
      lo = (lo + 1) >>> 0;
      if (lo === 0) hi++;
    } else {
      if (lo === 0) hi--;
      lo = (lo - 1) >>> 0;
    }
    bits64i[0] = lo | 0;
    bits64i[1] = hi;
    return bits64[0];
  }
  bits32[0] = x;
  bits32i[0] += away ? 1 : -1;
  return bits32[0];
}

/**
 * Apply a static rounding mode to a round-to-nearest-even result `r` (already
 * in the target precision), given `err` = exact - d where d is the double
 * result r came from (unpriv spec 11.2 rounding modes).
 */
function roundTo(r: number, d: number, err: number, rm: number, dbl: boolean): number {
  if (rm === 0 || r !== r) return r;
  // sign of (exact - r)
  const diff = d - r; // exact in double
  const off = diff !== 0 ? diff : err;
  if (off === 0) return r;
  if (!isFinite(r)) {
    // overflow: directed modes may give the largest finite number instead
    const max = dbl ? Number.MAX_VALUE : 3.4028234663852886e38;
    if (rm === 1 || (rm === 2 && r > 0) || (rm === 3 && r < 0)) return r > 0 ? max : -max;
    return r;
  }
  switch (rm) {
    case 1: // RTZ
      return (off < 0 && r > 0) || (off > 0 && r < 0) ? step(r, off > 0, dbl) : r;
    case 2: // RDN
      return off < 0 ? step(r, false, dbl) : r;
    case 3: // RUP
      return off > 0 ? step(r, true, dbl) : r;
    default: {
      // RMM differs from RNE only on ties, which it breaks away from zero.
      const other = step(r, off > 0, dbl);
      const tie =
        diff !== 0
          ? err === 0 && Math.abs(other - r) === 2 * Math.abs(diff)
          : Math.abs(other - r) === 2 * Math.abs(err);
      return tie && Math.abs(other) > Math.abs(r) ? other : r;
    }
  }
}

function roundInt(a: number, rm: number): number {
  if (a !== a || !isFinite(a)) return a;
  switch (rm) {
    case 1:
      return Math.trunc(a);
    case 2:
      return Math.floor(a);
    case 3:
      return Math.ceil(a);
    case 4: {
      const t = Math.trunc(a);
      return Math.abs(a - t) >= 0.5 ? t + Math.sign(a) : t;
    }
    default: {
      const f = Math.floor(a);
      const d = a - f;
      if (d > 0.5) return f + 1;
      if (d < 0.5) return f;
      return f % 2 === 0 ? f : f + 1;
    }
  }
}

function splitInt(a: number): [number, number] {
  const neg = a < 0;
  const m = Math.abs(a);
  let lo = m % TWO32,
    hi = Math.floor(m / TWO32);
  if (neg) {
    lo = -lo;
    hi = ~hi + (lo === 0 ? 1 : 0);
  }
  return [lo | 0, hi | 0];
}

function classD(lo: number, hi: number): number {
  const sign = hi < 0;
  const exp = (hi >>> 20) & 0x7ff;
  const mant = (hi & 0xfffff) | lo;
  if (exp === 0x7ff) {
    if (mant === 0) return sign ? 1 << 0 : 1 << 7;
    return hi & 0x80000 ? 1 << 9 : 1 << 8;
  }
  if (exp === 0) {
    if (mant === 0) return sign ? 1 << 3 : 1 << 4;
    return sign ? 1 << 2 : 1 << 5;
  }
  return sign ? 1 << 1 : 1 << 6;
}

function classS(b: number): number {
  const sign = b < 0;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) {
    if (mant === 0) return sign ? 1 << 0 : 1 << 7;
    return b & 0x400000 ? 1 << 9 : 1 << 8;
  }
  if (exp === 0) {
    if (mant === 0) return sign ? 1 << 3 : 1 << 4;
    return sign ? 1 << 2 : 1 << 5;
  }
  return sign ? 1 << 1 : 1 << 6;
}

void UF;
