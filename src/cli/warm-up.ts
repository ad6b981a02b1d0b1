/**
 * What vmrs does for V8 before a guest's machine starts: the tier-up rule
 * for translated code (src/host/wasm-tiering.ts), and the interpreter
 * warm-up (src/machine/jit-warmup.ts). VMRS_NO_WARMUP=1 skips the warm-up,
 * to measure what it saves (bench/run.ts does).
 */
import { warmUpInterpreter } from '../machine/jit-warmup.js';
import { tuneWasmTiering } from '../host/wasm-tiering.js';

let done = false;

export function warmUpInterpreterOnce(): void {
  tuneWasmTiering();
  if (done || process.env.VMRS_NO_WARMUP === '1') return;
  done = true;
  warmUpInterpreter();
}
