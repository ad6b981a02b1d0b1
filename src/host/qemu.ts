/** Running the same images on QEMU's virt machine, for side-by-side checks and benchmarks. */
import { spawnSync } from 'node:child_process';
import { findFirmware } from './firmware.js';

export const QEMU_BINARY = 'qemu-system-riscv64';

export function qemuAvailable(): boolean {
  return spawnSync(QEMU_BINARY, ['--version']).status === 0;
}

/** QEMU arguments that boot `kernel` + `initrd` on virt with the same OpenSBI as vmrs uses. */
export function qemuVirtArgs(
  kernel: string,
  initrd: string,
  append = 'console=ttyS0 quiet',
): string[] {
  return [
    '-M',
    'virt',
    '-m',
    '256M',
    '-nographic',
    '-bios',
    findFirmware('fw_dynamic'),
    '-kernel',
    kernel,
    '-initrd',
    initrd,
    '-append',
    append,
  ];
}
