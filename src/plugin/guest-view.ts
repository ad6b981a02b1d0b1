/**
 * The guest as plugins see it: registers, CSRs and memory read through the
 * MMU the way a debugger reads them (no A/D updates, no TLB fills, no
 * faults), always as copies. Nothing here writes to the machine.
 */
import { X_ABI_NAMES } from '../cpu/abi-names.js';
import { CSR } from '../cpu/csr-numbers.js';
import { debugTranslate, type HartAndRam } from '../gdb/debug-memory.js';
import type { GuestView, Priv } from './plugin-api.js';

const PRIVS: Priv[] = ['U', 'S', 'S', 'M'];

export function privName(p: number): Priv {
  return PRIVS[p & 3];
}

const CSR_BY_NAME = new Map<string, number>(Object.entries(CSR));
const CSR_NAMES = new Map<number, string>(Object.entries(CSR).map(([n, v]) => [v, n]));

/** A CSR's name, or its number in hex. */
export function csrName(num: number): string {
  return CSR_NAMES.get(num) ?? `0x${num.toString(16)}`;
}

/** A CSR number from a number or a name; throws on a name the hart does not know. */
export function csrNumber(csr: number | string): number {
  if (typeof csr === 'number') return csr;
  const n = CSR_BY_NAME.get(csr);
  if (n === undefined) throw new Error(`no CSR named '${csr}'`);
  return n;
}

function regNumber(reg: number | string): number {
  if (typeof reg === 'number') {
    if (!Number.isInteger(reg) || reg < 0 || reg > 31) throw new Error(`no register x${reg}`);
    return reg;
  }
  const abi = X_ABI_NAMES.indexOf(reg);
  if (abi >= 0) return abi;
  if (reg === 'fp') return 8;
  const m = /^x(\d{1,2})$/.exec(reg);
  if (m && Number(m[1]) < 32) return Number(m[1]);
  throw new Error(`no register named '${reg}'`);
}

const u64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

const MASK64 = (1n << 64n) - 1n;

export class MachineGuestView implements GuestView {
  constructor(private readonly vm: HartAndRam) {}

  get icount(): number {
    return this.vm.cpu.icount;
  }

  get pc(): bigint {
    return u64(this.vm.cpu.pcLo, this.vm.cpu.pcHi);
  }

  get priv(): Priv {
    return privName(this.vm.cpu.priv);
  }

  x(reg: number | string): bigint {
    const r = regNumber(reg);
    const regs = this.vm.cpu.regs;
    return u64(regs[r << 1], regs[(r << 1) | 1]);
  }

  csr(csr: number | string): bigint | undefined {
    const v = this.vm.cpu.readCsr(csrNumber(csr));
    return v && u64(v.lo, v.hi);
  }

  translate(vaddr: bigint | number): bigint | undefined {
    return debugTranslate(this.vm, BigInt(vaddr) & MASK64);
  }

  read(vaddr: bigint | number, length: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, length));
    let va = BigInt(vaddr) & MASK64;
    let got = 0;
    // A page at a time: one translation per page.
    while (got < out.length) {
      const pa = debugTranslate(this.vm, va);
      if (pa === undefined) break;
      const n = Math.min(out.length - got, 4096 - Number(va & 4095n));
      const part = this.readPhysical(pa, n);
      out.set(part, got);
      got += part.length;
      if (part.length < n) break;
      va = (va + BigInt(n)) & MASK64;
    }
    return out.slice(0, got);
  }

  readPhysical(paddr: bigint | number, length: number): Uint8Array {
    const bus = this.vm.bus;
    const off = BigInt(paddr) - BigInt(bus.ramBase);
    if (off < 0n || off >= BigInt(bus.ram8.length) || length <= 0) return new Uint8Array(0);
    const o = Number(off);
    return bus.ram8.slice(o, Math.min(o + length, bus.ram8.length));
  }

  readCString(vaddr: bigint | number, max = 256): string | undefined {
    const bytes = this.read(vaddr, max);
    if (bytes.length === 0 && max > 0) return undefined;
    const end = bytes.indexOf(0);
    let s = '';
    for (const b of end < 0 ? bytes : bytes.subarray(0, end)) s += String.fromCharCode(b);
    return s;
  }
}
