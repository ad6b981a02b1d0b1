import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CSR, MSTATUS_FS } from '../../src/cpu/csr-numbers.js';
import { PRIV_M, PRIV_S } from '../../src/cpu/cpu.js';
import { ACC_READ, ACC_WRITE } from '../../src/cpu/hart-constants.js';
import { markPtPage, tlbInsert, TLB_MASK } from '../../src/cpu/mmu.js';
import { xreg, writeWords, type BareMachine } from '../helpers/bare-machine.js';
import * as A from './asm.js';
import { machineWith, enter, csr, pc, setX, step, MTRAP, STRAP } from './harness.js';

// A small Sv39 tree (priv spec 4.4): a gigapage mapping the code/data 1 GiB at
// 0x80000000 to itself, and 4 KiB pages low in the address space.
const ROOT = 0x80100000;
const L1 = 0x80101000;
const L0 = 0x80102000;
const ROOT48 = 0x80103000; // Sv48: one more level on top of ROOT
const PAGE = 0x80200000; // physical pages the test maps

const V = 1n,
  R = 2n,
  W = 4n,
  X = 8n,
  U = 16n,
  AC = 64n,
  D = 128n;
const pte = (pa: number, flags: bigint): bigint => (BigInt(pa >>> 12) << 10n) | flags;

function put64(m: BareMachine, addr: number, v: bigint): void {
  writeWords(m, addr, [Number(v & 0xffffffffn), Number(v >> 32n)]);
}
function get64(m: BareMachine, addr: number): bigint {
  const o = (addr - 0x80000000) >>> 2;
  return (BigInt(m.bus.ram32[o + 1] >>> 0) << 32n) | BigInt(m.bus.ram32[o] >>> 0);
}
const l0 = (vpn0: number): number => L0 + 8 * vpn0;

/** Whether the data TLB `acc` holds a translation of (low-half) address `va` for the hart's current tag. */
function inTlb(m: BareMachine, va: number, acc = ACC_READ): boolean {
  const h = m.cpu;
  const i = (((va >>> 12) ^ h.dataSalt) & TLB_MASK) << 2;
  return h.tlbTag[acc][i] === ((va & ~0xfff) | h.dataTag) && h.tlbTag[acc][i + 1] === 0;
}

function pagedMachine(words: number[], mode: 8 | 9 = 8): BareMachine {
  const m = machineWith(words);
  put64(m, ROOT + 8 * 2, pte(0x80000000, V | R | W | X | AC | D));
  put64(m, ROOT + 8 * 0, pte(L1, V));
  put64(m, L1 + 8 * 0, pte(L0, V));
  put64(m, l0(1), pte(PAGE, V | R | W)); // A and D clear: hardware sets them
  put64(m, l0(2), pte(PAGE + 0x1000, V | R | W | U | AC | D));
  put64(m, l0(3), pte(PAGE + 0x2000, V | X | AC)); // execute-only
  put64(m, l0(4), pte(PAGE + 0x3000, V | R | AC)); // read-only
  // A 2 MiB leaf whose physical page number is not 2 MiB aligned.
  put64(m, L1 + 8 * 1, pte(PAGE + 0x1000, V | R | AC));
  put64(m, ROOT48, pte(ROOT, V));
  writeWords(m, PAGE, [0x11111111, 0x22222222]);
  writeWords(m, PAGE + 0x1000, [0x33333333, 0]);
  writeWords(m, PAGE + 0x2000, [0x44444444, 0]);
  const root = mode === 8 ? ROOT : ROOT48;
  m.cpu.csrWrite(CSR.satp, root >>> 12, mode << 28);
  enter(m, PRIV_S);
  return m;
}

test('Sv39 load/store through a 4 KiB page; hardware sets A then D', () => {
  const m = pagedMachine([A.ld(11, 10, 0), A.sd(11, 10, 8), A.SPIN]);
  setX(m, 10, 0x1000n);
  step(m, 1);
  assert.equal(xreg(m, 11), 0x2222222211111111n);
  assert.equal(get64(m, l0(1)) & (AC | D), AC, 'load sets A only');
  step(m, 1);
  assert.equal(get64(m, l0(1)) & (AC | D), AC | D, 'store sets D');
  assert.equal(get64(m, PAGE + 8), 0x2222222211111111n);
});

test('Sv48 walks one more level to the same pages', () => {
  const m = pagedMachine([A.ld(11, 10, 0), A.SPIN], 9);
  setX(m, 10, 0x1000n);
  step(m, 1);
  assert.equal(xreg(m, 11), 0x2222222211111111n);
});

function expectFault(m: BareMachine, cause: bigint, tval: bigint, where = MTRAP): void {
  step(m, 2);
  assert.equal(pc(m), where);
  const c = where === MTRAP ? CSR.mcause : CSR.scause;
  const t = where === MTRAP ? CSR.mtval : CSR.stval;
  assert.equal(csr(m, c), cause);
  assert.equal(csr(m, t), tval);
}

test('S-mode access to a U page faults unless SUM is set', () => {
  const m = pagedMachine([A.ld(11, 10, 0), A.SPIN]);
  setX(m, 10, 0x2008n);
  expectFault(m, 13n, 0x2008n);

  const ok = pagedMachine([A.ld(11, 10, 0), A.SPIN]);
  ok.cpu.csrWrite(CSR.mstatus, 1 << 18, 0); // SUM
  setX(ok, 10, 0x2000n);
  step(ok, 1);
  assert.equal(xreg(ok, 11), 0x33333333n);
});

test('loads from an execute-only page need MXR', () => {
  const m = pagedMachine([A.lw(11, 10, 0), A.SPIN]);
  setX(m, 10, 0x3000n);
  expectFault(m, 13n, 0x3000n);

  const ok = pagedMachine([A.lw(11, 10, 0), A.SPIN]);
  ok.cpu.csrWrite(CSR.mstatus, 1 << 19, 0); // MXR
  setX(ok, 10, 0x3000n);
  step(ok, 1);
  assert.equal(xreg(ok, 11), 0x44444444n);
});

test('SUM and MXR changes take effect at once, whatever the TLBs cached under the old values', () => {
  // S-mode code toggles the bits itself (as Linux does around user copies), so each load
  // follows one that may have cached the page's translation under the other setting.
  const SSTATUS = 0x100;
  const code = [
    A.csrrs(0, SSTATUS, 12), // SUM on
    A.ld(11, 10, 0), // U page: ok
    A.csrrc(0, SSTATUS, 12), // SUM off
    A.ld(13, 10, 0), // U page: must fault now
    A.SPIN,
  ];
  const m = pagedMachine(code);
  setX(m, 10, 0x2000n);
  setX(m, 12, 1n << 18n);
  step(m, 3);
  assert.equal(xreg(m, 11), 0x33333333n);
  expectFault(m, 13n, 0x2000n);

  const x = pagedMachine([
    A.csrrs(0, SSTATUS, 12), // MXR on
    A.lw(11, 10, 0), // execute-only page: readable
    A.csrrc(0, SSTATUS, 12), // MXR off
    A.lw(13, 10, 0), // must fault now
    A.SPIN,
  ]);
  setX(x, 10, 0x3000n);
  setX(x, 12, 1n << 19n);
  step(x, 3);
  assert.equal(xreg(x, 11), 0x44444444n);
  expectFault(x, 13n, 0x3000n);
});

test('switching satp between address spaces, more of them than the TLBs keep apart, always walks the current one', () => {
  // Ten roots, each mapping VA 0x1000 to its own page holding its number. Each step switches
  // satp to the root the host put in x20, loads VA 0x1000 and stores what it read to OUT.
  const roots = Array.from({ length: 10 }, (_, i) => 0x80300000 + i * 0x3000);
  // Root 8 takes the slot of root 0 while the TLB holds an entry of root 0 for the same address.
  const order = [0, 1, 2, 3, 4, 5, 6, 7, 0, 8, 9, 0, 9, 1, 1, 5, 3];
  const step4 = [A.csrrw(0, CSR.satp, 20), A.ld(13, 10, 0), A.sd(13, 11, 0), A.addi(11, 11, 8)];
  const m = pagedMachine([...order.flatMap(() => step4), A.SPIN]);
  roots.forEach((root, i) => {
    const l1 = root + 0x1000,
      l0p = root + 0x2000;
    put64(m, root + 8 * 2, pte(0x80000000, V | R | W | X | AC | D)); // the code and data gigapage
    put64(m, root, pte(l1, V));
    put64(m, l1, pte(l0p, V));
    put64(m, l0p + 8, pte(0x80340000 + i * 0x1000, V | R | W | AC | D));
    put64(m, 0x80340000 + i * 0x1000, BigInt(100 + i));
  });
  const OUT = 0x80380000;
  setX(m, 10, 0x1000n);
  setX(m, 11, BigInt(OUT));
  const satp = (root: number) => (8n << 60n) | BigInt(root >>> 12);
  order.forEach((r, k) => {
    // Before the last step, root 3's page is remapped (by the host, as DMA would) to root 7's.
    if (k === order.length - 1)
      put64(m, roots[3] + 0x2000 + 8, pte(0x80340000 + 7 * 0x1000, V | R | W | AC | D));
    setX(m, 20, satp(roots[r]));
    assert.equal(step(m, 4), 4);
  });
  const want = order.map((r, k) => BigInt(100 + (k === order.length - 1 ? 7 : r)));
  assert.deepEqual(
    order.map((_, k) => get64(m, OUT + 8 * k)),
    want,
  );
});

test('a store to a read-only page is a store page fault, delegable to S', () => {
  const m = pagedMachine([A.sw(0, 10, 4), A.SPIN]);
  m.cpu.csrWrite(CSR.medeleg, 1 << 15, 0);
  setX(m, 10, 0x4000n);
  expectFault(m, 15n, 0x4004n, STRAP);
  assert.equal(m.cpu.priv, PRIV_S);
});

test('a misaligned superpage is a page fault', () => {
  const m = pagedMachine([A.ld(11, 10, 0), A.SPIN]);
  setX(m, 10, 0x200000n);
  expectFault(m, 13n, 0x200000n);
});

test('a non-canonical address is a page fault with the full address in tval', () => {
  const m = pagedMachine([A.ld(11, 10, 0), A.SPIN]);
  setX(m, 10, 0x8000001000n); // bit 39 set, bits 63:40 clear
  expectFault(m, 13n, 0x8000001000n);
});

test('an unmapped page faults on fetch with cause 12', () => {
  const m = pagedMachine([A.SPIN]);
  m.cpu.setPc(0x5000, 0);
  expectFault(m, 12n, 0x5000n);
});

test('M-mode loads go through the MMU with MPRV=1 and MPP=S (OpenSBI does this)', () => {
  const m = pagedMachine([A.ld(11, 10, 0), A.SPIN]);
  enter(m, PRIV_M);
  m.cpu.csrWrite(CSR.mstatus, (1 << 17) | (1 << 11), 0);
  setX(m, 10, 0x1000n);
  step(m, 1);
  assert.equal(xreg(m, 11), 0x2222222211111111n);
});

test('page-table changes are visible at once, sfence.vma or not (the TLBs hold no stale entries)', () => {
  // A PTE rewritten by the host (as DMA would) between two loads of its page.
  const m = pagedMachine([A.ld(11, 10, 0), A.SFENCE_VMA, A.ld(12, 10, 0), A.SPIN]);
  setX(m, 10, 0x1000n);
  step(m, 1);
  put64(m, l0(1), pte(PAGE + 0x1000, V | R | W | AC | D));
  step(m, 2);
  assert.equal(xreg(m, 11), 0x2222222211111111n);
  assert.equal(xreg(m, 12), 0x33333333n);

  // The guest rewrites the PTE itself and loads again with no fence in between.
  const g = pagedMachine([A.ld(11, 10, 0), A.sd(13, 14, 0), A.ld(12, 10, 0), A.SPIN]);
  setX(g, 10, 0x1000n);
  setX(g, 14, BigInt(l0(1)));
  setX(g, 13, pte(PAGE + 0x1000, V | R | W | AC | D));
  step(g, 3);
  assert.equal(xreg(g, 11), 0x2222222211111111n);
  assert.equal(xreg(g, 12), 0x33333333n);
});

test('a store filling an invalid PTE keeps the cached translations; one to a valid PTE drops them', () => {
  // Load through VA 0x1000; map VA 0x5000 by a store into its invalid PTE and load through it;
  // then rewrite VA 0x1000's valid PTE.
  const m = pagedMachine([
    A.ld(11, 10, 0),
    A.sd(13, 14, 0),
    A.ld(12, 15, 0),
    A.sd(16, 17, 0),
    A.SPIN,
  ]);
  setX(m, 10, 0x1000n);
  setX(m, 14, BigInt(l0(5)));
  setX(m, 13, pte(PAGE + 0x1000, V | R | W | AC | D));
  setX(m, 15, 0x5000n);
  setX(m, 17, BigInt(l0(1)));
  setX(m, 16, pte(PAGE + 0x2000, V | R | AC));
  step(m, 1);
  assert.ok(inTlb(m, 0x1000));
  step(m, 2);
  assert.equal(xreg(m, 12), 0x33333333n, 'the new mapping is used at once');
  assert.ok(inTlb(m, 0x1000), 'filling an invalid PTE dropped an unrelated translation');
  step(m, 1);
  assert.ok(!inTlb(m, 0x1000), 'rewriting a valid PTE left the translation built on it');
});

test('FP loads and stores go through the TLBs as integer ones do; an fsd to a PTE takes effect at once', () => {
  const m = pagedMachine([
    A.fld(1, 10, 0),
    A.flw(2, 10, 0),
    A.fsd(1, 10, 8),
    A.fsd(1, 10, 16),
    A.fsd(3, 14, 0),
    A.ld(12, 10, 0),
    A.SPIN,
  ]);
  m.cpu.mstatus |= MSTATUS_FS;
  setX(m, 10, 0x1000n);
  setX(m, 14, BigInt(l0(1)));
  const p = pte(PAGE + 0x1000, V | R | W | AC | D);
  const fr = m.cpu.fpu.fr;
  fr[6] = Number(p & 0xffffffffn) | 0;
  fr[7] = Number(p >> 32n) | 0;
  assert.equal(step(m, 2), 2);
  assert.ok(inTlb(m, 0x1000), 'the first load filled the TLB the second used');
  assert.deepEqual([fr[2], fr[3]], [0x11111111, 0x22222222]);
  assert.deepEqual([fr[4], fr[5]], [0x11111111, -1], 'FLW NaN-boxes');
  assert.equal(step(m, 2), 2); // the first store fills the write TLB, the second hits it
  assert.equal(get64(m, PAGE + 8), 0x2222222211111111n);
  assert.equal(get64(m, PAGE + 16), 0x2222222211111111n);
  assert.equal(step(m, 2), 2);
  assert.equal(xreg(m, 12), 0x33333333n);
});

test('LR/SC and AMOs use the TLBs; an AMO on a valid PTE drops the translations built on it', () => {
  const m = pagedMachine([
    A.lrd(11, 10),
    A.scd(12, 10, 13),
    A.lrd(11, 10),
    A.scd(12, 10, 13),
    A.ld(15, 10, 0),
    A.amoswapd(16, 14, 17),
    A.ld(18, 10, 0),
    A.SPIN,
  ]);
  setX(m, 10, 0x1000n);
  setX(m, 13, 0x55n);
  setX(m, 14, BigInt(l0(1)));
  setX(m, 17, pte(PAGE + 0x1000, V | R | W | AC | D));
  assert.equal(step(m, 2), 2);
  assert.equal(xreg(m, 12), 0n, 'SC after a walk');
  assert.equal(step(m, 2), 2);
  assert.equal(xreg(m, 11), 0x55n);
  assert.equal(xreg(m, 12), 0n, 'SC through the write TLB');
  assert.equal(step(m, 1), 1);
  assert.ok(inTlb(m, 0x1000));
  assert.equal(step(m, 2), 2);
  assert.equal(xreg(m, 16), pte(PAGE, V | R | W | AC | D), 'A and D set by the walks');
  assert.equal(xreg(m, 18), 0x33333333n);
});

test('two address spaces mapping the same page keep their TLB entries side by side', () => {
  // Root B maps VA 0x1000 to another page; the hart loads through it under A, B, then A again.
  const rootB = 0x80110000,
    l1B = 0x80111000,
    l0B = 0x80112000;
  const m = pagedMachine([
    A.ld(11, 10, 0),
    A.csrrw(0, CSR.satp, 20),
    A.ld(12, 10, 0),
    A.csrrw(0, CSR.satp, 21),
    A.ld(13, 10, 0),
    A.SPIN,
  ]);
  put64(m, rootB + 8 * 2, pte(0x80000000, V | R | W | X | AC | D));
  put64(m, rootB, pte(l1B, V));
  put64(m, l1B, pte(l0B, V));
  put64(m, l0B + 8, pte(PAGE + 0x1000, V | R | W | AC | D));
  setX(m, 10, 0x1000n);
  setX(m, 20, (8n << 60n) | BigInt(rootB >>> 12));
  setX(m, 21, (8n << 60n) | BigInt(ROOT >>> 12));
  assert.equal(step(m, 4), 4);
  assert.ok(inTlb(m, 0x1000), "B's entry for the page evicted A's");
  assert.equal(step(m, 1), 1);
  assert.deepEqual(
    [xreg(m, 11), xreg(m, 12), xreg(m, 13)],
    [0x2222222211111111n, 0x33333333n, 0x2222222211111111n],
  );
});

// Pages TLB_SIZE apart take the same TLB slot: VA 0x401000 (VPN 1025) through a second L0 table.
const L0B = 0x80104000;
const FAR_VA = 0x1000 + (TLB_MASK + 1) * 4096;

test("two pages in one TLB slot stay cached together (the slot's second way); a flush forgets both", () => {
  const m = pagedMachine([A.ld(11, 10, 0), A.ld(12, 13, 0), A.ld(14, 10, 0), A.ld(15, 10, 0)]);
  put64(m, L1 + 8 * 2, pte(L0B, V));
  put64(m, L0B + 8 * 1, pte(PAGE + 0x4000, V | R | W | AC | D));
  writeWords(m, PAGE + 0x4000, [0x55555555, 0]);
  writeWords(m, PAGE + 0x5000, [0x66666666, 0]);
  setX(m, 10, 0x1000n);
  setX(m, 13, BigInt(FAR_VA));
  step(m, 2);
  assert.equal(xreg(m, 12), 0x55555555n);
  assert.ok(inTlb(m, FAR_VA), 'the far page in the first way');
  // Remap VA 0x1000 behind the TLBs' back (no guest store would do this without a flush):
  // a load served by the cache still reads the old page, a walk the new one.
  const o = (l0(1) - 0x80000000) >>> 2;
  m.bus.ram32[o] = Number(pte(PAGE + 0x5000, V | R | W | AC | D) & 0xffffffffn);
  step(m, 1);
  assert.equal(xreg(m, 14), 0x2222222211111111n, 'VA 0x1000 came from the second way, unwalked');
  assert.ok(inTlb(m, 0x1000) && !inTlb(m, FAR_VA), 'the hit swapped the two ways');
  m.cpu.flushTlb();
  step(m, 1);
  assert.equal(xreg(m, 15), 0x66666666n, 'after a flush, a walk');
});

test("a page that becomes a page table leaves the write TLB's second way too", () => {
  const m = machineWith([A.SPIN], 8 << 20);
  const h = m.cpu;
  const P = 0x80010000,
    Q = P + (TLB_MASK + 1) * 4096;
  tlbInsert(h, ACC_WRITE, P, 0, P);
  tlbInsert(h, ACC_WRITE, Q, 0, Q);
  const i = (((P >>> 12) ^ h.dataSalt) & TLB_MASK) << 2;
  assert.equal(h.tlbTag2[ACC_WRITE][i], (P & ~0xfff) | h.dataTag, 'P in the second way');
  markPtPage(h, (P - 0x80000000) >>> 12);
  assert.equal(h.tlbTag2[ACC_WRITE][i], -1, 'P evicted');
  assert.equal(h.tlbTag[ACC_WRITE][i], (Q & ~0xfff) | h.dataTag, 'Q kept');
});
