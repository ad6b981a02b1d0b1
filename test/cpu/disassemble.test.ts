/**
 * The disassembler (src/cpu/disassemble.ts): fixed cases per instruction
 * class, a differential test against GNU objdump (every 16-bit encoding and
 * a seeded random set of 32-bit ones, plus a slice of the default guest's
 * kernel when it is cached), and agreement with the hart's decoder on which
 * encodings are illegal.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { disassemble, instructionLength, type Disassembly } from '../../src/cpu/disassemble.js';
import { decode, Op } from '../../src/cpu/decode.js';
import { FpUnit } from '../../src/cpu/fpu.js';
import { withSeed, type Prng } from '../helpers/seed.js';
import { needTools } from '../helpers/tools.js';

const KERNEL = 0xffffffff80200000n;

/** [instruction, pc, expected text] */
const CASES: [number, bigint, string][] = [
  // RV64I: arithmetic and its pseudo-instructions
  [0xff010113, 0n, 'addi    sp, sp, -16'],
  [0x00000013, 0n, 'nop'],
  [0x00500513, 0n, 'li      a0, 5'],
  [0x80000513, 0n, 'li      a0, -2048'],
  [0x00058513, 0n, 'mv      a0, a1'],
  [0x0015b513, 0n, 'seqz    a0, a1'],
  [0xfff5c513, 0n, 'not     a0, a1'],
  [0x40b00533, 0n, 'neg     a0, a1'],
  [0x00b03533, 0n, 'snez    a0, a1'],
  [0x0005a533, 0n, 'sltz    a0, a1'],
  [0x00b02533, 0n, 'sgtz    a0, a1'],
  [0x0005851b, 0n, 'sext.w  a0, a1'],
  [0x40b0053b, 0n, 'negw    a0, a1'],
  [0x0055f513, 0n, 'andi    a0, a1, 5'],
  [0x0ff57513, 0n, 'zext.b  a0, a0'],
  [0x7ff5e513, 0n, 'ori     a0, a1, 2047'],
  [0xfff5a513, 0n, 'slti    a0, a1, -1'],
  [0xffb5851b, 0n, 'addiw   a0, a1, -5'],
  [0x00c5d533, 0n, 'srl     a0, a1, a2'],
  [0x40c5d53b, 0n, 'sraw    a0, a1, a2'],
  // Shifts by 32..63 (RV64: a 6-bit shamt, unpriv spec 4.2.1) and the word shifts' 5-bit one
  [0x03f51513, 0n, 'slli    a0, a0, 0x3f'],
  [0x0205d513, 0n, 'srli    a0, a1, 0x20'],
  [0x4205d513, 0n, 'srai    a0, a1, 0x20'],
  [0x41f5d51b, 0n, 'sraiw   a0, a1, 0x1f'],
  [0x01f5951b, 0n, 'slliw   a0, a1, 0x1f'],
  [0x0205951b, 0n, '.4byte  0x205951b'], // slliw with shamt[5] set is reserved
  // lui/auipc: the 20-bit field in hex, whatever its top bit
  [0xfffff537, 0n, 'lui     a0, 0xfffff'],
  [0x80000537, 0n, 'lui     a0, 0x80000'],
  [0x002c3697, 0n, 'auipc   a3, 0x2c3'],
  // Loads and stores
  [0x2087b583, 0n, 'ld      a1, 520(a5)'],
  [0x8005c503, 0n, 'lbu     a0, -2048(a1)'],
  [0x0005e503, 0n, 'lwu     a0, 0(a1)'],
  [0xfea58fa3, 0n, 'sb      a0, -1(a1)'],
  [0x00113423, 0n, 'sd      ra, 8(sp)'],
  // Jumps and branches: targets absolute, negative offsets and wrap-around
  [0x100000ef, 0x80000050n, 'jal     0x80000150'],
  [0x008002ef, 0x80000000n, 'jal     t0, 0x80000008'],
  [0xffdff06f, 0x80000054n, 'j       0x80000050'],
  [0xfe050ce3, 0xffffffff8000004cn, 'beqz    a0, 0xffffffff80000044'],
  [0xfe050ce3, 0n, 'beqz    a0, 0xfffffffffffffff8'],
  [0x80000063, 0x1000n, 'beqz    zero, 0x0'],
  [0x00b55463, 0n, 'bge     a0, a1, 0x8'],
  [0x00b05463, 0n, 'blez    a1, 0x8'],
  [0x00b04463, 0n, 'bgtz    a1, 0x8'],
  [0x0005c463, 0n, 'bltz    a1, 0x8'],
  [0x00b56463, 0n, 'bltu    a0, a1, 0x8'],
  [0x00008067, 0n, 'ret'],
  [0x00050067, 0n, 'jr      a0'],
  [0x00850067, 0n, 'jr      8(a0)'],
  [0x000500e7, 0n, 'jalr    a0'],
  [0x086080e7, 0n, 'jalr    134(ra)'],
  [0x000502e7, 0n, 'jalr    t0, a0'],
  [0xff8502e7, 0n, 'jalr    t0, -8(a0)'],
  // M
  [0x02c5a533, 0n, 'mulhsu  a0, a1, a2'],
  [0x02c5f53b, 0n, 'remuw   a0, a1, a2'],
  // A: lr/sc/amo with the ordering bits
  [0x1005b52f, 0n, 'lr.d    a0, (a1)'],
  [0x1405a52f, 0n, 'lr.w.aq a0, (a1)'],
  [0x1ab6352f, 0n, 'sc.d.rl a0, a1, (a2)'],
  [0x06b6352f, 0n, 'amoadd.d.aqrl a0, a1, (a2)'],
  [0xe2b6352f, 0n, 'amomaxu.d.rl a0, a1, (a2)'],
  [0x1015b52f, 0n, '.4byte  0x1015b52f'], // lr with rs2 != 0
  // F and D: rounding modes only when not dyn, fmv/fneg/fabs, conversions
  [0x02c5f553, 0n, 'fadd.d  fa0, fa1, fa2'],
  [0x02c59553, 0n, 'fadd.d  fa0, fa1, fa2, rtz'],
  [0x02c5d553, 0n, '.4byte  0x2c5d553'], // rounding mode 5 is reserved
  [0x6ac5b543, 0n, 'fmadd.d fa0, fa1, fa2, fa3, rup'],
  [0x5a058553, 0n, 'fsqrt.d fa0, fa1, rne'],
  [0x22b58553, 0n, 'fmv.d   fa0, fa1'],
  [0x22b59553, 0n, 'fneg.d  fa0, fa1'],
  [0x20b5a553, 0n, 'fabs.s  fa0, fa1'],
  [0x22c5a553, 0n, 'fsgnjx.d fa0, fa1, fa2'],
  [0xa2b52553, 0n, 'feq.d   a0, fa0, fa1'],
  [0xc2250553, 0n, 'fcvt.l.d a0, fa0, rne'],
  [0xc2057553, 0n, 'fcvt.w.d a0, fa0'],
  [0xd2050553, 0n, 'fcvt.d.w fa0, a0'],
  [0xd2057553, 0n, 'fcvt.d.w fa0, a0, dyn'], // exact: the assembler's default is rne
  [0x42058553, 0n, 'fcvt.d.s fa0, fa1'],
  [0x40158553, 0n, 'fcvt.s.d fa0, fa1, rne'],
  [0xe2050553, 0n, 'fmv.x.d a0, fa0'],
  [0xf0058553, 0n, 'fmv.w.x fa0, a1'],
  [0xe2051553, 0n, 'fclass.d a0, fa0'],
  [0xff813407, 0n, 'fld     fs0, -8(sp)'],
  [0x7e813c27, 0n, 'fsd     fs0, 2040(sp)'],
  [0x06c5f553, 0n, '.4byte  0x6c5f553'], // fadd.q: no Q extension
  // Zicsr and its pseudo-instructions
  [0x30002573, 0n, 'csrr    a0, mstatus'],
  [0x30059073, 0n, 'csrw    mstatus, a1'],
  [0x3005a073, 0n, 'csrs    mstatus, a1'],
  [0x3005b073, 0n, 'csrc    mstatus, a1'],
  [0x300595f3, 0n, 'csrrw   a1, mstatus, a1'],
  [0x3002d573, 0n, 'csrrwi  a0, mstatus, 5'],
  [0x7c01d073, 0n, 'csrwi   0x7c0, 3'],
  [0x1402e073, 0n, 'csrsi   sscratch, 5'],
  [0x1002f073, 0n, 'csrci   sstatus, 5'],
  [0x3b102573, 0n, 'csrr    a0, pmpaddr1'],
  [0xc0002573, 0n, 'rdcycle a0'],
  [0xc0102573, 0n, 'rdtime  a0'],
  [0x00302573, 0n, 'frcsr   a0'],
  [0x00359573, 0n, 'fscsr   a0, a1'],
  [0x00251073, 0n, 'fsrm    a0'],
  [0x0021d573, 0n, 'fsrmi   a0, 3'],
  [0xc0001073, 0n, 'unimp'],
  [0x00004073, 0n, '.4byte  0x4073'], // SYSTEM funct3 4
  // Zifencei and fences
  [0x0ff0000f, 0n, 'fence'],
  [0x0330000f, 0n, 'fence   rw, rw'],
  [0x8330000f, 0n, 'fence.tso'],
  [0x0100000f, 0n, 'pause'],
  [0x0010000f, 0n, 'fence   0, w'],
  [0x0000100f, 0n, 'fence.i'],
  [0x0000200f, 0n, '.4byte  0x200f'],
  // Privileged
  [0x00000073, 0n, 'ecall'],
  [0x00100073, 0n, 'ebreak'],
  [0x30200073, 0n, 'mret'],
  [0x10200073, 0n, 'sret'],
  [0x10500073, 0n, 'wfi'],
  [0x12000073, 0n, 'sfence.vma'],
  [0x12050073, 0n, 'sfence.vma a0'],
  [0x12b50073, 0n, 'sfence.vma a0, a1'],
  [0x7b200073, 0n, '.4byte  0x7b200073'], // dret: no debug mode
  // C: shown as what they expand to
  [0x1141, 0n, 'addi    sp, sp, -16'], // c.addi
  [0x7139, 0n, 'addi    sp, sp, -64'], // c.addi16sp
  [0x6105, 0n, 'addi    sp, sp, 32'], // c.addi16sp
  [0x0808, 0n, 'addi    a0, sp, 16'], // c.addi4spn
  [0x1ff8, 0n, 'addi    a4, sp, 1020'], // c.addi4spn, the largest
  [0x6505, 0n, 'lui     a0, 0x1'], // c.lui
  [0x757d, 0n, 'lui     a0, 0xfffff'], // c.lui, negative
  [0x7501, 0n, 'lui     a0, 0xfffe0'], // c.lui, the most negative
  [0x4501, 0n, 'li      a0, 0'], // c.li
  [0x557d, 0n, 'li      a0, -1'],
  [0x0001, 0n, 'nop'], // c.nop
  [0x850a, 0n, 'mv      a0, sp'], // c.mv
  [0x952e, 0n, 'add     a0, a0, a1'], // c.add
  [0x8d1d, 0n, 'sub     a0, a0, a5'], // c.sub
  [0x9d3d, 0n, 'addw    a0, a0, a5'], // c.addw
  [0x2785, 0n, 'addiw   a5, a5, 1'], // c.addiw
  [0x2501, 0n, 'sext.w  a0, a0'], // c.addiw 0
  [0x1842, 0n, 'slli    a6, a6, 0x30'], // c.slli by 48
  [0x9001, 0n, 'srli    s0, s0, 0x20'], // c.srli by 32
  [0x8785, 0n, 'srai    a5, a5, 0x1'], // c.srai
  [0x9a7d, 0n, 'andi    a2, a2, -1'], // c.andi
  [0x60a2, 0n, 'ld      ra, 8(sp)'], // c.ldsp
  [0xe406, 0n, 'sd      ra, 8(sp)'], // c.sdsp
  [0x630c, 0n, 'ld      a1, 0(a4)'], // c.ld
  [0xe310, 0n, 'sd      a2, 0(a4)'], // c.sd
  [0x4398, 0n, 'lw      a4, 0(a5)'], // c.lw
  [0x2000, 0n, 'fld     fs0, 0(s0)'], // c.fld
  [0xa406, 0n, 'fsd     ft1, 8(sp)'], // c.fsdsp
  [0x2522, 0n, 'fld     fa0, 8(sp)'], // c.fldsp
  [0xcb8d, 0x1000n, 'beqz    a5, 0x1032'], // c.beqz
  [0xfef9, 0x1000n, 'bnez    a3, 0xfde'], // c.bnez, backwards
  [0xb7c1, 0x1000n, 'j       0xfc0'], // c.j
  [0x8082, 0n, 'ret'], // c.jr ra
  [0x8782, 0n, 'jr      a5'], // c.jr
  [0x9782, 0n, 'jalr    a5'], // c.jalr
  [0x9002, 0n, 'ebreak'], // c.ebreak
  // C HINTs (unpriv spec 16.7), under objdump's names
  [0x0009, 0n, 'c.nop   2'],
  [0x0081, 0n, 'addi    ra, ra, 0'],
  [0x4065, 0n, 'c.li    zero, 25'],
  [0x8006, 0n, 'c.mv    zero, ra'],
  [0x0082, 0n, 'c.slli64 ra'],
  [0x8001, 0n, 'c.srli64 s0'],
  // C: reserved and illegal
  [0x0000, 0n, 'unimp'],
  [0x0004, 0n, '.2byte  0x4'], // c.addi4spn with a zero immediate
  [0x6101, 0n, '.2byte  0x6101'], // c.addi16sp with a zero immediate
  [0x6001, 0n, '.2byte  0x6001'], // c.lui with a zero immediate
  [0x8002, 0n, '.2byte  0x8002'], // c.jr zero
  [0x4002, 0n, '.2byte  0x4002'], // c.lwsp zero
  [0x9c41, 0n, '.2byte  0x9c41'], // reserved in the c.subw group
  [0x8000, 0n, '.2byte  0x8000'], // quadrant 0, funct3 4
  // Encodings of 48 bits and longer do not exist here: illegal 32-bit words, as the hart traps
  [0x0000001f, 0n, '.4byte  0x1f'],
  [0xffffffff, 0n, '.4byte  0xffffffff'],
];

test('fixed cases, one or more per instruction class', () => {
  for (const [insn, pc, want] of CASES) {
    const d = disassemble(insn, pc);
    assert.equal(d.text, want, `0x${insn.toString(16)} at 0x${pc.toString(16)}`);
    assert.equal(d.length, (insn & 3) === 3 ? 4 : 2);
    assert.equal(d.illegal, /^(\.2byte|\.4byte|unimp)/.test(want), want);
  }
});

test('the API: bytes, length, target, symbols, never throwing', () => {
  // Bytes, little-endian; a 16-bit instruction needs only two of them.
  assert.equal(disassemble(Uint8Array.of(0x13, 0x01, 0x01, 0xff), 0n).text, 'addi    sp, sp, -16');
  assert.equal(disassemble(Uint8Array.of(0x41, 0x11), 0n).text, 'addi    sp, sp, -16');
  assert.equal(disassemble(Uint8Array.of(0x41, 0x11, 0xff, 0xff), 0n).length, 2);
  // Too few bytes: data, with the length the instruction would need.
  const short = disassemble(Uint8Array.of(0x13, 0x01), 0n);
  assert.deepEqual([short.text, short.length, short.illegal], ['.byte   0x13, 0x1', 4, true]);
  assert.equal(disassemble(new Uint8Array(0), 0n).illegal, true);
  // A number: bits above a 16-bit instruction are ignored (a 32-bit fetch window).
  assert.equal(disassemble(0xdead1141, 0n).text, 'addi    sp, sp, -16');
  assert.equal(instructionLength(0x1141), 2);
  assert.equal(instructionLength(0x0113), 4);
  // The parts and the target.
  const j = disassemble(0x0e0000ef, KERNEL);
  assert.deepEqual(
    { m: j.mnemonic, ops: j.operands, target: j.target },
    { m: 'jal', ops: ['0xffffffff802000e0'], target: 0xffffffff802000e0n },
  );
  assert.equal(disassemble(0x00000013, KERNEL).target, undefined);
  // A pc given as a negative number is the same 64-bit address.
  assert.equal(disassemble(0x0e0000ef, KERNEL - (1n << 64n)).text, 'jal     0xffffffff802000e0');
  // Symbols, as objdump shows them.
  const symbolize = (a: bigint) => (a === 0xffffffff802000e0n ? 'start_kernel+0x10' : undefined);
  assert.equal(
    disassemble(0x0e0000ef, KERNEL, { symbolize }).text,
    'jal     0xffffffff802000e0 <start_kernel+0x10>',
  );
  assert.equal(disassemble(0x0e0000ef, 0n, { symbolize }).text, 'jal     0xe0');
  // Every 16-bit value, and a sweep of 32-bit ones, without throwing.
  for (let c = 0; c < 0x10000; c++) disassemble(c, 0n);
  for (let w = 0; w < 2 ** 32; w += 65521) disassemble(w, 0n);
});

// ---------------------------------------------------------------------------
// Against objdump

const OBJDUMP = 'riscv64-linux-gnu-objdump';

/** objdump's text of each instruction of `code` (a raw binary of instructions at `vma`), by address. */
function objdumpRaw(code: Uint8Array, vma: bigint): Map<bigint, string> {
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-disasm-'));
  try {
    const file = join(dir, 'code.bin');
    writeFileSync(file, code);
    const vmaArg = `--adjust-vma=0x${vma.toString(16)}`;
    return objdumpLines(['-D', '-b', 'binary', '-m', 'riscv:rv64', vmaArg, file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Run objdump; its instruction lines as address -> 'mnemonic\toperands'.
 * With `raw`, also each instruction's bits, and only from the first function
 * that starts in the output on: a window that starts inside an instruction or
 * among data is read by objdump as data until it reaches a symbol.
 */
function objdumpLines(args: string[], raw?: Map<bigint, number>): Map<bigint, string> {
  const r = spawnSync(OBJDUMP, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${OBJDUMP} ${args.join(' ')}: ${r.stderr}`);
  const out = new Map<bigint, string>();
  let started = raw === undefined;
  for (const line of r.stdout.split('\n')) {
    if (/^[0-9a-f]+ <[^+>]+>:$/.test(line)) started = true;
    const m = /^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*\t(.*)$/.exec(line);
    if (m === null || !started) continue;
    const at = BigInt('0x' + m[1]);
    out.set(at, m[3]);
    // The bytes column: one 16- or 32-bit value as objdump groups them for RISC-V.
    if (raw !== undefined && /^[0-9a-f]{4}([0-9a-f]{4})?$/.test(m[2]))
      raw.set(at, parseInt(m[2], 16));
  }
  return out;
}

interface Parsed {
  m: string;
  ops: string[];
}

/** objdump's line without comments or symbols, addresses written 0x... */
function parseObjdump(text: string, isTarget: (m: string) => boolean): Parsed {
  const s = text.replace(/\s+#.*$/, '').replace(/\s*<[^>]*>$/, '');
  const tab = s.indexOf('\t');
  const m = tab < 0 ? s.trim() : s.slice(0, tab);
  const ops =
    tab < 0
      ? []
      : s
          .slice(tab + 1)
          .split(',')
          .map((o) => o.trim());
  // With symbols (an ELF), targets are bare hex; without, 0x...
  if (isTarget(m) && ops.length > 0 && /^[0-9a-f]+$/.test(ops[ops.length - 1]))
    ops[ops.length - 1] = '0x' + ops[ops.length - 1].replace(/^0+(?=.)/, '');
  return { m, ops };
}

const TARGET_MNEMONICS = new Set([
  'j',
  'jal',
  'beq',
  'bne',
  'blt',
  'bge',
  'bltu',
  'bgeu',
  'beqz',
  'bnez',
  'blez',
  'bgez',
  'bltz',
  'bgtz',
]);

/**
 * objdump 2.40 prints immediate forms under the register form's name (an
 * alias: `add sp,sp,-16` for addi); the disassembler prints the spec's name.
 */
const IMMEDIATE_ALIASES = new Set([
  'add',
  'addw',
  'and',
  'or',
  'xor',
  'sll',
  'srl',
  'sra',
  'sllw',
  'srlw',
  'sraw',
  'csrrw',
  'csrrs',
  'csrrc',
  'csrw',
  'csrs',
  'csrc',
]);

/** Instructions objdump knows that this hart does not implement (it traps on them). */
const NOT_ON_THIS_HART = new Set(['dret', 'uret', 'hret', 'sfence.vm']);

const isNumber = (s: string) => /^-?(0x[0-9a-f]+|[0-9]+)$/.test(s);

/**
 * Whether our disassembly and objdump's agree: undefined if they do,
 * otherwise the name of the documented difference that explains them, or
 * 'MISMATCH'.
 */
function compare(word: number, ours: Disassembly, theirs: Parsed): string | undefined {
  const m = ours.mnemonic;
  const ops = ours.operands;
  const same = (a: string[], b: string[]) =>
    a.length === b.length && a.every((o, k) => o === b[k] || sameCsr(m, o, b[k]));
  if (m === theirs.m && same(ops, theirs.ops)) return undefined;
  if (
    m.replace(/i(w?)$/, '$1') === theirs.m &&
    IMMEDIATE_ALIASES.has(theirs.m) &&
    isNumber(ops[ops.length - 1]) &&
    same(ops, theirs.ops)
  )
    return 'immediate form under the register name (objdump 2.40 alias)';
  if (ours.illegal) {
    if (theirs.ops.includes('unknown') && theirs.m[0] === 'f' && theirs.m !== 'fence')
      return 'reserved rounding mode: objdump prints "unknown", the hart traps';
    if (NOT_ON_THIS_HART.has(theirs.m)) return 'instruction of another extension or spec version';
    if (word === 0x6101 && theirs.m === 'add')
      return 'c.addi16sp with a zero immediate is reserved (unpriv spec 16.5)';
  }
  if (theirs.m === '.4byte' && !ours.illegal) {
    const fence = (word & 0x7f) === 0x0f;
    if (fence && (m === 'fence' || m === 'fence.i' || m === 'fence.tso' || m === 'pause'))
      return 'fence with reserved fields set: a fence, as the hart executes it';
    if (/^fcvt\.d\.(s|w|wu)$/.test(m) && ops.length === 3)
      return 'exact conversion with a rounding mode other than rne';
  }
  if (m === 'fence' && theirs.m === 'fence') {
    const empty = theirs.ops.map((o) => (o === 'unknown' ? '0' : o));
    if (same(ops, empty)) return 'empty fence set: 0 (objdump: "unknown")';
  }
  if (m === 'pause' && theirs.m === 'fence' && theirs.ops.join(',') === 'w,unknown')
    return "pause (Zihintpause) is not in objdump's default ISA";
  return 'MISMATCH';
}

/** A CSR operand we print as a number where objdump has a name for it (priv spec 2.2's long list). */
function sameCsr(m: string, ours: string, theirs: string): boolean {
  return /^(csr|f[sr])/.test(m) && /^0x[0-9a-f]+$/.test(ours) && /^[a-z][a-z0-9.]*$/.test(theirs);
}

interface Tally {
  compared: number;
  /** Documented differences met, by name. */
  differences: Map<string, number>;
  /** Mismatches by (our mnemonic, objdump's): how many, and the first few. */
  mismatches: Map<string, { n: number; examples: string[] }>;
}

function tally(): Tally {
  return { compared: 0, differences: new Map(), mismatches: new Map() };
}

function check(t: Tally, word: number, pc: bigint, theirsText: string | undefined): void {
  const ours = disassemble(word, pc);
  t.compared++;
  const theirs =
    theirsText === undefined
      ? { m: '(nothing)', ops: [] }
      : parseObjdump(theirsText, (m) => TARGET_MNEMONICS.has(m));
  const why = theirsText === undefined ? 'MISMATCH' : compare(word, ours, theirs);
  if (why === undefined) return;
  if (why !== 'MISMATCH') {
    t.differences.set(why, (t.differences.get(why) ?? 0) + 1);
    return;
  }
  const key = `${ours.mnemonic} / ${theirs.m}`;
  const entry = t.mismatches.get(key) ?? { n: 0, examples: [] };
  entry.n++;
  if (entry.examples.length < 3)
    entry.examples.push(
      `0x${word.toString(16).padStart(ours.length * 2, '0')} at 0x${pc.toString(16)}: ` +
        `ours '${ours.text}', objdump '${theirsText ?? ''}'`,
    );
  t.mismatches.set(key, entry);
}

function report(tc: TestContext, t: Tally, what: string): void {
  tc.diagnostic(`${what}: ${t.compared} instructions compared with objdump`);
  for (const [why, n] of t.differences) tc.diagnostic(`  ${n} x documented difference: ${why}`);
  if (t.mismatches.size === 0) return;
  let total = 0;
  const lines: string[] = [];
  for (const [key, { n, examples }] of t.mismatches) {
    total += n;
    lines.push(`${n} x ${key}`, ...examples.map((e) => '    ' + e));
  }
  assert.fail(`${total} of ${t.compared} differ from objdump:\n` + lines.slice(0, 120).join('\n'));
}

/** Instructions as a raw little-endian binary, each at its own address. */
function layout(words: readonly number[]): { code: Uint8Array; offsets: number[] } {
  const offsets: number[] = [];
  let n = 0;
  for (const w of words) {
    offsets.push(n);
    n += instructionLength(w);
  }
  const code = new Uint8Array(n);
  words.forEach((w, k) => {
    const o = offsets[k];
    code[o] = w;
    code[o + 1] = w >>> 8;
    if (instructionLength(w) === 4) {
      code[o + 2] = w >>> 16;
      code[o + 3] = w >>> 24;
    }
  });
  return { code, offsets };
}

function compareWithObjdump(words: readonly number[], vma: bigint): Tally {
  const { code, offsets } = layout(words);
  const theirs = objdumpRaw(code, vma);
  const t = tally();
  words.forEach((w, k) => {
    const pc = BigInt.asUintN(64, vma + BigInt(offsets[k]));
    check(t, w, pc, theirs.get(pc));
  });
  return t;
}

/** Every 16-bit encoding (the three compressed quadrants). */
function allCompressed(): number[] {
  const out: number[] = [];
  for (let c = 0; c < 0x10000; c++) if ((c & 3) !== 3) out.push(c);
  return out;
}

const pick = <T>(rng: Prng, items: readonly T[]): T => items[rng.int(items.length)];

/** A register field: often zero or ra, where the pseudo-instructions are. */
const reg = (rng: Prng) => pick(rng, [0, 0, 1, 2, rng.int(32), rng.int(32), rng.int(32)]);

const AMO_F5 = [0, 1, 2, 3, 4, 8, 12, 16, 20, 24, 28];
const FP_F5 = [0, 1, 2, 3, 4, 5, 8, 11, 20, 24, 26, 28, 30];
const CSR_NUMS = [0x001, 0x002, 0x003, 0xc00, 0xc01, 0xc02, 0x300, 0x180, 0x3b1, 0x7c0, 0x14d];

/**
 * A random 32-bit encoding, biased towards the opcodes of RV64GC and the
 * field values that select pseudo-instructions and aliases, so that most are
 * instructions and the rest probe the reserved encodings next to them. Never
 * a 48-bit-or-longer one (low five bits 11111), which objdump would read past.
 */
function randomWord(rng: Prng): number {
  for (;;) {
    let w = rng.u32() | 3;
    if (rng.int(5) !== 0) {
      const opcode = pick(
        rng,
        [
          0x03, 0x07, 0x0f, 0x13, 0x17, 0x1b, 0x23, 0x27, 0x2f, 0x33, 0x37, 0x3b, 0x43, 0x47, 0x4b,
          0x4f, 0x53, 0x63, 0x67, 0x6f, 0x73, 0x13, 0x33, 0x53, 0x73,
        ],
      );
      const rd = reg(rng),
        rs1 = reg(rng),
        rs2 = reg(rng);
      let f3 = rng.int(8);
      let f7 = rng.int(128);
      let imm = rng.u32() >>> 20;
      switch (opcode) {
        case 0x13:
        case 0x1b:
          imm = pick(rng, [0, 1, 0xfff, 0xff, imm, imm]);
          if (f3 === 1 || f3 === 5)
            imm = (pick(rng, [0, 0x400, rng.int(64) << 6]) | rng.int(64)) & 0xfff;
          f7 = imm >>> 5;
          break;
        case 0x33:
        case 0x3b:
          f7 = pick(rng, [0, 0x20, 1, f7]);
          break;
        case 0x67:
          f3 = pick(rng, [0, 0, 0, f3]);
          imm = pick(rng, [0, imm]);
          f7 = imm >>> 5;
          break;
        case 0x0f:
          f3 = pick(rng, [0, 1, f3]);
          if (rng.int(2) === 0) {
            // a fence with its reserved fields zero
            w = (pick(rng, [0, 0, 8]) << 28) | (rng.int(16) << 24) | (rng.int(16) << 20) | 0x0f;
            return (w | ((rng.int(4) === 0 ? 1 : 0) << 12)) >>> 0;
          }
          break;
        case 0x73:
          f3 = pick(rng, [0, 0, 1, 2, 3, 5, 6, 7, f3]);
          if (f3 === 0) {
            const exact = [0x00000073, 0x00100073, 0x10200073, 0x30200073, 0x10500073];
            if (rng.int(3) === 0) return pick(rng, exact);
            f7 = pick(rng, [0x09, 0x09, f7]);
            if (rng.int(3) === 0) return ((f7 << 25) | (rs2 << 20) | (rs1 << 15) | 0x73) >>> 0;
          } else {
            imm = pick(rng, [...CSR_NUMS, imm]);
            f7 = imm >>> 5;
          }
          break;
        case 0x2f:
          f3 = pick(rng, [2, 3, 2, 3, f3]);
          f7 = (pick(rng, AMO_F5) << 2) | rng.int(4);
          break;
        case 0x53:
          f7 = (pick(rng, FP_F5) << 2) | pick(rng, [0, 1, 0, 1, rng.int(4)]);
          f3 = pick(rng, [0, 1, 2, 7, f3]);
          break;
        case 0x43:
        case 0x47:
        case 0x4b:
        case 0x4f:
          f7 = (f7 & ~3) | pick(rng, [0, 1, 0, 1, rng.int(4)]);
          break;
      }
      const rs2OrImm = opcode === 0x53 && rng.int(2) === 0 ? rng.int(4) : rs2;
      w =
        opcode === 0x13 || opcode === 0x1b || opcode === 0x67 || opcode === 0x73
          ? (imm << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opcode
          : (f7 << 25) | (rs2OrImm << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opcode;
    }
    if ((w & 0x1f) !== 0x1f) return w >>> 0;
  }
}

const RANDOM_WORDS = 120_000;

/**
 * Every operation-selecting field combination of the opcodes where
 * encodings are dense (opcode, funct3, funct7/funct5/fmt, and the register
 * fields that select forms), with the other fields fixed: the corners random
 * words reach only now and then (hret, a reserved funct7, an AMO funct5).
 */
function sweepWords(): number[] {
  const out: number[] = [];
  const r = (f7: number, rs2: number, rs1: number, f3: number, rd: number, opcode: number) =>
    ((f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opcode) >>> 0;
  for (let f7 = 0; f7 < 128; f7++)
    for (let f3 = 0; f3 < 8; f3++) {
      for (const opcode of [0x33, 0x3b, 0x13, 0x1b]) out.push(r(f7, 12, 11, f3, 10, opcode));
      // OP-FP: rs2 selects among conversions; funct3 is a rounding mode or an operation.
      for (let rs2 = 0; rs2 < 5; rs2++) out.push(r(f7, rs2, 11, f3, 10, 0x53));
      // AMO: funct5, aq/rl (the low bits of funct7), width; rs2 must be 0 for lr.
      for (const rs2 of [0, 12]) out.push(r(f7, rs2, 11, f3, 10, 0x2f));
    }
  // SYSTEM with funct3 0 (ecall, xret, wfi, sfence.vma and their neighbours).
  for (let f7 = 0; f7 < 128; f7++)
    for (let rs2 = 0; rs2 < 32; rs2++)
      for (const [rs1, rd] of [
        [0, 0],
        [1, 0],
        [0, 1],
      ])
        out.push(r(f7, rs2, rs1, 0, rd, 0x73));
  // The fused multiply-adds: fmt and rounding mode.
  for (const opcode of [0x43, 0x47, 0x4b, 0x4f])
    for (let fmt = 0; fmt < 4; fmt++)
      for (let f3 = 0; f3 < 8; f3++) out.push(r((13 << 2) | fmt, 12, 11, f3, 10, opcode));
  // Loads, stores, branches, jalr and MISC-MEM by funct3; fences by fm, pred, succ.
  for (let f3 = 0; f3 < 8; f3++)
    for (const opcode of [0x03, 0x07, 0x23, 0x27, 0x63, 0x67, 0x0f])
      for (const [rs1, rs2] of [
        [0, 0],
        [0, 12],
        [11, 0],
        [11, 12],
      ])
        out.push(r(0x7f, rs2, rs1, f3, 10, opcode));
  for (let fm = 0; fm < 16; fm++)
    for (let pred = 0; pred < 16; pred++)
      for (let succ = 0; succ < 16; succ++)
        out.push(((fm << 28) | (pred << 24) | (succ << 20) | 0x0f) >>> 0);
  return out;
}

test('every 16-bit encoding agrees with objdump', (tc) => {
  if (!needTools(tc, 'riscv64-linux-gnu-objdump')) return;
  // At address 0, so that backward jumps wrap around to the top of the address space.
  report(tc, compareWithObjdump(allCompressed(), 0n), 'all 16-bit encodings');
});

test(
  'swept and random 32-bit encodings agree with objdump',
  withSeed((tc, rng) => {
    if (!needTools(tc, 'riscv64-linux-gnu-objdump')) return;
    const sweep = sweepWords();
    const words = [...sweep, ...Array.from({ length: RANDOM_WORDS }, () => randomWord(rng))];
    report(
      tc,
      compareWithObjdump(words, KERNEL),
      `${sweep.length} swept and ${RANDOM_WORDS} random 32-bit encodings`,
    );
  }),
);

/** The default guest's kernel, if one was built (vmrs guest build): real code as a compiler writes it. */
function cachedVmlinux(): string | undefined {
  // As src/host/default-guest.ts's cacheRoot() finds the cache.
  const xdg = process.env.XDG_CACHE_HOME;
  const root =
    process.env.VMRS_CACHE_DIR ||
    join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'vmrs');
  const guests = join(root, 'guests');
  if (!existsSync(guests)) return undefined;
  for (const g of readdirSync(guests).sort()) {
    const v = join(guests, g, 'vmlinux');
    if (existsSync(v)) return v;
  }
  return undefined;
}

test(
  "a cached guest kernel's code agrees with objdump",
  withSeed((tc, rng) => {
    if (!needTools(tc, 'riscv64-linux-gnu-objdump')) return;
    const vmlinux = cachedVmlinux();
    if (vmlinux === undefined) {
      tc.skip('no default guest in the cache (vmrs guest build makes one)');
      return;
    }
    const headers = spawnSync(OBJDUMP, ['-h', vmlinux], { encoding: 'utf8' }).stdout;
    const text = /^\s*\d+\s+\.text\s+([0-9a-f]+)\s+([0-9a-f]+)/m.exec(headers);
    assert.ok(text !== null, `no .text in ${vmlinux}`);
    const size = parseInt(text[1], 16);
    const start = BigInt('0x' + text[2]);
    const t = tally();
    // A few 16 KiB windows at random places in .text.
    for (let k = 0; k < 4; k++) {
      const from = start + BigInt(rng.int(Math.max(1, size - 0x4000)) & ~3);
      const raw = new Map<bigint, number>();
      const lines = objdumpLines(
        [
          '-d',
          `--start-address=0x${from.toString(16)}`,
          `--stop-address=0x${(from + 0x4000n).toString(16)}`,
          vmlinux,
        ],
        raw,
      );
      for (const [pc, word] of raw) check(t, word, pc, lines.get(pc));
    }
    report(tc, t, `${vmlinux}, 4 windows of 16 KiB`);
  }),
);

// ---------------------------------------------------------------------------
// Against the hart's decoder

/**
 * An encoding is illegal here exactly when the hart's decoder rejects it
 * whatever the hart's state. decode() answers for most opcodes by itself; FP
 * operations are decided by the FPU, which a fresh FpUnit answers without
 * side effects (dynamic rounding mode 0, a valid one). LR/SC/AMO and the
 * SYSTEM instructions are decided as they execute, on a hart (atomic.ts,
 * system.ts), and CSR accesses by the CSR's existence and privilege: those
 * are not compared.
 */
test(
  "illegal exactly when the hart's decoder says so",
  withSeed((tc, rng) => {
    const fpu = new FpUnit();
    const regs = new Int32Array(64);
    const deferred = new Set([
      Op.AMO,
      Op.SYSTEM,
      Op.CSRRW,
      Op.CSRRS,
      Op.CSRRC,
      Op.CSRRWI,
      Op.CSRRSI,
      Op.CSRRCI,
    ]);
    let compared = 0,
      notCompared = 0;
    const wrong: string[] = [];
    const words = [
      ...allCompressed(),
      ...sweepWords(),
      ...Array.from({ length: 200_000 }, () => randomWord(rng)),
    ];
    for (let k = 0; k < 20_000; k++) words.push(rng.u32() | 3);
    for (const w of words) {
      const d = decode(w);
      if (deferred.has(d.op)) {
        notCompared++;
        continue;
      }
      let cpuIllegal = d.op === Op.ILLEGAL;
      if (d.op === Op.FP) {
        // Legality must not depend on the data: ask with operands that are numbers of the
        // instruction's format (1.0) and again with NaNs, frm 0 (funct3 7 then rounds to
        // nearest, where the instruction has a rounding mode).
        const dbl = ((d.insn >>> 25) & 3) === 1;
        const verdicts = [false, true].map((nan) => {
          for (let r = 0; r < 32; r++) {
            fpu.fr[2 * r] = dbl ? 0 : nan ? 0x7fc00000 : 0x3f800000;
            fpu.fr[2 * r + 1] = dbl ? (nan ? 0x7ff80000 : 0x3ff00000) : -1;
          }
          fpu.frm = 0;
          return !fpu.execute(d.insn, regs);
        });
        if (verdicts[0] !== verdicts[1] && wrong.length < 40)
          wrong.push(`0x${(w >>> 0).toString(16)}: legal for the hart only with some operands`);
        cpuIllegal = verdicts[0];
      }
      compared++;
      const ours = disassemble(w, 0n);
      if (ours.illegal !== cpuIllegal && wrong.length < 40)
        wrong.push(
          `0x${(w >>> 0).toString(16)}: '${ours.text}' ${ours.illegal ? 'illegal' : 'legal'} here, ` +
            `${cpuIllegal ? 'illegal' : 'legal'} for the hart`,
        );
    }
    tc.diagnostic(
      `${compared} encodings compared, ${notCompared} decided at run time not compared`,
    );
    assert.deepEqual(wrong, []);
  }),
);
