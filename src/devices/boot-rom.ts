/** Read-only memory holding the reset vector (QEMU virt's mrom at 0x1000). */
import type { MmioDevice } from './device.js';

export class BootRom implements MmioDevice {
  readonly name = 'boot-rom';
  constructor(private readonly contents: Uint8Array) {}

  get size(): number {
    return (this.contents.length + 0xfff) & ~0xfff;
  }

  read(offset: number, width: 1 | 2 | 4): number {
    let v = 0;
    for (let i = width - 1; i >= 0; i--) v = v * 256 + (this.contents[offset + i] ?? 0);
    return v;
  }

  write(): void {
    // ROM: writes are ignored
  }
}
