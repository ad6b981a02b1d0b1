import { test } from 'node:test';
import assert from 'node:assert/strict';
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
} from '../../src/cpu/int64.js';

const M64 = (1n << 64n) - 1n;
const lo = (v: bigint): number => Number(BigInt.asIntN(32, v));
const hi = (v: bigint): number => Number(BigInt.asIntN(32, v >> 32n));
const res = (): bigint => (BigInt(r64[1]) << 32n) | BigInt(r64[0] >>> 0);
const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

/** Edge values plus a deterministic pseudo-random spread. */
function operands(): bigint[] {
  const v = [0n, 1n, 2n, 3n, M64, M64 - 1n, 1n << 63n, (1n << 63n) - 1n, 0xffffffffn, 0x100000000n];
  v.push(0x7fffffffn, 0x80000000n, 0xffff0000ffffn, 0x123456789abcdef0n, 0xfedcba9876543210n);
  let x = 0x9e3779b97f4a7c15n;
  for (let k = 0; k < 40; k++) {
    x = u64(x * 6364136223846793005n + 1442695040888963407n);
    v.push(k % 3 === 0 ? x >> BigInt(k % 61) : x);
  }
  return v.map(u64);
}

type Op = (aLo: number, aHi: number, bLo: number, bHi: number) => void;

function check(name: string, op: Op, ref: (a: bigint, b: bigint) => bigint): void {
  for (const a of operands())
    for (const b of operands()) {
      op(lo(a), hi(a), lo(b), hi(b));
      assert.equal(res(), s64(ref(a, b)), `${name}(${a.toString(16)}, ${b.toString(16)})`);
    }
}

test('mul, mulh, mulhsu, mulhu match BigInt', () => {
  check('mul', mul64, (a, b) => a * b);
  check('mulhu', mulhu64, (a, b) => (a * b) >> 64n);
  check('mulh', mulh64, (a, b) => (s64(a) * s64(b)) >> 64n);
  check('mulhsu', mulhsu64, (a, b) => (s64(a) * b) >> 64n);
});

test('div, divu, rem, remu follow RISC-V rules incl. zero divisor and overflow', () => {
  // M extension spec table 13.1: x/0 = -1 (all ones), x%0 = x; MIN/-1 = MIN, MIN%-1 = 0.
  check('divu', divu64, (a, b) => (b === 0n ? M64 : a / b));
  check('remu', remu64, (a, b) => (b === 0n ? a : a % b));
  check('div', div64, (a, b) => {
    const x = s64(a),
      y = s64(b);
    if (y === 0n) return -1n;
    if (x === -(1n << 63n) && y === -1n) return x;
    return x / y; // BigInt division truncates toward zero, as RISC-V does
  });
  check('rem', rem64, (a, b) => {
    const x = s64(a),
      y = s64(b);
    if (y === 0n) return x;
    if (x === -(1n << 63n) && y === -1n) return 0n;
    return x % y;
  });
});

test('32-bit W variants', () => {
  const vals = [0, 1, -1, 7, -7, 0x7fffffff, -0x80000000, 123456789, -987654321, 0xffff];
  for (const a of vals)
    for (const b of vals) {
      const ua = a >>> 0,
        ub = b >>> 0;
      assert.equal(divw(a, b), b === 0 ? -1 : a === -0x80000000 && b === -1 ? a : (a / b) | 0);
      assert.equal(remw(a, b), b === 0 ? a : a === -0x80000000 && b === -1 ? 0 : (a % b) | 0);
      assert.equal(divuw(a, b), b === 0 ? -1 : ((ua / ub) >>> 0) | 0);
      assert.equal(remuw(a, b), b === 0 ? a : (ua % ub) | 0);
    }
});
