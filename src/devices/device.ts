/**
 * The narrow interfaces between devices, the bus and the harts. Devices never
 * see the CPU class or the host: they see these.
 */

/** A device window on the physical bus. Offsets are relative to the window's base. */
export interface MmioDevice {
  readonly name: string;
  /**
   * Read `width` bytes (1, 2 or 4) at byte `offset`; returns the value
   * zero-extended to an unsigned 32-bit number. 8-byte accesses reach a device
   * as two 4-byte accesses, low word first.
   */
  read(offset: number, width: 1 | 2 | 4): number;
  /** Write the low `width` bytes of `value` at byte `offset`. */
  write(offset: number, width: 1 | 2 | 4, value: number): void;
}

/** The interrupt-pending inputs of the harts (mip bits that devices drive). */
export interface HartInterruptLines {
  /** Raise (level=true) or lower the mip bits in `mask` of hart `hart`. */
  setPending(hart: number, mask: number, level: boolean): void;
}

/** A level-triggered interrupt line from a device to the interrupt controller. */
export interface IrqLine {
  set(level: boolean): void;
}

/** The machine's virtual time, in ticks of the 10 MHz timebase (DESIGN rule 2: time is virtual). */
export interface TimeSource {
  /** Current mtime value. Exact and deterministic: derived from the instruction count. */
  now(): number;
}

/** mip / mie bit masks (priv spec 3.1.9). */
export const MIP_SSIP = 1 << 1;
export const MIP_MSIP = 1 << 3;
export const MIP_STIP = 1 << 5;
export const MIP_MTIP = 1 << 7;
export const MIP_SEIP = 1 << 9;
export const MIP_MEIP = 1 << 11;
