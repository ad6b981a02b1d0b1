/**
 * scanRegion: what the translator compiles from an entry point — the trace,
 * cut into basic blocks, with the edges that stay inside and those that
 * leave — on hand-assembled pages of each shape it must handle.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scanRegion, entryLength, type Region } from '../../src/cpu/scan-region.js';
import { ECALL, add, addi, beq, bne, csrrw, encJ, jalr } from './asm.js';

const RET = jalr(0, 1, 0);
/** c.addi a0, 1 and c.nop: compressed instructions (2 bytes). */
const C_ADDI_A0_1 = 0x0505;

/** A page of code: 32-bit words, or `{ c }` for a 16-bit one, placed at the offsets given. */
function page(code: [number, number | { c: number }][]): Uint16Array {
  const p = new Uint16Array(2048);
  for (const [at, x] of code) {
    if (typeof x === 'number') {
      p[at >>> 1] = x & 0xffff;
      p[(at >>> 1) + 1] = x >>> 16;
    } else p[at >>> 1] = x.c;
  }
  return p;
}

/** What a test compares: per basic block, its offsets, edges and stops. */
function shape(r: Region | undefined) {
  if (r === undefined) return undefined;
  return {
    entry: r.entry,
    insns: r.insns,
    cuts: r.cuts,
    blocks: r.blocks.map((b) => ({
      at: b.at,
      n: b.insns.length,
      taken: b.taken,
      next: b.next,
      takenStops: b.takenStops,
      nextStops: b.nextStops,
    })),
  };
}

/** The basic blocks of the region scanned at page offset `at` of a page of `code`. */
const blocksAt = (code: [number, number | { c: number }][], at: number) =>
  shape(scanRegion(page(code), at))?.blocks;

const block = (at: number[], taken = -1, next = -1, takenStops = false, nextStops = false) => ({
  at,
  n: at.length - 1,
  taken,
  next,
  takenStops,
  nextStops,
});

test('straight code with a compressed instruction, up to a jalr: one basic block', () => {
  const p = page([
    [0, addi(1, 1, 1)],
    [4, { c: C_ADDI_A0_1 }],
    [6, add(2, 2, 3)],
    [10, RET],
  ]);
  assert.deepEqual(shape(scanRegion(p, 0)), {
    entry: 0,
    insns: 4,
    cuts: [],
    blocks: [block([0, 4, 6, 10, 14])],
  });
  // The same code entered in the middle, in the second page of RAM (offsets are from the entry).
  const ram = new Uint16Array(4096);
  ram.set(p, 2048);
  assert.deepEqual(shape(scanRegion(ram, 4096 + 6))?.blocks, [block([0, 4, 8])]);
});

test('a loop back to the entry stays inside; the fall-through out of it is its own block', () => {
  const p = page([
    [0, addi(5, 5, -1)],
    [4, bne(5, 0, -4)],
    [8, RET],
  ]);
  const r = scanRegion(p, 0)!;
  assert.deepEqual(shape(r)?.blocks, [block([0, 4, 8], 0, 1), block([8, 12])]);
  assert.equal(entryLength(r), 2);
});

test('a forward branch whose target the fall-through reaches: three blocks, every edge inside', () => {
  const p = page([
    [0, beq(1, 2, 8)],
    [4, addi(3, 3, 1)],
    [8, addi(4, 4, 1)],
    [12, RET],
  ]);
  assert.deepEqual(shape(scanRegion(p, 0))?.blocks, [
    block([0, 4], 2, 1),
    block([4, 8], -1, 2),
    block([8, 12, 16]),
  ]);
});

test('instructions blocks leave to the interpreter end the trace and mark the edge to them', () => {
  // Falling through to an ECALL.
  assert.deepEqual(
    blocksAt(
      [
        [0, addi(1, 1, 1)],
        [4, ECALL],
      ],
      0,
    ),
    [block([0, 4], -1, -1, false, true)],
  );
  // A JAL (followed) to a CSR write.
  assert.deepEqual(
    blocksAt(
      [
        [0, encJ(0, 8)],
        [8, csrrw(0, 0x180, 5)],
      ],
      0,
    ),
    [block([0, 4], -1, -1, true, false)],
  );
  // A region cannot start at one.
  assert.equal(scanRegion(page([[0, ECALL]]), 0), undefined);
});

test('a JAL within the page is followed (not its fall-through); one out of the page leaves', () => {
  const p = page([
    [0, encJ(1, 16)], // a call within the page
    [4, addi(9, 9, 9)], // the return point: not part of the trace
    [16, addi(10, 10, 1)],
    [20, RET],
    [4092, encJ(0, 8)], // to 4100: the next page
  ]);
  assert.deepEqual(shape(scanRegion(p, 0)), {
    entry: 0,
    insns: 3,
    cuts: [],
    blocks: [block([0, 4], 1), block([16, 20, 24])],
  });
  assert.deepEqual(shape(scanRegion(p, 4092))?.blocks, [block([0, 4])]);
});

test('a region full after maxInsns names where the code went on (a cut)', () => {
  const code: [number, number][] = [];
  for (let i = 0; i < 10; i++) code.push([4 * i, addi(1, 1, i)]);
  code.push([40, RET]);
  const r = scanRegion(page(code), 0, 4)!;
  assert.deepEqual(shape(r), {
    entry: 0,
    insns: 4,
    cuts: [16],
    blocks: [block([0, 4, 8, 12, 16])],
  });
});

test('a region full in the middle of a straight run is cut where the run starts: a loop there stays whole', () => {
  // 0: two instructions and a branch over nothing (its fall-through starts a run at 12);
  // 12: a loop of 6 instructions back to 12, then a return. With room for 6, the run
  // from 12 does not fit after the 3 instructions before it.
  const code: [number, number][] = [
    [0, addi(1, 1, 1)],
    [4, addi(2, 2, 1)],
    [8, beq(3, 4, 4)],
  ];
  for (let i = 0; i < 5; i++) code.push([12 + 4 * i, addi(5 + i, 5 + i, 1)]);
  code.push([32, bne(5, 0, -20)], [36, RET]);
  const p = page(code);
  const r = scanRegion(p, 0, 6)!;
  // The run is taken back: the branch's fall-through (12) leaves, and it is the cut.
  assert.deepEqual(shape(r), {
    entry: 0,
    insns: 3,
    cuts: [12],
    blocks: [block([0, 4, 8, 12])],
  });
  // From the cut, the loop is one region: its back edge stays inside.
  const loop = scanRegion(p, 12, 6)!;
  assert.deepEqual(shape(loop)?.blocks, [block([0, 4, 8, 12, 16, 20, 24], 0, -1)]);
  assert.deepEqual(loop.cuts, [36]);
  // A run the region starts with is still cut where the room ends.
  assert.deepEqual(scanRegion(p, 12, 4)!.cuts, [28]);
});

test('a jump into the middle of an instruction leaves the region; code running off the page end too', () => {
  // JAL back to offset 2, inside the 32-bit ADDI at 0.
  assert.deepEqual(
    blocksAt(
      [
        [0, addi(1, 1, 1)],
        [4, encJ(0, -2)],
      ],
      0,
    ),
    [block([0, 4, 8])],
  );
  // Straight code up to the page's last byte.
  assert.deepEqual(
    blocksAt(
      [
        [4088, addi(1, 1, 1)],
        [4092, addi(2, 2, 2)],
      ],
      4088,
    ),
    [block([0, 4, 8])],
  );
});

test('one scan leaves nothing behind for the next (its scratch state is reused)', () => {
  const a = page([
    [0, beq(1, 2, 8)],
    [4, ECALL],
    [8, addi(4, 4, 1)],
    [12, encJ(0, 8)],
    [20, csrrw(0, 0x180, 5)],
  ]);
  const b = page([
    [0, addi(1, 1, 1)],
    [4, addi(2, 2, 2)],
    [8, addi(3, 3, 3)],
    [12, { c: C_ADDI_A0_1 }],
    [14, { c: C_ADDI_A0_1 }],
    [16, RET],
  ]);
  const first = shape(scanRegion(a, 0));
  const bAfterA = shape(scanRegion(b, 0));
  assert.deepEqual(shape(scanRegion(a, 0)), first);
  assert.deepEqual(shape(scanRegion(b, 0)), bAfterA);
  assert.deepEqual(bAfterA?.blocks, [block([0, 4, 8, 12, 14, 16, 20])]);
  assert.deepEqual(first?.blocks, [block([0, 4], -1, -1, false, true)]);
});

test('the trace stops where code is compiled already (an exit to it), but not at its own entry', () => {
  // A loop at 8 entered from 0; code from 8 on is compiled (a region of its own, say).
  const p = page([
    [0, addi(1, 1, 1)],
    [4, addi(2, 2, 1)],
    [8, addi(5, 5, -1)],
    [12, bne(5, 0, -4)],
    [16, RET],
  ]);
  const compiledAt = (off: number) => off === 8 || off === 0x3000;
  // From 0: two instructions, then an exit to 8 (not a second copy of the loop).
  assert.deepEqual(shape(scanRegion(p, 0, 64, compiledAt))?.blocks, [block([0, 4, 8])]);
  // From 8 itself: the loop, as without the check.
  assert.deepEqual(shape(scanRegion(p, 8, 64, compiledAt)), shape(scanRegion(p, 8)));
  // Without the check, the loop is copied into the region.
  assert.deepEqual(shape(scanRegion(p, 0))?.blocks, [
    block([0, 4, 8], -1, 1),
    block([8, 12, 16], 1, 2),
    block([16, 20]),
  ]);
});

/** jal rd, offset: a call (rd = 1) or a jump (rd = 0). */
const jal = (rd: number, off: number) => encJ(rd, off);

test('a call to a short leaf on another page is inlined: the block goes on after the call', () => {
  // Page 1 (RAM 4096): a loop calling the leaf at RAM 8192 + 16 (page 2), 4 instructions.
  const ram = new Uint16Array(3 * 2048);
  const put = (off: number, w: number) => {
    ram[off >>> 1] = w & 0xffff;
    ram[(off >>> 1) + 1] = w >>> 16;
  };
  put(4096 + 0, addi(5, 5, 1));
  put(4096 + 4, jal(1, 4096 + 12)); // to virtual entry + 4 + 4108 = the next page, offset 16
  put(4096 + 8, bne(5, 6, -8));
  put(8192 + 16, addi(10, 10, 1));
  put(8192 + 20, add(11, 11, 10));
  put(8192 + 24, addi(12, 12, -1));
  put(8192 + 28, RET);
  const asked: number[] = [];
  // The page after the entry's is RAM page 2 (as the fetch TLB would say).
  const codeAt = (d: number) => (asked.push(d), d >= 4096 - 0 ? 8192 + (d - 4096) : -1);
  const r = scanRegion(ram, 4096, undefined, undefined, codeAt)!;
  assert.deepEqual(asked, [4112]);
  assert.deepEqual(r.pages, [2]);
  assert.equal(r.insns, 3 + 4);
  assert.deepEqual(shape(r)?.blocks, [
    // The call, the callee (at its own offsets, its return included), then on after the call.
    {
      at: [0, 4, 4112, 4116, 4120, 4124, 8],
      n: 6,
      taken: -1,
      next: 1,
      takenStops: false,
      nextStops: false,
    },
    { at: [8, 12], n: 1, taken: 0, next: -1, takenStops: false, nextStops: true },
  ]);
  assert.deepEqual(r.blocks[0].calls, [{ i: 1, n: 4, page: 2, away: true }]);
  // The next scan of the same code, with the callee mapped nowhere, keeps nothing of this
  // one's callee (its scratch is cleared where this one set it).
  const again = scanRegion(ram, 4096, undefined, undefined, () => -1)!;
  assert.equal(again.blocks[0].calls, undefined);
  assert.deepEqual(shape(again)?.blocks[0].at, [0, 4, 8]);
});

test('a call is not inlined when the callee branches, writes the link, is too long, is not mapped or leaves to the interpreter', () => {
  const cases: [string, number[]][] = [
    ['branches', [addi(10, 10, 1), beq(10, 0, 8), RET]],
    ['writes the link', [addi(1, 1, 4), RET]],
    ['too long', [...Array.from({ length: 30 }, () => addi(10, 10, 1)), RET]],
    ['to the interpreter', [ECALL, RET]],
    ['returns elsewhere', [addi(10, 10, 1), jalr(0, 5, 0)]],
  ];
  for (const [why, callee] of cases) {
    const ram = new Uint16Array(2 * 2048);
    const put = (off: number, w: number) => {
      ram[off >>> 1] = w & 0xffff;
      ram[(off >>> 1) + 1] = w >>> 16;
    };
    put(0, jal(1, 4096)); // to the next page's start
    put(4, addi(5, 5, 1));
    put(8, RET);
    callee.forEach((w, k) => put(4096 + 4 * k, w));
    const r = scanRegion(ram, 0, undefined, undefined, (d) => d)!;
    assert.equal(r.blocks[0].calls, undefined, why);
    assert.deepEqual(shape(r)?.blocks, [block([0, 4])], why);
  }
  // Mapped nowhere (codeAt says -1): not inlined either.
  const ram = new Uint16Array(2 * 2048);
  ram[0] = jal(1, 4096) & 0xffff;
  ram[1] = jal(1, 4096) >>> 16;
  assert.equal(scanRegion(ram, 0, undefined, undefined, () => -1)!.blocks[0].calls, undefined);
});

test("a callee on the region's own page is read there, with no question asked", () => {
  const p = page([
    [0, jal(1, 16)],
    [4, addi(5, 5, 1)],
    [8, RET],
    [16, addi(10, 10, 1)],
    [20, RET],
  ]);
  const r = scanRegion(p, 0, undefined, undefined, () => assert.fail('codeAt asked'))!;
  assert.deepEqual(r.pages, []);
  assert.deepEqual(r.blocks[0].calls, [{ i: 0, n: 2, page: 0, away: false }]);
  assert.deepEqual(shape(r)?.blocks, [
    { at: [0, 16, 20, 4], n: 3, taken: -1, next: 1, takenStops: false, nextStops: false },
    block([4, 8, 12]),
  ]);
});

test('the trace goes on through compiled code, and along a taken branch, that come back to the entry soon: a loop stays whole', () => {
  // Through compiled code: 12 is compiled already, and from there a branch returns to 0.
  const through = page([
    [0, addi(5, 5, 1)],
    [4, jal(0, 8)], // to 12
    [12, addi(6, 6, 1)],
    [16, bne(5, 7, -16)], // back to 0
    [20, RET],
  ]);
  const r = scanRegion(through, 0, undefined, (o) => o === 12)!;
  assert.deepEqual(shape(r)?.blocks, [
    block([0, 4, 8], 1),
    block([12, 16, 20], 0, 2),
    block([20, 24]),
  ]);
  // Code that does not come back (nor returns soon) is still an exit.
  const away = page([
    [0, addi(5, 5, 1)],
    [4, jal(0, 8)],
    [12, addi(6, 6, 1)],
    [16, ECALL],
  ]);
  assert.deepEqual(shape(scanRegion(away, 0, undefined, (o) => o === 12))?.blocks, [
    block([0, 4, 8]),
  ]);
  // Along a taken branch: the loop's other half, at 16, jumps back to the entry.
  const taken = page([
    [0, addi(5, 5, 1)],
    [4, beq(5, 6, 12)], // to 16
    [8, RET],
    [16, addi(7, 7, 1)],
    [20, jal(0, -20)], // to 0
  ]);
  assert.deepEqual(shape(scanRegion(taken, 0))?.blocks, [
    block([0, 4, 8], 2, 1),
    block([8, 12]),
    block([16, 20, 24], 0),
  ]);
});

test("a taken branch or a jump to a function's return (an early out) brings a copy of it into the region, even where compiled already", () => {
  const p = page([
    [0, beq(10, 0, 20)], // if (!a0) to the epilogue at 20
    [4, addi(5, 5, 1)],
    [8, bne(5, 6, 8)], // to 16
    [12, ECALL],
    [16, jal(0, 4)], // to the epilogue too
    [20, addi(2, 2, 16)],
    [24, RET],
  ]);
  const compiledAt = (o: number) => o === 20;
  assert.deepEqual(shape(scanRegion(p, 0, 64, compiledAt))?.blocks, [
    block([0, 4], 3, 1),
    block([4, 8, 12], 2, -1, false, true),
    block([16, 20], 3),
    block([20, 24, 28]),
  ]);
  // Code that goes on past a branch or another jump before its return is not copied.
  const longer = page([
    [0, beq(10, 0, 12)],
    [4, addi(5, 5, 1)],
    [8, ECALL],
    [12, addi(2, 2, 16)],
    [16, beq(5, 0, 8)],
    [20, RET],
    [24, RET],
  ]);
  assert.deepEqual(shape(scanRegion(longer, 0, 64))?.blocks, [
    block([0, 4], -1, 1),
    block([4, 8], -1, -1, false, true),
  ]);
});

test('a taken branch to code the interpreter went to often is traced too (takenHot); one to code it seldom reached leaves', () => {
  // An early out (the beq at 4) that the code takes in practice: its target at 32 does not
  // loop back or return soon (an ECALL follows), so only takenHot brings it in.
  const p = page([
    [0, addi(5, 5, 1)],
    [4, beq(10, 0, 28)], // to 32
    [8, addi(6, 6, 1)],
    [12, RET],
    [32, addi(7, 7, 1)],
    [36, ECALL],
  ]);
  const off = 4096 * 3; // the region's page in RAM: takenHot is asked by RAM offset
  const ram = new Uint16Array(4 * 2048);
  ram.set(p, off >>> 1);
  const asked: number[] = [];
  const hot = (o: number) => (asked.push(o), o === off + 32);
  assert.deepEqual(shape(scanRegion(ram, off, 64, undefined, undefined, hot))?.blocks, [
    block([0, 4, 8], 2, 1),
    block([8, 12, 16]),
    block([32, 36], -1, -1, false, true),
  ]);
  assert.deepEqual(asked, [off + 32]);
  // Not hot: the branch leaves the region, as without the predicate.
  const cold = shape(scanRegion(ram, off, 64, undefined, undefined, () => false))?.blocks;
  assert.deepEqual(cold, [block([0, 4, 8], -1, 1), block([8, 12, 16])]);
  assert.deepEqual(cold, shape(scanRegion(ram, off, 64))?.blocks);
});
