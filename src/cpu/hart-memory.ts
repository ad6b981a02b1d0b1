/**
 * The machine's memory as translated code sees it: one WebAssembly.Memory
 * holding, below guest RAM, the hart state that blocks read and write —
 * the integer registers and the data TLBs — so a block reaches them with a
 * plain load at a constant offset, and the interpreter sees the same bytes
 * through its typed arrays. RAM starts at HART_AREA.
 *
 * Guest RAM too large for a 32-bit WebAssembly memory (4 GiB) lives in an
 * ordinary ArrayBuffer, with the hart state in ordinary arrays; such a
 * machine has the interpreter only.
 */
import { TLB_SIZE } from './mmu.js';

/** The pc, the hart's own (Cpu.pcLo/pcHi): where the block loop starts and leaves the next one (8 bytes, little-endian: low word first). */
export const HM_PC = 0;
/** What the block loop saw (LOOP_INTERPRET, block-loop.ts). */
export const HM_FLAGS = 8;
/** mstatus's low word (its high word's fields are fixed), so a block reads and clears sstatus bits itself. */
export const HM_MSTATUS = 16;
/** mip and mie: a block sets sstatus.SIE itself only when no interrupt is pending and enabled. */
export const HM_MIP = 20;
export const HM_MIE = 24;
/**
 * The LR/SC reservation (Cpu.resAddr): the RAM offset of the reserved
 * address, low word then high word (above 4 GiB, interpreter-only machines),
 * or a low word of -1 for none (LR's address is 4-aligned, so no offset's
 * low word is -1). Blocks do LR and SC and end it at every store and AMO.
 */
export const HM_RES = 32;
/**
 * The fetch TLB's tag bits for the loop's run (its second argument, which
 * the block loop stores here), for blocks that check the page of an
 * inlined callee (block-writer.ts calleeCheck).
 */
export const HM_FETCH_TAG = 40;
/** Regions the block loop entered in its last call (code-cache.ts regionEntries adds them up). */
export const HM_ENTRIES = 44;
/** Four words the state digest's page hasher leaves its results in (replay/page-hasher.ts). */
export const HM_SCRATCH = 48;
/** Regions entered by a chain from another (block-writer.ts ChainTarget), counted by the blocks until dispatch.ts adds them up. */
export const HM_CHAINS = 64;
/** HM_RES's low word when there is no reservation. */
export const NO_RESERVATION = -1;
/** The integer registers, x0..x31, 8 bytes each (little-endian: low word first), so a block loads one with one i64.load. */
export const HM_X = 256;
/**
 * The floating-point registers, f0..f31, 8 bytes each (FpUnit.fr: low word
 * first; singles NaN-boxed), so a block does FLD/FSD/FLW/FSW itself.
 */
export const HM_F = 512;
/** fflags and frm, a word each (FpUnit): blocks check frm and raise the inexact flag. */
export const HM_FFLAGS = 768;
export const HM_FRM = 772;
/**
 * The TLBs: for access a (read, write, fetch), TLB_SIZE records of four
 * words — the tag's low word (the page's address with the tag bits,
 * hart-constants.ts; -1 for none), its high word (the address's), the RAM
 * offset of the page, and one unused — so that one lookup touches one
 * cache line and translated code compares the tag as one i64.
 */
export const HM_TLB = 4096;
export const TLB_BYTES = TLB_SIZE * 16;
/**
 * The code cache's direct-mapped table (code-cache.ts): per slot, two
 * words side by side, the RAM offset of the block's start (the key; -1:
 * none) and its entry: function-table index, basic block and instruction
 * count (code-cache.ts ENTRY_*). Side by side, a turn of the block loop
 * reads one cache line for both (in separate arrays, the entry's load was
 * a tenth of the loop's time, waiting on a second line).
 */
export const CACHE_BITS = 16;
export const CACHE_SIZE = 1 << CACHE_BITS;
export const CACHE_MASK = CACHE_SIZE - 1;
export const HM_CACHE = 65536;
/** Byte offsets of slot 0's key and entry; slot s's are 8 * s bytes on. */
export const HM_CACHE_KEY = HM_CACHE;
export const HM_CACHE_ENTRY = HM_CACHE + 4;
/**
 * Each TLB's second way (mmu.ts): a record's second-way copy is TLB_WAY2
 * bytes above it, so translated code reaches it from the same slot offset.
 */
export const HM_TLB2 = HM_CACHE + CACHE_SIZE * 8;
export const TLB_WAY2 = HM_TLB2 - HM_TLB;
/** Bytes below guest RAM. */
export const HART_AREA = 1 << 20;

if (HM_TLB2 + 3 * TLB_BYTES > HART_AREA) throw new Error('hart-memory: the TLBs do not fit');

/** Offset of the TLB of access type `a`. */
export function tlbOffset(a: number): number {
  return HM_TLB + a * TLB_BYTES;
}

/** Wasm pages (64 KiB) a memory for `ramSize` bytes of RAM needs, or 0 when it cannot have one. */
export function wasmPagesFor(ramSize: number): number {
  const pages = Math.ceil((HART_AREA + ramSize) / 65536);
  return pages <= 65536 ? pages : 0;
}
