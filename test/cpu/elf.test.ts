import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ElfFormatError, MAX_SYMBOL_NAME, parseElf, EM_RISCV } from '../../src/machine/elf.js';
import { hostileElf } from '../fuzz/hostile-elf.js';

/** A minimal ELF64 image: one PT_LOAD segment and a .symtab with `tohost`. */
function makeElf(machine = EM_RISCV): Uint8Array {
  const b = new Uint8Array(0x200);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, machine, true);
  dv.setUint32(20, 1, true);
  dv.setBigUint64(24, 0x80000000n, true); // entry
  dv.setBigUint64(32, 0x40n, true); // phoff
  dv.setBigUint64(40, 0x100n, true); // shoff
  dv.setUint16(52, 64, true);
  dv.setUint16(54, 56, true);
  dv.setUint16(56, 1, true);
  dv.setUint16(58, 64, true);
  dv.setUint16(60, 3, true); // null, .symtab, .strtab
  // program header
  dv.setUint32(0x40, 1, true); // PT_LOAD
  dv.setBigUint64(0x40 + 8, 0x78n, true); // offset
  dv.setBigUint64(0x40 + 16, 0x80000000n, true); // vaddr
  dv.setBigUint64(0x40 + 24, 0x80000000n, true); // paddr
  dv.setBigUint64(0x40 + 32, 4n, true); // filesz
  dv.setBigUint64(0x40 + 40, 0x1000n, true); // memsz
  dv.setUint32(0x78, 0x0000006f, true);
  // .strtab at 0x80, .symtab at 0xa0 (2 entries of 24 bytes)
  b.set(new TextEncoder().encode('\0tohost\0'), 0x80);
  dv.setUint32(0xa0 + 24, 1, true); // st_name
  b[0xa0 + 24 + 4] = 0x11; // GLOBAL OBJECT
  dv.setUint16(0xa0 + 24 + 6, 1, true);
  dv.setBigUint64(0xa0 + 24 + 8, 0x80001000n, true);
  const sh = (
    i: number,
    type: number,
    off: number,
    size: number,
    link: number,
    ent: number,
  ): void => {
    const o = 0x100 + 64 * i;
    dv.setUint32(o + 4, type, true);
    dv.setBigUint64(o + 24, BigInt(off), true);
    dv.setBigUint64(o + 32, BigInt(size), true);
    dv.setUint32(o + 40, link, true);
    dv.setBigUint64(o + 56, BigInt(ent), true);
  };
  sh(1, 2, 0xa0, 48, 2, 24); // SHT_SYMTAB, link -> .strtab
  sh(2, 3, 0x80, 8, 0, 0); // SHT_STRTAB
  return b;
}

test('parseElf reads entry, segments and symbols', () => {
  const e = parseElf(makeElf());
  assert.equal(e.entry, 0x80000000);
  assert.equal(e.class64, true);
  assert.equal(e.machine, EM_RISCV);
  assert.equal(e.segments.length, 1);
  assert.equal(e.segments[0].paddr, 0x80000000);
  assert.equal(e.segments[0].memsz, 0x1000);
  assert.deepEqual([...e.segments[0].data], [0x6f, 0, 0, 0]);
  assert.equal(e.symbols.get('tohost'), 0x80001000);
});

test('parseElf rejects non-ELF and non-RISC-V files with a clear message', () => {
  assert.throws(() => parseElf(new Uint8Array(100)), /not an ELF/);
  assert.throws(() => parseElf(makeElf(62)), /RISC-V|machine/i);
});

test('a crafted symbol table is read in one bounded pass: the first table, names up to the limit', () => {
  // 289 KB: a 100 KB NUL-less string table, 6000 symbols each naming a suffix of it,
  // and 700 section headers claiming to be the symbol table.
  const elf = hostileElf({ strtabBytes: 100_000, symbols: 6000, symtabs: 700 });
  assert.ok(elf.length > 280_000);
  const e = parseElf(elf);
  // Names within MAX_SYMBOL_NAME bytes of the table's end are the only ones that end.
  const expected = new Set<string>();
  for (let i = 0; i < 6000; i++) {
    const len = 100_000 - (1 + i);
    if (len <= MAX_SYMBOL_NAME) expected.add('a'.repeat(len));
  }
  assert.equal(e.symbols.size, expected.size);
  for (const name of e.symbols.keys()) assert.ok(expected.has(name));
});

test('a symbol near the end of the string table is read; one longer than the limit is skipped', () => {
  const short = hostileElf({ strtabBytes: 40, symbols: 39, symtabs: 1 });
  assert.equal(parseElf(short).symbols.size, 39);
  const long = hostileElf({ strtabBytes: MAX_SYMBOL_NAME + 3, symbols: 2, symtabs: 1 });
  // Offsets 1 and 2: names of MAX+2 and MAX+1 bytes, both too long.
  assert.equal(parseElf(long).symbols.size, 0);
});

test('malformed program headers are refused with ElfFormatError', () => {
  const b = makeElf();
  const dv = new DataView(b.buffer);
  const small = b.slice();
  new DataView(small.buffer).setUint16(54, 0, true); // phentsize 0: every header the same one
  assert.throws(() => parseElf(small), ElfFormatError);
  const fat = b.slice();
  new DataView(fat.buffer).setBigUint64(0x40 + 40, 2n, true); // memsz 2 < filesz 4
  assert.throws(() => parseElf(fat), ElfFormatError);
  assert.equal(dv.getUint16(54, true), 56);
});
