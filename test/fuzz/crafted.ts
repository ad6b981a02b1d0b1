/** Small files made by hand for tests of hostile input: a bare-metal program, recording headers. */
import { createHash } from 'node:crypto';
import { VirtMachine } from '../../src/machine/virt.js';
import { FORMAT_VERSION, type RecordingHeader } from '../../src/replay/log-format.js';

/** A bare-metal RISC-V ELF: `words` (instructions) at 0x80000000, its entry. */
export function bareElf(words: number[]): Uint8Array {
  const b = new Uint8Array(0x78 + 4 * words.length);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setUint16(16, 2, true);
  dv.setUint16(18, 243, true);
  dv.setUint32(20, 1, true);
  dv.setBigUint64(24, 0x80000000n, true);
  dv.setBigUint64(32, 0x40n, true);
  dv.setUint16(52, 64, true);
  dv.setUint16(54, 56, true);
  dv.setUint16(56, 1, true);
  dv.setUint32(0x40, 1, true);
  dv.setBigUint64(0x48, 0x78n, true);
  dv.setBigUint64(0x50, 0x80000000n, true);
  dv.setBigUint64(0x58, 0x80000000n, true);
  dv.setBigUint64(0x60, BigInt(4 * words.length), true);
  dv.setBigUint64(0x68, BigInt(4 * words.length), true);
  words.forEach((w, i) => dv.setUint32(0x78 + 4 * i, w >>> 0, true));
  return b;
}

/** A bare-metal ELF whose one instruction loops forever (`j .`). */
export const loopElf = (): Uint8Array => bareElf([0x0000006f]);

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The bare machine headerFor describes (no firmware), running `kernel`. */
export function bareVirt(kernel: Uint8Array): VirtMachine {
  return new VirtMachine(
    {
      memoryBytes: 16 << 20,
      bios: 'none',
      biosName: 'none',
      kernel,
      append: '',
      insnsPerTick: 10,
      rtcStartUnixNs: 0,
    },
    () => {},
  );
}

/** The header of a recording of `kernel` (embedded) on a bare machine. */
export function headerFor(kernel: Uint8Array): RecordingHeader {
  return {
    formatVersion: FORMAT_VERSION,
    vmrsVersion: 'crafted',
    createdUnixMs: 0,
    machine: {
      memoryBytes: 16 << 20,
      append: '',
      insnsPerTick: 10,
      rtcStartUnixNs: 0,
      consoleOn: 'uart',
    },
    bios: 'none',
    kernel: { path: 'loop.elf', size: kernel.length, sha256: sha256(kernel), embedded: true },
    devices: [],
    digestInterval: 0,
  };
}
