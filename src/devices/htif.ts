/**
 * Berkeley HTIF through the `tohost`/`fromhost` words of a loaded ELF, as
 * riscv-tests and spike use it: exit codes, console putchar and the
 * "syscall" form pointing at a magic_mem block (SYS_write only).
 */
import type { Bus } from '../machine/bus.js';

const SYS_WRITE = 64;

export class Htif {
  constructor(
    private readonly bus: Bus,
    private readonly tohost: number,
    private readonly fromhost: number | undefined,
    private readonly output: (byte: number) => void,
  ) {}

  private read64(addr: number): [number, number] {
    if (!this.bus.isRam(addr, 8)) return [0, 0];
    const o = addr - this.bus.ramBase;
    const dv = this.bus.ramView;
    return [dv.getUint32(o, true), dv.getUint32(o + 4, true)];
  }

  private write64(addr: number, lo: number, hi: number): void {
    if (!this.bus.isRam(addr, 8)) return;
    const o = addr - this.bus.ramBase;
    const dv = this.bus.ramView;
    dv.setUint32(o, lo >>> 0, true);
    dv.setUint32(o + 4, hi >>> 0, true);
    this.bus.noteDmaWrite(addr, 8);
  }

  /** Handle a pending tohost command; returns an exit status when the program finished. */
  poll(): number | undefined {
    const [lo, hi] = this.read64(this.tohost);
    if ((lo | hi) === 0) return undefined;
    this.write64(this.tohost, 0, 0);
    const device = hi >>> 24;
    const cmd = (hi >>> 16) & 0xff;
    if (device === 0 && cmd === 0) {
      if (lo & 1) {
        // exit: payload >> 1 is the code (0 = pass)
        const payload = (hi & 0xffff) * 4294967296 + lo;
        return Math.floor(payload / 2) > 0x7fffffff ? 1 : Math.floor(payload / 2);
      }
      // syscall: lo (with hi's low 16 bits) points at magic_mem[8]
      const addr = (hi & 0xffff) * 4294967296 + lo;
      const [which] = this.read64(addr);
      if (which === SYS_WRITE) {
        const [buf] = this.read64(addr + 16);
        const [bufHi] = [this.read64(addr + 16)[1]];
        const [len] = this.read64(addr + 24);
        const start = bufHi * 4294967296 + buf;
        for (let i = 0; i < len && this.bus.isRam(start + i, 1); i++)
          this.output(this.bus.ram8[start + i - this.bus.ramBase]);
        this.write64(addr, len, 0);
      }
      if (this.fromhost !== undefined) this.write64(this.fromhost, 1, 0);
      return undefined;
    }
    if (device === 1 && cmd === 1) {
      this.output(lo & 0xff);
      if (this.fromhost !== undefined) this.write64(this.fromhost, 0x100, (1 << 24) | (1 << 16));
    }
    return undefined;
  }
}
