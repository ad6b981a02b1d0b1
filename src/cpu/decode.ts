/**
 * The decoder: one instruction's bits (16 or 32) to its decoded form, used by
 * the translator, the plugins' step events and the region scanner, so that
 * they cannot disagree on what an encoding means or whether it is legal.
 *
 * The decoded form is an operation number (`Op`), the register fields, the
 * immediate sign-extended to 32 bits and already assembled (B/J/S formats
 * scattered over the word come out as one number), the funct3 field for the
 * grouped operations (loads, stores), and the length. Decoding depends on the
 * bits alone, never on hart state: whether an FP instruction is legal with
 * mstatus.FS off, or a CSR exists at this privilege, is decided when it runs.
 *
 * The operation depends only on the opcode, funct3 and funct7 fields, so
 * op32() is also tabulated over those 15 bits (OP_TABLE), where the plugins'
 * step events look it up (src/plugin/step-events.ts). A translator decodes
 * each instruction once, with decode().
 *
 * The interpreter (interpreter.ts) is the one engine that does not use this
 * file: it switches on the opcode and takes the fields from the bits inline.
 * Both ways of sharing the decoder with it were measured slower on a Linux
 * boot: a cache of decoded forms keyed by the bits (1 MiB of tables) 1.5x,
 * through cache misses alone; a switch on OP_TABLE's operation instead of
 * the opcode (2026-12-03, 16 interleaved pairs, interpreter only) 1.2x
 * (2.56 s against 2.15 s, medians). The differential tests hold the two to
 * the same meaning of every encoding instead: random programs on both
 * engines (test/cpu/translator.test.ts), the ISA programs and a whole boot
 * (test/guest/engine-diff.test.ts, `vmrs diff-engines`).
 *
 * Compressed instructions decode through their 32-bit expansion (rvc.ts).
 * Unpriv spec chapter 34 lists the encodings.
 */
import { rvcTable } from './rvc.js';

/** Operations of the decoded form. `const enum`: the values are inlined, so a switch on them is a jump table. */
export const enum Op {
  ILLEGAL = 0,
  LUI,
  AUIPC,
  JAL,
  JALR,
  BEQ,
  BNE,
  BLT,
  BGE,
  BLTU,
  BGEU,
  /** Integer loads; `f3` says which (LB LH LW LD LBU LHU LWU). */
  LOAD,
  /** Integer stores; `f3` says which (SB SH SW SD). */
  STORE,
  ADDI,
  SLTI,
  SLTIU,
  XORI,
  ORI,
  ANDI,
  SLLI,
  SRLI,
  SRAI,
  ADDIW,
  SLLIW,
  SRLIW,
  SRAIW,
  ADD,
  SUB,
  SLL,
  SLT,
  SLTU,
  XOR,
  SRL,
  SRA,
  OR,
  AND,
  MUL,
  MULH,
  MULHSU,
  MULHU,
  DIV,
  DIVU,
  REM,
  REMU,
  ADDW,
  SUBW,
  SLLW,
  SRLW,
  SRAW,
  MULW,
  DIVW,
  DIVUW,
  REMW,
  REMUW,
  /** FENCE and FENCE.I: no effect on one in-order hart that fetches every instruction from memory. */
  FENCE,
  /** ECALL, EBREAK, MRET, SRET, WFI, SFENCE.VMA and illegal SYSTEM encodings: system.ts sorts them out. */
  SYSTEM,
  CSRRW,
  CSRRS,
  CSRRC,
  CSRRWI,
  CSRRSI,
  CSRRCI,
  /** LR, SC and AMOs: atomic.ts checks the funct5 and width. */
  AMO,
  /** FLW/FLD (`f3` 2 or 3). */
  FLOAD,
  /** FSW/FSD (`f3` 2 or 3). */
  FSTORE,
  /** OP-FP and the fused multiply-adds: fpu.ts decodes the rest. */
  FP,
}

/** Number of operations (for tables indexed by Op). */
export const OP_COUNT = Op.FP + 1;

/** A decoded instruction. */
export interface Decoded {
  op: Op;
  rd: number;
  rs1: number;
  rs2: number;
  f3: number;
  /** Sign-extended immediate: offsets, shift amounts, the CSR number for CSR instructions. */
  imm: number;
  /** 2 or 4. */
  len: number;
  /** The 32-bit instruction (the expansion of a compressed one); 0 when illegal. */
  insn: number;
}

/** I-type immediate (unpriv spec 2.3). */
export function immI(i: number): number {
  return i >> 20;
}
/** S-type immediate. */
export function immS(i: number): number {
  return ((i >> 20) & ~0x1f) | ((i >>> 7) & 0x1f);
}
/** B-type immediate (unpriv spec 2.5). */
export function immB(i: number): number {
  return ((i >> 19) & 0xfffff000) | ((i << 4) & 0x800) | ((i >>> 20) & 0x7e0) | ((i >>> 7) & 0x1e);
}
/** J-type immediate. */
export function immJ(i: number): number {
  return ((i >> 11) & 0xfff00000) | (i & 0xff000) | ((i >>> 9) & 0x800) | ((i >>> 20) & 0x7fe);
}

const OP_BY_F3 = [Op.ADD, Op.SLL, Op.SLT, Op.SLTU, Op.XOR, Op.SRL, Op.OR, Op.AND];
const MUL_BY_F3 = [Op.MUL, Op.MULH, Op.MULHSU, Op.MULHU, Op.DIV, Op.DIVU, Op.REM, Op.REMU];
const MUL32_BY_F3 = [
  Op.MULW,
  Op.ILLEGAL,
  Op.ILLEGAL,
  Op.ILLEGAL,
  Op.DIVW,
  Op.DIVUW,
  Op.REMW,
  Op.REMUW,
];
const SYSTEM_BY_F3 = [
  Op.SYSTEM,
  Op.CSRRW,
  Op.CSRRS,
  Op.CSRRC,
  Op.ILLEGAL,
  Op.CSRRWI,
  Op.CSRRSI,
  Op.CSRRCI,
];

let decodedImm = 0;

/** The operation of a 32-bit instruction (low bits 11), with its immediate left in `decodedImm`. */
export function op32(i: number): Op {
  const f3 = (i >>> 12) & 7;
  const f7 = i >>> 25;
  decodedImm = 0;
  switch (i & 0x7f) {
    case 0x37:
      decodedImm = i & 0xfffff000;
      return Op.LUI;
    case 0x17:
      decodedImm = i & 0xfffff000;
      return Op.AUIPC;
    case 0x6f:
      decodedImm = immJ(i);
      return Op.JAL;
    case 0x67:
      decodedImm = immI(i);
      return f3 === 0 ? Op.JALR : Op.ILLEGAL;
    case 0x63:
      decodedImm = immB(i);
      switch (f3) {
        case 0:
          return Op.BEQ;
        case 1:
          return Op.BNE;
        case 4:
          return Op.BLT;
        case 5:
          return Op.BGE;
        case 6:
          return Op.BLTU;
        case 7:
          return Op.BGEU;
      }
      return Op.ILLEGAL;
    case 0x03:
      decodedImm = immI(i);
      return f3 === 7 ? Op.ILLEGAL : Op.LOAD;
    case 0x23:
      decodedImm = immS(i);
      return f3 > 3 ? Op.ILLEGAL : Op.STORE;
    case 0x13:
      decodedImm = immI(i);
      switch (f3) {
        case 0:
          return Op.ADDI;
        case 1:
          decodedImm &= 63;
          return i >>> 26 === 0 ? Op.SLLI : Op.ILLEGAL;
        case 2:
          return Op.SLTI;
        case 3:
          return Op.SLTIU;
        case 4:
          return Op.XORI;
        case 5:
          decodedImm &= 63;
          return i >>> 26 === 0 ? Op.SRLI : i >>> 26 === 0x10 ? Op.SRAI : Op.ILLEGAL;
        case 6:
          return Op.ORI;
        default:
          return Op.ANDI;
      }
    case 0x1b:
      if (f3 === 0) {
        decodedImm = immI(i);
        return Op.ADDIW;
      }
      decodedImm = (i >>> 20) & 31;
      if (f3 === 1 && f7 === 0) return Op.SLLIW;
      if (f3 === 5 && f7 === 0) return Op.SRLIW;
      if (f3 === 5 && f7 === 0x20) return Op.SRAIW;
      return Op.ILLEGAL;
    case 0x33:
      if (f7 === 0) return OP_BY_F3[f3];
      if (f7 === 0x20) return f3 === 0 ? Op.SUB : f3 === 5 ? Op.SRA : Op.ILLEGAL;
      if (f7 === 1) return MUL_BY_F3[f3];
      return Op.ILLEGAL;
    case 0x3b:
      if (f7 === 0)
        return f3 === 0 ? Op.ADDW : f3 === 1 ? Op.SLLW : f3 === 5 ? Op.SRLW : Op.ILLEGAL;
      if (f7 === 0x20) return f3 === 0 ? Op.SUBW : f3 === 5 ? Op.SRAW : Op.ILLEGAL;
      if (f7 === 1) return MUL32_BY_F3[f3];
      return Op.ILLEGAL;
    case 0x0f:
      return f3 > 1 ? Op.ILLEGAL : Op.FENCE;
    case 0x73:
      decodedImm = i >>> 20; // the CSR number
      return SYSTEM_BY_F3[f3];
    case 0x2f:
      return Op.AMO;
    case 0x07:
      decodedImm = immI(i);
      return f3 === 2 || f3 === 3 ? Op.FLOAD : Op.ILLEGAL;
    case 0x27:
      decodedImm = immS(i);
      return f3 === 2 || f3 === 3 ? Op.FSTORE : Op.ILLEGAL;
    case 0x53:
    case 0x43:
    case 0x47:
    case 0x4b:
    case 0x4f:
      return Op.FP;
  }
  return Op.ILLEGAL;
}

/** Index into OP_TABLE of a 32-bit instruction: opcode bits 6:2, funct3, funct7. */
export function opIndex(i: number): number {
  return ((i >>> 2) & 31) | ((i >>> 7) & 0xe0) | ((i >>> 17) & 0x7f00);
}

let OP_TABLE: Uint8Array | undefined;

/**
 * op32() of every (opcode, funct3, funct7): the other fields never change
 * the operation. Made on first use (the plugins' step events), not at every
 * process's start.
 */
export function opTable(): Uint8Array {
  if (OP_TABLE) return OP_TABLE;
  const t = new Uint8Array(1 << 15);
  for (let x = 0; x < t.length; x++)
    t[x] = op32(3 | ((x & 31) << 2) | (((x >>> 5) & 7) << 12) | ((x >>> 8) << 25));
  return (OP_TABLE = t);
}

/** Decode instruction bits `raw` (a 16-bit instruction in the low half when its two low bits are not 11). */
export function decode(raw: number): Decoded {
  let insn = raw | 0;
  let len = 4;
  if ((raw & 3) !== 3) {
    insn = rvcTable[raw & 0xffff];
    len = 2;
  }
  const op = insn === 0 ? Op.ILLEGAL : op32(insn);
  if (op === Op.ILLEGAL) insn = 0;
  return {
    op,
    rd: (insn >>> 7) & 31,
    rs1: (insn >>> 15) & 31,
    rs2: (insn >>> 20) & 31,
    f3: (insn >>> 12) & 7,
    imm: op === Op.ILLEGAL ? 0 : decodedImm,
    len,
    insn,
  };
}
