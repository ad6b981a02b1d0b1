/** sifive_test: the guest's way to power off (0x5555), fail ((code << 16) | 0x3333) or reset (0x7777). */
import type { MmioDevice } from './device.js';

export type TestExitKind = 'poweroff' | 'fail' | 'reset';

export class SifiveTest implements MmioDevice {
  readonly name = 'sifive-test';
  constructor(private readonly onExit: (kind: TestExitKind, code: number) => void) {}

  read(): number {
    return 0;
  }

  write(offset: number, width: 1 | 2 | 4, value: number): void {
    // OpenSBI writes the 16-bit command with writew; codes come with 32-bit writes.
    if (offset !== 0 || width === 1) return;
    const cmd = value & 0xffff;
    if (cmd === 0x5555) this.onExit('poweroff', 0);
    else if (cmd === 0x3333) this.onExit('fail', value >>> 16 || 1);
    else if (cmd === 0x7777) this.onExit('reset', 0);
  }
}
