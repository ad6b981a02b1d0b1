/**
 * The translator against the interpreter (the reference): random programs,
 * code that changes under compiled blocks, exact budgets, and debugging
 * stops inside compiled code. The translating machine compiles every block
 * at its first visit, so all of a program runs translated where it can.
 * Random programs are seeded (VMRS_TEST_SEED); a mismatch names the first
 * differing instruction.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Engine } from '../../src/cpu/cpu.js';
import { decode, Op } from '../../src/cpu/decode.js';
import { canCompile, canTailCall } from '../../src/cpu/translate-wasm.js';
import { rvcTable } from '../../src/cpu/rvc.js';
import {
  OP_AMO,
  OP_IMM,
  OP_IMM_32,
  OP_LOAD,
  OP_LUI,
  OP_AUIPC,
  OP_OP,
  OP_OP_32,
  OP_STORE,
  OP_SYSTEM,
  FENCE,
  FENCE_I,
  add,
  addi,
  blt,
  csrrs,
  csrrw,
  encB,
  encI,
  encJ,
  encR,
  encS,
  encU,
  jalr,
  ld,
  lui,
  lw,
  sd,
  sw,
  SPIN,
} from './asm.js';
import { CODE, DATA, MTRAP, STRAP, enter, machineWith, setX, step } from './harness.js';
import { RAM_BASE, writeWords, type BareMachine } from '../helpers/bare-machine.js';
import { testRng, type Prng } from '../helpers/seed.js';
import { CSR, MIP_SSIP } from '../../src/cpu/csr-numbers.js';
import { PRIV_S, PRIV_U } from '../../src/cpu/hart-constants.js';
import { CACHE_MASK } from '../../src/cpu/hart-memory.js';
import { TLB_SIZE } from '../../src/cpu/mmu.js';
import { enterSlice, interpret } from '../../src/cpu/interpreter.js';

test('this host can compile WebAssembly (the translator is there to test), with tail calls (chains)', () => {
  assert.ok(canCompile);
  assert.ok(canTailCall);
});

function build(
  words: readonly number[],
  engine: Engine,
  init?: (m: BareMachine) => void,
  ramSize?: number,
): BareMachine {
  const m = machineWith(words, ramSize);
  m.cpu.engine = engine;
  const code = m.cpu.code;
  code.hotAfter = 1;
  code.batch = 1;
  code.batchWait = 0;
  init?.(m);
  return m;
}

/** Registers (integer and FP), pc, icount, mstatus and the FP flags as text, for comparing and for messages. */
function regs(m: BareMachine): string {
  const c = m.cpu;
  const r = [
    `pc=${(c.pcHi >>> 0).toString(16)}:${(c.pcLo >>> 0).toString(16)} icount=${c.icount} reservation=${c.resAddr}`,
    `mstatus=${(c.mstatus >>> 0).toString(16)} fflags=${c.fpu.fflags} frm=${c.fpu.frm}`,
  ];
  for (let i = 1; i < 32; i++)
    r.push(
      `x${i}=${(c.regs[(i << 1) | 1] >>> 0).toString(16)}:${(c.regs[i << 1] >>> 0).toString(16)}`,
    );
  const f = c.fpu.fr;
  for (let i = 0; i < 32; i++)
    r.push(`f${i}=${(f[2 * i + 1] >>> 0).toString(16)}:${(f[2 * i] >>> 0).toString(16)}`);
  return r.join(' ');
}

function ramEqual(a: BareMachine, b: BareMachine, from: number, bytes: number): boolean {
  const o = (from - RAM_BASE) >>> 2;
  for (let i = o; i < o + bytes / 4; i++) if (a.bus.ram32[i] !== b.bus.ram32[i]) return false;
  return true;
}

function differs(a: BareMachine, b: BareMachine): string | undefined {
  const ra = regs(a),
    rb = regs(b);
  if (ra !== rb) {
    const fa = ra.split(' '),
      fb = rb.split(' ');
    return fa
      .map((f, i) => (f === fb[i] ? '' : `translate ${f} / interp ${fb[i]}`))
      .filter(Boolean)
      .join(', ');
  }
  if (!ramEqual(a, b, DATA - 0x1000, 0x4000)) return 'data RAM differs';
  if (!ramEqual(a, b, CODE, 0x1000)) return 'code RAM differs';
  return undefined;
}

/**
 * Run both engines in slices of the sizes given and compare after each (so
 * a wrong value is seen before a later instruction overwrites it); on a
 * difference, name the first instruction after which they differ (again
 * from the start, with one-instruction blocks, a binary search on the
 * count in the slice).
 */
function agree(
  words: number[],
  slices: number[],
  init?: (m: BareMachine) => void,
  ramSize?: number,
): string | undefined {
  const machines = (maxBlock?: number) => {
    const a = build(words, 'translate', init, ramSize);
    if (maxBlock) a.cpu.code.maxBlock = maxBlock;
    return [a, build(words, 'interp', init, ramSize)];
  };
  const [a, b] = machines();
  let failed = -1;
  for (let j = 0; j < slices.length && failed < 0; j++) {
    step(a, slices[j]);
    step(b, slices[j]);
    if (differs(a, b) !== undefined) failed = j;
  }
  if (failed < 0) return undefined;
  const upTo = (k: number, maxBlock?: number) => {
    const [x, y] = machines(maxBlock);
    for (let j = 0; j < failed; j++) {
      step(x, slices[j]);
      step(y, slices[j]);
    }
    step(x, k);
    step(y, k);
    return [x, y];
  };
  let lo = 0,
    hi = slices[failed];
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    const [x, y] = upTo(mid, 1);
    if (differs(x, y) === undefined) lo = mid;
    else hi = mid;
  }
  const before = upTo(lo)[1];
  const pcOff = (before.cpu.pcLo >>> 0) - CODE;
  const raw = words[pcOff >>> 2] >>> ((pcOff & 2) * 8);
  const [x, y] = upTo(hi, 1);
  const why = differs(x, y) ?? `(only with longer blocks: ${differs(a, b)})`;
  return `after ${before.cpu.icount + 1} instructions, the one at CODE+0x${pcOff.toString(16)} (0x${(raw >>> 0).toString(16)}): ${why}`;
}

const EDGE = [
  0n,
  1n,
  -1n,
  1n << 63n,
  (1n << 63n) - 1n,
  0x80000000n,
  0x7fffffffn,
  -0x80000000n,
  2n,
  -2n,
];

function randomValue(rng: Prng): bigint {
  if (rng.int(3) === 0) return EDGE[rng.int(EDGE.length)];
  return (BigInt(rng.u32()) << 32n) | BigInt(rng.u32());
}

/**
 * x30 holds the data address; x29 sums every result (so a wrong one is never
 * overwritten unseen); x28 counts the turns of the loops.
 */
const BASE = 30;
const SUM = 29;
const LOOP = 28;

function randomInsn(rng: Prng): number {
  const rd = rng.int(8) === 0 ? 0 : 1 + rng.int(27);
  const rs1 = rng.int(30);
  const rs2 = rng.int(30);
  const imm12 = rng.int(4096) - 2048;
  switch (rng.int(14)) {
    case 0:
    case 1:
      return (
        encI(OP_IMM, rng.int(8), rd, rs1, rng.int(2) ? imm12 : imm12 & 63) |
        (rng.int(4) === 0 ? 0x40000000 : 0)
      );
    case 2: {
      // OP-IMM-32 (addiw, slliw, srliw, sraiw)
      const f3 = [0, 1, 5][rng.int(3)];
      const sh = f3 === 0 ? imm12 : (imm12 & 31) | (f3 === 5 && rng.int(2) ? 0x400 : 0);
      return encI(OP_IMM_32, f3, rd, rs1, sh);
    }
    case 3:
    case 4: {
      const f7 = [0, 0x20, 1][rng.int(3)];
      return encR(OP_OP, rng.int(8), f7, rd, rs1, rs2);
    }
    case 5: {
      const f7 = [0, 0x20, 1][rng.int(3)];
      return encR(OP_OP_32, rng.int(8), f7, rd, rs1, rs2);
    }
    case 6:
      return rng.int(2) ? encU(OP_LUI, rd, rng.u32() >>> 12) : encU(OP_AUIPC, rd, rng.u32() >>> 12);
    case 7:
    case 8: {
      // loads around DATA, sometimes misaligned
      const f3 = [0, 1, 2, 3, 4, 5, 6][rng.int(7)];
      const size = 1 << (f3 & 3);
      const off = (rng.int(512) - 256) * (rng.int(6) === 0 ? 1 : size);
      return encI(OP_LOAD, f3, rd, BASE, off);
    }
    case 9: {
      const f3 = rng.int(4);
      const off = (rng.int(512) - 256) * (rng.int(6) === 0 ? 1 : 1 << f3);
      return encS(OP_STORE, f3, BASE, rs2, off);
    }
    case 10: {
      // a forward branch within the program (a side exit)
      return encB([0, 1, 4, 5, 6, 7][rng.int(6)], rs1, rs2, 8 * (1 + rng.int(4)));
    }
    case 11:
      if (rng.int(4) === 0) return encJ(0, 8 * (1 + rng.int(4)));
      return [FENCE, FENCE_I][rng.int(2)];
    case 12: {
      // a CSR read (left to the interpreter); an AMO on DATA, word or doubleword (blocks do
      // those but LR/SC); sstatus read, and cleared (blocks do those)
      const k = rng.int(4);
      if (k === 0) return csrrs(rd, CSR.mscratch, 0);
      if (k === 1) return encI(OP_SYSTEM, 2 + 5 * rng.int(2), rd, rng.int(2) * 2, CSR.sstatus);
      const f5 = [0, 1, 2, 3, 4, 8, 12, 16, 20, 24, 28][rng.int(11)];
      return encR(OP_AMO, 2 + rng.int(2), f5 << 2, rd, BASE, f5 === 2 ? 0 : rs2);
    }
    default: {
      // a compressed instruction (the low half; the high half is c.nop) when it is one blocks do
      for (;;) {
        const c = rng.int(0x10000);
        if ((c & 3) === 3 || rvcTable[c] === 0) continue;
        const x = decode(c);
        if (x.op === Op.LOAD || x.op === Op.STORE || x.op === Op.JAL || x.op === Op.JALR) continue;
        if (x.op >= Op.BEQ && x.op <= Op.BGEU) continue;
        if (x.rd >= LOOP || x.op === Op.ILLEGAL || x.op === Op.SYSTEM || x.op === Op.FLOAD)
          continue;
        if (x.op === Op.FSTORE || x.op === Op.FP) continue;
        return c | (0x0001 << 16);
      }
    }
  }
}

function randomProgram(rng: Prng, n: number): number[] {
  const words: number[] = [];
  let loopTop = -1; // index of the first instruction of an open loop's body
  let loopEnd = 0;
  for (let i = 0; i < n; i++) {
    if (loopTop < 0 && rng.int(16) === 0) {
      // a loop of a few turns (a backward branch: translated code goes round without leaving)
      words.push(addi(LOOP, 0, 1 + rng.int(4)));
      loopTop = words.length;
      loopEnd = i + 1 + rng.int(12);
    }
    if (loopTop >= 0 && i >= loopEnd) {
      words.push(addi(LOOP, LOOP, -1));
      words.push(encB(4, 0, LOOP, (loopTop - words.length) * 4)); // blt x0, x28, top
      loopTop = -1;
    }
    // legal encodings only: a trap would end the program in the spinning trap vector
    let w: number, x;
    do {
      w = randomInsn(rng);
      x = decode((w & 3) === 3 ? w : w & 0xffff);
    } while (x.op === Op.ILLEGAL);
    const writes = x.op !== Op.STORE && !(x.op >= Op.BEQ && x.op <= Op.BGEU) && x.rd !== 0;
    // never write the data base or the sum but through the sum's own add
    if (writes && (x.rd === BASE || x.rd === SUM)) w = addi(0, 0, 0);
    words.push(w);
    if (writes && x.op !== Op.JAL) words.push(add(SUM, SUM, x.rd));
    if (rng.int(16) === 0) {
      // LR, maybe something between (a store ends the reservation), SC to the same address or
      // another: blocks do LR/SC, and the reservation must come out as the interpreter's
      const f3 = 2 + rng.int(2);
      words.push(addi(27, BASE, rng.int(3) === 0 ? 8 * rng.int(4) : 0));
      words.push(encR(OP_AMO, f3, 2 << 2, 26, rng.int(2) ? BASE : 27, 0), add(SUM, SUM, 26));
      for (let k = rng.int(3); k > 0; k--) {
        const between = randomInsn(rng);
        const bx = decode((between & 3) === 3 ? between : between & 0xffff);
        if (bx.op === Op.ILLEGAL || bx.rd === BASE || bx.rd === SUM || bx.rd === 27) continue;
        words.push(between);
      }
      words.push(
        encR(OP_AMO, f3, 3 << 2, 26, rng.int(2) ? BASE : 27, rng.int(27)),
        add(SUM, SUM, 26),
      );
    }
    if (rng.int(24) === 0) {
      // csrs sstatus: SIE alone (blocks do it when no interrupt is pending), or other bits too
      words.push(rng.int(2) ? addi(27, 0, 2 * rng.int(2)) : lui(27, rng.u32() >>> 12));
      words.push(csrrs(26, CSR.sstatus, 27), add(SUM, SUM, 26));
    }
  }
  if (loopTop >= 0) {
    words.push(addi(LOOP, LOOP, -1));
    words.push(encB(4, 0, LOOP, (loopTop - words.length) * 4));
  }
  // land pad for the forward jumps, then loop forever: every block runs again, compiled
  for (let i = 0; i < 8; i++) words.push(addi(0, 0, 0));
  words.push(encJ(0, -words.length * 4));
  return words;
}

test('random programs: the translator and the interpreter agree at every step', (t) => {
  const rng = testRng(t);
  for (let p = 0; p < 60; p++) {
    const words = randomProgram(rng, 40 + rng.int(200));
    const values = Array.from({ length: 30 }, () => randomValue(rng));
    const data = Array.from({ length: 4096 }, () => rng.u32() | 0);
    // Every other program: a block whose access leaves its memo's page (loads and stores go
    // either side of DATA's start) is compiled again at once with the lookup there.
    const lookupOnMemoMiss = p % 2 === 1;
    const init = (m: BareMachine) => {
      values.forEach((v, i) => i > 0 && setX(m, i, v));
      setX(m, BASE, BigInt(DATA));
      writeWords(m, DATA - 0x1000, data);
      if (lookupOnMemoMiss) m.cpu.code.memoMissAfter = 1;
    };
    const slices = Array.from({ length: 20 + rng.int(40) }, () => 20 + rng.int(300));
    const why = agree(words, slices, init);
    assert.equal(
      why,
      undefined,
      `program ${p} (${words.length} instructions, lookupOnMemoMiss ${lookupOnMemoMiss}): ${why}`,
    );
  }
});

/** Doubles (and bit patterns) at the edges of what blocks do themselves (translate-fp.ts). */
const FP_EDGE: number[] = [
  0,
  -0,
  1,
  -1,
  1.5,
  0.1,
  3,
  7,
  -7,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  2 ** 31,
  -(2 ** 31),
  2 ** 32,
  2 ** 63,
  -(2 ** 63),
  2 ** 64,
  2 ** 400,
  2 ** -400,
  2 ** 401,
  2 ** -401,
  2 ** 200,
  2 ** -201,
  2 ** -1022,
  2 ** -1074,
  3 * 2 ** -1070,
  Number.MAX_VALUE,
  Infinity,
  -Infinity,
  NaN,
  1e308,
  1e-308,
  0.5,
  -0.5,
  2.5,
  4294967295.5,
  -2147483648.9,
];

function fpBits(rng: Prng): bigint {
  const k = rng.int(8);
  if (k === 0) return (BigInt(rng.u32()) << 32n) | BigInt(rng.u32()); // any pattern (sNaNs too)
  if (k === 1) return (0xffffffffn << 32n) | BigInt(rng.u32()); // a NaN-boxed single
  if (k === 2) return 0x7ff4000000000000n; // a signalling NaN
  const v =
    k === 3 ? (rng.u32() - 2 ** 31) / (1 + rng.int(1000)) : FP_EDGE[rng.int(FP_EDGE.length)];
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, v, true);
  return b.getBigUint64(0, true);
}

/** An FP instruction: mostly ones blocks do, some they leave to the interpreter. */
function randomFpInsn(rng: Prng): number[] {
  const rd = rng.int(32),
    rs1 = rng.int(32),
    rs2 = rng.int(32);
  const xd = 1 + rng.int(26); // an integer destination (summed after)
  const fmt = rng.int(5) === 0 ? 0 : 1;
  const rm = [0, 0, 0, 7, 7, 1, 2, 3, 4][rng.int(9)];
  const op = (funct5: number, f3: number, d: number, a: number, b: number, f = fmt) =>
    encR(0x53, f3, (funct5 << 2) | f, d, a, b);
  switch (rng.int(13)) {
    case 0: {
      const f3 = 2 + rng.int(2);
      const off = (rng.int(512) - 256) * (rng.int(8) === 0 ? 1 : 1 << f3);
      return [encI(0x07, f3, rd, BASE, off)];
    }
    case 1: {
      const f3 = 2 + rng.int(2);
      const off = (rng.int(512) - 256) * (rng.int(8) === 0 ? 1 : 1 << f3);
      return [encS(0x27, f3, BASE, rs2, off)];
    }
    case 2:
      return [op(4, rng.int(3), rd, rs1, rs2)]; // FSGNJ*
    case 3:
      return rng.int(2)
        ? [op(28, 0, xd, rs1, 0), add(SUM, SUM, xd)] // FMV.X.*
        : [op(30, 0, rd, 1 + rng.int(27), 0)]; // FMV.*.X
    case 4:
      return [op(20, rng.int(3), xd, rs1, rs2), add(SUM, SUM, xd)]; // FLE/FLT/FEQ
    case 5:
      return [op(26, rm, rd, 1 + rng.int(27), rng.int(4))]; // FCVT.*.W/WU/L/LU
    case 6:
    case 7:
    case 8:
      return [op(rng.int(4), rm, rd, rs1, rs2)]; // FADD/FSUB/FMUL/FDIV
    case 9:
      return [op(24, rng.int(3) ? 1 : rm, xd, rs1, rng.int(4)), add(SUM, SUM, xd)]; // FCVT.W/L.*
    case 10:
      // left to the interpreter: FCLASS, FSQRT, FMIN, a fused multiply-add
      return [
        [op(28, 1, xd, rs1, 0), op(11, rm, rd, rs1, 0), op(5, rng.int(2), rd, rs1, rs2)][
          rng.int(3)
        ],
        add(SUM, SUM, xd),
      ];
    case 11: {
      // fflags, frm or fcsr, every form (blocks do them): read, written from a register or a
      // 5-bit immediate, bits set or cleared; the source x0 or 0 now and then (a read only)
      const csr = [CSR.fflags, CSR.frm, CSR.fcsr][rng.int(3)];
      const f3 = 1 + rng.int(3) + (rng.int(2) ? 4 : 0);
      const src = f3 >= 5 ? rng.int(32) : rng.int(4) === 0 ? 0 : 27;
      return [
        addi(27, 0, rng.int(2048) - 1024),
        encI(OP_SYSTEM, f3, rng.int(4) === 0 ? 0 : xd, src, csr),
        add(SUM, SUM, xd),
      ];
    }
    default:
      return [encR(0x43 + 4 * rng.int(4), rm, (rng.int(32) << 2) | fmt, rd, rs1, rs2)];
  }
}

test('random FP programs: the translator and the interpreter agree at every step (registers, flags, mstatus.FS)', (t) => {
  const rng = testRng(t);
  for (let p = 0; p < 60; p++) {
    const words: number[] = [];
    const n = 30 + rng.int(150);
    for (let i = 0; i < n; i++) words.push(...randomFpInsn(rng));
    if (rng.int(3) === 0) {
      // a loop around it all, a few turns
      words.unshift(addi(LOOP, 0, 2 + rng.int(3)));
      words.push(addi(LOOP, LOOP, -1), encB(4, 0, LOOP, -(words.length - 1) * 4));
    }
    words.push(encJ(0, -words.length * 4));
    const fregs = Array.from({ length: 32 }, () => fpBits(rng));
    const values = Array.from({ length: 30 }, () => randomValue(rng));
    const data = Array.from({ length: 4096 }, () => rng.u32() | 0);
    // FS Off (every FP instruction is illegal), Initial, Clean or Dirty
    const fs = [0, 1, 2, 3, 3, 3][rng.int(6)];
    const frm = [0, 0, 0, 1, 5][rng.int(5)];
    const init = (m: BareMachine) => {
      values.forEach((v, i) => i > 0 && setX(m, i, v));
      setX(m, BASE, BigInt(DATA));
      writeWords(m, DATA - 0x1000, data);
      fregs.forEach((v, i) => {
        m.cpu.fpu.fr[2 * i] = Number(BigInt.asIntN(32, v));
        m.cpu.fpu.fr[2 * i + 1] = Number(BigInt.asIntN(32, v >> 32n));
      });
      m.cpu.mstatus = (m.cpu.mstatus & ~(3 << 13)) | (fs << 13);
      m.cpu.fpu.frm = frm;
    };
    const slices = Array.from({ length: 20 + rng.int(40) }, () => 5 + rng.int(200));
    const why = agree(words, slices, init);
    assert.equal(why, undefined, `program ${p} (${words.length} instructions, FS ${fs}): ${why}`);
  }
});

/**
 * An FP loop ending in SPIN, FS Dirty: both engines agree at every slice,
 * and the translator's machine, after `steps`, is at the SPIN.
 */
function fpLoop(words: number[], steps: number, setup?: (m: BareMachine) => void): BareMachine {
  const init = (m: BareMachine) => {
    setup?.(m);
    m.cpu.mstatus |= 3 << 13;
  };
  const why = agree(words, [100, 1000, 5000, 20000], init);
  assert.equal(why, undefined, why);
  const m = build(words, 'translate', init);
  step(m, steps);
  assert.equal(m.cpu.pcLo, (CODE + 4 * (words.length - 1)) | 0, 'the loop ran to its end');
  return m;
}

test('FP code runs in blocks: a loop of double arithmetic leaves its block for no instruction', () => {
  // f1 = 0.5, f2 = 3; x5 = 1000 turns of f3 = f3 * f2 + f1 (FMUL, FADD), f3 /= f2, FEQ, FSD, FLD.
  const words = [
    addi(5, 0, 1000),
    encR(0x53, 0, (26 << 2) | 1, 2, 5, 0), // fcvt.d.w f2, x5 (1000.0)
    encR(0x53, 0, (3 << 2) | 1, 1, 2, 2), // fdiv.d f1, f2, f2 (1.0)
    encR(0x53, 7, (3 << 2) | 1, 3, 1, 2), // loop: fdiv.d f3, f1, f2 (dynamic rounding)
    encR(0x53, 0, (0 << 2) | 1, 4, 3, 1), // fadd.d f4, f3, f1
    encR(0x53, 7, (2 << 2) | 1, 4, 4, 4), // fmul.d f4, f4, f4
    encR(0x53, 0, (1 << 2) | 1, 4, 4, 3), // fsub.d f4, f4, f3
    encR(0x53, 2, (20 << 2) | 1, 6, 4, 4), // feq.d x6, f4, f4
    encS(0x27, 3, BASE, 4, 8), // fsd f4, 8(x30)
    encI(0x07, 3, 7, BASE, 8), // fld f7, 8(x30)
    encR(0x53, 1, (24 << 2) | 1, 8, 7, 2), // fcvt.l.d x8, f7, rtz
    add(SUM, SUM, 8),
    encR(0x53, 0, (4 << 2) | 1, 9, 7, 3), // fsgnj.d f9, f7, f3
    addi(5, 5, -1),
    encB(1, 5, 0, -11 * 4), // bne x5, x0, loop
    SPIN,
  ];
  const m = fpLoop(words, 20000, (m) => setX(m, BASE, BigInt(DATA)));
  // Compiled at its first visit, the loop's 12 instructions x 1000 turns run in blocks.
  assert.ok(
    m.cpu.code.insnsInBlocks > 11_000,
    `${m.cpu.code.insnsInBlocks} instructions in blocks`,
  );
  assert.ok(m.cpu.fpu.fflags & 1, 'inexact raised (1/1000 is not a double)');
});

test('FP instructions blocks do not do themselves (fused multiply-adds, singles, square roots, fclass) run in blocks through fpu.ts', () => {
  // x5 = 500 turns; f1 = 1.5, f2 = 3; each turn: fmadd.d, fnmsub.d, fsqrt.d, fadd.s, fmin.d,
  // fcvt.s.d, fclass.d (an integer result), fcvt.d.l (an integer source), summed.
  const words = [
    addi(5, 0, 500),
    encR(0x53, 0, (26 << 2) | 1, 2, 5, 0), // fcvt.d.w f2, x5
    encR(0x53, 0, (3 << 2) | 1, 1, 2, 2), // fdiv.d f1, f2, f2 (1.0)
    encR(0x43, 7, (3 << 2) | 1, 3, 1, 2), // loop: fmadd.d f3, f1, f2, f3 (rs3 = f3)
    encR(0x4b, 0, (1 << 2) | 1, 4, 3, 1), // fnmsub.d f4, f3, f1, f0
    encR(0x53, 0, (11 << 2) | 1, 5, 3, 0), // fsqrt.d f5, f3
    encR(0x53, 0, (0 << 2) | 0, 6, 4, 4), // fadd.s f6, f4, f4
    encR(0x53, 0, (5 << 2) | 1, 7, 5, 3), // fmin.d f7, f5, f3
    encR(0x53, 0, (8 << 2) | 0, 8, 7, 1), // fcvt.s.d f8, f7
    encR(0x53, 1, (28 << 2) | 1, 6, 8, 0), // fclass.d x6, f8
    add(SUM, SUM, 6),
    encR(0x53, 0, (26 << 2) | 1, 9, SUM, 2), // fcvt.d.l f9, SUM
    addi(5, 5, -1),
    encB(1, 5, 0, -11 * 4), // bne x5, x0, loop
    SPIN,
  ];
  const c = fpLoop(words, 10000).cpu.code;
  assert.ok(
    c.insnsInBlocks > 5000 && c.interpreted < 100,
    `${c.insnsInBlocks} instructions in blocks, ${c.interpreted} interpreted`,
  );
});

test('a full code cache is emptied and refilled, and the translator still agrees with the interpreter', (t) => {
  const rng = testRng(t);
  let flushes = 0;
  for (let p = 0; p < 20; p++) {
    const words = randomProgram(rng, 100 + rng.int(200));
    const values = Array.from({ length: 30 }, () => randomValue(rng));
    const init = (m: BareMachine) => {
      values.forEach((v, i) => i > 0 && setX(m, i, v));
      setX(m, BASE, BigInt(DATA));
      m.cpu.code.maxLive = 3;
    };
    const a = build(words, 'translate', init);
    const b = build(words, 'interp', init);
    for (let j = 0; j < 40; j++) {
      const n = 20 + rng.int(300);
      step(a, n);
      step(b, n);
      const why = differs(a, b);
      assert.equal(why, undefined, `program ${p}, slice ${j}: ${why}`);
      // One batch may pass the bound (it is compiled whole), never more.
      assert.ok(a.cpu.code.functions <= 3 + 65, `${a.cpu.code.functions} live blocks`);
    }
    flushes += a.cpu.code.flushes;
  }
  assert.ok(flushes > 0, 'the cache was never full');
});

test('the budget is exact: a block that does not fit is not entered', (t) => {
  const rng = testRng(t);
  // a 20-instruction loop body
  const body = Array.from({ length: 19 }, (_, i) => addi(5 + (i % 5), 5 + (i % 5), i + 1));
  const words = [...body, encJ(0, -19 * 4)];
  for (let k = 0; k < 40; k++) {
    const n = 1 + rng.int(400);
    const a = build(words, 'translate');
    const b = build(words, 'interp');
    // slices of random sizes, as a board cuts them
    let done = 0;
    while (done < n) {
      const s = Math.min(n - done, 1 + rng.int(30));
      assert.equal(a.cpu.run(s), s, 'a slice retires exactly its budget');
      b.cpu.run(s);
      done += s;
    }
    assert.equal(a.cpu.icount, n);
    assert.equal(regs(a), regs(b));
  }
});

/** A counting loop: x5 += (the addi at LOOP), 10 times; then patches itself and loops 10 more. */
function selfModifying(): number[] {
  const patched = addi(5, 5, 100);
  return [
    addi(6, 0, 0), // 0: x6 = 0
    addi(7, 0, 10), // 4: x7 = 10
    addi(5, 5, 1), // 8: LOOP: the instruction that changes
    addi(6, 6, 1), // 12
    blt(6, 7, -8), // 16: 10 times
    // patch LOOP with `addi x5, x5, 100`, then 10 more times
    lui(8, ((patched + 0x800) >>> 12) & 0xfffff), // 20
    addi(8, 8, (patched << 20) >> 20), // 24
    addi(9, 10, 8), // 28: x9 = &LOOP (x10 = CODE)
    sw(8, 9, 0), // 32
    addi(6, 0, 0), // 36
    addi(5, 5, 1), // 40: LOOP2 is the same code, reached through a jump back
    encJ(0, -36), // 44: back to LOOP (8), with x6 = 0 and x7 = 10
  ];
}

test('a store into compiled code is seen at once (the block is dropped)', () => {
  for (const engine of ['translate', 'interp'] as const) {
    const words = selfModifying();
    const m = build(words, engine, (mm) => setX(mm, 10, BigInt(CODE)));
    // first phase: 2 + 10*3 = 32 instructions, then the patch (7) and 10 iterations (30)
    step(m, 2 + 30 + 7 + 30);
    // 10 × 1, then 1 (at 40) is skipped: the jump lands on LOOP, which now adds 100, 10 times
    assert.equal(m.cpu.regs[10], 10 + 1 + 100 * 10, `${engine}: x5 after the patch`);
  }
});

test('code written by a device (DMA) under a compiled block is seen at once', () => {
  const words = [addi(5, 5, 1), encJ(0, -4)];
  const a = build(words, 'translate');
  step(a, 1000);
  assert.equal(a.cpu.regs[10], 500);
  assert.ok(a.cpu.code.compiled > 0, 'the loop was compiled');
  writeWords(a, CODE, [addi(5, 5, 3)]);
  step(a, 1000);
  assert.equal(a.cpu.regs[10], 500 + 3 * 500);
});

test('a breakpoint inside a compiled block stops there', () => {
  const words = [addi(5, 5, 1), addi(6, 6, 1), addi(7, 7, 1), encJ(0, -12)];
  const m = build(words, 'translate');
  step(m, 400);
  assert.ok(m.cpu.code.compiled > 0);
  m.cpu.setBreakpoints([{ lo: (CODE + 8) | 0, hi: 0 }]);
  m.cpu.run(1000);
  assert.equal(m.cpu.debugHit, 1);
  assert.equal(m.cpu.pcLo, (CODE + 8) | 0);
  assert.equal(m.cpu.icount, 402, 'stopped before the instruction at the breakpoint');
});

test('a write watchpoint on what a compiled block stores to stops there', () => {
  const words = [addi(5, 5, 1), encS(OP_STORE, 3, BASE, 5, 8), encJ(0, -8)];
  const m = build(words, 'translate', (mm) => setX(mm, BASE, BigInt(DATA)));
  step(m, 300);
  assert.ok(m.cpu.code.compiled > 0);
  m.cpu.setWatchpoints([{ lo: (DATA + 8) | 0, hi: 0, len: 8, kind: 1 }]);
  m.cpu.run(1000);
  assert.equal(m.cpu.debugHit, 2);
  assert.equal(m.cpu.watchHit.write, true);
});

test('a reset drops every block', () => {
  const words = [addi(5, 5, 1), encJ(0, -4)];
  const m = build(words, 'translate');
  step(m, 100);
  assert.ok(m.cpu.code.all.size > 0);
  m.cpu.reset(CODE | 0, 0);
  assert.equal(m.cpu.code.all.size, 0);
  assert.equal(m.cpu.code.codePage.indexOf(1), -1, 'and no page is a code page any more');
});

test('sstatus in blocks: U-mode traps, and setting SIE takes a pending interrupt at once', () => {
  // csrr, csrrci SIE and csrs of SIE alone run in blocks (scan-region.ts sstatusAccess);
  // U-mode may not touch sstatus (illegal instruction), and a csrs that enables an
  // interrupt already pending leaves it to the interpreter, which takes it.
  const words = [
    addi(7, 0, 2), // SIE
    csrrs(5, CSR.sstatus, 0),
    addi(8, 5, 3),
    encI(OP_SYSTEM, 7, 6, 2, CSR.sstatus), // csrrci x6, sstatus, SIE
    addi(9, 6, 5),
    csrrs(10, CSR.sstatus, 7), // csrs of SIE
    addi(11, 10, 7),
    encJ(0, -7 * 4),
  ];
  const cases: [string, (m: BareMachine) => void, number][] = [
    ['M', () => {}, CODE],
    ['S', (m) => enter(m, PRIV_S), CODE],
    ['U', (m) => enter(m, PRIV_U), MTRAP],
    [
      'S with a supervisor software interrupt pending, delegated and enabled',
      (m) => {
        m.cpu.csrWrite(CSR.mideleg, MIP_SSIP, 0);
        m.cpu.csrWrite(CSR.mie, MIP_SSIP, 0);
        m.cpu.csrWrite(CSR.mip, MIP_SSIP, 0);
        enter(m, PRIV_S);
      },
      STRAP,
    ],
  ];
  for (const [mode, init, endsAt] of cases) {
    const why = agree(words, [40, 1, 3, 5, 2, 7, 100], init);
    assert.equal(why, undefined, `${mode}: ${why}`);
    const m = build(words, 'translate', init);
    step(m, 200);
    if (endsAt === CODE) {
      // Each access stays in its block (the block reads the privilege from the tag bits,
      // hart-constants.ts): the interpreter runs the first turn only, before it is compiled.
      const c = m.cpu.code;
      assert.ok(
        c.insnsInBlocks > 100 && c.interpreted <= words.length,
        `${mode}: the sstatus accesses ran in blocks (${c.interpreted} interpreted)`,
      );
    } else assert.equal(m.cpu.pcLo >>> 0, endsAt >>> 0, `${mode}: trapped to its vector`);
  }
});

test('fflags, frm and fcsr accesses run in blocks; with mstatus.FS Off they trap as illegal', () => {
  // musl's printf saves, clears and restores the flags and reads the rounding mode around
  // each number: frflags, fsflags, frrm, fsrm, fscsr and the immediate forms, in a loop.
  const words = [
    addi(7, 0, 0x7e), // a fcsr value: frm 3, flags 0x1e
    encI(OP_SYSTEM, 2, 5, 0, CSR.fflags), // frflags x5
    encI(OP_SYSTEM, 1, 0, 7, CSR.fflags), // fsflags x7 (flags 0x1e)
    encI(OP_SYSTEM, 2, 6, 0, CSR.frm), // frrm x6
    encI(OP_SYSTEM, 5, 8, 2, CSR.frm), // fsrmi x8, 2
    encI(OP_SYSTEM, 1, 9, 7, CSR.fcsr), // fscsr x9, x7 (frm 3)
    encI(OP_SYSTEM, 7, 10, 6, CSR.fflags), // csrrci x10, fflags, 6
    encI(OP_SYSTEM, 6, 11, 1, CSR.fcsr), // csrrsi x11, fcsr, 1
    encI(OP_SYSTEM, 3, 12, 8, CSR.frm), // csrrc x12, frm, x8
    add(13, 5, 6),
    encJ(0, -10 * 4),
  ];
  const cases: [string, number, number][] = [
    ['S, FS Dirty', PRIV_S, 3],
    ['S, FS Initial (a write makes it Dirty)', PRIV_S, 1],
    ['S, FS Off', PRIV_S, 0],
  ];
  for (const [mode, priv, fs] of cases) {
    const init = (m: BareMachine) => {
      enter(m, priv);
      m.cpu.mstatus = (m.cpu.mstatus & ~(3 << 13)) | (fs << 13);
    };
    const why = agree(words, [40, 1, 3, 5, 2, 7, 100], init);
    assert.equal(why, undefined, `${mode}: ${why}`);
    const m = build(words, 'translate', init);
    step(m, 400);
    const c = m.cpu.code;
    if (fs === 0) {
      // (Not delegated: the illegal instruction goes to M-mode's handler.)
      assert.equal(m.cpu.pcLo >>> 0, MTRAP >>> 0, `${mode}: trapped to its vector`);
      continue;
    }
    assert.ok(
      c.insnsInBlocks > 300 && c.interpreted <= words.length,
      `${mode}: the accesses ran in blocks (${c.interpreted} interpreted)`,
    );
    assert.equal((m.cpu.mstatus >>> 13) & 3, 3, `${mode}: FS Dirty`);
  }
});

test('accesses through one register reuse a TLB lookup only within its page', () => {
  // Sv39 in S-mode: the code's gigapage maps itself; VA 0x1000 and 0x2000 map to pages that
  // are not next to each other, and the page after the first holds other bytes. A block
  // that took the second page to follow the first (as RAM does) would read those.
  const ROOT = 0x80100000,
    L1 = 0x80101000,
    L0 = 0x80102000;
  const P1 = 0x80200000,
    P2 = 0x80205000;
  // PPNs below 2^22: the PTE's upper word is zero.
  const pte = (pa: number, flags: number) => [((pa >>> 12) << 10) | flags, 0];
  const V = 1,
    RWAD = 2 | 4 | 64 | 128,
    X = 8;
  const init = (m: BareMachine) => {
    writeWords(m, ROOT + 8 * 2, pte(0x80000000, V | RWAD | X));
    writeWords(m, ROOT, pte(L1, V));
    writeWords(m, L1, pte(L0, V));
    writeWords(m, L0 + 8, pte(P1, V | RWAD));
    writeWords(m, L0 + 16, pte(P2, V | RWAD));
    for (let i = 0; i < 1024; i++) {
      writeWords(m, P1 + 4 * i, [0x1000 + i]);
      writeWords(m, P1 + 0x1000 + 4 * i, [0xbad0000 + i]);
      writeWords(m, P2 + 4 * i, [0x2000 + i]);
    }
    m.cpu.csrWrite(CSR.satp, ROOT >>> 12, 8 << 28);
    enter(m, PRIV_S);
    setX(m, 10, 0x1f00n);
  };
  // Each turn: loads and a store through x10 at offsets that cross into the second page as
  // x10 moves up.
  const body = [
    ld(11, 10, 0),
    ld(12, 10, 8),
    lw(13, 10, 60),
    add(29, 29, 11),
    add(29, 29, 12),
    add(29, 29, 13),
    sd(29, 10, 32),
    ld(14, 10, 32),
    lw(15, 10, 44),
    add(29, 29, 14),
    add(29, 29, 15),
    // A base register written between two accesses: the second looks its page up afresh.
    addi(16, 10, 0),
    ld(17, 16, 0),
    addi(16, 16, 1024),
    ld(18, 16, 0),
    add(29, 29, 17),
    add(29, 29, 18),
    addi(10, 10, 24),
    addi(28, 28, -1),
  ];
  const words = [addi(28, 0, 20), ...body, blt(0, 28, -4 * body.length), SPIN];
  const why = agree(words, [7, 50, 1, 100, 300, 500], init);
  assert.equal(why, undefined, why);
  const m = build(words, 'translate', init);
  step(m, 2000);
  // The loop ran to its end, translated, without a trap, and x10 went past the first page.
  assert.equal(m.cpu.regs[28 * 2], 0);
  assert.equal(m.cpu.priv, PRIV_S);
  assert.ok(m.cpu.regs[10 * 2] > 0x2000);
  assert.ok(m.cpu.code.insnsInBlocks > 200, 'the loop did not run translated');
});

/** TLB_SIZE pages on: an address whose page takes the same TLB slot (mmu.ts). */
const SAME_SLOT = TLB_SIZE * 4096;

test("two pages in one TLB slot: a loop between them runs in blocks, from the slot's second way", () => {
  // Each turn loads from and stores to both pages: with one way, each access would evict the
  // other page's entry and leave the block for the interpreter and a walk. Once the block
  // has stopped so `secondWayAfter` times, it is compiled again looking in both ways.
  const FAR = DATA + SAME_SLOT;
  const body = [
    ld(11, BASE, 0),
    ld(12, 31, 0),
    add(SUM, SUM, 11),
    add(SUM, SUM, 12),
    sd(SUM, BASE, 8),
    sd(SUM, 31, 8),
    addi(LOOP, LOOP, -1),
  ];
  const words = [addi(LOOP, 0, 500), ...body, blt(0, LOOP, -4 * body.length), SPIN];
  const init = (m: BareMachine) => {
    setX(m, BASE, BigInt(DATA));
    setX(m, 31, BigInt(FAR));
    writeWords(m, DATA, [7]);
    writeWords(m, FAR, [11]);
    m.cpu.code.secondWayAfter = 16;
  };
  const ram = 2 * SAME_SLOT;
  const why = agree(words, [1, 7, 50, 300, 1000, 3000], init, ram);
  assert.equal(why, undefined, why);
  const m = build(words, 'translate', init, ram);
  step(m, 4100);
  assert.equal(m.cpu.regs[LOOP * 2], 0, 'the loop ran to its end');
  assert.equal(m.bus.ram32[(FAR + 8 - RAM_BASE) >>> 2], m.cpu.regs[SUM * 2]);
  assert.equal(m.cpu.code.secondWayOn[0], 1, 'the code page looks in both ways');
  assert.ok(
    m.cpu.code.insnsInBlocks > 3700,
    `${m.cpu.code.insnsInBlocks} of 4,000 instructions in blocks`,
  );
});

test("a frame across a page's end: once its blocks have stopped there `memoMissAfter` times, they look the other page up and run on", () => {
  // Each turn stores and loads on both sides of a page's end through one register, as the
  // prologue and epilogue of a function whose stack frame crosses it do: the second access of
  // each kind cannot reuse the first one's lookup (block-writer.ts access), and the block left
  // for the interpreter there at every turn.
  const FRAME = DATA + 0x1000 - 8;
  const body = [
    sd(SUM, BASE, 0),
    sd(LOOP, BASE, 8),
    ld(11, BASE, 0),
    ld(12, BASE, 8),
    add(SUM, SUM, 11),
    add(SUM, SUM, 12),
    addi(LOOP, LOOP, -1),
  ];
  const words = [addi(LOOP, 0, 500), ...body, blt(0, LOOP, -4 * body.length), SPIN];
  const init = (m: BareMachine) => {
    setX(m, BASE, BigInt(FRAME));
    m.cpu.code.memoMissAfter = 16;
  };
  const why = agree(words, [1, 7, 50, 300, 1000, 3000], init);
  assert.equal(why, undefined, why);
  const m = build(words, 'translate', init);
  step(m, 4100);
  assert.equal(m.cpu.regs[LOOP * 2], 0, 'the loop ran to its end');
  assert.equal(m.cpu.code.lookupOnMemoMiss[(CODE - RAM_BASE) >>> 12], 1, 'the code page looks up');
  assert.ok(
    m.cpu.code.insnsInBlocks > 3700,
    `${m.cpu.code.insnsInBlocks} of 4,100 instructions in blocks`,
  );
});

test("a compiled page's write-TLB entry in the slot's second way goes with the first's: a store there is seen at once", () => {
  // PATCHED (on its own page) is written once, then a page in the same TLB slot pushes its
  // write entry to the second way, then it is called and compiled. The loop then patches
  // PATCHED's first instruction (add 100 instead of 1) after each call: a store that took the
  // entry left in the second way would skip dropping the compiled callee.
  const PATCHED = CODE + 0x1000;
  const words = [
    sw(0, 20, 0x7f0), // x20 = PATCHED: its write entry
    sw(0, 21, 0x7f0), // x21 = PATCHED + SAME_SLOT: moves it to the second way
    jalr(1, 20, 0), // compiles PATCHED
    addi(LOOP, 0, 20),
    jalr(1, 20, 0), // loop: call PATCHED
    sw(22, 20, 0), // x22 = `addi x5, x5, 100`
    addi(LOOP, LOOP, -1),
    blt(0, LOOP, -12),
    SPIN,
  ];
  const init = (m: BareMachine) => {
    writeWords(m, PATCHED, [addi(5, 5, 1), jalr(0, 1, 0)]);
    setX(m, 20, BigInt(PATCHED));
    setX(m, 21, BigInt(PATCHED + SAME_SLOT));
    setX(m, 22, BigInt(addi(5, 5, 100) >>> 0));
  };
  const ram = 2 * SAME_SLOT;
  const why = agree(words, [3, 5, 17, 40, 100], init, ram);
  assert.equal(why, undefined, why);
  const m = build(words, 'translate', init, ram);
  step(m, 200);
  assert.equal(m.cpu.regs[5 * 2], 1 + 1 + 100 * 19, 'x5: the first two calls add 1, the rest 100');
});

test('jumps out of the page, near and beyond what a block packs in one exit constant (512 KiB), land where the interpreter lands', () => {
  // CODE: a loop that jumps 576 KiB ahead; there, a JAL 12 KiB on (out of that page, close),
  // and from there a JAL 588 KiB back into the loop.
  const FAR = 0x90000,
    NEXT = FAR + 0x3004;
  const words = [
    addi(28, 0, 50),
    addi(5, 5, 1),
    encJ(1, FAR - 8),
    addi(28, 28, -1),
    blt(0, 28, -12),
    SPIN,
  ];
  const init = (m: BareMachine) => {
    writeWords(m, CODE + FAR, [addi(6, 6, 3), encJ(0, NEXT - (FAR + 4))]);
    writeWords(m, CODE + NEXT, [addi(7, 7, 5), encJ(0, 12 - (NEXT + 4))]);
  };
  const why = agree(words, [3, 10, 1, 40, 100, 200], init);
  assert.equal(why, undefined, why);
  const m = build(words, 'translate', init);
  step(m, 400);
  assert.deepEqual(
    [5, 6, 7, 28].map((r) => m.cpu.regs[r * 2]),
    [50, 150, 250, 0],
  );
  assert.ok(m.cpu.code.compiled > 0);
});

test('every basic block of a compiled region is an entry: a jump into its middle runs it, without compiling it again', () => {
  // The region from CODE (an inner loop, then an outer loop's tail); code in another page
  // jumps back into that tail, at CODE+16.
  const FAR = 0x5000;
  const words = [
    addi(5, 0, 10),
    addi(6, 6, 1),
    addi(5, 5, -1),
    encB(1, 5, 0, -8),
    addi(28, 28, -1),
    encB(0, 28, 0, 12),
    addi(5, 0, 3),
    encJ(0, FAR - 28),
    SPIN,
  ];
  const init = (m: BareMachine) => {
    writeWords(m, CODE + FAR, [addi(7, 7, 1), encJ(0, 16 - (FAR + 4))]);
    setX(m, 28, 5n);
  };
  const why = agree(words, [5, 20, 1, 60, 200], init);
  assert.equal(why, undefined, why);
  const m = build(words, 'translate', init);
  step(m, 300);
  assert.deepEqual(
    [5, 6, 7, 28].map((r) => m.cpu.regs[r * 2]),
    [3, 10, 4, 0],
  );
  // (Compiled at its first visit: the region starts at CODE, where the hart starts.)
  const entry = m.cpu.code.all.get(0);
  const tail = m.cpu.code.all.get(16);
  assert.ok(entry !== undefined && !entry.shared, 'a region from the first instruction');
  assert.ok(
    tail !== undefined && tail.shared && tail.bb > 0,
    'the tail is an entry of that region',
  );
  assert.equal(tail.index, entry.index);
});

test('a basic block that branches to itself, and branches forward over others, runs as the interpreter runs it, to the instruction', (t) => {
  // One region (0..52): a loop of one basic block (4..20, with a load and a store through
  // one register), then forward branches over one and two blocks, then a jump back.
  const words = [
    addi(LOOP, 0, 40), // 0
    ld(5, BASE, 0), // 4: the loop
    add(SUM, SUM, 5), // 8
    sd(SUM, BASE, 8), // 12
    addi(LOOP, LOOP, -1), // 16
    blt(0, LOOP, -16), // 20: back to 4
    encB(0, 5, 0, 12), // 24: beq x5, x0 -> 36
    addi(SUM, SUM, 1), // 28
    encB(1, SUM, 0, 8), // 32: bne -> 40
    addi(SUM, SUM, 2), // 36
    addi(SUM, SUM, 3), // 40
    encB(0, 0, 0, 8), // 44: always -> 52
    addi(SUM, SUM, 100), // 48: never
    encJ(0, -52), // 52: back to 0
  ];
  const rng = testRng(t);
  for (const zero of [false, true]) {
    const init = (m: BareMachine) => {
      setX(m, BASE, BigInt(DATA));
      writeWords(m, DATA, [zero ? 0 : 7, 0]);
    };
    // Slices of every size up to a turn and a half of the loop, then random ones: budget
    // stops fall on every instruction of the loop and of the blocks after it.
    const slices = [...Array.from({ length: 8 }, (_, i) => i + 1), 40, 150, 3];
    for (let k = 0; k < 20; k++) slices.push(1 + rng.int(250));
    const why = agree(words, slices, init);
    assert.equal(why, undefined, why);
    const m = build(words, 'translate', init);
    step(m, 1000);
    // One function holds the loop and the blocks around it (whichever became hot first owns it).
    const [start, loop, after] = [0, 4, 24].map((o) => m.cpu.code.all.get(o));
    assert.ok(start && loop && after, 'blocks at the start, the loop and after it');
    assert.equal(loop.index, start.index, 'the loop is in the region of the start');
    assert.equal(after.index, start.index, 'so is what follows the loop');
  }
});

test('regions of one module chain into each other (tail calls), exact to the instruction and the budget', (t) => {
  // A loop of 13 instructions (4..52) cut into regions of at most 4: compiled in one batch
  // (the cuts follow their region), each region's exit to the next, and the loop's branch
  // back, go on by a tail call instead of through the block loop.
  const body = Array.from({ length: 12 }, (_, i) => addi(SUM, SUM, i + 1));
  const words = [
    addi(LOOP, 0, 60), // 0
    ...body, // 4..48
    addi(LOOP, LOOP, -1), // 52
    blt(0, LOOP, -52), // 56: back to 4
    SPIN, // 60
  ];
  // Both harts start at the loop's head, with the count set, so that the first region starts
  // there and the cuts fall on the loop's body.
  const atHead = (m: BareMachine) => {
    setX(m, LOOP, 60n);
    m.cpu.setPc((CODE + 4) | 0, 0);
  };
  const chained = (m: BareMachine) => {
    atHead(m);
    m.cpu.code.maxBlock = 4;
    m.cpu.code.batch = 16;
  };
  const rng = testRng(t);
  const a = build(words, 'translate', chained);
  const b = build(words, 'interp', atHead);
  // Slices of every size up to a turn and a half, then random ones: budget stops fall on
  // every instruction, and a chain is taken only where the next region fits.
  const slices = Array.from({ length: 20 }, (_, i) => i + 1);
  for (let k = 0; k < 30; k++) slices.push(1 + rng.int(60));
  slices.push(2000);
  for (const n of slices) {
    step(a, n);
    step(b, n);
    const why = differs(a, b);
    assert.equal(why, undefined, `after ${a.cpu.icount} instructions: ${why}`);
  }
  const code = a.cpu.code;
  assert.ok(code.compiled >= 4, `${code.compiled} regions`);
  assert.ok(code.modules < code.compiled, 'regions compiled together');
  // Every slice enters through the loop (51 slices, most shorter than a turn): chains still
  // outnumber those entries (about 2 to 1, from 1.94 in 21 seeds).
  assert.ok(
    code.chained > code.regionEntries,
    `chained ${code.chained}, entered by the loop ${code.regionEntries}`,
  );
});

test('between blocks the interpreter goes through jumps to cold code, counting visits, and stops where a block is or one becomes hot', () => {
  // A loop of three instructions from CODE + 4, taken 99 times.
  const words = [addi(5, 0, 100), addi(6, 6, 1), addi(5, 5, -1), encB(1, 5, 0, -8), SPIN];
  const slot = (4 >>> 1) & CACHE_MASK; // the loop head's RAM offset is 4
  const run = (hotAfter: number, init?: (m: BareMachine) => void) => {
    const m = machineWith(words);
    init?.(m);
    assert.ok(enterSlice(m.cpu));
    return { m, n: interpret(m.cpu, 1000, hotAfter) };
  };
  // Nine visits pass; the tenth would make the head hot: back to the dispatcher, which counts it.
  const cold = run(10);
  assert.equal(cold.n, 1 + 3 * 10);
  assert.equal(cold.m.cpu.code.hits[slot], 9);
  assert.equal(cold.m.cpu.pcLo, (CODE + 4) | 0);
  // A block there (the slot holds its offset): back at the first jump.
  const block = run(10, (m) => (m.cpu.code.slots[2 * slot] = 4));
  assert.equal(block.n, 1 + 3);
  // Queued already (visits at hotAfter): nothing for the dispatcher to do there, so on
  // through the loop, to the jump-to-self after it, which becomes hot at its tenth visit.
  const queued = run(10, (m) => (m.cpu.code.hits[slot] = 10));
  assert.equal(queued.n, 1 + 3 * 100 + 10);
  assert.equal(queued.m.cpu.code.hits[slot], 10);
  assert.equal(queued.m.cpu.code.hits[(16 >>> 1) & CACHE_MASK], 9);
  // The interpreter's own engine (hotAfter 0) never stops at jumps.
  assert.equal(run(0).n, 1000);
});

test('where the fetch TLB lost the page of a block, the dispatcher fills it and the block runs from its start', () => {
  // A loop at CODE + 4, compiled at its first visit, then the TLBs flushed (as SFENCE.VMA or a
  // privilege change does) with the pc at the loop's head.
  const words = [lui(5, 8), addi(6, 6, 1), addi(5, 5, -1), encB(1, 5, 0, -8), SPIN];
  const m = build(words, 'translate');
  const code = m.cpu.code;
  assert.equal(m.cpu.run(1 + 3 * 10), 1 + 3 * 10);
  assert.ok(code.compiled > 0);
  assert.equal(m.cpu.pcLo, (CODE + 4) | 0);
  const interpreted = code.interpreted;
  m.cpu.flushTlb();
  assert.equal(m.cpu.run(300), 300);
  // Not one instruction interpreted (before: the head's instruction, to fill the TLB, and
  // the rest of its basic block, where no block starts).
  assert.equal(code.interpreted, interpreted);
  assert.equal(m.cpu.pcLo, (CODE + 4) | 0);
});

test('code queued for compiling is compiled once batchWait instructions are interpreted, even within one long run', () => {
  // A loop of three instructions from CODE + 4, taken 32,768 times: hot at its tenth visit,
  // then queued alone (the batch never fills), and interpreted until the wait is over.
  const words = [lui(5, 8), addi(6, 6, 1), addi(5, 5, -1), encB(1, 5, 0, -8), SPIN];
  const m = machineWith(words);
  m.cpu.engine = 'translate';
  const code = m.cpu.code;
  code.hotAfter = 10;
  code.batch = 64;
  code.batchWait = 300;
  assert.equal(m.cpu.run(50_000), 50_000);
  assert.equal(code.modules, 1);
  // Ten visits (30 instructions) to become hot, the wait, and the one instruction a
  // block's stop or the budget leaves: not the rest of the run.
  assert.ok(code.interpreted <= 2 + 30 + 300 + 3, `${code.interpreted} instructions interpreted`);
  assert.equal(code.insnsInBlocks + code.interpreted, 50_000);
});

test('falling through into the next page, the interpreter stops where a block is there, as after a jump', () => {
  // A jump to four instructions at the end of the first page, eight more at the start of the
  // next (straight code, no jump between), then a jump-to-self.
  const words: number[] = [encJ(0, 0xff0)];
  for (let a = 4; a < 0xff0; a += 4) words.push(SPIN);
  for (let k = 0; k < 12; k++) words.push(addi(6, 6, 1));
  words.push(SPIN);
  const slot = (0x1000 >>> 1) & CACHE_MASK;
  const run = (init?: (m: BareMachine) => void) => {
    const m = machineWith(words);
    assert.ok(enterSlice(m.cpu));
    // Once through on the interpreter's own engine, so that the fetch TLB maps both pages
    // (where it does not, the interpreter goes back at once: the dispatcher's step fills it).
    interpret(m.cpu, 100, 0);
    m.cpu.pcLo = CODE | 0;
    init?.(m);
    return { m, n: interpret(m.cpu, 1000, 10) };
  };
  // Nothing compiled at the next page's start: a visit counted there, and on.
  const cold = run();
  assert.equal(cold.m.cpu.code.hits[slot], 1);
  assert.equal(cold.n, 1 + 12 + 10);
  // A block there: back to the dispatcher at the page's first instruction.
  const block = run((m) => (m.cpu.code.slots[2 * slot] = 0x1000));
  assert.equal(block.n, 1 + 4);
  assert.equal(block.m.cpu.pcLo, (CODE + 0x1000) | 0);
  // Its tenth visit makes it hot: back too, for the dispatcher to queue it.
  const hot = run((m) => (m.cpu.code.hits[slot] = 9));
  assert.equal(hot.n, 1 + 4);
});

/** The leaf callee tests' return (jalr x0, 0(ra)). */
const RET = jalr(0, 1, 0);
/** Where the callee of those tests lives: three pages on from the caller. */
const LEAF = 0x3000;

/** A loop at CODE calling a leaf on another page that pushes, pops and adds: x29 sums its results. */
function callerOfLeaf(turns: number): number[] {
  return [
    addi(28, 0, turns),
    encJ(1, LEAF - 4), // 4: call
    add(29, 29, 10),
    addi(28, 28, -1),
    blt(0, 28, -12),
    SPIN,
  ];
}
/** Whether a live block of RAM page `caller` holds code of page `callee`: a call inlined. */
const inlinedAcross = (m: BareMachine, caller: number, callee: number) =>
  (m.cpu.code.byPage.get(callee) ?? []).some(
    (b) => b.off >>> 12 === caller && m.cpu.code.all.get(b.off) === b,
  );
const inlined = (m: BareMachine) => inlinedAcross(m, 0, LEAF >>> 12);
const leaf = (k: number) => [
  addi(2, 2, -16),
  sd(11, 2, 8),
  addi(11, 10, k),
  ld(12, 2, 8),
  add(10, 11, 12),
  addi(2, 2, 16),
  RET,
];
/** The leaf (adding 3) at CODE + LEAF, and a stack for it. */
const withLeaf = (m: BareMachine) => {
  writeWords(m, CODE + LEAF, leaf(3));
  setX(m, 2, BigInt(DATA + 0x800));
};

test("a call to a leaf on another page runs inlined in the caller's block, as the interpreter runs it", () => {
  const init = (m: BareMachine) => {
    withLeaf(m);
    setX(m, 11, 5n);
  };
  const why = agree(callerOfLeaf(60), [1, 2, 5, 7, 13, 40, 100, 300], init);
  assert.equal(why, undefined, why);
  const m = build(callerOfLeaf(60), 'translate', init);
  step(m, 60 * 11 + 1);
  assert.equal(m.cpu.regs[28 * 2], 0, 'the loop ran to its end');
  assert.ok(inlined(m), 'the call was inlined');
  assert.ok(m.cpu.code.insnsInBlocks > 300, 'the loop did not run translated');
});

test("a write to an inlined callee's page drops the caller's block: the new callee runs at once", () => {
  const init = withLeaf;
  const results = (['translate', 'interp'] as const).map((engine) => {
    const m = build(callerOfLeaf(60), engine, init);
    step(m, 100);
    // A device (or the debugger) rewrites the callee: it now adds 1000.
    writeWords(m, CODE + LEAF + 8, [addi(11, 10, 1000)]);
    step(m, 400);
    return [m.cpu.regs[28 * 2], m.cpu.regs[29 * 2], m.cpu.regs[10 * 2], m.cpu.icount];
  });
  assert.deepEqual(results[0], results[1]);
  assert.ok(results[0][1] > 1000 * 40, 'the new callee ran');
});

/**
 * Sv39 page tables for the remapping tests: RAM mapped at its own address
 * (a gigapage), and 4 KiB pages of code at VA page k → `pages[k]` (a PA);
 * the hart enters S-mode at VA 0x1000. `remap` maps VA page k elsewhere
 * and fences (sfence.vma drops the TLBs), as the guest would.
 */
const SV39_ROOT = 0x80100000,
  SV39_L1 = 0x80101000,
  SV39_L0 = 0x80102000;
const pte = (pa: number, flags: number) => [((pa >>> 12) << 10) | flags, 0];
const PTE_V = 1,
  PTE_RWAD = 2 | 4 | 64 | 128,
  PTE_X = 8;
function sv39Code(m: BareMachine, pages: Record<number, number>): void {
  writeWords(m, SV39_ROOT + 8 * 2, pte(0x80000000, PTE_V | PTE_RWAD | PTE_X));
  writeWords(m, SV39_ROOT, pte(SV39_L1, PTE_V));
  writeWords(m, SV39_L1, pte(SV39_L0, PTE_V));
  for (const [k, pa] of Object.entries(pages)) remapCode(m, Number(k), pa, false);
  m.cpu.csrWrite(CSR.satp, SV39_ROOT >>> 12, 8 << 28);
  enter(m, PRIV_S, 0x1000);
}
function remapCode(m: BareMachine, k: number, pa: number, fence = true): void {
  writeWords(m, SV39_L0 + 8 * k, pte(pa, PTE_V | 2 | 64 | 128 | PTE_X));
  if (fence) m.cpu.flushTlb();
}

test('under Sv39, a callee whose page is mapped elsewhere after compiling runs from its new page', () => {
  // The caller at VA 0x1000, the leaf at VA 0x2000: first PA LEAF1, then LEAF2.
  const CALLER = 0x80200000,
    LEAF1 = 0x80205000,
    LEAF2 = 0x80206000;
  const words = [
    addi(28, 0, 40),
    encJ(1, 0x1000 - 4),
    add(29, 29, 10),
    addi(28, 28, -1),
    blt(0, 28, -12),
    SPIN,
  ];
  const init = (m: BareMachine) => {
    writeWords(m, CALLER, words);
    writeWords(m, LEAF1, [addi(10, 0, 1), RET]);
    writeWords(m, LEAF2, [addi(10, 0, 100), RET]);
    sv39Code(m, { 1: CALLER, 2: LEAF1 });
  };
  const results = (['translate', 'interp'] as const).map((engine) => {
    const m = build([SPIN], engine, init);
    step(m, 60);
    if (engine === 'translate') {
      const page = (pa: number) => (pa - RAM_BASE) >>> 12;
      assert.ok(inlinedAcross(m, page(CALLER), page(LEAF1)), 'the call was inlined');
    }
    // The guest maps VA 0x2000 to LEAF2.
    remapCode(m, 2, LEAF2);
    step(m, 400);
    return [m.cpu.regs[28 * 2], m.cpu.regs[29 * 2], m.cpu.icount, m.cpu.priv];
  });
  assert.deepEqual(results[0], results[1]);
  assert.equal(results[0][0], 0, 'the loop ran to its end');
  assert.ok(results[0][1] > 100 * 20, 'the new mapping was used');
});

test('an instruction that crosses into the next page runs in a block; that page rewritten, or mapped elsewhere, is seen at once', () => {
  // Under Sv39, VA 0x1000 → PA PAGE1, VA 0x2000 → PA PAGE2 (then PAGE3). The loop's
  // `addi x10, x10, k` sits at VA 0x1ffe: its lower half ends PAGE1, its upper half starts
  // the next virtual page; after it, on that page, the loop's branch back.
  const PAGE1 = 0x80200000,
    PAGE2 = 0x80205000,
    PAGE3 = 0x80206000;
  const lo = (w: number) => w & 0xffff,
    hi = (w: number) => w >>> 16;
  const C_NOP = 0x0001,
    C_J_SELF = 0xa001;
  const crossing = (k: number) => addi(10, 10, k);
  const back = blt(0, 28, 0x1ff0 - 0x2002);
  const page2 = (k: number) => [hi(crossing(k)) | (lo(back) << 16), hi(back) | (C_J_SELF << 16)];
  const init = (m: BareMachine) => {
    writeWords(m, PAGE1, [addi(28, 0, 60), encJ(0, 0xff0 - 4)]);
    writeWords(m, PAGE1 + 0xff0, [
      addi(29, 29, 1),
      addi(28, 28, -1),
      addi(0, 0, 0),
      C_NOP | (lo(crossing(1)) << 16),
    ]);
    writeWords(m, PAGE2, page2(1));
    writeWords(m, PAGE3, page2(100));
    sv39Code(m, { 1: PAGE1, 2: PAGE2 });
  };
  const crossAt = (PAGE1 + 0xffe - RAM_BASE) | 0;
  for (const change of ['rewritten', 'remapped'] as const) {
    const results = (['translate', 'interp'] as const).map((engine) => {
      const m = build([SPIN], engine, init);
      m.cpu.code.hotAfter = 4;
      step(m, 100);
      if (engine === 'translate') {
        const b = [...m.cpu.code.all.values()].find(
          (x) =>
            x.off <= crossAt &&
            x.len > 0 &&
            (m.cpu.code.byPage.get((PAGE2 - RAM_BASE) >>> 12) ?? []).includes(x),
        );
        assert.ok(b !== undefined, `${change}: a block holds the crossing instruction`);
      }
      if (change === 'rewritten') writeWords(m, PAGE2, page2(10));
      else remapCode(m, 2, PAGE3);
      step(m, 400);
      return [m.cpu.regs[10 * 2], m.cpu.regs[28 * 2], m.cpu.regs[29 * 2], m.cpu.icount];
    });
    assert.deepEqual(results[0], results[1], change);
    assert.equal(results[0][1], 0, `${change}: the loop ran to its end`);
    assert.ok(
      results[0][0] > (change === 'rewritten' ? 10 : 100) * 20,
      `${change}: the new upper half was used`,
    );
  }
});

/**
 * A loop whose halves are on two pages (CODE, and CODE + AWAY, reached by
 * jumps), compiled in one batch: each half's jump to the other chains.
 */
const AWAY = 0x2000;
function twoPageLoop(turns: number): number[] {
  return [
    addi(LOOP, 0, turns), // 0
    addi(SUM, SUM, 1), // 4: the loop's head
    encJ(0, AWAY - 8), // 8: to the other half
    SPIN,
  ];
}
const otherHalf = (k: number) => [
  addi(SUM, SUM, k), // AWAY
  addi(LOOP, LOOP, -1),
  blt(0, LOOP, 8), // on while LOOP > 0
  SPIN,
  encJ(0, -(AWAY + 16 - 4)), // AWAY + 16: back to the head
];
/** Both halves queued before the batch is compiled, so that they share a module. */
const oneBatch = (m: BareMachine) => {
  m.cpu.code.batch = 16;
  m.cpu.code.batchWait = 200;
};

test('regions on two pages chain; a write to either page drops the chain, and the new code runs at once', (t) => {
  const init = (m: BareMachine) => {
    writeWords(m, CODE + AWAY, otherHalf(2));
    oneBatch(m);
  };
  const rng = testRng(t);
  const slices = Array.from({ length: 12 }, (_, i) => i + 1);
  for (let k = 0; k < 20; k++) slices.push(1 + rng.int(40));
  const a = build(twoPageLoop(400), 'translate', init);
  const b = build(twoPageLoop(400), 'interp', init);
  for (const n of [...slices, 600]) {
    step(a, n);
    step(b, n);
    const why = differs(a, b);
    assert.equal(why, undefined, `after ${a.cpu.icount} instructions: ${why}`);
  }
  assert.ok(a.cpu.code.chained > 100, `chained ${a.cpu.code.chained}`);
  // A device (or the debugger) rewrites the far half, then the near one: the new code runs.
  for (const [at, word] of [
    [CODE + AWAY, addi(SUM, SUM, 1000)],
    [CODE + 4, addi(SUM, SUM, 50)],
  ]) {
    for (const m of [a, b]) writeWords(m, at, [word]);
    const before = a.cpu.code.chained;
    for (const n of [5, 17, 300]) {
      step(a, n);
      step(b, n);
      const why = differs(a, b);
      assert.equal(why, undefined, `after ${a.cpu.icount} instructions: ${why}`);
    }
    assert.ok(a.cpu.code.chained > before, 'chained again once compiled again');
  }
});

test('under Sv39, a chain to another page is not taken once that page is mapped elsewhere', () => {
  // The loop's head at VA 0x1000, its other half at VA 0x3000: first PA HALF1, then HALF2.
  const HEAD = 0x80200000,
    HALF1 = 0x80205000,
    HALF2 = 0x80206000;
  const init = (m: BareMachine) => {
    writeWords(m, HEAD, twoPageLoop(300));
    writeWords(m, HALF1, otherHalf(1));
    writeWords(m, HALF2, otherHalf(100));
    sv39Code(m, { 1: HEAD, 3: HALF1 });
    oneBatch(m);
  };
  const results = (['translate', 'interp'] as const).map((engine) => {
    const m = build([SPIN], engine, init);
    step(m, 600);
    if (engine === 'translate') assert.ok(m.cpu.code.chained > 50, `chained ${m.cpu.code.chained}`);
    // The guest maps VA 0x3000 to HALF2.
    remapCode(m, 3, HALF2);
    step(m, 2000);
    return [m.cpu.regs[LOOP * 2], m.cpu.regs[SUM * 2], m.cpu.icount, m.cpu.priv];
  });
  assert.deepEqual(results[0], results[1]);
  assert.equal(results[0][0], 0, 'the loop ran to its end');
  assert.ok(results[0][1] > 100 * 100, 'the new mapping was used');
});

test('a breakpoint in an inlined callee stops there', () => {
  const init = withLeaf;
  const m = build(callerOfLeaf(60), 'translate', init);
  step(m, 100);
  assert.ok(inlined(m), 'the call was inlined');
  const at = CODE + LEAF + 12;
  m.cpu.setBreakpoints([{ lo: at | 0, hi: 0 }]);
  m.cpu.run(1000);
  assert.equal(m.cpu.debugHit, 1);
  assert.equal(m.cpu.pcLo, at | 0);
  // The interpreter counts the same instructions to get there.
  const ref = build(callerOfLeaf(60), 'interp', init);
  step(ref, 100);
  ref.cpu.setBreakpoints([{ lo: at | 0, hi: 0 }]);
  ref.cpu.run(1000);
  assert.equal(m.cpu.icount, ref.cpu.icount);
});

test("a callee page rewritten again and again does not grow the caller page's list of blocks without end", () => {
  const init = withLeaf;
  const m = build(callerOfLeaf(2000), 'translate', init);
  step(m, 100);
  assert.ok(inlined(m), 'the call was inlined');
  for (let k = 0; k < 300; k++) {
    writeWords(m, CODE + LEAF + 8, [addi(11, 10, k)]);
    step(m, 50);
  }
  const listed = m.cpu.code.byPage.get(0)!.length;
  assert.ok(m.cpu.code.compiled > 300, `recompiled after each write (${m.cpu.code.compiled})`);
  // Each write leaves the dropped blocks listed there (3 a time: 900 without weeding).
  assert.ok(listed <= 140, `${listed} blocks listed under the caller's page`);
});

test('the block loop counts the regions it enters (CodeCache.regionEntries)', () => {
  // A loop whose head (csrrw) blocks leave to the interpreter: each of its 1,000 turns
  // enters the region after it once, from the interpreter.
  const words = [
    addi(5, 0, 1000),
    csrrw(0, CSR.mscratch, 6),
    addi(6, 6, 1),
    addi(5, 5, -1),
    encB(1, 5, 0, -12), // bne x5, x0, back to the csrrw
    SPIN,
  ];
  const m = build(words, 'translate');
  const code = m.cpu.code;
  assert.equal(m.cpu.run(1 + 4 * 1000), 1 + 4 * 1000);
  assert.equal(m.cpu.regs[5 * 2], 0);
  assert.ok(
    code.regionEntries >= 1000 && code.regionEntries <= 1002,
    `${code.regionEntries} region entries`,
  );
  // The jump-to-self then runs in one region entered once per call of the loop.
  const before = code.regionEntries;
  assert.equal(m.cpu.run(10_000), 10_000);
  assert.equal(code.regionEntries - before, 1);
});

test('code mapped at two virtual addresses runs its blocks at both (the loop looks blocks up by the virtual pc), and a write to it drops them at both', () => {
  // One physical page of code at VA 0x1000 and VA 0x3000, whose code cache slots differ
  // (slot = virtual pc / 2): a loop of 50 turns, then a spin.
  const PA = 0x80200000;
  const loop = (k: number) => [
    addi(28, 0, 50),
    addi(29, 29, k),
    addi(28, 28, -1),
    blt(0, 28, -8),
    SPIN,
  ];
  assert.notEqual((0x1000 >>> 1) & CACHE_MASK, (0x3000 >>> 1) & CACHE_MASK);
  const runs = (['translate', 'interp'] as const).map((engine) => {
    const m = build([SPIN], engine, (m) => {
      writeWords(m, PA, loop(1));
      sv39Code(m, { 1: PA, 3: PA });
    });
    const code = m.cpu.code;
    const seen: number[][] = [];
    const at = (va: number, steps: number) => {
      m.cpu.setPc(va, 0);
      const [compiled, inBlocks] = [code.compiled, code.insnsInBlocks];
      step(m, steps);
      seen.push([
        m.cpu.regs[29 * 2],
        m.cpu.icount,
        code.compiled - compiled,
        code.insnsInBlocks - inBlocks,
      ]);
    };
    at(0x1000, 1 + 3 * 50);
    at(0x3000, 1 + 3 * 50);
    // A device (or the debugger) rewrites the loop's body: it now adds 1000.
    writeWords(m, PA + 4, [addi(29, 29, 1000)]);
    at(0x3000, 1 + 3 * 50);
    at(0x1000, 1 + 3 * 50);
    return seen;
  });
  const [tr, ref] = runs;
  assert.deepEqual(
    tr.map(([sum, icount]) => [sum, icount]),
    ref.map(([sum, icount]) => [sum, icount]),
  );
  assert.equal(tr[3][0], 2 * 50 + 2 * 50 * 1000, 'the new code ran at both addresses');
  // At the second address the blocks compiled at the first run: nothing compiled again,
  // and all but a few instructions in blocks.
  assert.equal(tr[1][2], 0, 'compiled again at the alias');
  assert.ok(
    tr[1][3] >= 3 * 50 - 3,
    `${tr[1][3]} of ${1 + 3 * 50} instructions in blocks at the alias`,
  );
  // After the write, compiled anew once, and the new blocks serve both addresses.
  assert.ok(tr[2][2] > 0, 'the rewritten page was compiled again');
  assert.equal(tr[3][2], 0, 'compiled again at the other address');
});
