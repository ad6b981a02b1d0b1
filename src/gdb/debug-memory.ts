/**
 * Guest memory as the debugger sees it: virtual addresses translated the way
 * the hart would translate them now (satp, Sv39/Sv48; physical in M-mode
 * or with paging off), without side effects — no A/D bit updates, no faults,
 * no TLB fills. Debug-only, so BigInt is fine here.
 */
import { BOOT_ROM_BASE as VIRT_BOOT_ROM_BASE, type VirtMachine } from '../machine/virt.js';
import { CSR } from '../cpu/csr-numbers.js';

const PRIV_M = 3;

/** What a translation needs of a machine: its hart and its RAM. */
export type HartAndRam = Pick<VirtMachine, 'cpu' | 'bus'>;
const BOOT_ROM_BASE = BigInt(VIRT_BOOT_ROM_BASE);

/** Physical address of virtual `va` for the hart as it is now, or undefined if unmapped. */
export function debugTranslate(vm: HartAndRam, va: bigint): bigint | undefined {
  const cpu = vm.cpu;
  const satp = cpu.readCsr(CSR.satp);
  if (!satp) return va;
  const mode = satp.hi >>> 28;
  if (cpu.priv === PRIV_M || mode === 0) return va & 0xffffffffffffffffn;
  const levels = mode === 8 ? 3 : mode === 9 ? 4 : 0;
  if (!levels) return undefined;
  const vaBits = 12 + 9 * levels;
  // Canonical: the bits above the VA width copy the top bit.
  const top = va >> BigInt(vaBits - 1);
  if (top !== 0n && top !== (1n << BigInt(64 - vaBits + 1)) - 1n) return undefined;
  let table = (BigInt(satp.hi & 0xfffffff) * 0x100000000n + BigInt(satp.lo >>> 0)) * 4096n;
  for (let level = levels - 1; level >= 0; level--) {
    const vpn = (va >> BigInt(12 + 9 * level)) & 0x1ffn;
    const pte = readPhys64(vm, table + vpn * 8n);
    if (pte === undefined || (pte & 1n) === 0n) return undefined;
    const ppn = (pte >> 10n) & 0xfffffffffffn;
    if ((pte & 0xan) !== 0n) {
      // Leaf (R or X): superpages take their low page numbers from the VA.
      const low = (1n << BigInt(12 + 9 * level)) - 1n;
      return ((ppn * 4096n) & ~low) | (va & low);
    }
    table = ppn * 4096n;
  }
  return undefined;
}

function readPhys64(vm: HartAndRam, pa: bigint): bigint | undefined {
  const off = pa - BigInt(vm.bus.ramBase);
  if (off < 0n || off + 8n > BigInt(vm.bus.ram8.length)) return undefined;
  const o = Number(off);
  const r = vm.bus.ram8;
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(r[o + i]);
  return v;
}

/** Read `len` bytes at virtual `va`; stops at the first unmapped or non-RAM byte (returns what it got). */
export function debugRead(vm: VirtMachine, va: bigint, len: number): Uint8Array {
  const out: number[] = [];
  const rom = vm.boot.bootRom;
  for (let i = 0; i < len; i++) {
    const pa = debugTranslate(vm, va + BigInt(i));
    if (pa === undefined) break;
    const off = pa - BigInt(vm.bus.ramBase);
    if (off >= 0n && off < BigInt(vm.bus.ram8.length)) out.push(vm.bus.ram8[Number(off)]);
    // The boot ROM reads without side effects; other devices' registers are not read.
    else if (pa >= BOOT_ROM_BASE && pa < BOOT_ROM_BASE + BigInt(rom.size))
      out.push(rom.device.read(Number(pa - BOOT_ROM_BASE), 1));
    else break;
  }
  return Uint8Array.from(out);
}

/** Write bytes at virtual `va` (RAM only); false if any byte is unmapped. */
export function debugWrite(vm: VirtMachine, va: bigint, data: Uint8Array): boolean {
  const pas: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const pa = debugTranslate(vm, va + BigInt(i));
    if (pa === undefined) return false;
    const off = pa - BigInt(vm.bus.ramBase);
    if (off < 0n || off >= BigInt(vm.bus.ram8.length)) return false;
    pas.push(Number(off));
  }
  pas.forEach((off, i) => {
    vm.bus.ram8[off] = data[i];
    vm.bus.noteDmaWrite(vm.bus.ramBase + off, 1);
  });
  // Code may have changed: decoded fetches must be redone.
  vm.cpu.flushTlb();
  return true;
}
