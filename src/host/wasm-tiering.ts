/**
 * How V8 compiles the translator's WebAssembly: when it recompiles it with
 * its optimizing compiler, and that it compiles a module at once.
 *
 * V8 starts every wasm function in its baseline compiler (Liftoff) and
 * recompiles it with TurboFan, in the background, once it has run about
 * 1.8 MB of its code (`--wasm-tiering-budget`). A Linux boot
 * compiles thousands of blocks that each cross that mark and then run
 * little more: measured on the boot (2 cores, 8 interleaved runs), Liftoff
 * alone took 0.74 of the CPU time and 0.88 of the wall time. A budget 100
 * times larger keeps TurboFan for what runs long — the block loop, the
 * inner loops of CPU-bound work — and took boot + `sha256sum` to 0.78 of
 * the CPU and 0.93 of the wall time.
 *
 * That budget was 180 M until call-heavy workloads showed what it costs: a
 * region that runs a few instructions per call (awk's evaluator, musl's
 * number formatting under `seq | gzip`) stayed in Liftoff code for most of
 * its first second. At 30 M, in one process, three interleaved rounds:
 * awk's loop (486 M instructions) 0.92-1.13 s against 1.24-1.38 s on its
 * first run, gzip's 1.39-1.57 s against 1.53-1.63 s; the boot within the
 * noise. callgrind, boot + `sha256sum`: the hart's thread 0.964, all
 * threads 1.010 (TurboFan's compiles); whole processes, boot + `sha256sum`
 * + poweroff, two series of 20 pairs: 0.937 and 1.017 of the wall time.
 *
 * V8 also compiles a module's functions lazily by default: `new
 * WebAssembly.Module` only validates, and each function is compiled by
 * Liftoff at its first call, inside the block loop's call. A block is
 * compiled because it is hot, so it is called at once anyway; compiled
 * eagerly, the work is the same (boot, 14 and 16 interleaved pairs: 0.955
 * and 0.989 of the time, within the noise), V8 may spread it over its
 * compile threads, and it is counted where it happens: in the translator's
 * compile time (`--stats`, the bench), which before left out about 100 ms
 * of a boot's compiling (then counted as the block loop's).
 *
 * Only speed depends on this (the engines' results do not: DESIGN rule 10).
 * These are V8 flags, so Node only; call it before the first machine is built.
 */
import v8 from 'node:v8';

export const WASM_TIERING_BUDGET = 30_000_000;

let done = false;

export function tuneWasmTiering(): void {
  if (done) return;
  done = true;
  v8.setFlagsFromString(`--wasm-tiering-budget=${WASM_TIERING_BUDGET}`);
  v8.setFlagsFromString('--no-wasm-lazy-compilation');
}
