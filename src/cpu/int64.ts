/**
 * 64-bit integer arithmetic on (lo, hi) pairs of int32, for a hart that keeps
 * its registers as two Int32Arrays. No BigInt, no allocation: results land in
 * the shared `r64` scratch array ([0] = low word, [1] = high word).
 */
export const r64 = new Int32Array(2);
const u128 = new Float64Array(8); // 16-bit limbs of a 128-bit product

const TWO32 = 4294967296;

/** Unsigned 64x64 → 128-bit product into u128's 16-bit limbs (exact in doubles). */
function mulLimbs(aLo: number, aHi: number, bLo: number, bHi: number): void {
  const a0 = aLo & 0xffff,
    a1 = aLo >>> 16,
    a2 = aHi & 0xffff,
    a3 = aHi >>> 16;
  const b0 = bLo & 0xffff,
    b1 = bLo >>> 16,
    b2 = bHi & 0xffff,
    b3 = bHi >>> 16;
  let t = a0 * b0;
  u128[0] = t % 65536;
  t = Math.floor(t / 65536) + a0 * b1 + a1 * b0;
  u128[1] = t % 65536;
  t = Math.floor(t / 65536) + a0 * b2 + a1 * b1 + a2 * b0;
  u128[2] = t % 65536;
  t = Math.floor(t / 65536) + a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0;
  u128[3] = t % 65536;
  t = Math.floor(t / 65536) + a1 * b3 + a2 * b2 + a3 * b1;
  u128[4] = t % 65536;
  t = Math.floor(t / 65536) + a2 * b3 + a3 * b2;
  u128[5] = t % 65536;
  t = Math.floor(t / 65536) + a3 * b3;
  u128[6] = t % 65536;
  u128[7] = Math.floor(t / 65536);
}

/** Low 64 bits of a*b (MUL). */
export function mul64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  // low word: exact via imul; high word: carry of aLo*bLo plus the cross terms.
  const a0 = aLo & 0xffff,
    a1 = aLo >>> 16,
    b0 = bLo & 0xffff,
    b1 = bLo >>> 16;
  const lo00 = a0 * b0;
  const mid = a1 * b0 + a0 * b1; // < 2^33
  const low = lo00 + (mid % 65536) * 65536; // < 2^49
  const carry = Math.floor(low / TWO32) + Math.floor(mid / 65536) + a1 * b1;
  r64[0] = (low % TWO32) | 0;
  r64[1] = ((carry % TWO32) | 0) + Math.imul(aLo, bHi) + Math.imul(aHi, bLo);
}

function highFromLimbs(): void {
  r64[0] = (u128[4] + u128[5] * 65536) | 0;
  r64[1] = (u128[6] + u128[7] * 65536) | 0;
}

/** High 64 bits of unsigned a*b (MULHU). */
export function mulhu64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  mulLimbs(aLo, aHi, bLo, bHi);
  highFromLimbs();
}

/** Subtract (sLo, sHi) from r64 in place. */
function subFromR(sLo: number, sHi: number): void {
  const lo = (r64[0] - sLo) | 0;
  const borrow = r64[0] >>> 0 < sLo >>> 0 ? 1 : 0;
  r64[0] = lo;
  r64[1] = (r64[1] - sHi - borrow) | 0;
}

/** High 64 bits of signed a*b (MULH). */
export function mulh64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  mulhu64(aLo, aHi, bLo, bHi);
  if (aHi < 0) subFromR(bLo, bHi);
  if (bHi < 0) subFromR(aLo, aHi);
}

/** High 64 bits of signed a times unsigned b (MULHSU). */
export function mulhsu64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  mulhu64(aLo, aHi, bLo, bHi);
  if (aHi < 0) subFromR(bLo, bHi);
}

// Division: quotient and remainder of unsigned 64-bit values.
let qLo = 0,
  qHi = 0,
  remLo = 0,
  remHi = 0;

function divmodu(aLo: number, aHi: number, bLo: number, bHi: number): void {
  const ah = aHi >>> 0,
    al = aLo >>> 0,
    bh = bHi >>> 0,
    bl = bLo >>> 0;
  if (ah < 0x100000 && bh < 0x100000) {
    // Both below 2^52: doubles are exact; correct the rounded quotient.
    const a = ah * TWO32 + al,
      b = bh * TWO32 + bl;
    let q = Math.floor(a / b);
    let r = a - q * b;
    if (r < 0) {
      q -= 1;
      r += b;
    } else if (r >= b) {
      q += 1;
      r -= b;
    }
    qLo = (q % TWO32) | 0;
    qHi = Math.floor(q / TWO32) | 0;
    remLo = (r % TWO32) | 0;
    remHi = Math.floor(r / TWO32) | 0;
    return;
  }
  // Shift-subtract long division, one bit at a time.
  let rh = 0,
    rl = 0,
    qh = 0,
    ql = 0;
  for (let i = 63; i >= 0; i--) {
    // r = (r << 1) | bit i of a
    rh = ((rh << 1) | (rl >>> 31)) >>> 0;
    const bit = i >= 32 ? (ah >>> (i - 32)) & 1 : (al >>> i) & 1;
    rl = ((rl << 1) | bit) >>> 0;
    if (rh > bh || (rh === bh && rl >= bl)) {
      const nl = (rl - bl) >>> 0;
      rh = (rh - bh - (rl < bl ? 1 : 0)) >>> 0;
      rl = nl;
      if (i >= 32) qh |= 1 << (i - 32);
      else ql |= 1 << i;
    }
  }
  qLo = ql | 0;
  qHi = qh | 0;
  remLo = rl | 0;
  remHi = rh | 0;
}

/** DIVU (division by zero gives all ones, spec 7.2). */
export function divu64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  if ((bLo | bHi) === 0) {
    r64[0] = -1;
    r64[1] = -1;
    return;
  }
  divmodu(aLo, aHi, bLo, bHi);
  r64[0] = qLo;
  r64[1] = qHi;
}

/** REMU (remainder of division by zero is the dividend). */
export function remu64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  if ((bLo | bHi) === 0) {
    r64[0] = aLo;
    r64[1] = aHi;
    return;
  }
  divmodu(aLo, aHi, bLo, bHi);
  r64[0] = remLo;
  r64[1] = remHi;
}

function neg(lo: number, hi: number): void {
  r64[0] = -lo | 0;
  r64[1] = (~hi + (lo === 0 ? 1 : 0)) | 0;
}

/** DIV: signed; by zero → -1; INT64_MIN / -1 → INT64_MIN. */
export function div64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  if ((bLo | bHi) === 0) {
    r64[0] = -1;
    r64[1] = -1;
    return;
  }
  if (aHi === -0x80000000 && aLo === 0 && bLo === -1 && bHi === -1) {
    r64[0] = 0;
    r64[1] = -0x80000000;
    return;
  }
  const negA = aHi < 0,
    negB = bHi < 0;
  if (negA) {
    neg(aLo, aHi);
    aLo = r64[0];
    aHi = r64[1];
  }
  if (negB) {
    neg(bLo, bHi);
    bLo = r64[0];
    bHi = r64[1];
  }
  divmodu(aLo, aHi, bLo, bHi);
  if (negA !== negB) neg(qLo, qHi);
  else {
    r64[0] = qLo;
    r64[1] = qHi;
  }
}

/** REM: sign of the dividend; by zero → dividend; INT64_MIN % -1 → 0. */
export function rem64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  if ((bLo | bHi) === 0) {
    r64[0] = aLo;
    r64[1] = aHi;
    return;
  }
  const negA = aHi < 0,
    negB = bHi < 0;
  if (negA) {
    neg(aLo, aHi);
    aLo = r64[0];
    aHi = r64[1];
  }
  if (negB) {
    neg(bLo, bHi);
    bLo = r64[0];
    bHi = r64[1];
  }
  divmodu(aLo, aHi, bLo, bHi);
  if (negA) neg(remLo, remHi);
  else {
    r64[0] = remLo;
    r64[1] = remHi;
  }
}

/** 32-bit signed division for DIVW/REMW (results sign-extended by the caller). */
export function divw(a: number, b: number): number {
  if (b === 0) return -1;
  if (a === -0x80000000 && b === -1) return a;
  return (a / b) | 0; // |0 truncates toward zero, as the spec wants
}
export function remw(a: number, b: number): number {
  if (b === 0) return a;
  if (a === -0x80000000 && b === -1) return 0;
  return (a % b) | 0;
}
export function divuw(a: number, b: number): number {
  if (b === 0) return -1;
  return ((a >>> 0) / (b >>> 0)) | 0;
}
export function remuw(a: number, b: number): number {
  if (b === 0) return a;
  return ((a >>> 0) % (b >>> 0)) | 0;
}
