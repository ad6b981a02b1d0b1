/**
 * ELF64 little-endian RISC-V loader: program segments and the symbol table.
 * Any file, however crafted, is read in time linear in its size: one symbol
 * table, each name read at most once and at most MAX_SYMBOL_NAME long.
 */
export const EM_RISCV = 243;
/** Longer names are skipped (the loader looks up a few short ones: tohost, fromhost). */
export const MAX_SYMBOL_NAME = 1024;

/** The file is not an ELF vmrs can load, or its structure points outside it. */
export class ElfFormatError extends Error {}

export interface ElfSegment {
  paddr: number;
  vaddr: number;
  data: Uint8Array;
  memsz: number;
}

export interface ElfImage {
  entry: number;
  class64: boolean;
  machine: number;
  segments: ElfSegment[];
  symbols: Map<string, number>;
}

export function isElf(data: Uint8Array): boolean {
  return (
    data.length >= 4 && data[0] === 0x7f && data[1] === 0x45 && data[2] === 0x4c && data[3] === 0x46
  );
}

export function parseElf(data: Uint8Array, name = 'image'): ElfImage {
  if (!isElf(data)) throw new ElfFormatError(`${name} is not an ELF file`);
  if (data.length < 64) throw new ElfFormatError(`${name} is a truncated ELF file`);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const class64 = data[4] === 2;
  if (!class64) throw new ElfFormatError(`${name} is a 32-bit ELF; vmrs runs RV64 programs`);
  if (data[5] !== 1)
    throw new ElfFormatError(`${name} is a big-endian ELF; RISC-V is little-endian`);
  const machine = dv.getUint16(18, true);
  if (machine !== EM_RISCV)
    throw new ElfFormatError(`${name} is an ELF for machine ${machine}, not RISC-V (243)`);
  const u64 = (o: number) => {
    if (o + 8 > data.length)
      throw new ElfFormatError(`${name}: ELF structure points past the end of the file`);
    return dv.getUint32(o + 4, true) * 4294967296 + dv.getUint32(o, true);
  };
  const entry = u64(24);
  const phoff = u64(32);
  const shoff = u64(40);
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  const shentsize = dv.getUint16(58, true);
  const shnum = dv.getUint16(60, true);
  if (phnum && phentsize < 56)
    throw new ElfFormatError(`${name}: program headers of ${phentsize} bytes (ELF64 has 56)`);
  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (o + 56 > data.length)
      throw new ElfFormatError(`${name}: program header ${i} is past the end of the file`);
    if (dv.getUint32(o, true) !== 1) continue; // PT_LOAD
    const offset = u64(o + 8);
    const vaddr = u64(o + 16);
    const paddr = u64(o + 24);
    const filesz = u64(o + 32);
    const memsz = u64(o + 40);
    if (offset + filesz > data.length)
      throw new ElfFormatError(`${name}: segment ${i} is past the end of the file`);
    if (filesz > memsz)
      throw new ElfFormatError(`${name}: segment ${i} has more bytes in the file than in memory`);
    segments.push({ paddr, vaddr, data: data.subarray(offset, offset + filesz), memsz });
  }
  const symbols = new Map<string, number>();
  if (shoff && shentsize >= 64 && shoff + shnum * shentsize <= data.length) {
    // The first SHT_SYMTAB only: an object file has at most one (ELF gABI, "Sections").
    for (let i = 0; i < shnum; i++) {
      const o = shoff + i * shentsize;
      if (dv.getUint32(o + 4, true) !== 2) continue;
      const link = dv.getUint32(o + 40, true);
      if (link < shnum)
        readSymbols(data, dv, u64(o + 24), u64(o + 32), shoff + link * shentsize, symbols);
      break;
    }
  }
  return { entry, class64, machine, segments, symbols };
}

/**
 * Symbols of one table into `symbols` (the first of a name wins). Linear: one
 * pass over the table; each name's end found by a bounded look for its NUL,
 * and a name offset seen before is not decoded again.
 */
function readSymbols(
  data: Uint8Array,
  dv: DataView,
  symOff: number,
  symSize: number,
  strHdr: number,
  symbols: Map<string, number>,
): void {
  if (strHdr + 64 > data.length) return;
  const strOff = dv.getUint32(strHdr + 28, true) * 4294967296 + dv.getUint32(strHdr + 24, true);
  const strSize = dv.getUint32(strHdr + 36, true) * 4294967296 + dv.getUint32(strHdr + 32, true);
  if (symOff + symSize > data.length || strOff + strSize > data.length) return;
  const decoder = new TextDecoder();
  const seen = new Set<number>();
  for (let s = symOff; s + 24 <= symOff + symSize; s += 24) {
    const nameOff = dv.getUint32(s, true);
    if (!nameOff || nameOff >= strSize || seen.has(nameOff)) continue;
    seen.add(nameOff);
    const start = strOff + nameOff;
    const limit = Math.min(strOff + strSize, start + MAX_SYMBOL_NAME + 1);
    let end = start;
    while (end < limit && data[end] !== 0) end++;
    if (end - start > MAX_SYMBOL_NAME) continue;
    const sym = decoder.decode(data.subarray(start, end));
    if (!symbols.has(sym))
      symbols.set(sym, dv.getUint32(s + 12, true) * 4294967296 + dv.getUint32(s + 8, true));
  }
}
