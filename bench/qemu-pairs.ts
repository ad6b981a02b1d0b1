/**
 * Sessions of `vmrs run` and of QEMU TCG on the default guest's images, in
 * interleaved pairs: each pair runs one after the other, which one first
 * alternating, so that a slow moment of a shared host falls on both.
 */
import { QEMU_BINARY, qemuAvailable, qemuVirtArgs } from '../src/host/qemu.js';
import { ensureDefaultGuest } from '../src/host/default-guest.js';
import { VMRS } from './cli-session.js';

/** `pairs` results of `session` for each; undefined (and says so) where QEMU is not installed. */
export async function pairsWithQemu<T>(
  what: string,
  pairs: number,
  session: (command: string, args: string[]) => Promise<T>,
): Promise<{ vmrs: T[]; qemu: T[] } | undefined> {
  if (!qemuAvailable()) {
    console.log(`${what}  (qemu-system-riscv64 not installed: skipped)`);
    return undefined;
  }
  const g = await ensureDefaultGuest({});
  const qemuArgs = qemuVirtArgs(g.kernel, g.initrd);
  const vmrs: T[] = [];
  const qemu: T[] = [];
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) {
      vmrs.push(await session(VMRS, ['run']));
      qemu.push(await session(QEMU_BINARY, qemuArgs));
    } else {
      qemu.push(await session(QEMU_BINARY, qemuArgs));
      vmrs.push(await session(VMRS, ['run']));
    }
  }
  return { vmrs, qemu };
}
