/**
 * The FPU against exact arithmetic: random doubles (mantissas of random
 * length, so that exact ties occur) through fadd/fmul/fdiv/fmadd in every
 * rounding mode, compared with a BigInt reference that rounds the exact
 * rational result by the book (IEEE 754 roundTiesToEven, toward zero, down,
 * up, ties-away).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FpUnit } from '../../src/cpu/fpu.js';
import { prng, withSeed } from '../helpers/seed.js';

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/** x = m * 2^e exactly (m a signed BigInt). */
function toExact(x: number): [bigint, number] {
  f64[0] = x;
  const b = u64[0];
  const sign = b >> 63n ? -1n : 1n;
  const exp = Number((b >> 52n) & 0x7ffn);
  let mant = b & ((1n << 52n) - 1n);
  if (exp !== 0) mant |= 1n << 52n;
  return [sign * mant, (exp === 0 ? 1 : exp) - 1075];
}

/** Round m * 2^e to a double with rounding mode rm (0 RNE, 1 RTZ, 2 RDN, 3 RUP, 4 RMM). */
function roundExact(m: bigint, e: number, rm: number): number {
  if (m === 0n) return 0;
  const neg = m < 0n;
  let mag = neg ? -m : m;
  const len = mag.toString(2).length;
  const lead = e + len - 1;
  const prec = lead < -1022 ? 53 - (-1022 - lead) : 53;
  const shift = len - prec;
  if (shift > 0) {
    const q = mag >> BigInt(shift);
    const rem = mag - (q << BigInt(shift));
    const half = 1n << BigInt(shift - 1);
    let up = false;
    if (rem !== 0n) {
      if (rm === 0) up = rem > half || (rem === half && (q & 1n) === 1n);
      else if (rm === 2) up = neg;
      else if (rm === 3) up = !neg;
      else if (rm === 4) up = rem >= half;
    }
    mag = up ? q + 1n : q;
    e += shift;
  }
  const v = Number(mag) * 2 ** e;
  return neg ? -v : v;
}

function bitsOf(x: number): bigint {
  f64[0] = x;
  return u64[0];
}

// Random operands from the run's seed (printed by the test runner; VMRS_TEST_SEED repeats them).
const rng = prng('fpu-exact');
const rnd = () => rng.next();

function randomDouble(): number {
  const bits = 1 + Math.floor(rnd() * 53);
  let m = 0;
  for (let i = 0; i < bits; i++) m = m * 2 + (rnd() < 0.5 ? 1 : 0);
  m = m * 2 + 1;
  const e = Math.floor(rnd() * 80) - 40 - bits;
  return (rnd() < 0.5 ? -1 : 1) * m * 2 ** e;
}

function setD(fpu: FpUnit, r: number, x: number) {
  f64[0] = x;
  const w = new Int32Array(f64.buffer);
  fpu.fr[2 * r] = w[0];
  fpu.fr[2 * r + 1] = w[1];
}
function getD(fpu: FpUnit, r: number): number {
  const w = new Int32Array(f64.buffer);
  w[0] = fpu.fr[2 * r];
  w[1] = fpu.fr[2 * r + 1];
  return f64[0];
}

const regs = new Int32Array(64);
const OP = { add: 0x01, mul: 0x09, div: 0x0d } as const;

function exactOp(op: keyof typeof OP, a: number, b: number, rm: number): number {
  const [ma, ea] = toExact(a);
  const [mb, eb] = toExact(b);
  if (op === 'mul') return roundExact(ma * mb, ea + eb, rm);
  if (op === 'add') {
    const e = Math.min(ea, eb);
    return roundExact((ma << BigInt(ea - e)) + (mb << BigInt(eb - e)), e, rm);
  }
  // division: enough quotient bits (120) plus a sticky bit decide the rounding
  const k = 120;
  const num = ma << BigInt(k);
  let q = num / mb;
  const r = num - q * mb;
  if (r !== 0n) q = q * 2n + (q < 0n || (q === 0n && ma < 0n !== mb < 0n) ? -1n : 1n);
  else q = q * 2n;
  return roundExact(q, ea - eb - k - 1, rm);
}

test(
  'fadd/fmul/fdiv.d match exact arithmetic in every rounding mode',
  withSeed(() => {
    const fpu = new FpUnit();
    let checked = 0;
    for (let i = 0; i < 3000; i++) {
      const a = randomDouble(),
        b = randomDouble();
      for (const op of ['add', 'mul', 'div'] as const) {
        for (let rm = 0; rm <= 4; rm++) {
          setD(fpu, 1, a);
          setD(fpu, 2, b);
          const insn = (OP[op] << 25) | (2 << 20) | (1 << 15) | (rm << 12) | (3 << 7) | 0x53;
          assert.ok(fpu.execute(insn, regs));
          const want = exactOp(op, a, b, rm);
          const got = getD(fpu, 3);
          assert.equal(
            bitsOf(got),
            bitsOf(want),
            `${op} ${a} ${b} rm=${rm}: got ${got} want ${want}`,
          );
          checked++;
        }
      }
    }
    assert.equal(checked, 45000);
  }),
);

test(
  'fmadd.d is fused (one rounding) in every rounding mode',
  withSeed(() => {
    const fpu = new FpUnit();
    for (let i = 0; i < 5000; i++) {
      const a = randomDouble(),
        b = randomDouble();
      // c near -a*b half the time, to exercise cancellation
      const c = rnd() < 0.5 ? randomDouble() : -(a * b) * (1 + (rnd() - 0.5) * 2 ** -40);
      const [ma, ea] = toExact(a),
        [mb, eb] = toExact(b),
        [mc, ec] = toExact(c);
      const e = Math.min(ea + eb, ec);
      const exact = ((ma * mb) << BigInt(ea + eb - e)) + (mc << BigInt(ec - e));
      if (exact === 0n) continue;
      for (let rm = 0; rm <= 4; rm++) {
        setD(fpu, 1, a);
        setD(fpu, 2, b);
        setD(fpu, 4, c);
        const insn = (4 << 27) | (1 << 25) | (2 << 20) | (1 << 15) | (rm << 12) | (3 << 7) | 0x43;
        assert.ok(fpu.execute(insn, regs));
        const want = roundExact(exact, e, rm);
        const got = getD(fpu, 3);
        assert.equal(
          bitsOf(got),
          bitsOf(want),
          `fma ${a} ${b} ${c} rm=${rm}: got ${got} want ${want}`,
        );
      }
    }
  }),
);

test('funct3 that picks the operation is never a rounding mode: reserved values trap whatever frm and the operands hold', () => {
  // OP-FP with funct5/fmt/rs2 given; rd 1, rs1 2.
  const opFp = (funct5: number, fmt: number, rs2: number, funct3: number) =>
    ((funct5 << 27) | (fmt << 25) | (rs2 << 20) | (2 << 15) | (funct3 << 12) | (1 << 7) | 0x53) >>>
    0;
  const cases: [string, number, number, number, number[]][] = [
    // name, funct5, fmt (1: D), rs2, the funct3 values that name an operation
    ['fsgnj.d', 4, 1, 3, [0, 1, 2]],
    ['fmin/fmax.d', 5, 1, 3, [0, 1]],
    ['fmin/fmax.s', 5, 0, 3, [0, 1]],
    ['feq/flt/fle.d', 20, 1, 3, [0, 1, 2]],
    ['fmv.x.d/fclass.d', 28, 1, 0, [0, 1]],
    ['fmv.d.x', 30, 1, 0, [0]],
  ];
  for (const [name, f5, fmt, rs2, legal] of cases)
    for (let funct3 = 0; funct3 < 8; funct3++)
      for (const frm of [0, 1, 4])
        for (const nan of [false, true]) {
          const f = new FpUnit();
          f.frm = frm;
          for (let r = 0; r < 32; r++) {
            f.fr[2 * r] = fmt ? 0 : nan ? 0x7fc00000 : 0x3f800000;
            f.fr[2 * r + 1] = fmt ? (nan ? 0x7ff80000 : 0x3ff00000) : -1;
          }
          const ok = f.execute(opFp(f5, fmt, rs2, funct3), new Int32Array(64));
          assert.equal(
            ok,
            legal.includes(funct3),
            `${name} funct3 ${funct3}, frm ${frm}, ${nan ? 'NaN' : 'number'} operands`,
          );
        }
});
