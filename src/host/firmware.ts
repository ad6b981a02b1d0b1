/** Locating OpenSBI firmware from Debian's packages. */
import { existsSync } from 'node:fs';

const CANDIDATES: Record<'fw_dynamic' | 'fw_jump', string[]> = {
  fw_dynamic: [
    '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin',
    '/usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin',
  ],
  fw_jump: ['/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin'],
};

export function findFirmware(kind: 'fw_dynamic' | 'fw_jump' = 'fw_dynamic'): string {
  for (const p of CANDIDATES[kind]) if (existsSync(p)) return p;
  throw new Error(
    `OpenSBI ${kind} firmware not found (looked in ${CANDIDATES[kind].join(', ')}); ` +
      `install it with: sudo apt-get install opensbi`,
  );
}
