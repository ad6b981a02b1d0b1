/**
 * A RISC-V disassembler for the instructions this hart implements (RV64GC:
 * RV64IMAFDC with Zicsr and Zifencei, and the privileged ones), for the
 * browser's machine view and for tools. Node-free: it is bundled for the
 * browser.
 *
 *   disassemble(0xff010113, 0x80200000n).text     'addi    sp, sp, -16'
 *   disassemble(0x1141, 0x80200000n).text         'addi    sp, sp, -16'   (c.addi: length 2)
 *   disassemble(0xfe050ce3, 0xffffffff8000004cn)   { text: 'beqz    a0, 0xffffffff80000044',
 *                                                    mnemonic: 'beqz', operands: ['a0', '0xffffffff80000044'],
 *                                                    length: 4, illegal: false, target: 0xffffffff80000044n }
 *
 * The text follows GNU objdump's (riscv64-linux-gnu-objdump -d, binutils
 * 2.40), so that the two read alike: ABI register names, the
 * pseudo-instructions objdump prints (nop, li, mv, not, neg, sext.w, seqz,
 * snez, j, jr, ret, beqz, csrr, csrw, rdtime, frcsr, fmv.d, ...), jump and
 * branch targets as absolute addresses, decimal offsets and immediates, lui,
 * auipc and shift amounts in hex, CSRs by name, a rounding mode only when
 * it is not dyn, and a compressed instruction as the instruction it expands
 * to (a `c.` name only for the HINTs objdump shows that way). Differences, on
 * purpose:
 * - Immediate forms keep their names. objdump 2.40 prints addi as
 *   `add sp,sp,-16`, and andi, ori, xori, addiw, the shifts by an immediate
 *   and csrr?i likewise under the register form's name (an alias table
 *   quirk); this prints addi, the spec's name, as LLVM does.
 * - Layout: the mnemonic padded to 8 columns, operands joined by ", ",
 *   addresses as 0x..., ` <symbol>` after a target only with a symbolizer,
 *   and no `# 0x...` comments (objdump follows lui/auipc values from one
 *   instruction to the next; this sees one instruction).
 * - An encoding is shown as this hart executes it. FENCE and FENCE.I with
 *   their reserved fields set are fences (the spec says to ignore those
 *   fields; objdump prints .4byte); fcvt.d.s, fcvt.d.w and fcvt.d.wu, which
 *   are exact, take any rounding mode (objdump only rne); an empty fence set
 *   is `0` (objdump: `unknown`); `fence w,0` is pause (Zihintpause). And
 *   what the hart rejects is illegal even where objdump names it: the
 *   reserved rounding modes 5 and 6, c.addi16sp with a zero immediate, dret,
 *   uret, hret, sfence.vm.
 * - CSR names are those of csr-numbers.ts and the numbered families
 *   (pmpcfgN, pmpaddrN, [m]hpmcounterN, mhpmeventN); any other CSR is shown
 *   by number, where objdump knows every standard name.
 *
 * Illegal encodings come out as objdump prints data, `.2byte 0x...` or
 * `.4byte 0x...`, or as `unimp` for the two encodings meant to be illegal
 * (0x0000, and csrrw zero, cycle, zero), with `illegal` set: exactly the
 * encodings this hart's decoder rejects whatever its state. A CSR that does
 * not exist, or an FP instruction with mstatus.FS off, traps only at run
 * time and is an instruction here. Nothing throws.
 *
 * Compressed instructions are expanded by the hart's own table (rvc.ts), so
 * what is shown is what runs.
 *
 * Sections cited are those of the unprivileged spec 20191213 ("unpriv") and
 * the privileged spec 20211203 ("priv").
 */
import { X_ABI_NAMES } from './abi-names.js';
import { CSR } from './csr-numbers.js';
import { expandCompressed } from './rvc.js';

/** One disassembled instruction. */
export interface Disassembly {
  /** The line: mnemonic, padding to 8 columns, operands joined by ", ". */
  text: string;
  mnemonic: string;
  /** The operands as printed, e.g. ['ra', '8(sp)']. */
  operands: string[];
  /** Bytes the instruction takes: 2 when its low two bits are not 11 (unpriv 1.5). */
  length: 2 | 4;
  /** True when this hart would raise illegal instruction for the encoding, whatever its state. */
  illegal: boolean;
  /** Where a pc-relative jump or branch (jal, c.j, bxx) goes. */
  target?: bigint;
}

export interface DisassembleOptions {
  /** Name for an address (e.g. 'memcpy+0x10'), shown after a jump or branch target as objdump does. */
  symbolize?: (address: bigint) => string | undefined;
}

/** An instruction read from memory: its bytes in hex (as the halfword or word reads), its disassembly. */
export interface ListedInstruction {
  address: bigint;
  hex: string;
  length: 2 | 4;
  asm: string;
}

/**
 * Up to `count` instructions from `address` on, read through `read` (bytes
 * at a virtual address; fewer where memory stops being readable). Stops at
 * the first one that cannot be read whole.
 */
export function listInstructions(
  read: (address: bigint, length: number) => Uint8Array,
  address: bigint,
  count: number,
  options: DisassembleOptions = {},
): ListedInstruction[] {
  const out: ListedInstruction[] = [];
  let at = address;
  for (let n = 0; n < count; n++) {
    let b: Uint8Array;
    try {
      b = read(at, 4);
    } catch {
      break;
    }
    if (b.length < 2) break;
    const length = instructionLength(b[0]);
    if (b.length < length) break;
    let hexBytes = '';
    for (let i = length - 1; i >= 0; i--) hexBytes += b[i].toString(16).padStart(2, '0');
    out.push({
      address: at,
      hex: hexBytes,
      length,
      asm: disassemble(b.subarray(0, length), at, options).text,
    });
    at = (at + BigInt(length)) & 0xffffffffffffffffn;
  }
  return out;
}

/** The length of the instruction whose first halfword is `low` (unpriv 1.5; this hart has none longer than 4). */
export function instructionLength(low: number): 2 | 4 {
  return (low & 3) === 3 ? 4 : 2;
}

/**
 * Disassemble one instruction at address `pc`.
 *
 * `insn` is either the instruction as a number (a 16-bit instruction in the
 * low half when its two low bits are not 11; any bits above it are ignored, so
 * a 32-bit fetch window may be passed) or its bytes, little-endian, from index
 * 0. Bytes too few for the instruction they begin come back as `.byte` data,
 * illegal, with the length the instruction would have.
 *
 * Encodings whose low five bits are 11111 announce 48-bit and longer
 * instructions (unpriv 1.5); this hart has none and traps on them as on
 * an illegal 32-bit instruction, so they are shown as illegal 4-byte words.
 */
export function disassemble(
  insn: number | Uint8Array,
  pc: bigint,
  options: DisassembleOptions = {},
): Disassembly {
  let word: number;
  if (typeof insn === 'number') {
    word = insn >>> 0;
  } else {
    const length = insn.length >= 1 ? instructionLength(insn[0]) : 2;
    if (insn.length < length) {
      const bytes = [...insn].map((b) => hex(b));
      return finish('.byte', bytes, length, true);
    }
    word = insn[0] | (insn[1] << 8) | (length === 4 ? (insn[2] << 16) | (insn[3] << 24) : 0);
    word >>>= 0;
  }
  pc = BigInt.asUintN(64, pc);
  const length = instructionLength(word);
  if (length === 2) word &= 0xffff;
  const d = length === 2 ? compressed(word, pc) : full(word, pc);
  if (d === undefined) {
    // The two encodings meant to be illegal are `unimp`; others are data, as objdump shows them.
    if (word === 0 || word === UNIMP) return finish('unimp', [], length, true);
    return finish(length === 2 ? '.2byte' : '.4byte', [hex(word)], length, true);
  }
  return finish(d.m, withSymbol(d, options), length, false, d.target);
}

/** A decoded instruction before formatting: mnemonic, operands, and the target when there is one. */
interface Insn {
  m: string;
  ops: string[];
  target?: bigint;
}

function finish(
  mnemonic: string,
  operands: string[],
  length: 2 | 4,
  illegal: boolean,
  target?: bigint,
): Disassembly {
  const text = operands.length === 0 ? mnemonic : mnemonic.padEnd(7) + ' ' + operands.join(', ');
  const d: Disassembly = { text, mnemonic, operands, length, illegal };
  if (target !== undefined) d.target = target;
  return d;
}

function withSymbol(d: Insn, options: DisassembleOptions): string[] {
  if (d.target === undefined || options.symbolize === undefined) return d.ops;
  const sym = options.symbolize(d.target);
  if (sym === undefined) return d.ops;
  // The target is always the last operand.
  return [...d.ops.slice(0, -1), `${d.ops[d.ops.length - 1]} <${sym}>`];
}

// ---------------------------------------------------------------------------
// Operands

/** binutils' `unimp`: csrrw zero, cycle, zero, a write to a read-only CSR, which always traps (priv 2.1). */
const UNIMP = 0xc0001073;

const hex = (n: number) => '0x' + (n >>> 0).toString(16);
const addr = (a: bigint) => '0x' + a.toString(16);

/** Integer registers by ABI name (unpriv Table 25.1); x8 is s0, as objdump prints it. */
const x = (r: number) => X_ABI_NAMES[r];

/** FP registers by ABI name (unpriv Table 25.1): ft0-7, fs0-1, fa0-7, fs2-11, ft8-11. */
const F_ABI_NAMES: readonly string[] = Array.from({ length: 32 }, (_, r) =>
  r < 8
    ? `ft${r}`
    : r < 10
      ? `fs${r - 8}`
      : r < 18
        ? `fa${r - 10}`
        : r < 28
          ? `fs${r - 16}`
          : `ft${r - 20}`,
);
const f = (r: number) => F_ABI_NAMES[r];

const mem = (offset: number, base: number) => `${offset}(${x(base)})`;

/** CSR names: the hart's own (csr-numbers.ts), and the numbered families of priv Tables 2.2-2.5. */
const CSR_NAMES = new Map<number, string>(Object.entries(CSR).map(([name, num]) => [num, name]));
for (let n = 0; n < 16; n++) CSR_NAMES.set(0x3a0 + n, `pmpcfg${n}`);
for (let n = 0; n < 64; n++) CSR_NAMES.set(0x3b0 + n, `pmpaddr${n}`);
for (let n = 3; n < 32; n++) {
  CSR_NAMES.set(0xc00 + n, `hpmcounter${n}`);
  CSR_NAMES.set(0xb00 + n, `mhpmcounter${n}`);
  CSR_NAMES.set(0x320 + n, `mhpmevent${n}`);
}
/** A CSR by name, or its number in hex when it has none here. */
export function csrName(num: number): string {
  return CSR_NAMES.get(num) ?? hex(num);
}

/** Rounding modes (unpriv 11.2, Table 11.1); 5 and 6 are reserved, 7 is dynamic. */
const RM_NAMES = ['rne', 'rtz', 'rdn', 'rup', 'rmm', '', '', 'dyn'];

// ---------------------------------------------------------------------------
// Fields and immediates (unpriv 2.3, Figures 2.3 and 2.4)

const rdOf = (i: number) => (i >>> 7) & 31;
const rs1Of = (i: number) => (i >>> 15) & 31;
const rs2Of = (i: number) => (i >>> 20) & 31;
const f3Of = (i: number) => (i >>> 12) & 7;
const immI = (i: number) => i >> 20;
const immS = (i: number) => ((i >> 20) & ~0x1f) | ((i >>> 7) & 0x1f);
const immB = (i: number) =>
  ((i >> 19) & ~0xfff) | ((i << 4) & 0x800) | ((i >>> 20) & 0x7e0) | ((i >>> 7) & 0x1e);
const immJ = (i: number) =>
  ((i >> 11) & ~0xfffff) | (i & 0xff000) | ((i >>> 9) & 0x800) | ((i >>> 20) & 0x7fe);

const relative = (pc: bigint, offset: number) => BigInt.asUintN(64, pc + BigInt(offset));

// ---------------------------------------------------------------------------
// 32-bit instructions, by major opcode (unpriv chapter 24, Tables 24.1 to 24.3)

const LOADS = ['lb', 'lh', 'lw', 'ld', 'lbu', 'lhu', 'lwu', undefined];
const STORES = ['sb', 'sh', 'sw', 'sd'];
/** OP by funct3: funct7 0 (unpriv 2.4.2) and funct7 1, the M extension (chapter 7). */
const OP_NAMES = ['add', 'sll', 'slt', 'sltu', 'xor', 'srl', 'or', 'and'];
const MUL_NAMES = ['mul', 'mulh', 'mulhsu', 'mulhu', 'div', 'divu', 'rem', 'remu'];
const MULW_NAMES = ['mulw', undefined, undefined, undefined, 'divw', 'divuw', 'remw', 'remuw'];
const BRANCHES = ['beq', 'bne', undefined, undefined, 'blt', 'bge', 'bltu', 'bgeu'];
/** AMO by funct5 (unpriv chapter 8, Table 24.2); lr and sc have their own operand forms. */
const AMO_NAMES: Record<number, string> = {
  0x00: 'amoadd',
  0x01: 'amoswap',
  0x02: 'lr',
  0x03: 'sc',
  0x04: 'amoxor',
  0x08: 'amoor',
  0x0c: 'amoand',
  0x10: 'amomin',
  0x14: 'amomax',
  0x18: 'amominu',
  0x1c: 'amomaxu',
};
const FMA_NAMES: Record<number, string> = {
  0x43: 'fmadd',
  0x47: 'fmsub',
  0x4b: 'fnmsub',
  0x4f: 'fnmadd',
};
/** fcvt's integer side by rs2 (unpriv 11.7, 12.5): w, wu, l, lu. */
const INT_TYPES = ['w', 'wu', 'l', 'lu'];

function full(i: number, pc: bigint): Insn | undefined {
  if (i === UNIMP) return undefined;
  const rd = rdOf(i),
    rs1 = rs1Of(i),
    rs2 = rs2Of(i),
    f3 = f3Of(i),
    f7 = i >>> 25;
  switch (i & 0x7f) {
    case 0x37:
      return { m: 'lui', ops: [x(rd), hex(i >>> 12)] };
    case 0x17:
      return { m: 'auipc', ops: [x(rd), hex(i >>> 12)] };
    case 0x6f: {
      // JAL (unpriv 2.5), as j (rd = zero) and jal (rd = ra) when it can (Table 25.2).
      const target = relative(pc, immJ(i));
      const t = addr(target);
      if (rd === 0) return { m: 'j', ops: [t], target };
      if (rd === 1) return { m: 'jal', ops: [t], target };
      return { m: 'jal', ops: [x(rd), t], target };
    }
    case 0x67: {
      if (f3 !== 0) return undefined;
      const imm = immI(i);
      const base = imm === 0 ? x(rs1) : mem(imm, rs1);
      if (rd === 0)
        return rs1 === 1 && imm === 0 ? { m: 'ret', ops: [] } : { m: 'jr', ops: [base] };
      if (rd === 1) return { m: 'jalr', ops: [base] };
      return { m: 'jalr', ops: [x(rd), base] };
    }
    case 0x63:
      return branch(i, f3, rs1, rs2, pc);
    case 0x03: {
      const m = LOADS[f3];
      return m === undefined ? undefined : { m, ops: [x(rd), mem(immI(i), rs1)] };
    }
    case 0x23:
      return f3 > 3 ? undefined : { m: STORES[f3], ops: [x(rs2), mem(immS(i), rs1)] };
    case 0x07:
      // FLW, FLD (unpriv 11.5, 12.3)
      if (f3 !== 2 && f3 !== 3) return undefined;
      return { m: f3 === 2 ? 'flw' : 'fld', ops: [f(rd), mem(immI(i), rs1)] };
    case 0x27:
      if (f3 !== 2 && f3 !== 3) return undefined;
      return { m: f3 === 2 ? 'fsw' : 'fsd', ops: [f(rs2), mem(immS(i), rs1)] };
    case 0x13:
      return opImm(i, f3, rd, rs1);
    case 0x1b: {
      // OP-IMM-32 (unpriv 5.2), sext.w for addiw 0 (Table 25.2)
      if (f3 === 0) {
        const imm = immI(i);
        if (imm === 0) return { m: 'sext.w', ops: [x(rd), x(rs1)] };
        return { m: 'addiw', ops: [x(rd), x(rs1), String(imm)] };
      }
      const sh = hex(rs2);
      if (f3 === 1 && f7 === 0) return { m: 'slliw', ops: [x(rd), x(rs1), sh] };
      if (f3 === 5 && f7 === 0) return { m: 'srliw', ops: [x(rd), x(rs1), sh] };
      if (f3 === 5 && f7 === 0x20) return { m: 'sraiw', ops: [x(rd), x(rs1), sh] };
      return undefined;
    }
    case 0x33:
      return op(f3, f7, rd, rs1, rs2);
    case 0x3b: {
      // OP-32 (unpriv 5.2) and the M extension's word forms (7.1, 7.2)
      let m: string | undefined;
      if (f7 === 0) m = f3 === 0 ? 'addw' : f3 === 1 ? 'sllw' : f3 === 5 ? 'srlw' : undefined;
      else if (f7 === 0x20) m = f3 === 0 ? 'subw' : f3 === 5 ? 'sraw' : undefined;
      else if (f7 === 1) m = MULW_NAMES[f3];
      if (m === undefined) return undefined;
      if (m === 'subw' && rs1 === 0) return { m: 'negw', ops: [x(rd), x(rs2)] };
      return { m, ops: [x(rd), x(rs1), x(rs2)] };
    }
    case 0x0f:
      return miscMem(i, f3);
    case 0x73:
      return system(i, f3, rd, rs1, rs2);
    case 0x2f:
      return amo(i, f3, rd, rs1, rs2);
    case 0x53:
      return opFp(i, f3, rd, rs1, rs2);
    case 0x43:
    case 0x47:
    case 0x4b:
    case 0x4f: {
      // Fused multiply-add, R4 type (unpriv 11.6): rs3 in bits 31:27, fmt in 26:25.
      const fmt = fmtSuffix(i);
      const rm = rmOperand(f3);
      if (fmt === undefined || rm === undefined) return undefined;
      return {
        m: FMA_NAMES[i & 0x7f] + fmt,
        ops: [f(rd), f(rs1), f(rs2), f(i >>> 27), ...rm],
      };
    }
  }
  return undefined;
}

/** BRANCH (unpriv 2.5), with the compare-with-zero pseudo-instructions of Table 25.2. */
function branch(i: number, f3: number, rs1: number, rs2: number, pc: bigint): Insn | undefined {
  const m = BRANCHES[f3];
  if (m === undefined) return undefined;
  const target = relative(pc, immB(i));
  const t = addr(target);
  // Which alias wins when both registers are zero follows objdump's table order.
  if (m === 'beq' && rs2 === 0) return { m: 'beqz', ops: [x(rs1), t], target };
  if (m === 'bne' && rs2 === 0) return { m: 'bnez', ops: [x(rs1), t], target };
  if (m === 'bge' && rs1 === 0) return { m: 'blez', ops: [x(rs2), t], target };
  if (m === 'bge' && rs2 === 0) return { m: 'bgez', ops: [x(rs1), t], target };
  if (m === 'blt' && rs2 === 0) return { m: 'bltz', ops: [x(rs1), t], target };
  if (m === 'blt' && rs1 === 0) return { m: 'bgtz', ops: [x(rs2), t], target };
  return { m, ops: [x(rs1), x(rs2), t], target };
}

/**
 * OP-IMM (unpriv 2.4.1; RV64's 6-bit shift amounts, 5.2), with nop, li, mv,
 * seqz and not (Table 25.2), and zext.b for andi 255 as objdump prints it.
 */
function opImm(i: number, f3: number, rd: number, rs1: number): Insn | undefined {
  const imm = immI(i);
  const ri = (m: string) => ({ m, ops: [x(rd), x(rs1), String(imm)] });
  switch (f3) {
    case 0:
      if (rd === 0 && rs1 === 0 && imm === 0) return { m: 'nop', ops: [] };
      if (rs1 === 0) return { m: 'li', ops: [x(rd), String(imm)] };
      if (imm === 0) return { m: 'mv', ops: [x(rd), x(rs1)] };
      return ri('addi');
    case 2:
      return ri('slti');
    case 3:
      return imm === 1 ? { m: 'seqz', ops: [x(rd), x(rs1)] } : ri('sltiu');
    case 4:
      return imm === -1 ? { m: 'not', ops: [x(rd), x(rs1)] } : ri('xori');
    case 6:
      return ri('ori');
    case 7:
      return imm === 255 ? { m: 'zext.b', ops: [x(rd), x(rs1)] } : ri('andi');
  }
  // Shifts: imm[11:6] is 0 (slli, srli) or 0x10 (srai).
  const sh = hex(imm & 63);
  const top = i >>> 26;
  if (f3 === 1 && top === 0) return { m: 'slli', ops: [x(rd), x(rs1), sh] };
  if (f3 === 5 && top === 0) return { m: 'srli', ops: [x(rd), x(rs1), sh] };
  if (f3 === 5 && top === 0x10) return { m: 'srai', ops: [x(rd), x(rs1), sh] };
  return undefined;
}

/** OP (unpriv 2.4.2) and the M extension (7.1, 7.2), with neg, sltz, sgtz and snez (Table 25.2). */
function op(f3: number, f7: number, rd: number, rs1: number, rs2: number): Insn | undefined {
  let m: string | undefined;
  if (f7 === 0) m = OP_NAMES[f3];
  else if (f7 === 0x20) m = f3 === 0 ? 'sub' : f3 === 5 ? 'sra' : undefined;
  else if (f7 === 1) m = MUL_NAMES[f3];
  if (m === undefined) return undefined;
  if (m === 'sub' && rs1 === 0) return { m: 'neg', ops: [x(rd), x(rs2)] };
  if (m === 'slt' && rs2 === 0) return { m: 'sltz', ops: [x(rd), x(rs1)] };
  if (m === 'slt' && rs1 === 0) return { m: 'sgtz', ops: [x(rd), x(rs2)] };
  if (m === 'sltu' && rs1 === 0) return { m: 'snez', ops: [x(rd), x(rs2)] };
  return { m, ops: [x(rd), x(rs1), x(rs2)] };
}

/**
 * MISC-MEM: FENCE (unpriv 2.7) and FENCE.I (chapter 3). Their unused fields
 * (fm, rs1, rd; imm for FENCE.I) are reserved, and implementations "shall
 * ignore" them, a reserved fm meaning a plain fence, as this hart does: such
 * an encoding is shown as the fence it is executed as.
 */
function miscMem(i: number, f3: number): Insn | undefined {
  if (f3 === 1) return { m: 'fence.i', ops: [] };
  if (f3 !== 0) return undefined;
  const fm = i >>> 28,
    pred = (i >>> 24) & 15,
    succ = (i >>> 20) & 15;
  if (i === 0x0100000f) return { m: 'pause', ops: [] }; // Zihintpause: FENCE w,0
  if (fm === 8 && pred === 3 && succ === 3) return { m: 'fence.tso', ops: [] };
  if (pred === 15 && succ === 15) return { m: 'fence', ops: [] };
  return { m: 'fence', ops: [fenceSet(pred), fenceSet(succ)] };
}

/** A fence's predecessor or successor set: i, o, r, w from bit 3 down; an empty set is 0. */
function fenceSet(s: number): string {
  const t = ['i', 'o', 'r', 'w'].filter((_, k) => (s & (8 >> k)) !== 0).join('');
  return t === '' ? '0' : t;
}

/**
 * SYSTEM: ECALL and EBREAK (unpriv 2.8), MRET, SRET, WFI (priv 3.3.2,
 * 3.3.3), SFENCE.VMA (priv 4.2.1), and Zicsr (unpriv chapter 9) with the
 * pseudo-instructions objdump prints (Tables 25.2 and 25.3: rdcycle, rdtime,
 * rdinstret, csrr, csrw, csrs, csrc and their i forms, and the FP CSR ones;
 * objdump names fsrmi/fsflagsi whatever rd is).
 */
function system(i: number, f3: number, rd: number, rs1: number, rs2: number): Insn | undefined {
  if (f3 === 0) {
    switch (i) {
      case 0x00000073:
        return { m: 'ecall', ops: [] };
      case 0x00100073:
        return { m: 'ebreak', ops: [] };
      case 0x10200073:
        return { m: 'sret', ops: [] };
      case 0x30200073:
        return { m: 'mret', ops: [] };
      case 0x10500073:
        return { m: 'wfi', ops: [] };
    }
    if (i >>> 25 === 0x09 && rd === 0) {
      const ops = rs2 !== 0 ? [x(rs1), x(rs2)] : rs1 !== 0 ? [x(rs1)] : [];
      return { m: 'sfence.vma', ops };
    }
    return undefined;
  }
  if (f3 === 4) return undefined;
  const num = i >>> 20;
  const csr = csrName(num);
  switch (f3) {
    case 1: // csrrw
      if (num === 3 || num === 2 || num === 1) {
        const m = num === 3 ? 'fscsr' : num === 2 ? 'fsrm' : 'fsflags';
        return { m, ops: rd === 0 ? [x(rs1)] : [x(rd), x(rs1)] };
      }
      if (rd === 0) return { m: 'csrw', ops: [csr, x(rs1)] };
      return { m: 'csrrw', ops: [x(rd), csr, x(rs1)] };
    case 2: // csrrs
      if (rs1 === 0) {
        const m = READERS[num];
        if (m !== undefined) return { m, ops: [x(rd)] };
        return { m: 'csrr', ops: [x(rd), csr] };
      }
      if (rd === 0) return { m: 'csrs', ops: [csr, x(rs1)] };
      return { m: 'csrrs', ops: [x(rd), csr, x(rs1)] };
    case 3: // csrrc
      if (rd === 0) return { m: 'csrc', ops: [csr, x(rs1)] };
      return { m: 'csrrc', ops: [x(rd), csr, x(rs1)] };
  }
  // csrrwi, csrrsi, csrrci: rs1 is a 5-bit unsigned immediate.
  const uimm = String(rs1);
  if (f3 === 5 && (num === 2 || num === 1))
    return { m: num === 2 ? 'fsrmi' : 'fsflagsi', ops: [x(rd), uimm] };
  const m = f3 === 5 ? 'csrrwi' : f3 === 6 ? 'csrrsi' : 'csrrci';
  if (rd === 0) return { m: 'csr' + m.slice(4), ops: [csr, uimm] }; // csrwi, csrsi, csrci
  return { m, ops: [x(rd), csr, uimm] };
}

/** csrrs rd, csr, zero with its own pseudo-instruction. */
const READERS: Record<number, string> = {
  0xc00: 'rdcycle',
  0xc01: 'rdtime',
  0xc02: 'rdinstret',
  0x003: 'frcsr',
  0x002: 'frrm',
  0x001: 'frflags',
};

/** The A extension (unpriv chapter 8): lr, sc and the AMOs, .w or .d, with .aq/.rl/.aqrl (bits 26, 25). */
function amo(i: number, f3: number, rd: number, rs1: number, rs2: number): Insn | undefined {
  if (f3 !== 2 && f3 !== 3) return undefined;
  const name = AMO_NAMES[i >>> 27];
  if (name === undefined) return undefined;
  const order = ['', '.rl', '.aq', '.aqrl'][(i >>> 25) & 3];
  const m = `${name}.${f3 === 2 ? 'w' : 'd'}${order}`;
  const at = `(${x(rs1)})`;
  if (name === 'lr') return rs2 === 0 ? { m, ops: [x(rd), at] } : undefined;
  return { m, ops: [x(rd), x(rs2), at] };
}

/** .s or .d from the fmt field, bits 26:25 (unpriv 11.6, 12.2); h and q are not implemented. */
function fmtSuffix(i: number): string | undefined {
  const fmt = (i >>> 25) & 3;
  return fmt === 0 ? '.s' : fmt === 1 ? '.d' : undefined;
}

/** The rounding-mode operand: none for dyn (what the assembler assumes), undefined when reserved. */
function rmOperand(rm: number): string[] | undefined {
  if (rm === 5 || rm === 6) return undefined;
  return rm === 7 ? [] : [RM_NAMES[rm]];
}

/**
 * The rounding mode of a conversion that is always exact (fcvt.d.s, fcvt.d.w,
 * fcvt.d.wu): the assembler writes rne there, so only another one is shown.
 */
function exactRmOperand(rm: number): string[] | undefined {
  if (rm === 5 || rm === 6) return undefined;
  return rm === 0 ? [] : [RM_NAMES[rm]];
}

/** OP-FP (unpriv chapters 11 and 12, Table 24.3), with fmv, fneg and fabs (Table 25.2). */
function opFp(i: number, f3: number, rd: number, rs1: number, rs2: number): Insn | undefined {
  const fmt = fmtSuffix(i);
  if (fmt === undefined) return undefined;
  const dbl = fmt === '.d';
  const rm = rmOperand(f3);
  switch (i >>> 27) {
    case 0:
    case 1:
    case 2:
    case 3: {
      if (rm === undefined) return undefined;
      const m = ['fadd', 'fsub', 'fmul', 'fdiv'][i >>> 27] + fmt;
      return { m, ops: [f(rd), f(rs1), f(rs2), ...rm] };
    }
    case 11:
      if (rs2 !== 0 || rm === undefined) return undefined;
      return { m: 'fsqrt' + fmt, ops: [f(rd), f(rs1), ...rm] };
    case 4: {
      if (f3 > 2) return undefined;
      if (rs1 === rs2) return { m: ['fmv', 'fneg', 'fabs'][f3] + fmt, ops: [f(rd), f(rs1)] };
      return { m: ['fsgnj', 'fsgnjn', 'fsgnjx'][f3] + fmt, ops: [f(rd), f(rs1), f(rs2)] };
    }
    case 5:
      if (f3 > 1) return undefined;
      return { m: (f3 === 0 ? 'fmin' : 'fmax') + fmt, ops: [f(rd), f(rs1), f(rs2)] };
    case 8: {
      // fcvt.s.d (fmt s, rs2 = 1: from double) and fcvt.d.s (fmt d, rs2 = 0), unpriv 12.5
      if (!dbl && rs2 === 1 && rm !== undefined)
        return { m: 'fcvt.s.d', ops: [f(rd), f(rs1), ...rm] };
      const exact = exactRmOperand(f3);
      if (dbl && rs2 === 0 && exact !== undefined)
        return { m: 'fcvt.d.s', ops: [f(rd), f(rs1), ...exact] };
      return undefined;
    }
    case 20: {
      if (f3 > 2) return undefined;
      return { m: ['fle', 'flt', 'feq'][f3] + fmt, ops: [x(rd), f(rs1), f(rs2)] };
    }
    case 24:
      // fcvt.{w,wu,l,lu}.{s,d}: float to integer
      if (rs2 > 3 || rm === undefined) return undefined;
      return { m: `fcvt.${INT_TYPES[rs2]}${fmt}`, ops: [x(rd), f(rs1), ...rm] };
    case 26: {
      // fcvt.{s,d}.{w,wu,l,lu}: integer to float; int32 to double is exact
      const r = dbl && rs2 < 2 ? exactRmOperand(f3) : rm;
      if (rs2 > 3 || r === undefined) return undefined;
      return { m: `fcvt${fmt}.${INT_TYPES[rs2]}`, ops: [f(rd), x(rs1), ...r] };
    }
    case 28:
      if (rs2 !== 0) return undefined;
      if (f3 === 0) return { m: dbl ? 'fmv.x.d' : 'fmv.x.w', ops: [x(rd), f(rs1)] };
      if (f3 === 1) return { m: 'fclass' + fmt, ops: [x(rd), f(rs1)] };
      return undefined;
    case 30:
      if (rs2 !== 0 || f3 !== 0) return undefined;
      return { m: dbl ? 'fmv.d.x' : 'fmv.w.x', ops: [f(rd), x(rs1)] };
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// 16-bit instructions (unpriv chapter 16, RV64 column of Tables 16.5 to 16.7)

/**
 * A compressed instruction, shown as its 32-bit expansion (rvc.ts, the table
 * the hart executes) except for the forms objdump prints otherwise: c.mv as
 * mv (its expansion is add rd, zero, rs2), c.addi with a zero immediate, and
 * the HINTs (unpriv 16.7, Table 16.3) under their `c.` names.
 */
function compressed(c: number, pc: bigint): Insn | undefined {
  const e = expandCompressed(c);
  if (e === 0) return undefined;
  const quadrant = c & 3,
    f3 = c >>> 13;
  const rd = (c >>> 7) & 31,
    rs2 = (c >>> 2) & 31;
  const rdp = x(((c >>> 7) & 7) + 8);
  const imm6 = ((((c >>> 12) & 1) << 31) >> 26) | ((c >>> 2) & 31); // sign-extended imm[5:0]
  const shamt = (((c >>> 12) & 1) << 5) | rs2;
  if (quadrant === 1) {
    // c.addi: with rd zero a HINT (c.nop with an immediate); with a zero immediate a HINT too
    if (f3 === 0 && rd === 0 && imm6 !== 0) return { m: 'c.nop', ops: [String(imm6)] };
    if (f3 === 0 && rd !== 0 && imm6 === 0) return { m: 'addi', ops: [x(rd), x(rd), '0'] };
    // c.li and c.lui to zero: HINTs
    if (f3 === 2 && rd === 0) return { m: 'c.li', ops: ['zero', String(imm6)] };
    if (f3 === 3 && rd === 0) return { m: 'c.lui', ops: ['zero', hex((imm6 & 0xfffff) >>> 0)] };
    // c.srli, c.srai by 0: HINTs on RV64 (a shift by 64 on RV128)
    if (f3 === 4 && (c & 0x0800) === 0 && shamt === 0)
      return { m: (c & 0x0400) === 0 ? 'c.srli64' : 'c.srai64', ops: [rdp] };
  } else if (quadrant === 2) {
    // c.slli by 0 or to zero: HINTs
    if (f3 === 0 && shamt === 0) return { m: 'c.slli64', ops: [x(rd)] };
    if (f3 === 0 && rd === 0) return { m: 'c.slli', ops: ['zero', hex(shamt)] };
    // c.mv (bit 12 clear) and c.add (set): to zero HINTs; c.mv is mv rd, rs2
    if (f3 === 4 && rs2 !== 0) {
      const add = (c & 0x1000) !== 0;
      if (rd === 0) return { m: add ? 'c.add' : 'c.mv', ops: ['zero', x(rs2)] };
      if (!add) return { m: 'mv', ops: [x(rd), x(rs2)] };
    }
  }
  return full(e >>> 0, pc);
}
