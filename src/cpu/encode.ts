/**
 * RV64 instruction encoders (ISA spec, chapter 34 "RV32/64G Instruction Set
 * Listings"): the base formats, for code vmrs writes itself — the
 * interpreter's warm-up program and the CPU unit tests.
 */

/** R-type: funct7 rs2 rs1 funct3 rd opcode. */
export const encR = (op: number, f3: number, f7: number, rd: number, rs1: number, rs2: number) =>
  ((f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;

/** I-type: imm[11:0] rs1 funct3 rd opcode. */
export const encI = (op: number, f3: number, rd: number, rs1: number, imm: number) =>
  (((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;

/** S-type: imm[11:5] rs2 rs1 funct3 imm[4:0] opcode. */
export const encS = (op: number, f3: number, rs1: number, rs2: number, imm: number) =>
  ((((imm >> 5) & 0x7f) << 25) |
    (rs2 << 20) |
    (rs1 << 15) |
    (f3 << 12) |
    ((imm & 0x1f) << 7) |
    op) >>>
  0;

/** B-type: a branch to pc + imm (even, ±4 KiB). */
export const encB = (f3: number, rs1: number, rs2: number, imm: number) =>
  ((((imm >> 12) & 1) << 31) |
    (((imm >> 5) & 0x3f) << 25) |
    (rs2 << 20) |
    (rs1 << 15) |
    (f3 << 12) |
    (((imm >> 1) & 0xf) << 8) |
    (((imm >> 11) & 1) << 7) |
    0x63) >>>
  0;

/** U-type: imm[31:12] rd opcode (`imm20` is the upper 20 bits). */
export const encU = (op: number, rd: number, imm20: number) =>
  (((imm20 & 0xfffff) << 12) | (rd << 7) | op) >>> 0;

/** J-type: jal rd, pc + imm (even, ±1 MiB). */
export const encJ = (rd: number, imm: number) =>
  ((((imm >> 20) & 1) << 31) |
    (((imm >> 1) & 0x3ff) << 21) |
    (((imm >> 11) & 1) << 20) |
    (((imm >> 12) & 0xff) << 12) |
    (rd << 7) |
    0x6f) >>>
  0;

/** R4-type (fused multiply-add): rs3 fmt rs2 rs1 rm rd opcode. */
export const encR4 = (
  op: number,
  fmt: number,
  rm: number,
  rd: number,
  rs1: number,
  rs2: number,
  rs3: number,
) => ((rs3 << 27) | (fmt << 25) | (rs2 << 20) | (rs1 << 15) | (rm << 12) | (rd << 7) | op) >>> 0;

export const OP_LOAD = 0x03;
export const OP_LOAD_FP = 0x07;
export const OP_MISC_MEM = 0x0f;
export const OP_IMM = 0x13;
export const OP_AUIPC = 0x17;
export const OP_IMM_32 = 0x1b;
export const OP_STORE = 0x23;
export const OP_STORE_FP = 0x27;
export const OP_AMO = 0x2f;
export const OP_OP = 0x33;
export const OP_LUI = 0x37;
export const OP_OP_32 = 0x3b;
export const OP_FP = 0x53;
export const OP_JALR = 0x67;
export const OP_SYSTEM = 0x73;

export const addi = (rd: number, rs1: number, imm: number) => encI(OP_IMM, 0, rd, rs1, imm);
export const slli = (rd: number, rs1: number, sh: number) => encI(OP_IMM, 1, rd, rs1, sh);
export const srli = (rd: number, rs1: number, sh: number) => encI(OP_IMM, 5, rd, rs1, sh);
export const lui = (rd: number, imm20: number) => encU(OP_LUI, rd, imm20);
export const auipc = (rd: number, imm20: number) => encU(OP_AUIPC, rd, imm20);
export const add = (rd: number, rs1: number, rs2: number) => encR(OP_OP, 0, 0, rd, rs1, rs2);
export const or = (rd: number, rs1: number, rs2: number) => encR(OP_OP, 6, 0, rd, rs1, rs2);
export const remu = (rd: number, rs1: number, rs2: number) => encR(OP_OP, 7, 1, rd, rs1, rs2);
export const ld = (rd: number, rs1: number, imm: number) => encI(OP_LOAD, 3, rd, rs1, imm);
export const lw = (rd: number, rs1: number, imm: number) => encI(OP_LOAD, 2, rd, rs1, imm);
export const sd = (rs2: number, rs1: number, imm: number) => encS(OP_STORE, 3, rs1, rs2, imm);
export const sw = (rs2: number, rs1: number, imm: number) => encS(OP_STORE, 2, rs1, rs2, imm);
export const fld = (rd: number, rs1: number, imm: number) => encI(OP_LOAD_FP, 3, rd, rs1, imm);
export const flw = (rd: number, rs1: number, imm: number) => encI(OP_LOAD_FP, 2, rd, rs1, imm);
export const fsd = (rs2: number, rs1: number, imm: number) => encS(OP_STORE_FP, 3, rs1, rs2, imm);
export const jalr = (rd: number, rs1: number, imm: number) => encI(OP_JALR, 0, rd, rs1, imm);
export const beq = (rs1: number, rs2: number, imm: number) => encB(0, rs1, rs2, imm);
export const bne = (rs1: number, rs2: number, imm: number) => encB(1, rs1, rs2, imm);
export const blt = (rs1: number, rs2: number, imm: number) => encB(4, rs1, rs2, imm);
export const bge = (rs1: number, rs2: number, imm: number) => encB(5, rs1, rs2, imm);
export const lrw = (rd: number, rs1: number) => encR(OP_AMO, 2, 0x08, rd, rs1, 0);
export const amoaddd = (rd: number, rs1: number, rs2: number) =>
  encR(OP_AMO, 3, 0x00, rd, rs1, rs2);
export const amoswapd = (rd: number, rs1: number, rs2: number) =>
  encR(OP_AMO, 3, 0x04, rd, rs1, rs2);
export const lrd = (rd: number, rs1: number) => encR(OP_AMO, 3, 0x08, rd, rs1, 0);
export const scd = (rd: number, rs1: number, rs2: number) => encR(OP_AMO, 3, 0x0c, rd, rs1, rs2);
export const csrrw = (rd: number, csr: number, rs1: number) => encI(OP_SYSTEM, 1, rd, rs1, csr);
export const csrrs = (rd: number, csr: number, rs1: number) => encI(OP_SYSTEM, 2, rd, rs1, csr);
export const csrrc = (rd: number, csr: number, rs1: number) => encI(OP_SYSTEM, 3, rd, rs1, csr);
export const csrrwi = (rd: number, csr: number, uimm: number) => encI(OP_SYSTEM, 5, rd, uimm, csr);
export const csrrsi = (rd: number, csr: number, uimm: number) => encI(OP_SYSTEM, 6, rd, uimm, csr);

export const ECALL = 0x00000073;
export const EBREAK = 0x00100073;
export const MRET = 0x30200073;
export const SRET = 0x10200073;
export const WFI = 0x10500073;
export const SFENCE_VMA = 0x12000073;
export const FENCE = 0x0ff0000f;
export const FENCE_I = 0x0000100f;
/** jal x0, 0: a one-instruction infinite loop. */
export const SPIN = 0x0000006f;
