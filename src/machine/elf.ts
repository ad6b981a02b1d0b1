/** ELF64 little-endian RISC-V loader: program segments and the symbol table. */
export const EM_RISCV = 243;

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
  if (!isElf(data)) throw new Error(`${name} is not an ELF file`);
  if (data.length < 64) throw new Error(`${name} is a truncated ELF file`);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const class64 = data[4] === 2;
  if (!class64) throw new Error(`${name} is a 32-bit ELF; vmrs runs RV64 programs`);
  if (data[5] !== 1) throw new Error(`${name} is a big-endian ELF; RISC-V is little-endian`);
  const machine = dv.getUint16(18, true);
  if (machine !== EM_RISCV)
    throw new Error(`${name} is an ELF for machine ${machine}, not RISC-V (243)`);
  const u64 = (o: number) => {
    if (o + 8 > data.length)
      throw new Error(`${name}: ELF structure points past the end of the file`);
    return dv.getUint32(o + 4, true) * 4294967296 + dv.getUint32(o, true);
  };
  const entry = u64(24);
  const phoff = u64(32);
  const shoff = u64(40);
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  const shentsize = dv.getUint16(58, true);
  const shnum = dv.getUint16(60, true);
  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (o + 56 > data.length)
      throw new Error(`${name}: program header ${i} is past the end of the file`);
    if (dv.getUint32(o, true) !== 1) continue; // PT_LOAD
    const offset = u64(o + 8);
    const vaddr = u64(o + 16);
    const paddr = u64(o + 24);
    const filesz = u64(o + 32);
    const memsz = u64(o + 40);
    if (offset + filesz > data.length)
      throw new Error(`${name}: segment ${i} is past the end of the file`);
    segments.push({ paddr, vaddr, data: data.subarray(offset, offset + filesz), memsz });
  }
  const symbols = new Map<string, number>();
  if (shoff && shentsize >= 64 && shoff + shnum * shentsize <= data.length) {
    for (let i = 0; i < shnum; i++) {
      const o = shoff + i * shentsize;
      if (dv.getUint32(o + 4, true) !== 2) continue; // SHT_SYMTAB
      const symOff = u64(o + 24);
      const symSize = u64(o + 32);
      const link = dv.getUint32(o + 40, true);
      const strHdr = shoff + link * shentsize;
      const strOff = u64(strHdr + 24);
      const strSize = u64(strHdr + 32);
      if (symOff + symSize > data.length || strOff + strSize > data.length) continue;
      for (let s = symOff; s + 24 <= symOff + symSize; s += 24) {
        const nameOff = dv.getUint32(s, true);
        if (!nameOff || nameOff >= strSize) continue;
        let end = strOff + nameOff;
        while (end < strOff + strSize && data[end] !== 0) end++;
        const sym = new TextDecoder().decode(data.subarray(strOff + nameOff, end));
        if (!symbols.has(sym)) symbols.set(sym, u64(s + 8));
      }
    }
  }
  return { entry, class64, machine, segments, symbols };
}
