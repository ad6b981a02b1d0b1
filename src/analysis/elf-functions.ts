/**
 * The functions of an ELF's symbol table, to name a pc: for `vmrs profile`.
 * Addresses are kept as two 32-bit halves (a kernel's lie above 2^53, where
 * doubles lose bits); only the low 4 GiB and the top 4 GiB (a Linux kernel
 * on RISC-V) are kept. Bounds are checked everywhere: the file is the
 * user's, and may be anything.
 */
import { isElf } from '../machine/elf.js';

interface Table {
  starts: Uint32Array;
  ends: Uint32Array;
  names: string[];
}

export class ElfFunctions {
  private constructor(
    private readonly low: Table,
    private readonly high: Table,
    readonly count: number,
  ) {}

  /** The functions of `data`, or undefined when it is not an ELF64 with a symbol table. */
  static read(data: Uint8Array): ElfFunctions | undefined {
    if (!isElf(data) || data.length < 64 || data[4] !== 2 || data[5] !== 1) return undefined;
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const u64 = (o: number) =>
      o + 8 <= data.length ? dv.getUint32(o + 4, true) * 4294967296 + dv.getUint32(o, true) : -1;
    const shoff = u64(40);
    const shentsize = dv.getUint16(58, true);
    const shnum = dv.getUint16(60, true);
    if (shoff <= 0 || shentsize < 64 || shoff + shnum * shentsize > data.length) return undefined;
    const found: { hi: number; lo: number; size: number; name: string }[] = [];
    for (let i = 0; i < shnum; i++) {
      const sh = shoff + i * shentsize;
      if (dv.getUint32(sh + 4, true) !== 2) continue; // SHT_SYMTAB
      const symOff = u64(sh + 24);
      const symSize = u64(sh + 32);
      const link = dv.getUint32(sh + 40, true);
      if (link >= shnum || symOff < 0 || symOff + symSize > data.length) break;
      const str = shoff + link * shentsize;
      const strOff = u64(str + 24);
      const strSize = u64(str + 32);
      if (strOff < 0 || strOff + strSize > data.length) break;
      const dec = new TextDecoder();
      for (let s = symOff; s + 24 <= symOff + symSize; s += 24) {
        if ((data[s + 4] & 0xf) !== 2) continue; // STT_FUNC
        const nameOff = dv.getUint32(s, true);
        if (nameOff === 0 || nameOff >= strSize) continue;
        let end = strOff + nameOff;
        const limit = Math.min(strOff + strSize, end + 512);
        while (end < limit && data[end] !== 0) end++;
        const lo = dv.getUint32(s + 8, true);
        const hi = dv.getUint32(s + 12, true);
        if (hi !== 0 && hi !== 0xffffffff) continue;
        const size = dv.getUint32(s + 16, true); // sizes beyond 4 GiB are not functions
        found.push({ hi, lo, size, name: dec.decode(data.subarray(strOff + nameOff, end)) });
      }
      break;
    }
    if (found.length === 0) return undefined;
    const table = (hi: number): Table => {
      const f = found.filter((x) => x.hi === hi).sort((a, b) => a.lo - b.lo);
      const t = {
        starts: new Uint32Array(f.length),
        ends: new Uint32Array(f.length),
        names: f.map((x) => x.name),
      };
      f.forEach((x, i) => {
        t.starts[i] = x.lo;
        // A function without a size runs to the next one.
        const next = i + 1 < f.length ? f[i + 1].lo : 0xffffffff;
        t.ends[i] = x.size ? Math.min(x.lo + x.size, 0xffffffff) : next;
      });
      return t;
    };
    return new ElfFunctions(table(0), table(0xffffffff), found.length);
  }

  /** The function holding pc (hi:lo), if any. */
  find(lo: number, hi: number): string | undefined {
    const t = hi === 0 ? this.low : (hi | 0) === -1 ? this.high : undefined;
    if (!t || t.starts.length === 0) return undefined;
    const pc = lo >>> 0;
    let a = 0,
      b = t.starts.length - 1;
    if (pc < t.starts[0]) return undefined;
    while (a < b) {
      const m = (a + b + 1) >>> 1;
      if (t.starts[m] <= pc) a = m;
      else b = m - 1;
    }
    return pc < t.ends[a] ? t.names[a] : undefined;
  }
}
