/**
 * The C extension as a table: every 16-bit encoding maps to the 32-bit
 * instruction it stands for (unpriv spec chapter 16, RV64 column), or 0 when
 * it is illegal/reserved. The executor then decodes only 32-bit forms; it
 * keeps the length (2) for the next PC and for jal/jalr link values.
 */
import {
  OP_IMM,
  OP_IMM_32 as OP_IMM32,
  OP_OP as OP,
  OP_OP_32 as OP32,
  OP_LUI as LUI,
  OP_LOAD as LOAD,
  OP_STORE as STORE,
  OP_LOAD_FP as LOAD_FP,
  OP_STORE_FP as STORE_FP,
  OP_JALR as JALR,
  OP_SYSTEM as SYSTEM,
  encB as bType,
  encI as iType,
  encJ as jType,
  encR as rType,
  encS as sType,
} from './encode.js';
import { RVC_ENTRIES, RVC_TABLE_GLOBAL } from './rvc-handover.js';

const bit = (x: number, i: number) => (x >> i) & 1;
const bits = (x: number, hi: number, lo: number) => (x >> lo) & ((1 << (hi - lo + 1)) - 1);
const sext = (v: number, width: number) => (v << (32 - width)) >> (32 - width);

/** Expand one 16-bit instruction; 0 = illegal. */
export function expandCompressed(c: number): number {
  const op = c & 3;
  const f3 = bits(c, 15, 13);
  const rdp = bits(c, 4, 2) + 8; // rd'/rs2'
  const rs1p = bits(c, 9, 7) + 8; // rs1'/rd'
  const rd = bits(c, 11, 7);
  const rs2 = bits(c, 6, 2);
  const imm6 = sext((bit(c, 12) << 5) | bits(c, 6, 2), 6);
  if (op === 0) {
    switch (f3) {
      case 0: {
        // C.ADDI4SPN
        const imm =
          (bits(c, 12, 11) << 4) | (bits(c, 10, 7) << 6) | (bit(c, 6) << 2) | (bit(c, 5) << 3);
        return imm === 0 ? 0 : iType(OP_IMM, 0, rdp, 2, imm);
      }
      case 1: // C.FLD
        return iType(LOAD_FP, 3, rdp, rs1p, (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6));
      case 2: // C.LW
        return iType(
          LOAD,
          2,
          rdp,
          rs1p,
          (bits(c, 12, 10) << 3) | (bit(c, 6) << 2) | (bit(c, 5) << 6),
        );
      case 3: // C.LD
        return iType(LOAD, 3, rdp, rs1p, (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6));
      case 5: // C.FSD
        return sType(STORE_FP, 3, rs1p, rdp, (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6));
      case 6: // C.SW
        return sType(
          STORE,
          2,
          rs1p,
          rdp,
          (bits(c, 12, 10) << 3) | (bit(c, 6) << 2) | (bit(c, 5) << 6),
        );
      case 7: // C.SD
        return sType(STORE, 3, rs1p, rdp, (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6));
      default:
        return 0;
    }
  }
  if (op === 1) {
    switch (f3) {
      case 0: // C.ADDI (C.NOP when rd=0)
        return iType(OP_IMM, 0, rd, rd, imm6);
      case 1: // C.ADDIW
        return rd === 0 ? 0 : iType(OP_IMM32, 0, rd, rd, imm6);
      case 2: // C.LI
        return iType(OP_IMM, 0, rd, 0, imm6);
      case 3:
        if (rd === 2) {
          // C.ADDI16SP
          const imm = sext(
            (bit(c, 12) << 9) |
              (bit(c, 6) << 4) |
              (bit(c, 5) << 6) |
              (bits(c, 4, 3) << 7) |
              (bit(c, 2) << 5),
            10,
          );
          return imm === 0 ? 0 : iType(OP_IMM, 0, 2, 2, imm);
        } else {
          // C.LUI
          if (imm6 === 0) return 0;
          return ((imm6 << 12) & 0xfffff000) | (rd << 7) | LUI;
        }
      case 4: {
        const f2 = bits(c, 11, 10);
        const shamt = (bit(c, 12) << 5) | bits(c, 6, 2);
        if (f2 === 0) return iType(OP_IMM, 5, rs1p, rs1p, shamt); // C.SRLI
        if (f2 === 1) return iType(OP_IMM, 5, rs1p, rs1p, shamt | 0x400); // C.SRAI
        if (f2 === 2) return iType(OP_IMM, 7, rs1p, rs1p, imm6); // C.ANDI
        const f = bits(c, 6, 5);
        if (bit(c, 12) === 0) {
          if (f === 0) return rType(OP, 0, 0x20, rs1p, rs1p, rdp); // C.SUB
          if (f === 1) return rType(OP, 4, 0, rs1p, rs1p, rdp); // C.XOR
          if (f === 2) return rType(OP, 6, 0, rs1p, rs1p, rdp); // C.OR
          return rType(OP, 7, 0, rs1p, rs1p, rdp); // C.AND
        }
        if (f === 0) return rType(OP32, 0, 0x20, rs1p, rs1p, rdp); // C.SUBW
        if (f === 1) return rType(OP32, 0, 0, rs1p, rs1p, rdp); // C.ADDW
        return 0;
      }
      case 5: {
        // C.J
        const imm = sext(
          (bit(c, 12) << 11) |
            (bit(c, 11) << 4) |
            (bits(c, 10, 9) << 8) |
            (bit(c, 8) << 10) |
            (bit(c, 7) << 6) |
            (bit(c, 6) << 7) |
            (bits(c, 5, 3) << 1) |
            (bit(c, 2) << 5),
          12,
        );
        return jType(0, imm);
      }
      default: {
        // C.BEQZ / C.BNEZ
        const imm = sext(
          (bit(c, 12) << 8) |
            (bits(c, 11, 10) << 3) |
            (bits(c, 6, 5) << 6) |
            (bits(c, 4, 3) << 1) |
            (bit(c, 2) << 5),
          9,
        );
        return bType(f3 === 6 ? 0 : 1, rs1p, 0, imm);
      }
    }
  }
  if (op === 2) {
    switch (f3) {
      case 0: {
        // C.SLLI
        const shamt = (bit(c, 12) << 5) | bits(c, 6, 2);
        return iType(OP_IMM, 1, rd, rd, shamt);
      }
      case 1: // C.FLDSP
        return iType(
          LOAD_FP,
          3,
          rd,
          2,
          (bit(c, 12) << 5) | (bits(c, 6, 5) << 3) | (bits(c, 4, 2) << 6),
        );
      case 2: // C.LWSP
        if (rd === 0) return 0;
        return iType(
          LOAD,
          2,
          rd,
          2,
          (bit(c, 12) << 5) | (bits(c, 6, 4) << 2) | (bits(c, 3, 2) << 6),
        );
      case 3: // C.LDSP
        if (rd === 0) return 0;
        return iType(
          LOAD,
          3,
          rd,
          2,
          (bit(c, 12) << 5) | (bits(c, 6, 5) << 3) | (bits(c, 4, 2) << 6),
        );
      case 4:
        if (bit(c, 12) === 0) {
          if (rs2 === 0) return rd === 0 ? 0 : iType(JALR, 0, 0, rd, 0); // C.JR
          return rType(OP, 0, 0, rd, 0, rs2); // C.MV
        }
        if (rs2 === 0) {
          if (rd === 0) return 0x00100073; // C.EBREAK
          return iType(JALR, 0, 1, rd, 0); // C.JALR
        }
        return rType(OP, 0, 0, rd, rd, rs2); // C.ADD
      case 5: // C.FSDSP
        return sType(STORE_FP, 3, 2, rs2, (bits(c, 12, 10) << 3) | (bits(c, 9, 7) << 6));
      case 6: // C.SWSP
        return sType(STORE, 2, 2, rs2, (bits(c, 12, 9) << 2) | (bits(c, 8, 7) << 6));
      case 7: // C.SDSP
        return sType(STORE, 3, 2, rs2, (bits(c, 12, 10) << 3) | (bits(c, 9, 7) << 6));
    }
  }
  return 0;
}

/** Every expansion, computed: 12-26 ms at a process's start, in code V8 has not compiled yet. */
export function computeRvcTable(): Int32Array {
  const t = new Int32Array(RVC_ENTRIES);
  for (let c = 0; c < RVC_ENTRIES; c++) if ((c & 3) !== 3) t[c] = expandCompressed(c);
  return t;
}

/**
 * `supplied` when it is a whole table that agrees with expandCompressed on
 * a spread of entries (one in 251, every quadrant and funct3: a table
 * from another version of this code is refused), else a computed one. The
 * loader keys its file by the bundle it came from and checks its CRC, so
 * this guards against a table from other code, not against damage.
 */
export function rvcTableFrom(supplied: unknown): Int32Array {
  if (supplied instanceof Int32Array && supplied.length === RVC_ENTRIES) {
    let ok = true;
    for (let c = 0; c < RVC_ENTRIES && ok; c += 251)
      ok = supplied[c] === ((c & 3) !== 3 ? expandCompressed(c) | 0 : 0);
    if (ok) return supplied;
  }
  return computeRvcTable();
}

/**
 * rvcTable[c] = expandCompressed(c) for every 16-bit c (quadrant 3 entries
 * are 0). Filled at load, or taken from the CLI's loader (rvc-handover.ts):
 * computing it was 12-26 ms of every process start. Filling it as encodings
 * were met instead (a boot meets about 7,900) made whole processes 2-3%
 * slower (24 interleaved pairs), and 7-11% while the lazy path handed the
 * interpreter the encoders' unsigned results (heap numbers for instructions
 * with bit 31 set).
 */
export const rvcTable: Int32Array = (() => {
  const g = globalThis as Record<string, unknown>;
  const t = rvcTableFrom(g[RVC_TABLE_GLOBAL]);
  g[RVC_TABLE_GLOBAL] = t;
  return t;
})();

void SYSTEM;
