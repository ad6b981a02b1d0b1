/**
 * The RISC-V Linux kernel's call stack at a moment of a replay, from its
 * frame pointers (a kernel built with CONFIG_FRAME_POINTER, as the default
 * guest is), walked as the kernel's own walk_stackframe does
 * (arch/riscv/kernel/stacktrace.c): s0 points just above a frame record
 * { fp, ra } of the caller. A function that calls nothing saves only s0,
 * at the place of ra: when that slot holds a stack address instead of a
 * code address, the caller's return address is still in ra.
 *
 * A sample taken in a prologue or an epilogue (s0 not yet, or no longer,
 * the function's) misses its caller: the next frame up stands in for it,
 * as with any frame-pointer profiler.
 */
import type { GuestView } from '../plugin/plugin-api.js';

/** THREAD_SIZE on riscv64 (16 KiB): a kernel stack's size and alignment. */
const THREAD_SIZE = 16384n;
const MAX_DEPTH = 48;

function u64(b: Uint8Array): bigint | undefined {
  return b.length === 8 ? new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true) : undefined;
}

/** stacktrace.c's fp_is_valid: inside the stack, above sp, 8-aligned. */
function fpValid(fp: bigint, sp: bigint): boolean {
  const low = sp + 16n;
  const high = (sp + THREAD_SIZE - 1n) & ~(THREAD_SIZE - 1n);
  return fp >= low && fp <= high && (fp & 7n) === 0n;
}

/**
 * The pcs of the kernel's stack, innermost first: the pc now, then each
 * caller's call site (return address - 4, so it names the caller even
 * when the call is its last instruction). `isText` says whether an address
 * is kernel code (the walk stops at the first that is not).
 */
export function kernelStack(guest: GuestView, isText: (pc: bigint) => boolean): bigint[] {
  const pcs: bigint[] = [guest.pc];
  let fp = guest.x('s0');
  let sp = guest.x('sp');
  for (let first = true; pcs.length < MAX_DEPTH; first = false) {
    if (!fpValid(fp, sp)) break;
    const savedFp = u64(guest.read(fp - 16n, 8));
    const savedRa = u64(guest.read(fp - 8n, 8));
    if (savedFp === undefined || savedRa === undefined) break;
    sp = fp;
    let ra: bigint;
    if (first && fpValid(savedRa, sp)) {
      // A leaf: the slot of ra holds the caller's fp.
      ra = guest.x('ra');
      fp = savedRa;
    } else {
      ra = savedRa;
      fp = savedFp;
    }
    if (!isText(ra)) break;
    pcs.push(ra - 4n);
  }
  return pcs;
}
