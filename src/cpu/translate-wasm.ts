/**
 * The translator: a region of guest code in one RAM page (scan-region.ts)
 * compiled to a WebAssembly function, with native 64-bit arithmetic. (The
 * code and the counters call a compiled region a block.)
 *
 * What a region holds: integer ALU (RV64I, M except the high multiplies),
 * LUI/AUIPC, loads, stores, AMOs and LR/SC through the TLBs inline (a
 * load or store in the page of an earlier one through the same base
 * register skips the lookup: see Memo), branches and
 * JALs within the page, calls to inlined leaf functions on any page
 * (calleeCheck), sstatus reads and SIE clears, the common FP instructions
 * (translate-fp.ts). Everything else — other CSR accesses, SYSTEM, the
 * FP cases blocks leave, MULH*,
 * illegal encodings — and every access that misses a TLB or is misaligned
 * ends the block *before* that instruction, with pc on it: the interpreter
 * executes it, so traps, MMIO, watchpoints and TLB fills are exactly the
 * interpreter's. A block never traps, and it changes nothing the
 * interpreter would not have changed by the same instruction boundary.
 *
 * The function takes the entry pc (as two i32: an i64 parameter would cost
 * a BigInt per call), the data-TLB tag bits with, above them, the basic
 * block to start at (any basic block of the region is an entry: see
 * dispatch.ts), the room (instructions it may retire: it runs a basic
 * block only if it fits), and the count of the regions before it in a
 * chain (ChainTarget; 0 from the block loop); it loads the
 * registers it uses into i64 locals, on every exit writes back those it
 * writes (hart-memory.ts), and returns the next pc (an i64: only WebAssembly
 * calls it, so no BigInt) and
 *   retired * 4 | 1 if the interpreter must go next.
 * The pc comes back in a register, not through the hart area: the block
 * loop's next lookup then waits for no store and load (awk 0.644 s against
 * 0.707, gzip 0.804 against 0.834: stop 50).
 * The LR/SC reservation is in the hart area too (HM_RES): LR sets it, and
 * SC, every store and every AMO end it there, as the interpreter does.
 * Guest RAM is at HART_AREA in the same memory, so a RAM access is one load
 * or store with a constant offset.
 *
 * Instructions are decoded by decode.ts; the differential tests check that
 * the interpreter and blocks agree. A block is position-independent: it
 * takes its virtual pc at entry, so it serves every virtual address that
 * maps its page.
 *
 * This file puts regions together: a region's function (writeRegion, its
 * basic blocks and the edges between them), the chains between the regions
 * of a module, the module (compileBlocks). A function's locals and what
 * instructions share (exits, TLB lookups, Memo, calleeCheck) are
 * block-writer.ts's; the code of each instruction is translate-insn.ts's
 * and translate-fp.ts's.
 */
import { Op, type Decoded } from './decode.js';
import { endsInReturn, isBranch, type CodeAt, type Region } from './scan-region.js';
import { TLB_SALT_BYTES_PER_TAG } from './hart-constants.js';
import { HM_CHAINS, HM_X } from './hart-memory.js';
import { FP_LOCALS, fpCalls, type FpCall } from './translate-fp.js';
import {
  ModuleWriter,
  T_I32,
  T_I64,
  T_VOID,
  W,
  wasmModule,
  type WasmImport,
} from './wasm-writer.js';
import {
  BlockWriter,
  CARRY,
  CHAIN,
  DTAG,
  EXIT_INTERPRET,
  FP,
  FP_COUNT,
  LOCALS,
  N4,
  PC,
  PC_OUT,
  RET,
  ROOM,
  ROOM4,
  S,
  SALT,
  SITE,
  SITE_D,
  SITE_SHIFT,
  TAG64,
  type ChainTarget,
} from './block-writer.js';
import { writeInsn } from './translate-insn.js';

/** Whether this host lets us compile WebAssembly at run time (a page's CSP may forbid it). */
export const canCompile: boolean = (() => {
  try {
    const bytes = wasmModule([], [], []);
    return typeof WebAssembly !== 'undefined' && WebAssembly.validate(bytes);
  } catch {
    return false;
  }
})();

/**
 * Whether this host's WebAssembly has tail calls (return_call: in V8 since
 * 11.2, Node 20, Chrome 112; Firefox 121, Safari 18.2). Without them,
 * regions do not chain (ChainTarget): every exit goes back to the block loop.
 */
export const canTailCall: boolean = (() => {
  try {
    const body = new Uint8Array([W.return_call, 0]);
    return canCompile && WebAssembly.validate(wasmModule([], [], [{ locals: [], body }]));
  } catch {
    return false;
  }
})();

/** Registers an instruction reads, as a bit mask (x0 never counts). */
function readMask(x: Decoded): number {
  switch (x.op) {
    case Op.LUI:
    case Op.AUIPC:
    case Op.JAL:
    case Op.FENCE:
    case Op.CSRRWI:
    case Op.CSRRSI:
    case Op.CSRRCI:
      return 0;
    case Op.JALR:
    case Op.LOAD:
    case Op.FLOAD: // the FP registers are not in locals (HM_F)
    case Op.FSTORE:
    case Op.CSRRW:
    case Op.CSRRS:
    case Op.CSRRC:
    case Op.ADDI:
    case Op.SLTI:
    case Op.SLTIU:
    case Op.XORI:
    case Op.ORI:
    case Op.ANDI:
    case Op.SLLI:
    case Op.SRLI:
    case Op.SRAI:
    case Op.ADDIW:
    case Op.SLLIW:
    case Op.SRLIW:
    case Op.SRAIW:
      return (1 << x.rs1) & ~1;
    default:
      return ((1 << x.rs1) | (1 << x.rs2)) & ~1;
  }
}

/** Registers an instruction writes, as a bit mask. */
function writeMask(x: Decoded): number {
  if (x.op === Op.STORE || x.op === Op.FENCE || isBranch(x)) return 0;
  if (x.op === Op.FLOAD || x.op === Op.FSTORE) return 0; // rd is an FP register (HM_F)
  return (1 << x.rd) & ~1;
}

/** The writer of every region's function (reset for each: a boot writes thousands). */
let blockWriter: BlockWriter | undefined;

/**
 * Write the function of a region into the module being written:
 *
 *   load the registers used; S = entry
 *   block $exit
 *     block $at
 *       loop $top
 *         block $b(K-1) … block $b0  br_table S  end  code of b0
 *         …  end  code of b(K-1)
 *       end
 *     end
 *     next pc and result from SITE (exitAt)
 *   end
 *   write back the registers written; return the next pc and the result
 *
 * A basic block's edge to a later one branches to the end of that one's
 * `block` (or falls through to the one whose code follows), an edge to an
 * earlier one goes through $top, and a basic block that branches to itself
 * is wrapped in a `loop` of its own; each after adding its count to N4 and
 * checking that the next basic block fits in the room left (QEMU's icount
 * rule, as the block loop checks for the first one). An edge out of the
 * region exits.
 */
export function writeRegion(
  m: ModuleWriter,
  r: Region,
  targets?: Map<number, ChainTarget>,
  off = 0,
  codeAt?: CodeAt,
): void {
  let reads = 0,
    writes = 0,
    fp = false;
  for (const bb of r.blocks)
    for (const x of bb.insns) {
      reads |= readMask(x);
      writes |= writeMask(x);
      if (x.op === Op.FLOAD || x.op === Op.FSTORE || x.op === Op.FP) fp = true;
    }
  const used = reads | writes;
  const b = m.b;
  if (blockWriter?.b !== b) blockWriter = new BlockWriter(b);
  const w = blockWriter;
  w.reset(r.entryPo, targets, off - r.entryPo, codeAt);
  w.secondWay = r.secondWay === true;
  w.lookupOnMemoMiss = r.lookupOnMemoMiss === true;
  let next = FP + (fp ? FP_COUNT : 0);
  const first = next;
  for (let x = 1; x < 32; x++) if (((used >>> x) & 1) !== 0) w.reg[x] = next++;
  const regs: [number, number] = [next - first, T_I64];
  m.beginFunction(fp ? [...LOCALS, ...FP_LOCALS, regs] : [...LOCALS, regs]);
  // PC = the page's address, pcHi:pcLo without the offset (the entry may be any basic block)
  b.get(0).i32(-4096).op(W.i32_and).op(W.i64_extend_i32_u);
  b.get(1).op(W.i64_extend_i32_u).i64(32).op(W.i64_shl);
  b.op(W.i64_or).set(PC);
  // A region entered by a chain counts on from the regions before it.
  b.get(CARRY).set(N4);
  // The basic block to start at is above the tag bits.
  const K = r.blocks.length;
  if (K > 1) b.get(DTAG).i32(BB_SHIFT).op(W.i32_shr_u).set(S);
  b.get(DTAG)
    .i32((1 << BB_SHIFT) - 1)
    .op(W.i32_and)
    .set(DTAG);
  b.get(DTAG).i32(TLB_SALT_BYTES_PER_TAG).op(W.i32_mul).set(SALT);
  b.get(DTAG).op(W.i64_extend_i32_u).set(TAG64);
  // Every register used is loaded: one written only part of the way is written back whole.
  for (let x = 1; x < 32; x++) {
    if (((used >>> x) & 1) === 0) continue;
    b.i32(0)
      .mem(W.i64_load, 3, HM_X + 8 * x)
      .set(w.reg[x]);
  }
  b.get(ROOM).i32(2).op(W.i32_shl).set(ROOM4);
  b.byte(W.block).byte(T_VOID); // $exit
  b.byte(W.block).byte(T_VOID); // $at
  b.byte(W.loop).byte(T_VOID); // $top
  if (K > 1) {
    for (let k = 0; k < K; k++) b.byte(W.block).byte(T_VOID);
    b.get(S).byte(W.br_table).u32(K);
    for (let k = 0; k < K; k++) b.u32(k);
    b.u32(K - 1);
  }
  for (let k = 0; k < K; k++) {
    if (K > 1) b.op(W.end); // of $bk: its code follows
    w.base = K - k;
    // A basic block that branches to itself (a copy or a hash loop) is a wasm loop of its own.
    const self = r.blocks[k].taken === k;
    if (self) {
      b.byte(W.loop).byte(T_VOID);
      w.inLoop = 1;
    }
    writeBasicBlock(w, r, k);
    if (self) {
      b.op(W.end);
      w.inLoop = 0;
    }
  }
  b.op(W.end); // $top
  b.op(W.end); // $at
  b.get(PC)
    .get(SITE)
    .i32(SITE_SHIFT)
    .op(W.i32_shr_s)
    .op(W.i64_extend_i32_s)
    .op(W.i64_add)
    .set(PC_OUT);
  b.get(N4)
    .get(SITE)
    .i32(SITE_D - 1)
    .op(W.i32_and)
    .op(W.i32_add)
    .set(RET);
  b.op(W.end); // $exit
  for (let x = 1; x < 32; x++) {
    if (((writes >>> x) & 1) === 0) continue;
    b.i32(0)
      .get(w.reg[x])
      .mem(W.i64_store, 3, HM_X + 8 * x);
  }
  if (w.chains.length !== 0) writeChains(w);
  b.get(PC_OUT).get(RET);
  m.endFunction();
}

/**
 * The end of a region with chains: CHAIN = c (1..n) goes on in the c-th
 * chain's region by a tail call, with the next pc, the basic block there,
 * the same room and the count so far; 0 returns.
 *
 *   block $ret  block $c(n) … block $c1  br_table CHAIN  end  call 1  …  end  call n  end
 */
function writeChains(w: BlockWriter): void {
  const b = w.b;
  const n = w.chains.length;
  for (let c = 0; c <= n; c++) b.byte(W.block).byte(T_VOID);
  b.get(CHAIN)
    .byte(W.br_table)
    .u32(n + 1)
    .u32(n);
  for (let c = 1; c <= n; c++) b.u32(c - 1);
  b.u32(n);
  for (const t of w.chains) {
    b.op(W.end);
    // Only if its first basic block fits in the room (as the block loop checks) and, on
    // another page, the fetch TLB maps the pc there now; otherwise back to the loop.
    b.get(RET)
      .i32(t.len * 4)
      .op(W.i32_add)
      .get(ROOM4)
      .op(W.i32_gt_u);
    if (w.away(t)) {
      b.get(PC_OUT);
      w.fetchMisses(t.page);
      b.op(W.i32_or);
    }
    b.byte(W.if_).byte(T_VOID).get(PC_OUT).get(RET).op(W.return_).op(W.end);
    b.i32(0)
      .i32(0)
      .mem(W.i32_load, 2, HM_CHAINS)
      .i32(1)
      .op(W.i32_add)
      .mem(W.i32_store, 2, HM_CHAINS);
    b.get(PC_OUT).op(W.i32_wrap_i64);
    b.get(PC_OUT).i64(32).op(W.i64_shr_u).op(W.i32_wrap_i64);
    b.get(DTAG)
      .i32(t.bb << BB_SHIFT)
      .op(W.i32_or);
    b.get(ROOM).get(RET);
    b.byte(W.return_call).u32(writer.firstFunction + t.fn);
  }
  b.op(W.end); // $ret
}

/** The code of basic block k of region r; every path through it ends in a branch. */
function writeBasicBlock(w: BlockWriter, r: Region, k: number): void {
  const bb = r.blocks[k];
  const n = bb.insns.length;
  const last = bb.insns[n - 1];
  w.startBasicBlock();
  const calls = bb.calls;
  let c = 0;
  for (let i = 0; i < n; i++) {
    const call = calls?.[c];
    if (call !== undefined) {
      // An inlined callee's return (see InlineCall): it retires, and the block goes on.
      if (i === call.i + call.n) {
        c++;
        continue;
      }
      if (i === call.i && call.away) w.calleeCheck(call, i, bb.at[i], bb.at[i + 1]);
    }
    // An instruction whose upper half is on the next page: that page still where it was.
    if (i === n - 1 && bb.crossing !== undefined)
      w.pageCheck(bb.crossing.page, 4096 - r.entryPo, i, bb.at[i]);
    writeInsn(w, bb.insns[i], i, bb.at[i]);
    w.wrote(writeMask(bb.insns[i]));
  }
  const d = bb.at[n - 1];
  if (endsInReturn(bb)) edge(w, r, k, bb.next, bb.nextStops, bb.at[n], n);
  else if (isBranch(last)) {
    w.if_(); // on the condition writeInsn() left
    edge(w, r, k, bb.taken, bb.takenStops, d + last.imm, n);
    w.end();
    edge(w, r, k, bb.next, bb.nextStops, bb.at[n], n);
  } else if (last.op === Op.JAL) edge(w, r, k, bb.taken, bb.takenStops, d + last.imm, n);
  else if (last.op !== Op.JALR) edge(w, r, k, bb.next, bb.nextStops, bb.at[n], n);
}

/**
 * Control leaves basic block k after `count` instructions for block j of
 * the region, or (j = -1) for the pc entry + d, out of the region.
 */
function edge(
  w: BlockWriter,
  r: Region,
  k: number,
  j: number,
  stops: boolean,
  d: number,
  count: number,
): void {
  const b = w.b;
  if (j < 0) {
    // To a basic block of a region of this module: the exit takes the chain (writeChains).
    const chain = stops ? 0 : w.chainTo(d);
    if (chain !== 0) b.i32(chain).set(CHAIN);
    w.exitAt(d, count * 4 + (stops ? EXIT_INTERPRET : 0));
    return;
  }
  b.get(N4)
    .i32(count * 4)
    .op(W.i32_add)
    .tee(N4);
  // Block j must fit in the room left; if not, leave at its start (the dispatcher interprets the rest).
  b.i32(r.blocks[j].insns.length * 4)
    .op(W.i32_add)
    .get(ROOM4)
    .op(W.i32_gt_u);
  w.if_();
  w.exitAt(r.blocks[j].at[0], 0);
  w.end();
  if (j > k) {
    if (j !== k + 1 || !w.straight) w.goForward(j - k - 1);
  } else if (j === k && w.inLoop !== 0) w.loopBack();
  else w.goTo(j);
}

/**
 * A compiled region: (pcLo, pcHi, dataTag | basic block << BB_SHIFT, room, carry) -> (next pc,
 * retired * 4 | EXIT_* bits, carry (retired * 4 before it in a chain) included). Called from
 * WebAssembly only (the block loop, chains): JavaScript would get the pc as a BigInt.
 */
export type BlockFn = (
  pcLo: number,
  pcHi: number,
  dTag: number,
  room: number,
  carry?: number,
) => [bigint, number];
/** Where the basic block to start at is in a block function's third argument (above the tag bits). */
export const BB_SHIFT = 16;

/** The parameter and result types of block functions. */
export const BLOCK_PARAMS = [T_I32, T_I32, T_I32, T_I32, T_I32];
/** The room a block function may be given at most (its result counts instructions * 4 in an i32). */
export const MAX_ROOM = 1 << 28;
export const BLOCK_RESULTS = [T_I64, T_I32];

const writer = new ModuleWriter();

/**
 * What a block module imports besides the memory, when one of its regions
 * has an FP instruction the blocks do not do themselves: the function that
 * does it (translate-fp.ts FpCall, function FP_CALL). Only then: V8
 * compiles a wrapper for an imported JavaScript function in every module
 * that imports one, which cost a boot's 88 modules 15-20 ms. The module's
 * own functions come after its imports (ModuleWriter.firstFunction).
 */
const FP_IMPORTS: readonly WasmImport[] = [{ name: 'fp', params: [T_I32], results: [T_I32] }];

/** Whether a region has an FP instruction its block hands to fpu.ts (translate-fp.ts FpCall). */
function callsFp(r: Region): boolean {
  return r.blocks.some((bb) => bb.insns.some(fpCalls));
}

/** The basic blocks of `regions` (entered at RAM offsets `offs`) by RAM offset: the first region's where two start one. */
function chainTargets(regions: Region[], offs: readonly number[]): Map<number, ChainTarget> {
  const at = new Map<number, ChainTarget>();
  regions.forEach((r, fn) =>
    r.blocks.forEach((bb, k) => {
      const o = offs[fn] + bb.at[0];
      if (!at.has(o)) at.set(o, { fn, bb: k, len: bb.insns.length, page: offs[fn] >>> 12 });
    }),
  );
  return at;
}

/**
 * Each region's pages (its own, its inlined callees') take in those of the
 * regions it chains to, and theirs, so that a write to any page a chain
 * can run code from drops every region that can start the chain
 * (code-cache.ts lists a region under each page of `pages`).
 */
function closePages(regions: Region[], offs: readonly number[], chained: number[][]): void {
  const sets = regions.map((r) => new Set(r.pages));
  for (let changed = true; changed;) {
    changed = false;
    regions.forEach((_, i) => {
      for (const j of chained[i])
        for (const page of [offs[j] >>> 12, ...sets[j]])
          if (page !== offs[i] >>> 12 && !sets[i].has(page)) {
            sets[i].add(page);
            changed = true;
          }
    });
  }
  regions.forEach((r, i) => {
    if (sets[i].size !== r.pages.length) r.pages = [...sets[i]];
  });
}

/**
 * Compile regions into one module sharing `memory`; their entries in order.
 * With the regions' RAM offsets (`offs`) and where each finds code now
 * (`codeAt`, for exits to other pages), their exits chain (ChainTarget),
 * and each region's `pages` grow by those of the regions it chains to.
 */
export function compileBlocks(
  memory: WebAssembly.Memory,
  regions: Region[],
  offs?: readonly number[],
  codeAt?: readonly CodeAt[],
  fpCall: FpCall = () => 0,
): BlockFn[] {
  const imports = regions.some(callsFp) ? FP_IMPORTS : [];
  writer.begin(BLOCK_PARAMS, BLOCK_RESULTS, regions.length, false, imports);
  const targets = offs && canTailCall ? chainTargets(regions, offs) : undefined;
  const chained: number[][] = [];
  regions.forEach((r, i) => {
    writeRegion(writer, r, targets, offs?.[i], codeAt?.[i]);
    chained.push(blockWriter!.chains.map((t) => t.fn));
  });
  if (targets !== undefined) closePages(regions, offs!, chained);
  const inst = new WebAssembly.Instance(
    new WebAssembly.Module(writer.finish() as Uint8Array<ArrayBuffer>),
    {
      m: imports.length !== 0 ? { mem: memory, fp: fpCall } : { mem: memory },
    },
  );
  const out: BlockFn[] = [];
  for (let i = 0; i < regions.length; i++) out.push(inst.exports[String(i)] as BlockFn);
  return out;
}
