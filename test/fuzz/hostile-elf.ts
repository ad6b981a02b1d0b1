/**
 * A RISC-V ELF built to make a symbol scan slow: a string table with no NUL
 * in it, symbols naming every offset of it (each name runs to the end of
 * the table), and many section headers that all claim to be the symbol
 * table. A scan that reads each name to its NUL, or every table, is
 * quadratic in the file's size.
 */
export interface HostileElfShape {
  /** Bytes of the NUL-less string table. */
  strtabBytes: number;
  symbols: number;
  /** Section headers of type SHT_SYMTAB, all pointing at the same table. */
  symtabs: number;
}

export function hostileElf(shape: HostileElfShape): Uint8Array {
  const { strtabBytes, symbols, symtabs } = shape;
  const strOff = 64;
  const symOff = strOff + strtabBytes;
  const shOff = symOff + symbols * 24;
  const shnum = 2 + symtabs; // null, strtab, symtabs
  const b = new Uint8Array(shOff + shnum * 64);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setUint16(16, 2, true);
  dv.setUint16(18, 243, true);
  dv.setUint32(20, 1, true);
  dv.setBigUint64(24, 0x80000000n, true);
  dv.setBigUint64(40, BigInt(shOff), true);
  dv.setUint16(52, 64, true);
  dv.setUint16(54, 56, true);
  dv.setUint16(58, 64, true);
  dv.setUint16(60, shnum, true);
  b.fill(0x61, strOff, symOff); // 'a', no NUL anywhere
  for (let i = 0; i < symbols; i++) {
    const s = symOff + i * 24;
    dv.setUint32(s, 1 + (i % (strtabBytes - 1)), true);
    dv.setBigUint64(s + 8, BigInt(0x80000000 + i * 4), true);
  }
  const sh = (i: number, type: number, off: number, size: number, link: number): void => {
    const o = shOff + 64 * i;
    dv.setUint32(o + 4, type, true);
    dv.setBigUint64(o + 24, BigInt(off), true);
    dv.setBigUint64(o + 32, BigInt(size), true);
    dv.setUint32(o + 40, link, true);
  };
  sh(1, 3, strOff, strtabBytes, 0);
  for (let k = 0; k < symtabs; k++) sh(2 + k, 2, symOff, symbols * 24, 1);
  return b;
}
