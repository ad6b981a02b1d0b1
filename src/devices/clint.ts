/**
 * SiFive CLINT (ACLINT MSWI + MTIMER layout): msip at +0, mtimecmp at
 * +0x4000, mtime at +0xBFF8. mtime is the machine's virtual time and is
 * read-only here (writes are ignored: guest time is derived from icount).
 */
import {
  MIP_MSIP,
  MIP_MTIP,
  type HartInterruptLines,
  type MmioDevice,
  type TimeSource,
} from './device.js';
import { loadFields, saveFields, type State } from '../snapshot/state.js';

const TWO32 = 4294967296;

/** The fields that make up this part's state (snapshots, checkpoints). */
const CLINT_FIELDS = ['msip', 'cmpLo', 'cmpHi'];

export class Clint implements MmioDevice {
  readonly name = 'clint';
  private readonly msip: Uint8Array;
  private readonly cmpLo: Uint32Array;
  private readonly cmpHi: Uint32Array;

  constructor(
    private readonly lines: HartInterruptLines,
    private readonly time: TimeSource,
    private readonly harts = 1,
  ) {
    this.msip = new Uint8Array(harts);
    this.cmpLo = new Uint32Array(harts).fill(0xffffffff);
    this.cmpHi = new Uint32Array(harts).fill(0xffffffff);
  }

  saveState(): State {
    return saveFields(this, CLINT_FIELDS);
  }

  loadState(s: State): void {
    loadFields(this, s, CLINT_FIELDS, 'clint');
  }

  /** mtimecmp of `hart` in ticks; +Infinity when out of reach of a double. */
  nextDeadline(hart: number): number {
    const hi = this.cmpHi[hart];
    if (hi >= 0x200000) return Infinity;
    return hi * TWO32 + this.cmpLo[hart];
  }

  /** Re-evaluate MTIP for every hart against the current time. */
  update(): void {
    const now = this.time.now();
    for (let h = 0; h < this.harts; h++)
      this.lines.setPending(h, MIP_MTIP, now >= this.nextDeadline(h));
  }

  read(offset: number, width: 1 | 2 | 4): number {
    let v = 0;
    let base = offset & ~3;
    if (offset < 0x4000) {
      const h = base >> 2;
      v = h < this.harts ? this.msip[h] : 0;
    } else if (offset >= 0xbff8 && offset < 0xc000) {
      const now = this.time.now();
      v = base === 0xbff8 ? now % TWO32 : Math.floor(now / TWO32);
    } else if (offset >= 0x4000 && offset < 0x4000 + 8 * this.harts) {
      base -= 0x4000;
      const h = base >> 3;
      v = base & 4 ? this.cmpHi[h] : this.cmpLo[h];
    }
    return width === 4 ? v >>> 0 : (v >>> ((offset & 3) * 8)) & (width === 1 ? 0xff : 0xffff);
  }

  write(offset: number, width: 1 | 2 | 4, value: number): void {
    const shift = (offset & 3) * 8;
    const mask = width === 4 ? 0xffffffff : (width === 1 ? 0xff : 0xffff) << shift;
    const merge = (old: number) => ((old & ~mask) | ((value << shift) & mask)) >>> 0;
    const base = offset & ~3;
    if (offset < 0x4000) {
      const h = base >> 2;
      if (h < this.harts) {
        this.msip[h] = merge(this.msip[h]) & 1;
        this.lines.setPending(h, MIP_MSIP, this.msip[h] !== 0);
      }
    } else if (offset >= 0x4000 && offset < 0x4000 + 8 * this.harts) {
      const b = base - 0x4000;
      const h = b >> 3;
      if (b & 4) this.cmpHi[h] = merge(this.cmpHi[h]);
      else this.cmpLo[h] = merge(this.cmpLo[h]);
      this.update();
    }
  }
}
