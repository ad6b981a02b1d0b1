/**
 * A minimal bare-metal machine for CPU tests and benches: RAM at 0x80000000,
 * one Cpu, no devices. Programs are raw words or an ELF; riscv-tests
 * programs report through the `tohost` word (HTIF convention: 1 = pass, an
 * odd value v > 1 = fail with test number v >> 1).
 */
import { Bus } from '../../src/machine/bus.js';
import { VirtualClock } from '../../src/machine/clock.js';
import { Cpu } from '../../src/cpu/cpu.js';
import { parseElf } from '../../src/machine/elf.js';

export const RAM_BASE = 0x80000000;

export interface BareMachine {
  bus: Bus;
  clock: VirtualClock;
  cpu: Cpu;
}

export function makeBareMachine(ramSize = 4 << 20, insnsPerTick = 1): BareMachine {
  const bus = new Bus(RAM_BASE, ramSize);
  const clock = new VirtualClock(insnsPerTick);
  const cpu = new Cpu(bus, clock, 0);
  // The suite runs on the default engine, and again on the interpreter (VMRS_ENGINE=interp, .ci/run).
  const engine = process.env.VMRS_ENGINE;
  if (engine === 'interp' || engine === 'translate') cpu.engine = engine;
  cpu.reset(RAM_BASE | 0, 0);
  return { bus, clock, cpu };
}

/** Write 32-bit instruction words (or data) at a physical RAM address. */
/** Write 32-bit words into RAM from the host, as a loader or a device would (the hart is told). */
export function writeWords(m: BareMachine, addr: number, words: readonly number[]): void {
  const o = (addr - RAM_BASE) >>> 2;
  for (let i = 0; i < words.length; i++) m.bus.ram32[o + i] = words[i] | 0;
  m.bus.noteDmaWrite(addr, 4 * words.length);
}

export function read32(m: BareMachine, addr: number): number {
  return m.bus.ram32[(addr - RAM_BASE) >>> 2] >>> 0;
}

/** Register x[i] as an unsigned 64-bit BigInt (tests only). */
export function xreg(m: BareMachine, i: number): bigint {
  return (BigInt(m.cpu.regs[(i << 1) | 1] >>> 0) << 32n) | BigInt(m.cpu.regs[i << 1] >>> 0);
}

/** Load an ELF's segments into RAM, point the PC at its entry; returns its symbols. */
export function loadElf(m: BareMachine, data: Uint8Array): Map<string, number> {
  const elf = parseElf(data);
  for (const s of elf.segments) {
    m.bus.writeBytes(s.paddr, s.data);
    // .bss: RAM starts zeroed, nothing to clear.
  }
  m.cpu.reset(elf.entry | 0, 0);
  return elf.symbols;
}

export interface HtifResult {
  /** 0 = pass, n > 0 = failed test number, -1 = ran out of instructions. */
  status: number;
  icount: number;
}

/**
 * Run until the program writes `tohost` or `maxInsns` retire. Runs in slices
 * so that WFI and early exits are handled as a board would (a WFI with
 * nothing pending cannot wake up here, so it ends the run as a failure).
 */
export function runToHost(
  m: BareMachine,
  tohost: number,
  maxInsns = 50_000_000,
  fromhost?: number,
): HtifResult {
  const { cpu, bus } = m;
  const o = (tohost - RAM_BASE) >>> 2;
  while (cpu.icount < maxInsns) {
    const n = cpu.run(Math.min(100_000, maxInsns - cpu.icount));
    bus.mmioWritten = false;
    const lo = bus.ram32[o] >>> 0;
    const hi = bus.ram32[o + 1] >>> 0;
    if (lo !== 0 || hi !== 0) {
      if (lo & 1) return { status: lo >>> 1, icount: cpu.icount };
      // A syscall/console request: acknowledge it so the program goes on.
      bus.ram32[o] = 0;
      bus.ram32[o + 1] = 0;
      if (fromhost !== undefined) bus.ram32[(fromhost - RAM_BASE) >>> 2] = 1;
      continue;
    }
    if (n === 0 && cpu.wfi) break;
  }
  return { status: -1, icount: cpu.icount };
}
