/**
 * The observers' page-table walk (src/cpu/page-walk.ts) and its two entry
 * points: peekTranslate (plugin hooks) and debugTranslate (the debugger),
 * both refusing what the hart refuses. Page tables are built by hand in RAM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CSR,
  MSTATUS_MPP_SHIFT,
  MSTATUS_MPRV,
  MSTATUS_MXR,
  MSTATUS_SUM,
} from '../../src/cpu/csr-numbers.js';
import { ACC_READ, PRIV_M, PRIV_S } from '../../src/cpu/hart-constants.js';
import { peekTranslate } from '../../src/cpu/hooks.js';
import { translate } from '../../src/cpu/mmu.js';
import { walkPage } from '../../src/cpu/page-walk.js';
import { debugTranslate } from '../../src/gdb/debug-memory.js';
import { writeWords, type BareMachine } from '../helpers/bare-machine.js';
import type { Prng } from '../helpers/seed.js';
import { withSeed } from '../helpers/seed.js';
import { SPIN } from './asm.js';
import { enter, machineWith } from './harness.js';

const RAM = 0x80000000;
const RAM_SIZE = 4 << 20;
const ROOT = 0x80100000;
const L1 = 0x80101000;
const L0 = 0x80102000;
const ROOT48 = 0x80103000; // Sv48: one more level on top of ROOT
const PAGE = 0x80200000; // 2 MiB aligned

const V = 1n,
  R = 2n,
  W = 4n,
  X = 8n,
  AC = 64n,
  D = 128n;
const pte = (pa: number | bigint, flags: bigint): bigint => ((BigInt(pa) >> 12n) << 10n) | flags;

function put64(m: BareMachine, addr: number, v: bigint): void {
  writeWords(m, addr, [Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn)]);
}
function get64(m: BareMachine, addr: bigint): bigint | undefined {
  if (addr < BigInt(RAM) || addr + 8n > BigInt(RAM + RAM_SIZE)) return undefined;
  const o = Number(addr - BigInt(RAM)) >>> 2;
  return (BigInt(m.bus.ram32[o + 1] >>> 0) << 32n) | BigInt(m.bus.ram32[o] >>> 0);
}
const lo = (va: bigint): number => Number(va & 0xffffffffn) | 0;
const hi = (va: bigint): number => Number((va >> 32n) & 0xffffffffn) | 0;

/** walkPage as a physical address, undefined when not mapped. */
function walk(m: BareMachine, priv: number, va: bigint): bigint | undefined {
  const page = walkPage(m.cpu, priv, lo(va), hi(va));
  return page < 0 ? undefined : BigInt(page) * 4096n + (va & 0xfffn);
}
function peek(m: BareMachine, va: bigint, fetch = false): bigint | undefined {
  const pa = peekTranslate(m.cpu, lo(va), hi(va), fetch);
  return pa < 0 ? undefined : BigInt(pa);
}

const l0 = (vpn0: number): number => L0 + 8 * vpn0;
const l1 = (vpn1: number): number => L1 + 8 * vpn1;

/**
 * A small Sv39 tree (and its Sv48 root), S-mode, TLBs empty:
 *   0x1000      4 KiB leaf -> PAGE, A and D clear (a walk must not set them)
 *   0x5000      PTE with V clear
 *   0x6000      W without R at level 0 (reserved)
 *   0x7000      leaf with reserved bit 54 set
 *   0x200000    2 MiB megapage -> PAGE
 *   0x400000    2 MiB leaf whose PPN is not 2 MiB aligned (misaligned superpage)
 *   0x600000    W without R at level 1 (reserved)
 *   0x800000    pointer to a table outside RAM
 *   0x80000000  1 GiB gigapage -> itself
 *   the high half's first GiB (ROOT[256]) -> L1 again
 */
function pagedMachine(mode: 0 | 8 | 9): BareMachine {
  const m = machineWith([SPIN]);
  put64(m, ROOT + 8 * 0, pte(L1, V));
  put64(m, ROOT + 8 * 2, pte(0x80000000, V | R | W | X | AC | D));
  put64(m, ROOT + 8 * 256, pte(L1, V));
  put64(m, l1(0), pte(L0, V));
  put64(m, l1(1), pte(PAGE, V | R | X | AC));
  put64(m, l1(2), pte(PAGE + 0x1000, V | R | AC));
  put64(m, l1(3), pte(L0, V | W));
  put64(m, l1(4), pte(0x10000000, V));
  put64(m, l0(1), pte(PAGE, V | R | W));
  put64(m, l0(5), pte(PAGE, R | W | AC | D));
  put64(m, l0(6), pte(PAGE, V | W | AC | D));
  put64(m, l0(7), pte(PAGE, V | R | AC) | (1n << 54n));
  put64(m, ROOT48 + 8 * 0, pte(ROOT, V));
  put64(m, ROOT48 + 8 * 256, pte(ROOT, V));
  if (mode !== 0) m.cpu.csrWrite(CSR.satp, (mode === 8 ? ROOT : ROOT48) >>> 12, mode << 28);
  enter(m, PRIV_S); // flushes the TLBs
  return m;
}

/** Every entry point: [walk, peekTranslate data, fetch, debugTranslate]. */
function all(m: BareMachine, va: bigint): (bigint | undefined)[] {
  const p = m.cpu.priv;
  return [walk(m, p, va), peek(m, va), peek(m, va, true), debugTranslate(m, va)];
}
const mappedTo = (pa: bigint | undefined) => [pa, pa, pa, pa];
const NONE = mappedTo(undefined);

for (const mode of [8, 9] as const) {
  const name = mode === 8 ? 'Sv39' : 'Sv48';

  test(`${name}: a 4 KiB leaf, a 2 MiB megapage and a 1 GiB gigapage`, () => {
    const m = pagedMachine(mode);
    assert.deepEqual(all(m, 0x1abcn), mappedTo(BigInt(PAGE) + 0xabcn));
    assert.deepEqual(all(m, 0x212345n), mappedTo(BigInt(PAGE) + 0x12345n));
    assert.deepEqual(all(m, 0x80abc123n), mappedTo(0x80abc123n));
    // The high half, sign-extended from bit 38 (Sv39) or 47 (Sv48).
    const high = mode === 8 ? 0xffffffc000001008n : 0xffff800000001008n;
    assert.deepEqual(all(m, high), mappedTo(BigInt(PAGE) + 8n));
  });

  test(`${name}: an invalid PTE, a table outside RAM and an empty slot are not mapped`, () => {
    const m = pagedMachine(mode);
    assert.deepEqual(all(m, 0x5000n), NONE);
    assert.deepEqual(all(m, 0x800000n), NONE);
    assert.deepEqual(all(m, 0x3000n), NONE);
    assert.deepEqual(all(m, 0xc0000000n), NONE); // ROOT[3]: zero
  });

  test(`${name}: non-canonical addresses are not mapped`, () => {
    const m = pagedMachine(mode);
    // The low bits of each select 0x1000's mapping: only the bits above the VA width are wrong.
    for (const va of [1n << 56n, 1n << 63n, 0x7fffffc000001000n, 0xfeffffc000001000n])
      assert.deepEqual(all(m, va | 0x1000n), NONE, `0x${va.toString(16)}`);
    // Bit 38 without the bits above: canonical for Sv48 (ROOT[256] there), not for Sv39.
    const va = (1n << 38n) | 0x1000n;
    assert.deepEqual(all(m, va), mode === 8 ? NONE : mappedTo(BigInt(PAGE)));
    // Bit 47 alone: canonical for neither.
    assert.deepEqual(all(m, (1n << 47n) | 0x1000n), NONE);
  });

  test(`${name}: what the hart refuses to map, no observer maps (the debugger included)`, () => {
    const m = pagedMachine(mode);
    for (const va of [
      0x412345n, // a misaligned superpage (priv spec 4.3.2 step 6)
      0x6000n, // W without R at level 0: reserved
      0x601010n, // W without R at level 1: reserved, not a pointer
      0x7020n, // PTE bit 54 (reserved: no Svpbmt, no Svnapot)
    ]) {
      assert.deepEqual(all(m, va), NONE, `0x${va.toString(16)}`);
      // The hart faults there too.
      assert.equal(translate(m.cpu, lo(va), hi(va), ACC_READ), -1, `0x${va.toString(16)}`);
      enter(m, PRIV_S); // the fault left state behind; drop it
    }
  });
}

test('bare mode and M-mode are the identity, up to 56 physical bits', () => {
  for (const [mode, priv] of [
    [0, PRIV_S],
    [8, PRIV_M],
    [9, PRIV_M],
  ] as const) {
    const m = pagedMachine(mode);
    enter(m, priv);
    for (const va of [0n, 0x1abcn, 0x80001234n, 0xffffffffffffffn]) {
      const at = `0x${va.toString(16)}`;
      const [walked, , , debug] = all(m, va);
      assert.deepEqual([walked, debug], [va, va], at);
      // peekTranslate's answer is a double, as the hart's translate() gives: exact below 2^53.
      for (const fetch of [false, true]) {
        const pa = peekTranslate(m.cpu, lo(va), hi(va), fetch);
        assert.equal(pa, translate(m.cpu, lo(va), hi(va), ACC_READ), at);
        assert.equal(pa, Number(va), at);
      }
    }
    for (const va of [1n << 56n, 0xfffffffffffff123n])
      assert.deepEqual(all(m, va), NONE, `0x${va.toString(16)}`);
  }
});

test('debugTranslate: past 2^64 wraps in bare mode, is not canonical with paging on; a negative va likewise', () => {
  const bare = pagedMachine(0);
  assert.equal(debugTranslate(bare, (1n << 64n) + 0x10n), 0x10n);
  assert.equal(debugTranslate(bare, -1n), undefined); // 2^64 - 1: past 56 physical bits
  const paged = pagedMachine(8);
  assert.equal(debugTranslate(paged, (1n << 64n) + 0x1000n), undefined);
  assert.equal(debugTranslate(paged, -1n), undefined);
});

test('MPRV: peekTranslate translates data at MPP, fetches at M; debugTranslate uses the privilege the hart is at', () => {
  const m = pagedMachine(8);
  enter(m, PRIV_M);
  m.cpu.csrWrite(CSR.mstatus, MSTATUS_MPRV | (PRIV_S << MSTATUS_MPP_SHIFT), 0);
  assert.equal(peek(m, 0x1008n), BigInt(PAGE) + 8n);
  assert.equal(peek(m, 0x1008n, true), 0x1008n);
  assert.equal(debugTranslate(m, 0x1008n), 0x1008n);
});

/** What a walk must not change: RAM (A/D bits), the TLBs and what they track, the hart's CSRs. */
function machineState(m: BareMachine): unknown {
  const h = m.cpu;
  return {
    ram: Buffer.from(m.bus.ram8).toString('base64'),
    tlb: h.tlbTag.map((a) => Array.from(a)),
    fetchPage: [h.fVpn, h.fHi, h.fOff],
    ptPage: Array.from(h.ptPage),
    ptCount: h.ptCount,
    dirty: Array.from(h.dirtyPages),
    csrs: [Array.from(h.csrLo), Array.from(h.csrHi), h.priv, h.mstatus, h.satpMode, h.satpPpn],
    cv: [h.cvLo, h.cvHi],
  };
}

test('walking changes nothing: no TLB fill, no A/D bits set, no CSR touched', () => {
  for (const mode of [8, 9] as const) {
    const m = pagedMachine(mode);
    const before = machineState(m);
    for (const va of [0x1000n, 0x212345n, 0x412345n, 0x601010n, 0x7020n, 0x80000000n, 0x5000n])
      all(m, va);
    assert.deepEqual(machineState(m), before);
    assert.equal(get64(m, BigInt(l0(1))), pte(PAGE, V | R | W), 'A and D still clear');
    assert.ok(
      m.cpu.tlbTag.every((t) => t.every((x) => x === -1)),
      'TLBs still empty',
    );
  }
});

/**
 * The walk from the spec's steps (priv spec 4.3.2), in BigInt: an
 * independent model, for random trees.
 */
function model(m: BareMachine, priv: number, va: bigint): bigint | undefined {
  const h = m.cpu;
  if (priv === PRIV_M || h.satpMode === 0) return va >> 56n !== 0n ? undefined : va;
  const levels = h.satpMode === 9 ? 4 : 3;
  const vaBits = BigInt(12 + 9 * levels);
  const above = va >> (vaBits - 1n);
  if (above !== 0n && above !== (1n << (65n - vaBits)) - 1n) return undefined;
  let a = BigInt(h.satpPpn) * 4096n;
  for (let i = levels - 1; i >= 0; i--) {
    const e = get64(m, a + ((va >> BigInt(12 + 9 * i)) & 0x1ffn) * 8n);
    if (e === undefined || (e & V) === 0n) return undefined;
    if (((e & R) === 0n && (e & W) !== 0n) || e >> 54n !== 0n) return undefined;
    const ppn = (e >> 10n) & ((1n << 44n) - 1n);
    if ((e & (R | X)) === 0n) {
      if (i === 0) return undefined;
      a = ppn * 4096n;
      continue;
    }
    const low = (1n << BigInt(9 * i)) - 1n;
    if ((ppn & low) !== 0n) return undefined;
    return ((ppn & ~low) | ((va >> 12n) & low)) * 4096n + (va & 0xfffn);
  }
  return undefined;
}

const TABLES = 8; // table pages at ROOT, ROOT + 4 KiB, ...
const SLOTS = [0, 1, 2, 255, 256, 510, 511]; // the only indices used, so that random VAs hit them

function randomPte(rng: Prng): bigint {
  const flags = BigInt(rng.u32() & 0xff);
  const table = BigInt(ROOT + 4096 * rng.int(TABLES));
  switch (rng.int(10)) {
    case 0:
    case 1:
    case 2:
      return pte(table, V); // pointer within the tree
    case 3:
      return pte(table, V | (flags & (W | AC | D))); // pointer, maybe W alone
    case 4:
      return (BigInt(rng.u32() & 0xfffff) << 10n) | V; // pointer anywhere (mostly outside RAM)
    case 5:
      return (flags & ~V) | (BigInt(rng.u32()) << 10n); // invalid
    case 6:
    case 7: {
      // A leaf with the hart's permission bits at random, within RAM, aligned to a random level.
      const ppn = (RAM >>> 12) + (rng.int(RAM_SIZE / 4096) & ~((1 << (9 * rng.int(3))) - 1));
      return (BigInt(ppn) << 10n) | flags | V;
    }
    case 8: // a leaf far away, any PPN
      return ((BigInt(rng.u32()) * 4096n + BigInt(rng.u32() & 0xfff)) << 10n) | flags | V | R;
    default: // reserved bits 63:54
      return (BigInt(rng.u32() & 0x3ff) << 54n) | pte(PAGE, V | R | AC);
  }
}

function randomVa(rng: Prng, vaBits: number): bigint {
  let va = BigInt(rng.u32() & 0xfff);
  for (let i = 0; i < (vaBits - 12) / 9; i++)
    va |= BigInt(SLOTS[rng.int(SLOTS.length)]) << BigInt(12 + 9 * i);
  const top = (va >> BigInt(vaBits - 1)) & 1n;
  switch (rng.int(4)) {
    case 0: // not canonical (almost always)
      return va | (BigInt(rng.u32()) << 32n);
    case 1:
      return va;
    default: // canonical
      return top ? va | (((1n << 64n) - 1n) ^ ((1n << BigInt(vaBits)) - 1n)) : va;
  }
}

test(
  'random trees: the walk agrees with the spec model and with translate() in mmu.ts',
  withSeed((_t, rng) => {
    // How many VAs were mapped: the trees must exercise both outcomes.
    let mapped = 0,
      unmapped = 0;
    for (let round = 0; round < 40; round++) {
      const mode = rng.int(2) === 0 ? 8 : 9;
      const m = machineWith([SPIN]);
      for (let t = 0; t < TABLES; t++)
        for (const s of SLOTS)
          if (rng.int(5) !== 0) put64(m, ROOT + 4096 * t + 8 * s, randomPte(rng));
      m.cpu.csrWrite(CSR.satp, (ROOT + 4096 * rng.int(TABLES)) >>> 12, mode << 28);
      // SUM and MXR: every leaf with R or X is readable from S-mode, so the hart's walk faults
      // exactly where nothing is mapped.
      m.cpu.csrWrite(CSR.mstatus, MSTATUS_SUM | MSTATUS_MXR, 0);
      enter(m, PRIV_S);
      const vaBits = mode === 8 ? 39 : 48;
      for (let k = 0; k < 200; k++) {
        const va = randomVa(rng, vaBits);
        const at = `round ${round} Sv${vaBits} va 0x${va.toString(16)}`;
        const expected = model(m, PRIV_S, va);
        assert.equal(walk(m, PRIV_S, va), expected, at);
        assert.equal(debugTranslate(m, va), expected, at);
        const page = walkPage(m.cpu, PRIV_S, lo(va), hi(va));
        const pa = translate(m.cpu, lo(va), hi(va), ACC_READ); // last: it marks page-table pages
        assert.equal(page < 0 ? -1 : page * 4096 + Number(va & 0xfffn), pa, at);
        if (page >= 0) mapped++;
        else unmapped++;
      }
    }
    assert.ok(mapped > 40 && unmapped > 1000, `${mapped} mapped, ${unmapped} not`);
  }),
);
