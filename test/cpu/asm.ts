/** A tiny RV64 instruction encoder for CPU unit tests (only what the tests use). */
const r = (rd: number, f3: number, rs1: number, rs2: number, f7: number, op: number): number =>
  ((f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;
const i = (rd: number, f3: number, rs1: number, imm: number, op: number): number =>
  (((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;
const s = (f3: number, rs1: number, rs2: number, imm: number): number =>
  ((((imm >> 5) & 0x7f) << 25) |
    (rs2 << 20) |
    (rs1 << 15) |
    (f3 << 12) |
    ((imm & 0x1f) << 7) |
    0x23) >>>
  0;

export const addi = (rd: number, rs1: number, imm: number): number => i(rd, 0, rs1, imm, 0x13);
export const lui = (rd: number, imm20: number): number =>
  (((imm20 & 0xfffff) << 12) | (rd << 7) | 0x37) >>> 0;
export const add = (rd: number, rs1: number, rs2: number): number => r(rd, 0, rs1, rs2, 0, 0x33);
export const slli = (rd: number, rs1: number, sh: number): number => i(rd, 1, rs1, sh, 0x13);
export const ld = (rd: number, rs1: number, imm: number): number => i(rd, 3, rs1, imm, 0x03);
export const lw = (rd: number, rs1: number, imm: number): number => i(rd, 2, rs1, imm, 0x03);
export const sd = (rs2: number, rs1: number, imm: number): number => s(3, rs1, rs2, imm);
export const sw = (rs2: number, rs1: number, imm: number): number => s(2, rs1, rs2, imm);
export const lrw = (rd: number, rs1: number): number => r(rd, 2, rs1, 0, 0x08, 0x2f);
export const amoaddd = (rd: number, rs1: number, rs2: number): number =>
  r(rd, 3, rs1, rs2, 0x00, 0x2f);
export const csrrw = (rd: number, csr: number, rs1: number): number => i(rd, 1, rs1, csr, 0x73);
export const csrrs = (rd: number, csr: number, rs1: number): number => i(rd, 2, rs1, csr, 0x73);
export const csrrc = (rd: number, csr: number, rs1: number): number => i(rd, 3, rs1, csr, 0x73);
export const csrrwi = (rd: number, csr: number, uimm: number): number => i(rd, 5, uimm, csr, 0x73);
export const csrrsi = (rd: number, csr: number, uimm: number): number => i(rd, 6, uimm, csr, 0x73);
export const ECALL = 0x00000073;
export const EBREAK = 0x00100073;
export const MRET = 0x30200073;
export const SRET = 0x10200073;
export const WFI = 0x10500073;
export const SFENCE_VMA = 0x12000073;
/** jal x0, 0: a one-instruction infinite loop. */
export const SPIN = 0x0000006f;
