/**
 * Interpreter warm-up: before the guest starts, run a throwaway board on a
 * generated program that goes through every path of the interpreter loop.
 *
 * Why: V8 optimizes Cpu.run() from the type feedback gathered so far, and
 * throws the optimized code away ("insufficient type feedback") the first
 * time the guest reaches an expression it had not run yet — a branch
 * decided by its low word, a misaligned load, an FP op. A cold Linux boot
 * did that about 30 times, recompiling a 7 KB-bytecode function each time
 * and running slowly in between: a cold boot ran at ~40 MIPS where a warm
 * one runs at 60. A few hundred thousand instructions that reach every path
 * first cost ~0.1 s and save most of that.
 *
 * The program runs in rounds, in M-mode, S-mode under Sv48, U-mode (through
 * a user alias of the same code) and S-mode under Sv39. Each round reloads
 * registers from a table of edge values (0, ±1, sign boundaries, NaNs,
 * subnormals) and runs one pseudo-random but fixed instruction stream: all
 * integer, M, A, F and D instructions, compressed ones, CSR accesses,
 * misaligned and faulting accesses, MMIO to the UART and CLINT, and the
 * Sstc timer interrupt. Faults are skipped by the M-mode trap handler.
 *
 * Nothing is shared with the guest's machine: a separate VirtMachine, its
 * own RAM. Guest execution cannot depend on it (DESIGN rule 7).
 */
import {
  VirtMachine,
  RAM_BASE,
  UART0_BASE,
  CLINT_BASE,
  PLIC_BASE,
  RTC_BASE,
  VIRTIO_BASE,
} from './virt.js';
import { CSR } from '../cpu/csr-numbers.js';
import { canCompile } from '../cpu/translate-wasm.js';
import {
  ECALL,
  EBREAK,
  FENCE,
  FENCE_I,
  MRET,
  SRET,
  SFENCE_VMA,
  WFI,
  OP_AMO,
  OP_FP,
  OP_IMM,
  OP_IMM_32,
  OP_LOAD,
  OP_LOAD_FP,
  OP_OP,
  OP_OP_32,
  OP_STORE,
  OP_STORE_FP,
  OP_SYSTEM,
  add,
  addi,
  auipc,
  csrrc,
  csrrs,
  csrrw,
  encB,
  encI,
  encJ,
  encR,
  encR4,
  encS,
  encU,
  fld,
  jalr,
  ld,
  lui,
  or,
  slli,
  srli,
} from '../cpu/encode.js';

/**
 * Instructions the warm-up runs by default: six rounds, every mode at least
 * once. Its cost is mostly V8 compiling the interpreter, so 400 k took as
 * long as 150 k (0.24 s) and 50 k takes 0.12 s; whole processes (boot +
 * sha256sum + poweroff) took 0.94-0.95 of the time with 50 k than with 400 k
 * (two runs of 10 and 14 interleaved pairs).
 */
export const WARMUP_INSTRUCTIONS = 50_000;
/** The first of those, run as the translating engine runs the interpreter. */
const JUMPING_INSTRUCTIONS = 5_000;
/** A hotAfter no block start reaches (a small integer, as the guest machine's: a double would change the CodeCache's hidden class). */
const NEVER_HOT = 1 << 30;

// Image layout (offsets from RAM_BASE).
const HANDLER = 0x400;
const ROOT_PT = 0x1000; // Sv48 root
const DATA = 0x2000; // scratch [0, 0x3ff] and [0x600, 0x7ff], value table at 0x400
const L2_PT = 0x3000; // Sv48 level 2 = Sv39 root
const BODY = 0x4000;
const S_HANDLER = 0x800;
const L1_PT = 0x8000; // for VA 0x40000000: 4 KiB pages below
const L0_PT = 0x9000;
const IMAGE_SIZE = 0xa000;
const TABLE = 0x400;
const TABLE_ENTRIES = 64;
/** The body runs at RAM_BASE + BODY (M, S) and at this alias + BODY (U). */
const USER_ALIAS = 0xc0000000;

// Registers the body must not write (the handler and the bases rely on them).
const DATA_REG = 2;
const H1 = 3;
const H2 = 4;
const CLINT_REG = 6; // CLINT + 0xc000: mtime at -8
const UART_REG = 7;
const AMO_REG = 8; // 8-aligned, DATA + 64
const ROUND_REG = 9;
const H3 = 26;
const H4 = 27;
/** Registers the random stream writes. */
const FREE = [1, 5, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 28, 29, 30, 31];

/** A small assembler over 16-bit parcels, with forward labels for branches and jumps. */
class Asm {
  readonly parcels: number[] = [];
  private readonly labels = new Map<string, number>();
  private readonly fixups: { at: number; label: string; make: (off: number) => number }[] = [];

  get pc(): number {
    return this.parcels.length * 2;
  }
  w(word: number): void {
    this.parcels.push(word & 0xffff, (word >>> 16) & 0xffff);
  }
  h(half: number): void {
    this.parcels.push(half & 0xffff);
  }
  label(name: string): void {
    this.labels.set(name, this.pc);
  }
  /** A branch or jal to a label: `make(offset)` encodes it once the label is known. */
  to(label: string, make: (off: number) => number): void {
    this.fixups.push({ at: this.pc, label, make });
    this.w(0);
  }
  padTo(offset: number): void {
    if (this.pc > offset) throw new Error(`warm-up code overflows ${offset.toString(16)}`);
    while (this.pc < offset) this.w(0x00000013); // nop
  }
  resolve(): void {
    for (const f of this.fixups) {
      const target = this.labels.get(f.label);
      if (target === undefined) throw new Error(`warm-up: no label ${f.label}`);
      const word = f.make(target - f.at);
      this.parcels[f.at / 2] = word & 0xffff;
      this.parcels[f.at / 2 + 1] = (word >>> 16) & 0xffff;
    }
  }
}

const csrw = (csr: number, rs: number) => csrrw(0, csr, rs);
const csrr = (rd: number, csr: number) => csrrs(rd, csr, 0);

/** M-mode entry: bases, counters, Sstc, then the first round. */
function emitEntry(a: Asm): void {
  a.w(auipc(H1, 0)); // image base (RAM_BASE)
  a.w(csrw(CSR.mscratch, H1));
  a.w(addi(H2, H1, HANDLER));
  a.w(csrw(CSR.mtvec, H2));
  a.w(lui(H2, DATA >>> 12));
  a.w(add(DATA_REG, H1, H2));
  a.w(addi(AMO_REG, DATA_REG, 64));
  a.w(lui(UART_REG, UART0_BASE >>> 12));
  a.w(lui(CLINT_REG, (CLINT_BASE + 0xc000) >>> 12));
  a.w(addi(ROUND_REG, 0, 0));
  a.w(addi(H2, 0, -1));
  a.w(csrw(CSR.mcounteren, H2));
  a.w(csrw(CSR.scounteren, H2));
  a.w(csrw(CSR.stimecmp, H2));
  a.w(addi(H2, 0, 1));
  a.w(slli(H2, H2, 63)); // menvcfg.STCE (Sstc)
  a.w(csrrs(0, CSR.menvcfg, H2));
  a.w(addi(H2, 0, 0x20)); // mie.STIE
  a.w(csrw(CSR.mie, H2));
  a.w(addi(H2, H1, 0x7ff));
  a.w(addi(H2, H2, S_HANDLER - 0x7ff));
  a.w(csrw(CSR.stvec, H2));
  a.w(lui(H2, 6)); // mstatus.FS = dirty
  a.w(addi(H2, H2, 0x82)); // MPIE: M rounds run with interrupts on; SIE: S rounds too
  a.w(csrrs(0, CSR.mstatus, H2));
  a.to('next_round', (o) => encJ(0, o));
}

/**
 * The M-mode trap handler: an interrupt disarms the Sstc timer; an ecall
 * (the end of the body) starts the next round; any other exception skips
 * the faulting instruction (the generator only lets 4-byte ones fault).
 */
/** Both handlers start alike: the cause in H1; interrupts and fetch faults go to their exits. */
function emitDispatch(a: Asm, p: string, cause: number): void {
  a.w(csrr(H1, cause));
  a.to(`${p}irq`, (o) => encB(4, H1, 0, o)); // blt: interrupt bit set
  a.w(addi(H2, 0, 1));
  a.to(`${p}to_ra`, (o) => encB(0, H1, H2, o)); // fetch faults return to ra
  a.w(addi(H2, 0, 12));
  a.to(`${p}to_ra`, (o) => encB(0, H1, H2, o));
}

/** ...and end alike: skip the faulting instruction, return to ra, or disarm the timer. */
function emitExits(a: Asm, p: string, epc: number, xret: number): void {
  a.label(`${p}skip`);
  a.w(csrr(H2, epc));
  a.w(addi(H2, H2, 4));
  a.w(csrw(epc, H2));
  a.w(xret);
  a.label(`${p}to_ra`);
  a.w(csrw(epc, 1));
  a.w(xret);
  a.label(`${p}irq`);
  a.w(addi(H2, 0, -1));
  a.w(csrw(CSR.stimecmp, H2));
  a.w(xret);
}

function emitHandler(a: Asm): void {
  a.padTo(HANDLER);
  emitDispatch(a, '', CSR.mcause);
  a.w(addi(H2, 0, 8));
  a.to('skip', (o) => encB(4, H1, H2, o));
  a.w(addi(H2, 0, 12));
  a.to('skip', (o) => encB(5, H1, H2, o));
  a.w(addi(ROUND_REG, ROUND_REG, 1));
  a.label('next_round');
  a.w(encI(OP_IMM, 7, H2, ROUND_REG, 3)); // andi: round kind 0..3
  // Rounds 1 and 2 hand faults and the timer to the S-mode handler, as Linux has them.
  a.w(csrw(CSR.medeleg, 0));
  a.w(csrw(CSR.mideleg, 0));
  a.w(addi(H3, 0, 1));
  a.to('deleg', (o) => encB(0, H2, H3, o));
  a.w(addi(H3, 0, 2));
  a.to('no_deleg', (o) => encB(1, H2, H3, o));
  a.label('deleg');
  a.w(lui(H3, 0xb)); // page faults 12, 13, 15
  a.w(addi(H3, H3, 0xff)); // misaligned, access faults, illegal, breakpoint
  a.w(csrw(CSR.medeleg, H3));
  a.w(addi(H3, 0, 0x20)); // STIP
  a.w(csrw(CSR.mideleg, H3));
  a.label('no_deleg');
  a.w(addi(H3, 0, 3));
  a.w(slli(H3, H3, 11));
  a.w(csrrc(0, CSR.mstatus, H3)); // MPP = U
  a.w(csrr(H1, CSR.mscratch));
  a.w(lui(H3, BODY >>> 12));
  a.w(add(H4, H1, H3)); // body, physical
  a.to('round_m', (o) => encB(0, H2, 0, o));
  a.w(addi(H3, 0, 3));
  a.to('sv39', (o) => encB(0, H2, H3, o));
  a.w(lui(H3, ROOT_PT >>> 12));
  a.w(add(H3, H1, H3));
  a.w(srli(H3, H3, 12));
  a.w(addi(H1, 0, 9)); // Sv48
  a.to('set_satp', (o) => encJ(0, o));
  a.label('sv39');
  a.w(lui(H3, L2_PT >>> 12));
  a.w(add(H3, H1, H3));
  a.w(srli(H3, H3, 12));
  a.w(addi(H1, 0, 8)); // Sv39
  a.label('set_satp');
  a.w(slli(H1, H1, 60));
  a.w(or(H3, H3, H1));
  a.w(csrw(CSR.satp, H3));
  a.w(SFENCE_VMA);
  a.w(addi(H3, 0, 2));
  a.to('round_s', (o) => encB(1, H2, H3, o));
  a.w(lui(H3, (USER_ALIAS - RAM_BASE) >>> 12)); // U: the body's user alias
  a.w(add(H4, H4, H3));
  a.to('go', (o) => encJ(0, o));
  a.label('round_s');
  a.w(addi(H3, 0, 1));
  a.w(slli(H3, H3, 11));
  a.w(csrrs(0, CSR.mstatus, H3));
  a.to('go', (o) => encJ(0, o));
  a.label('round_m');
  a.w(addi(H3, 0, 3));
  a.w(slli(H3, H3, 11));
  a.w(csrrs(0, CSR.mstatus, H3));
  a.w(csrw(CSR.satp, 0));
  a.label('go');
  a.w(csrw(CSR.mepc, H4));
  a.w(MRET);
  emitExits(a, '', CSR.mepc, MRET);

  // The S-mode handler: the same, for what rounds 1 and 2 delegate.
  a.padTo(S_HANDLER);
  emitDispatch(a, 's_', CSR.scause);
  a.to('s_skip', (o) => encJ(0, o));
  emitExits(a, 's_', CSR.sepc, SRET);
}

/** A fixed pseudo-random sequence (xorshift32): the same program every time. */
class Rng {
  constructor(private s = 0x9e3779b9) {}
  next(): number {
    let s = this.s;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (this.s = s) >>> 0;
  }
  below(n: number): number {
    return this.next() % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.below(xs.length)];
  }
}

const IMM12 = [0, 1, -1, 2, 31, 32, 63, 2047, -2048, 0x7f0, -16];
const AMO_F5 = [0x00, 0x01, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c];
const RM = [0, 1, 2, 3, 4, 7];
const CSR_READ = [
  CSR.fflags,
  CSR.frm,
  CSR.fcsr,
  CSR.cycle,
  CSR.time,
  CSR.instret,
  CSR.sstatus,
  CSR.sie,
  CSR.stvec,
  CSR.sscratch,
  CSR.sepc,
  CSR.scause,
  CSR.stval,
  CSR.sip,
  CSR.satp,
  CSR.stimecmp,
  CSR.mstatus,
  CSR.misa,
  CSR.mie,
  CSR.mip,
  CSR.mhartid,
  CSR.mscratch,
  CSR.mcycle,
  CSR.minstret,
  0x7ff, // no such CSR: illegal
];
/** CSRs the stream may write without upsetting the rounds. */
const CSR_WRITE = [
  CSR.fflags,
  CSR.frm,
  CSR.fcsr,
  CSR.sscratch,
  CSR.sepc,
  CSR.stval,
  CSR.scause,
  CSR.mscratch + 0x400, // 0x740: no such CSR
];

/** One instruction (or a short fixed sequence) of the random stream. */
function emitRandom(a: Asm, r: Rng): void {
  const rd = r.pick(FREE);
  const rs1 = r.below(32);
  const rs2 = r.below(32);
  const memOff = (size: number) => {
    const region = r.below(2) === 0 ? 0 : 0x600;
    const off = region + r.below(0x200);
    return r.below(8) === 0 ? off : off & ~(size - 1); // one in eight misaligned
  };
  switch (r.below(26)) {
    case 0:
    case 1:
    case 2: {
      const f3 = r.below(8);
      let imm = r.pick(IMM12);
      if (f3 === 1) imm = r.below(64);
      else if (f3 === 5) imm = r.below(64) | (r.below(2) << 10);
      else if (r.below(2)) imm = (r.next() << 20) >> 20;
      a.w(encI(OP_IMM, f3, rd, rs1, imm));
      break;
    }
    case 3: {
      const f3 = r.pick([0, 1, 5]);
      const imm = f3 === 0 ? r.pick(IMM12) : r.below(32) | (f3 === 5 ? r.below(2) << 10 : 0);
      a.w(encI(OP_IMM_32, f3, rd, rs1, imm));
      break;
    }
    case 4:
    case 5:
    case 6: {
      const f3 = r.below(8);
      const f7 = r.below(3) === 0 ? 1 : (f3 === 0 || f3 === 5) && r.below(2) ? 0x20 : 0;
      a.w(encR(OP_OP, f3, f7, rd, rs1, rs2));
      break;
    }
    case 7: {
      const [f3, f7] = r.pick([
        [0, 0],
        [0, 0x20],
        [1, 0],
        [5, 0],
        [5, 0x20],
        [0, 1],
        [4, 1],
        [5, 1],
        [6, 1],
        [7, 1],
      ]);
      a.w(encR(OP_OP_32, f3, f7, rd, rs1, rs2));
      break;
    }
    case 8:
      a.w(encU(r.below(2) ? 0x37 : 0x17, rd, r.next() >>> 12));
      break;
    case 9:
    case 10: {
      const f3 = r.below(7);
      a.w(encI(OP_LOAD, f3, rd, DATA_REG, memOff(1 << (f3 & 3))));
      break;
    }
    case 11: {
      const f3 = r.below(4);
      a.w(encS(OP_STORE, f3, DATA_REG, rs2, memOff(1 << f3)));
      break;
    }
    case 12:
    case 13: {
      // A branch over one instruction, taken or not depending on the values.
      a.w(encB(r.pick([0, 1, 4, 5, 6, 7]), rs1, rs2, 8));
      a.w(encI(OP_IMM, 0, rd, rs1, 1));
      break;
    }
    case 14: {
      const how = r.below(8);
      if (how === 0) {
        // A call to another page and back (the body's last page): the translating
        // engine's interpreter looks such a jump's target up in the fetch TLB.
        a.to('far_return', (o) => encJ(1, o));
      } else if (how & 1) {
        a.w(encJ(r.pick([0, 1]), 8));
      } else {
        a.w(auipc(rd, 0));
        a.w(jalr(r.pick([0, 1]), rd, 12));
      }
      a.w(encI(OP_IMM, 0, rd, rs1, 3));
      break;
    }
    case 15: {
      const f3 = r.pick([2, 3]);
      const aqrl = r.below(4);
      if (r.below(3) === 0) {
        a.w(encR(OP_AMO, f3, (0x02 << 2) | aqrl, rd, AMO_REG, 0)); // lr
        a.w(encR(OP_AMO, f3, (0x03 << 2) | aqrl, r.pick(FREE), AMO_REG, rs2)); // sc
      } else a.w(encR(OP_AMO, f3, (r.pick(AMO_F5) << 2) | aqrl, rd, AMO_REG, rs2));
      break;
    }
    case 16: {
      const f3 = r.pick([2, 3]);
      const off = memOff(1 << f3) & ~((1 << f3) - 1);
      if (r.below(2)) a.w(encI(OP_LOAD_FP, f3, r.below(32), DATA_REG, off));
      else a.w(encS(OP_STORE_FP, f3, DATA_REG, r.below(32), off));
      break;
    }
    case 17:
    case 18:
      emitFp(a, r, rd);
      break;
    case 19: {
      const fmt = r.below(2);
      a.w(
        encR4(
          r.pick([0x43, 0x47, 0x4b, 0x4f]),
          fmt,
          r.pick(RM),
          r.below(32),
          r.below(32),
          r.below(32),
          r.below(32),
        ),
      );
      break;
    }
    case 20: {
      if (r.below(2)) a.w(csrrs(rd, r.pick(CSR_READ), 0));
      else {
        const f3 = r.pick([1, 2, 3, 5, 6, 7]);
        a.w(
          encI(OP_SYSTEM, f3, r.below(4) ? rd : 0, f3 >= 5 ? r.below(32) : rs1, r.pick(CSR_WRITE)),
        );
      }
      break;
    }
    case 21:
      // Compressed: they take the 16-bit fetch path (rd' x10..x15, base x8).
      switch (r.below(6)) {
        case 0:
          a.h(0x0001); // c.nop
          break;
        case 1:
          a.h((1 << 12) | (10 << 7) | (5 << 2) | 1); // c.addi x10, -27
          break;
        case 2:
          a.h((0b1000 << 12) | (rd << 7) | (r.pick(FREE) << 2) | 2); // c.mv
          break;
        case 3:
          a.h((0b1001 << 12) | (rd << 7) | (r.pick(FREE) << 2) | 2); // c.add
          break;
        default: {
          // c.ld / c.sd (CL/CS format): funct3, uimm[5:3], rs1' = x8, uimm[7:6], rd'/rs2'.
          const f3 = r.below(2) ? 0b011 : 0b111;
          a.h((f3 << 13) | (r.below(8) << 10) | (r.below(4) << 5) | ((2 + r.below(6)) << 2));
        }
      }
      break;
    case 22:
      // Devices: the UART (slow-path MMIO) and mtime; U rounds fault on these.
      switch (r.below(3)) {
        case 0:
          a.w(encS(OP_STORE, 0, UART_REG, 0, 7)); // scratch register
          break;
        case 1:
          a.w(encI(OP_LOAD, r.below(2) ? 4 : 0, rd, UART_REG, 5)); // LSR, lbu or lb
          break;
        default:
          a.w(ld(rd, CLINT_REG, -8)); // mtime
      }
      break;
    case 24:
      emitEdgeCase(a, r, rd, rs2);
      break;
    default:
      switch (r.below(9)) {
        case 0:
          a.w(FENCE);
          break;
        case 1:
          a.w(FENCE_I);
          break;
        case 2:
          a.w(SFENCE_VMA); // illegal in U
          break;
        case 3:
          a.w(EBREAK);
          break;
        case 4:
          a.w(r.below(2) ? 0 : 0xffffffff); // illegal
          break;
        case 5:
          // Arm the Sstc timer a little ahead, and sometimes wait for it.
          a.w(csrr(rd, CSR.time));
          a.w(addi(rd, rd, 20));
          a.w(csrw(CSR.stimecmp, rd));
          if (r.below(2)) a.w(WFI);
          break;
        case 6:
          a.w(lui(rd, 0x40000)); // unmapped: a page fault under paging, an access fault in M
          a.w(ld(r.pick(FREE), rd, 0));
          break;
        case 7:
          a.w(lui(rd, 0x40000));
          a.w(encS(OP_STORE, 3, rd, rs2, 8));
          break;
        default:
          a.w(encI(OP_SYSTEM, 2, rd, 0, CSR.cycle)); // rdcycle
      }
  }
}

/** Paths Linux takes and a plain stream would not: faults of every kind, other devices, 4 KiB pages. */
function emitEdgeCase(a: Asm, r: Rng, rd: number, rs2: number): void {
  const rd2 = r.pick(FREE);
  const base = r.pick(FREE.filter((x) => x !== 1));
  switch (r.below(7)) {
    case 0: // a store while a reservation is held
      a.w(encR(OP_AMO, 3, 0x02 << 2, rd, AMO_REG, 0));
      a.w(encS(OP_STORE, 3, DATA_REG, rs2, 8 * r.below(64)));
      break;
    case 1: // an interrupt made deliverable by a CSR write (M rounds; illegal elsewhere)
      a.w(encI(OP_SYSTEM, 7, 0, 8, CSR.mstatus)); // csrci mstatus, MIE
      a.w(csrr(rd, CSR.time));
      a.w(csrw(CSR.stimecmp, rd));
      a.w(encI(OP_SYSTEM, 6, 0, 8, CSR.mstatus)); // csrsi mstatus, MIE
      break;
    case 2: // a fetch fault: the handler returns to ra
      a.w(auipc(1, 0));
      a.w(addi(1, 1, 16));
      a.w(lui(base, 0x40000));
      a.w(jalr(0, base, 0));
      break;
    case 3: // a misaligned or unmapped AMO
      if (r.below(2)) a.w(addi(base, AMO_REG, 4));
      else a.w(lui(base, 0x40000));
      a.w(encR(OP_AMO, 3, r.pick(AMO_F5) << 2, rd2, base, rs2));
      break;
    case 4: {
      // The other devices' registers (reads only): PLIC, RTC, virtio, boot ROM.
      const [page, off] = r.pick([
        [PLIC_BASE >>> 12, 4],
        [(PLIC_BASE + 0x200000) >>> 12, 4],
        [RTC_BASE >>> 12, 0],
        [VIRTIO_BASE >>> 12, 0],
        [(VIRTIO_BASE + 0x1000) >>> 12, 4],
        [0x1, 0],
      ]);
      a.w(lui(base, page));
      a.w(encI(OP_LOAD, 2, rd2, base, off));
      break;
    }
    default: {
      // 4 KiB pages at 0x40001000-0x40003fff, A/D clear; 0x40000000 has no page.
      a.w(lui(base, 0x40000 + r.below(4)));
      const f3 = r.pick([2, 3]);
      if (r.below(2)) a.w(encI(OP_LOAD, f3, rd2, base, 8 * r.below(64)));
      else a.w(encS(OP_STORE, f3, base, rs2, 8 * r.below(64)));
    }
  }
}

function emitFp(a: Asm, r: Rng, rd: number): void {
  const fmt = r.below(2); // 0 = S, 1 = D
  const fd = r.below(32);
  const fs1 = r.below(32);
  const fs2 = r.below(32);
  const rm = r.pick(RM);
  switch (r.below(12)) {
    case 0: // fadd fsub fmul fdiv
      a.w(encR(OP_FP, rm, (r.below(4) << 2) | fmt, fd, fs1, fs2));
      break;
    case 1: // fsqrt
      a.w(encR(OP_FP, rm, 0x2c | fmt, fd, fs1, 0));
      break;
    case 2: // fsgnj, fsgnjn, fsgnjx
      a.w(encR(OP_FP, r.below(3), 0x10 | fmt, fd, fs1, fs2));
      break;
    case 3: // fmin, fmax
      a.w(encR(OP_FP, r.below(2), 0x14 | fmt, fd, fs1, fs2));
      break;
    case 4: // fcvt.s.d / fcvt.d.s
      a.w(encR(OP_FP, rm, 0x20 | fmt, fd, fs1, fmt ? 0 : 1));
      break;
    case 5: // feq, flt, fle
      a.w(encR(OP_FP, r.below(3), 0x50 | fmt, rd, fs1, fs2));
      break;
    case 6: // fclass, fmv.x.w / fmv.x.d
      a.w(encR(OP_FP, r.below(2), 0x70 | fmt, rd, fs1, 0));
      break;
    case 7: // fmv.w.x / fmv.d.x
      a.w(encR(OP_FP, 0, 0x78 | fmt, fd, r.below(32), 0));
      break;
    case 8:
    case 9: // fcvt.{w,wu,l,lu}.{s,d}
      a.w(encR(OP_FP, rm, 0x60 | fmt, rd, fs1, r.below(4)));
      break;
    default: // fcvt.{s,d}.{w,wu,l,lu}
      a.w(encR(OP_FP, rm, 0x68 | fmt, fd, r.below(32), r.below(4)));
  }
}

/** Edge values for the registers and the FP unit (64-bit, as [lo, hi] words). */
function valueTable(r: Rng): number[] {
  const v: [number, number][] = [
    [0, 0],
    [1, 0],
    [-1, -1],
    [2, 0],
    [0x7fffffff, 0],
    [0x80000000, 0],
    [-1, 0],
    [0x80000000, -1],
    [-1, 0x7fffffff],
    [0, 0x80000000],
    [63, 0],
    [64, 0],
    [31, 0],
    [0x12345678, 0x12345678],
    [0, 0x3ff00000], // 1.0
    [0, 0xbff80000], // -1.5
    [0, 0x80000000], // -0.0
    [0, 0x7ff00000], // +inf
    [0, 0xfff00000], // -inf
    [0, 0x7ff80000], // qNaN
    [1, 0x7ff00000], // sNaN
    [1, 0], // smallest subnormal
    [-1, 0x7fefffff], // max double
    [0x3f800000, -1], // 1.0f NaN-boxed
    [0xbfc00000, -1], // -1.5f
    [0x7f800000, -1], // +inf f
    [0x7fc00000, -1], // qNaN f
    [0x00000001, -1], // subnormal f
    [0x4f000000, -1], // 2^31 f
    [0, 0x41e00000], // 2^31
    [0, 0x43e00000], // 2^63
    [0x3f800000, 0], // a single not NaN-boxed
  ];
  while (v.length < TABLE_ENTRIES)
    v.push([r.next() | 0, r.below(2) ? r.next() | 0 : v.length & 1 ? 0 : -1]);
  return v.flat();
}

/** The warm-up program as a raw firmware image loaded at RAM_BASE. */
export function buildWarmupImage(): Uint8Array {
  const a = new Asm();
  const r = new Rng();
  emitEntry(a);
  emitHandler(a);
  a.padTo(ROOT_PT);
  a.resolve();
  const image = new Uint8Array(IMAGE_SIZE);
  const parcels = new Uint16Array(image.buffer);
  parcels.set(a.parcels);
  const words = new Int32Array(image.buffer);
  const pte = (pa: number, flags: number) => ((pa / 4096) * 1024 + flags) | 0; // pa < 2^32
  const V = 1,
    R = 2,
    W = 4,
    X = 8,
    U = 16,
    A = 64,
    D = 128;
  words[ROOT_PT / 4] = pte(RAM_BASE + L2_PT, V);
  words[L2_PT / 4 + 0 * 2] = pte(0, V | R | W | A | D); // MMIO, identity
  words[L2_PT / 4 + 1 * 2] = pte(RAM_BASE + L1_PT, V); // 0x40000000: 4 KiB pages
  words[L1_PT / 4] = pte(RAM_BASE + L0_PT, V);
  for (let i = 1; i < 4; i++)
    words[L0_PT / 4 + i * 2] = pte(RAM_BASE + DATA, V | R | W | (i === 3 ? U : 0));
  words[L2_PT / 4 + 2 * 2] = pte(RAM_BASE, V | R | W | X | A | D); // RAM, identity
  words[L2_PT / 4 + 3 * 2] = pte(RAM_BASE, V | R | W | X | U | A | D); // RAM, user alias
  words.set(valueTable(r), (DATA + TABLE) / 4);

  const b = new Asm();
  // Data bases from the pc, so that the U rounds reach them through the user alias too.
  b.w(auipc(DATA_REG, (DATA - BODY) >> 12));
  b.w(addi(AMO_REG, DATA_REG, 64));
  // Each round starts from the edge values: every free register and FP register.
  for (const x of FREE) b.w(ld(x, DATA_REG, TABLE + 8 * r.below(TABLE_ENTRIES)));
  for (let f = 0; f < 32; f++) b.w(fld(f, DATA_REG, TABLE + 8 * r.below(TABLE_ENTRIES)));
  while (b.pc < 0x3f00) emitRandom(b, r);
  b.w(ECALL);
  b.label('far_return');
  b.w(jalr(0, 1, 0));
  b.resolve();
  new Uint16Array(image.buffer, BODY).set(b.parcels.slice(0, 0x2000));
  return image;
}

export interface WarmupResult {
  instructions: number;
  /** Rounds of the body completed (each in the next mode). */
  rounds: number;
}

/**
 * Run the warm-up program on a throwaway board for about `instructions`.
 * Call once per process, before the guest's machine starts.
 *
 * Only the interpreter runs it. It also ran on the translator, every block
 * compiled at its first visit, to have V8 compile the translator's own code
 * first; once V8's tier-up for wasm was tuned (src/host/wasm-tiering.ts)
 * that cost more than it saved: boot + sha256sum + poweroff, whole
 * processes, 10 interleaved pairs: 0.97 of the wall and CPU time without
 * it. Without any warm-up the same run takes 1.23 times as long.
 */
export function warmUpInterpreter(instructions = WARMUP_INSTRUCTIONS): WarmupResult {
  const vm = new VirtMachine(
    {
      memoryBytes: 4 << 20,
      bios: buildWarmupImage(),
      biosName: 'interpreter warm-up',
      append: '',
      insnsPerTick: 10,
      rtcStartUnixNs: 0,
    },
    () => {},
  );
  const cpu = vm.cpu;
  // First the translating engine, compiling nothing, runs the interpreter as it runs
  // between blocks (through taken jumps to code not compiled, interpreter.ts); then the
  // interpreter's own loop, which sees every path only with the translator off. In that
  // order: V8 starts optimizing the interpreter during the second part, from the
  // feedback gathered so far, and a path without any would throw that code away in the
  // guest's first milliseconds.
  const jumping = canCompile ? Math.min(JUMPING_INSTRUCTIONS, instructions) : 0;
  if (jumping > 0) {
    cpu.engine = 'translate';
    cpu.code.hotAfter = NEVER_HOT;
  }
  while (cpu.icount < instructions) {
    if (cpu.icount >= jumping) cpu.engine = 'interp';
    const limit = cpu.engine === 'translate' ? jumping : instructions;
    const { result } = vm.runSlice(Math.min(50_000, limit - cpu.icount));
    if (result === 'exit' || result === 'debug') break;
    if (result === 'idle') {
      const d = vm.nextDeadline();
      if (d === Infinity) break;
      vm.advanceTimeTo(d);
    }
  }
  return { instructions: cpu.icount, rounds: cpu.regs[ROUND_REG << 1] };
}
