/**
 * Guest memory as the debugger sees it: virtual addresses translated the way
 * the hart would translate them now (satp, Sv39/Sv48; physical in M-mode
 * or with paging off), without side effects — no A/D bit updates, no faults,
 * no TLB fills (the walk is cpu/page-walk.ts). Debug-only, so BigInt is fine
 * here.
 */
import { BOOT_ROM_BASE as VIRT_BOOT_ROM_BASE, type VirtMachine } from '../machine/virt.js';
import { pagingOn, walkPage } from '../cpu/page-walk.js';

/** What a translation needs of a machine: its hart and its RAM. */
export type HartAndRam = Pick<VirtMachine, 'cpu' | 'bus'>;
const BOOT_ROM_BASE = BigInt(VIRT_BOOT_ROM_BASE);

/**
 * Physical address of virtual `va` for the hart as it is now, or undefined
 * if unmapped (refusing what the hart refuses: page-walk.ts); exact 64-bit
 * arithmetic. At the hart's own privilege: mstatus.MPRV is not applied, so
 * in M-mode the debugger sees physical addresses, as the hart fetches them.
 */
export function debugTranslate(vm: HartAndRam, va: bigint): bigint | undefined {
  const cpu = vm.cpu;
  const v = BigInt.asUintN(64, va);
  // debugRead's va + i may pass 2^64: bare addresses wrap, paged ones are not canonical.
  if (v !== va && pagingOn(cpu, cpu.priv)) return undefined;
  const page = walkPage(cpu, cpu.priv, Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0);
  return page < 0 ? undefined : BigInt(page) * 4096n + (v & 0xfffn);
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
