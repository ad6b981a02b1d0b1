/** `vmrs guest build`: build (or find in the cache) the default guest and print where it is. */
import { ensureDefaultGuest } from '../host/default-guest.js';

export async function guestBuildCommand(): Promise<number> {
  const g = await ensureDefaultGuest({ log: (s) => process.stderr.write(`[vmrs] ${s}\n`) });
  process.stdout.write(`kernel  ${g.kernel}\ninitrd  ${g.initrd}\nvmlinux ${g.vmlinux}\n`);
  return 0;
}
