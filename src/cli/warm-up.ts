/**
 * The interpreter warm-up before a guest's machine starts (see
 * src/machine/jit-warmup.ts). VMRS_NO_WARMUP=1 skips it, to measure what it
 * saves (bench/run.ts does).
 */
import { warmUpInterpreter } from '../machine/jit-warmup.js';

let done = false;

export function warmUpInterpreterOnce(): void {
  if (done || process.env.VMRS_NO_WARMUP === '1') return;
  done = true;
  warmUpInterpreter();
}
