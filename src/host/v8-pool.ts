/**
 * How many threads V8's background pool gets: the Node option `bin/vmrs`
 * starts Node with (its first lines compute the same rule in sh, for they
 * run before Node does), and the one the bench re-runs itself with.
 *
 * V8 does its background work on that pool: TurboFan's compiles of vmrs's
 * own JavaScript (about 1 s of CPU in a boot, 150-190 jobs), TurboFan's
 * compiles of hot WebAssembly, and the garbage collector's concurrent
 * marking and sweeping. Node makes the pool 4 threads whatever the machine.
 * On 2 cores, 4 busy compile threads share the cores with the guest's
 * thread, which the kernel's scheduler then gives well under a core. With
 * one core left to the guest's thread (a pool of 1 on 2 cores), boot +
 * `sha256sum` + `poweroff` typed into `vmrs run` took 0.887 and 0.886 of the
 * wall time (two series of 20 interleaved pairs: 0.78-1.00 and 0.78-1.02),
 * CPU 0.95; `vmrs replay` 0.879, `vmrs verify` 0.958 (12 and 10 pairs).
 * A pool of 2 against 1: 0.96 (16 pairs, 0.82-1.17). Only speed depends on
 * this (DESIGN rule 10: the engines agree, whenever compiled code arrives).
 *
 * Past 5 cores it stays at Node's 4: nothing measured says more helps.
 */
import { availableParallelism } from 'node:os';

/** Pool threads for a machine of `cores`: one core left to the guest's thread, 1 to 4 threads. */
export function v8PoolSize(cores: number = availableParallelism()): number {
  return Math.min(4, Math.max(1, cores - 1));
}

/** The Node option that sets it. */
export function v8PoolOption(cores?: number): string {
  return `--v8-pool-size=${v8PoolSize(cores)}`;
}

/** Whether this process was started with a pool size (by bin/vmrs, or by hand). */
export function hasV8PoolOption(execArgv: readonly string[] = process.execArgv): boolean {
  return execArgv.some((a) => a.startsWith('--v8-pool-size'));
}
