/**
 * How soon V8 recompiles the translator's WebAssembly with its optimizing
 * compiler. V8 starts every wasm function in its baseline compiler
 * (Liftoff) and recompiles it with TurboFan, in the background, once it
 * has run about 1.8 MB of its code (`--wasm-tiering-budget`). A Linux boot
 * compiles thousands of blocks that each cross that mark and then run
 * little more: measured on the boot (2 cores, 8 interleaved runs), Liftoff
 * alone took 0.74 of the CPU time and 0.88 of the wall time. A budget 100
 * times larger keeps TurboFan for what runs long — the block loop, the
 * inner loops of CPU-bound work — and took boot + `sha256sum` to 0.78 of
 * the CPU and 0.93 of the wall time.
 *
 * Only speed depends on this (the engines' results do not: DESIGN rule 10).
 * It is a V8 flag, so Node only; call it before the first machine is built.
 */
import v8 from 'node:v8';

export const WASM_TIERING_BUDGET = 180_000_000;

let done = false;

export function tuneWasmTiering(): void {
  if (done) return;
  done = true;
  v8.setFlagsFromString(`--wasm-tiering-budget=${WASM_TIERING_BUDGET}`);
}
