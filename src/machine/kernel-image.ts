/** Recognising kernel images: a RISC-V Linux `Image` (boot header) or an ELF. */
import { isElf } from './elf.js';

export interface LinuxImageHeader {
  textOffset: number;
  imageSize: number;
}

/** The RISC-V Linux boot image header (Documentation/riscv/boot-image-header.rst), or undefined. */
export function parseLinuxImageHeader(data: Uint8Array): LinuxImageHeader | undefined {
  if (data.length < 64) return undefined;
  const magic = String.fromCharCode(...data.subarray(0x30, 0x35));
  const magic2 = String.fromCharCode(...data.subarray(0x38, 0x3c));
  if (magic !== 'RISCV' || magic2 !== 'RSC\x05') return undefined;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const u64 = (o: number) => dv.getUint32(o + 4, true) * 4294967296 + dv.getUint32(o, true);
  return { textOffset: u64(8), imageSize: u64(16) };
}

export type KernelKind = 'image' | 'elf';

export function kernelKind(data: Uint8Array, name: string): KernelKind {
  if (isElf(data)) return 'elf';
  if (parseLinuxImageHeader(data)) return 'image';
  throw new Error(`${name} is not a RISC-V Linux Image or ELF`);
}
