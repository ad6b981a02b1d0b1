/**
 * The block loop, in WebAssembly: from the pc in the hart area, look the
 * block up and run it, again and again, without coming back to JavaScript
 * (a return to JS per block cost more than most blocks take to run).
 *
 *   loop(budget, fetchTag, dataTag) -> instructions retired
 *
 * Each turn does what dispatch.ts would: the fetch TLB must map the pc (so
 * the page is executable now and holds no breakpoint), the code cache's
 * slot must hold a block starting at that RAM offset, and the block must
 * fit in what is left of the budget. A block returns the next pc, which the
 * loop keeps in locals. Otherwise, or when a block stops before an
 * instruction the interpreter must do, the loop returns, leaving the pc in
 * the hart area, in HM_FLAGS whether the interpreter must go next
 * (LOOP_INTERPRET), and in HM_ENTRIES how many regions it entered (a local
 * until then: a count per turn in memory would cost a load and a store
 * each).
 */
import { ACC_FETCH, TLB_HI, TLB_OFF, TLB_SALT_BYTES_PER_TAG } from './hart-constants.js';
import {
  CACHE_MASK,
  HM_CACHE_ENTRY,
  HM_CACHE_KEY,
  HM_ENTRIES,
  HM_FETCH_TAG,
  HM_FLAGS,
  HM_PC,
  tlbOffset,
} from './hart-memory.js';
import { ENTRY_BB_BITS, ENTRY_INDEX_SHIFT, ENTRY_LEN_BITS } from './code-cache.js';
import { TLB_MASK } from './mmu.js';
import { EXIT_INTERPRET, EXIT_MEMO_MISS } from './block-writer.js';
import { BB_SHIFT, BLOCK_PARAMS, BLOCK_RESULTS } from './translate-wasm.js';
import { Bytes, T_I32, T_I64, T_VOID, W, wasmModule } from './wasm-writer.js';

/** The HM_FLAGS bits: a block stopped before an instruction for the interpreter, */
export const LOOP_INTERPRET = EXIT_INTERPRET;
/** at an access its memo's page did not hold (block-writer.ts access). */
export const LOOP_MEMO_MISS = EXIT_MEMO_MISS;

export type BlockLoop = (
  budget: number,
  fetchTag: number,
  dataTag: number,
  unused: 0,
  unused2?: 0,
) => number;

// params: 0 budget, 1 fetchTag, 2 dataTag, 3 and 4 unused (the blocks' parameters, and an i32
// result: the blocks' type, type 0 of call_indirect, returns the next pc too)
const N = 5,
  PCL = 6,
  PCH = 7,
  TI = 9, // (8 is unused)
  SLOT = 10,
  E = 11,
  R = 12,
  OFF = 13,
  LEN = 14,
  SALT = 15, // the fetch TLB's slot salt (tlbSalt) * 16
  TURNS = 16, // regions entered (HM_ENTRIES)
  PC64 = 17; // i64: the next pc, as a block returns it

function loopBody(): Uint8Array {
  const b = new Bytes();
  b.i32(0).get(1).mem(W.i32_store, 2, HM_FETCH_TAG);
  b.get(1).i32(TLB_SALT_BYTES_PER_TAG).op(W.i32_mul).set(SALT);
  b.i32(0).mem(W.i32_load, 2, HM_PC).set(PCL);
  b.i32(0)
    .mem(W.i32_load, 2, HM_PC + 4)
    .set(PCH);
  b.byte(W.block).byte(T_VOID); // $out
  b.byte(W.loop).byte(T_VOID); // $top
  // fetch TLB: the record at ((VPN ^ salt) & TLB_MASK) * 16, its tag the page's address with the tag bits
  const fetchTlb = tlbOffset(ACC_FETCH);
  b.get(PCL)
    .i32(8)
    .op(W.i32_shr_u)
    .get(SALT)
    .op(W.i32_xor)
    .i32(TLB_MASK << 4)
    .op(W.i32_and)
    .set(TI);
  b.get(TI).mem(W.i32_load, 2, fetchTlb).get(PCL).i32(-4096).op(W.i32_and).get(1).op(W.i32_or);
  b.op(W.i32_ne);
  b.get(TI)
    .mem(W.i32_load, 2, fetchTlb + 4 * TLB_HI)
    .get(PCH)
    .op(W.i32_ne)
    .op(W.i32_or);
  b.byte(W.br_if).u32(1);
  // the code cache: the slot of the pc (not of the offset: its loads need not wait for the
  // TLB's; code-cache.ts) must hold a block starting at the offset the TLB gives
  b.get(TI)
    .mem(W.i32_load, 2, fetchTlb + 4 * TLB_OFF)
    .get(PCL)
    .i32(4095)
    .op(W.i32_and);
  b.op(W.i32_add).set(OFF);
  b.get(PCL).i32(1).op(W.i32_shr_u).i32(CACHE_MASK).op(W.i32_and).i32(3).op(W.i32_shl).set(SLOT);
  b.get(SLOT).mem(W.i32_load, 2, HM_CACHE_KEY).get(OFF).op(W.i32_ne).byte(W.br_if).u32(1);
  // a block that fits in the budget (a marker of length 0 never does its part)
  b.get(SLOT).mem(W.i32_load, 2, HM_CACHE_ENTRY).set(E);
  b.get(E)
    .i32((1 << ENTRY_LEN_BITS) - 1)
    .op(W.i32_and)
    .tee(LEN);
  b.op(W.i32_eqz);
  b.get(LEN).get(0).get(N).op(W.i32_sub).op(W.i32_gt_u); // len > budget - n
  b.op(W.i32_or).byte(W.br_if).u32(1);
  // run it: the data tag with the basic block to start at above it, and the room (what is left of the budget)
  b.get(PCL).get(PCH);
  b.get(E)
    .i32(ENTRY_LEN_BITS)
    .op(W.i32_shr_u)
    .i32((1 << ENTRY_BB_BITS) - 1)
    .op(W.i32_and);
  b.i32(BB_SHIFT).op(W.i32_shl).get(2).op(W.i32_or);
  b.get(0).get(N).op(W.i32_sub);
  b.i32(0); // carry: nothing before it (block-writer.ts ChainTarget)
  b.get(E).i32(ENTRY_INDEX_SHIFT).op(W.i32_shr_u);
  b.byte(W.call_indirect).u32(0).u32(0).set(R);
  // the next pc, in a register rather than through the hart area
  b.tee(PC64).op(W.i32_wrap_i64).set(PCL);
  b.get(PC64).i64(32).op(W.i64_shr_u).op(W.i32_wrap_i64).set(PCH);
  b.get(TURNS).i32(1).op(W.i32_add).set(TURNS);
  b.get(N).get(R).i32(2).op(W.i32_shr_u).op(W.i32_add).set(N);
  b.get(R).i32(EXIT_INTERPRET).op(W.i32_and).op(W.i32_eqz).byte(W.br_if).u32(0);
  b.op(W.end); // loop
  b.op(W.end); // block
  b.i32(0).get(PCL).mem(W.i32_store, 2, HM_PC);
  b.i32(0)
    .get(PCH)
    .mem(W.i32_store, 2, HM_PC + 4);
  // flags: the last block's EXIT_INTERPRET and EXIT_MEMO_MISS
  b.i32(0)
    .get(R)
    .i32(EXIT_INTERPRET | EXIT_MEMO_MISS)
    .op(W.i32_and)
    .mem(W.i32_store, 2, HM_FLAGS);
  b.i32(0).get(TURNS).mem(W.i32_store, 2, HM_ENTRIES);
  b.get(N);
  return b.result();
}

/** The block loop of a machine whose memory and function table are these. */
export function makeBlockLoop(memory: WebAssembly.Memory, table: WebAssembly.Table): BlockLoop {
  const bytes = wasmModule(
    BLOCK_PARAMS,
    BLOCK_RESULTS,
    [
      {
        locals: [
          [12, T_I32],
          [1, T_I64],
        ],
        body: loopBody(),
      },
    ],
    true,
    { params: BLOCK_PARAMS, results: [T_I32] },
  );
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), {
    m: { mem: memory, tab: table },
  });
  return inst.exports['0'] as BlockLoop;
}
