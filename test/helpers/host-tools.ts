/** Host-side things guest tests need: disk images, and whether passt is there. */
import { execFileSync } from 'node:child_process';
import { findPasst } from '../../src/host/net-backend.js';

/** An ext2 disk image of `mib` MiB at `path`. */
export function makeExt2(path: string, mib: number): string {
  execFileSync('dd', ['if=/dev/zero', `of=${path}`, 'bs=1M', `count=${mib}`], { stdio: 'ignore' });
  execFileSync('mke2fs', ['-q', '-t', 'ext2', '-F', path], { stdio: 'ignore' });
  return path;
}

export function hasPasst(): boolean {
  try {
    findPasst();
    return true;
  } catch {
    return false;
  }
}
