/**
 * The plugin host on a bare hart: traps, xRETs, CSR writes and instructions
 * reach plugins at exact icounts, the same on both engines; a plugin that
 * throws is stopped without harm to the machine; what plugins get are copies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CSR, MSTATUS_FS, MSTATUS_MPP } from '../../src/cpu/csr-numbers.js';
import { PRIV_S, PRIV_U } from '../../src/cpu/hart-constants.js';
import type { Engine } from '../../src/cpu/cpu.js';
import type { MmioDevice } from '../../src/devices/device.js';
import { PluginHost } from '../../src/plugin/plugin-host.js';
import type { MemoryFilter, PluginMain } from '../../src/plugin/plugin-api.js';
import {
  ECALL,
  MRET,
  OP_AMO,
  OP_LOAD,
  OP_STORE_FP,
  SPIN,
  addi,
  amoaddd,
  beq,
  bne,
  csrrs,
  csrrw,
  encI,
  encJ,
  encR,
  encS,
  fld,
  ld,
  lw,
  sd,
  sw,
} from '../cpu/asm.js';
import { CODE, DATA, MTRAP, enter, machineWith, setX, step } from '../cpu/harness.js';
import { writeWords, type BareMachine } from '../helpers/bare-machine.js';

// U-mode: two system calls (a7 = 64, then 93), a store, then spin. M-mode handler: skip the ecall.
const PROGRAM = [addi(17, 0, 64), ECALL, addi(17, 0, 93), ECALL, sd(17, 10, 0), SPIN];
const HANDLER = [csrrs(5, CSR.mepc, 0), addi(5, 5, 4), csrrw(0, CSR.mepc, 5), MRET];

function machine(engine: Engine): BareMachine {
  const m = machineWith(PROGRAM);
  writeWords(m, MTRAP, HANDLER);
  m.cpu.engine = engine;
  m.cpu.code.hotAfter = 1;
  m.cpu.code.batch = 1;
  m.cpu.code.batchWait = 0;
  m.cpu.csrWrite(CSR.mstatus, m.cpu.mstatus & ~MSTATUS_MPP, 0);
  enter(m, PRIV_U);
  setX(m, 10, BigInt(DATA));
  return m;
}

async function hosted(engine: Engine, main: PluginMain, insns = 200): Promise<PluginHost> {
  const m = machine(engine);
  const host = new PluginHost(m, () => {});
  await host.add('test', main, []);
  host.install();
  // Twice through the program's loop end: the spin runs translated on the translator.
  step(m, insns);
  return host;
}

/** Every event as text, in order. */
async function eventLog(engine: Engine, withInsns: boolean): Promise<string[]> {
  const log: string[] = [];
  await hosted(engine, (vmrs) => {
    vmrs.onTrap((t) =>
      log.push(
        `${t.icount} trap ${t.name} ${t.from}->${t.to} epc=${t.epc.toString(16)} a7=${vmrs.guest.x('a7')}`,
      ),
    );
    vmrs.onXret((x) =>
      log.push(`${x.icount} ${x.kind} ${x.from}->${x.to} pc=${x.pc.toString(16)}`),
    );
    vmrs.onCsrWrite((c) => log.push(`${c.icount} csr ${c.name}=${c.value.toString(16)}`), ['mepc']);
    if (withInsns)
      vmrs.onInstruction((e) => {
        if (e.icount < 12) log.push(`${e.icount} insn ${e.pc.toString(16)}`);
      });
  });
  return log;
}

test('traps, xRETs and CSR writes reach plugins at exact icounts, on both engines', async () => {
  const at = (o: number) => (CODE + o).toString(16);
  const want = [
    `1 trap ecall-u U->M epc=${at(4)} a7=64`,
    `3 csr mepc=${at(8)}`,
    `4 mret M->U pc=${at(8)}`,
    `6 trap ecall-u U->M epc=${at(12)} a7=93`,
    `8 csr mepc=${at(16)}`,
    `9 mret M->U pc=${at(16)}`,
  ];
  assert.deepEqual(await eventLog('interp', false), want);
  assert.deepEqual(await eventLog('translate', false), want);
});

test('the instruction hook sees every instruction, the first of a trap handler too', async () => {
  const log = await eventLog('translate', true);
  const insns = log.filter((l) => l.includes(' insn '));
  // The trapping ecall (icount 1) is seen, then the handler's first instruction at the same icount.
  assert.deepEqual(insns.slice(0, 4), [
    `0 insn ${CODE.toString(16)}`,
    `1 insn ${(CODE + 4).toString(16)}`,
    `1 insn ${MTRAP.toString(16)}`,
    `2 insn ${(MTRAP + 4).toString(16)}`,
  ]);
  assert.deepEqual(log, await eventLog('interp', true));
});

test('a plugin that throws is called no more, and the machine runs on unharmed', async () => {
  let calls = 0;
  const m = machine('interp');
  const host = new PluginHost(m, () => {});
  await host.add(
    'thrower',
    (vmrs) => {
      vmrs.onTrap(() => {
        calls++;
        throw new Error('boom');
      });
    },
    [],
  );
  host.install();
  step(m, 200);
  assert.equal(calls, 1);
  assert.match(host.failure ?? '', /plugin thrower failed: Error: boom/);
  // Both system calls were handled and the store done.
  assert.equal(m.cpu.regs[17 * 2], 93);
  assert.equal(m.bus.ram32[(DATA - CODE) / 4], 93);
});

test('plugins get copies: changing what they read changes nothing; their Vmrs is frozen', async () => {
  const m = machine('interp');
  writeWords(m, DATA + 64, [0x6c6c6568, 0x6f]); // "hello"
  const host = new PluginHost(m, () => {});
  let text: string | undefined;
  await host.add(
    'reader',
    (vmrs) => {
      assert.throws(() => {
        (vmrs as unknown as { guest: unknown }).guest = undefined;
      }, TypeError);
      vmrs.onTrap(() => {
        const bytes = vmrs.guest.read(BigInt(DATA + 64), 8);
        bytes.fill(0);
        vmrs.guest.readPhysical(BigInt(DATA + 64), 8).fill(0);
        text = vmrs.guest.readCString(BigInt(DATA + 64));
      });
    },
    [],
  );
  host.install();
  step(m, 10);
  assert.equal(text, 'hello');
  assert.equal(m.bus.ram32[(DATA + 64 - CODE) / 4], 0x6c6c6568);
});

test('no plugin subscribed: no hooks on the hart', async () => {
  const m = machine('translate');
  const host = new PluginHost(m, () => {});
  await host.add('idle', () => {}, []);
  host.install();
  assert.equal(m.cpu.hooks, undefined);
});

// ---- Memory accesses, privilege changes, blocks

// Sv39 (priv spec 4.4): a gigapage maps the code, the tables and the data at 0x80000000 to
// themselves; VA 0x1000 is the page at PAGE, VA 0x2000 the device DEV's registers.
const ROOT = 0x80100000;
const L1 = 0x80101000;
const L0 = 0x80102000;
const PAGE = 0x80200000;
const DEV = 0x10000000;
const VA = 0x1000;
const DEV_VA = 0x2000;

const pte = (pa: number, flags: number): bigint => (BigInt(pa >>> 12) << 10n) | BigInt(flags);
const PTE_V = 1,
  PTE_RW = 6,
  PTE_RWX = 14,
  PTE_AD = 0xc0;
function put64(m: BareMachine, addr: number, v: bigint): void {
  writeWords(m, addr, [Number(v & 0xffffffffn), Number(v >> 32n)]);
}

const lb = (rd: number, rs1: number, imm: number) => encI(OP_LOAD, 0, rd, rs1, imm);
const amoaddw = (rd: number, rs1: number, rs2: number) => encR(OP_AMO, 2, 0x00, rd, rs1, rs2);
const lrd = (rd: number, rs1: number) => encR(OP_AMO, 3, 0x08, rd, rs1, 0);
const scd = (rd: number, rs1: number, rs2: number) => encR(OP_AMO, 3, 0x0c, rd, rs1, rs2);
const fsd = (rs2: number, rs1: number, imm: number) => encS(OP_STORE_FP, 3, rs1, rs2, imm);
/** c.lw / c.ld / c.sd with offset 0 (registers x8-x15; RVC spec 16.3). */
const cMem = (f3: number, rs1: number, r: number) => (f3 << 13) | ((rs1 - 8) << 7) | ((r - 8) << 2);
const C_NOP = 0x0001;

/** icount: what each instruction does to memory (VA 0x1000 is PAGE; 0x2000 the device). */
const MEM_PROGRAM = [
  ld(11, 10, 0), //         0: R8 0x1000
  sw(11, 10, 8), //         1: W4 0x1008
  addi(13, 10, 16), //      2
  ld(13, 13, 0), //         3: R8 0x1010 (rd = rs1)
  addi(16, 10, 24), //      4
  amoaddd(17, 16, 15), //   5: R8 W8 0x1018
  amoaddd(0, 16, 15), //    6: R8 W8 0x1018 (rd = x0)
  lrd(18, 16), //           7: R8 0x1018
  scd(19, 16, 20), //       8: W8 0x1018 (succeeds)
  scd(19, 16, 20), //       9: fails: nothing
  cMem(3, 8, 11) | (cMem(2, 8, 14) << 16), // 10: c.ld R8 0x1020; 11: c.lw R4 0x1020
  cMem(7, 8, 12) | (C_NOP << 16), //          12: c.sd W8 0x1020; 13: c.nop
  fsd(1, 10, 40), //        14: W8 0x1028
  fld(2, 10, 40), //        15: R8 0x1028
  lw(23, 9, 4), //          16: R4 0x2004, the device's register 4
  sw(20, 9, 8), //          17: W4 0x2008, its register 8
  ld(21, 22, 0), //         18: a page fault (the handler skips it: 18-21)
  addi(24, 10, 2), //       22
  amoaddw(0, 24, 15), //    23: misaligned: a trap (23-26)
  lb(25, 10, 0x30), //      27: R1 0x1030, a negative byte
  lrd(18, 16), //          28: R8 0x1018
  scd(0, 16, 15), //       29: W8 0x1018 (succeeds, rd = x0)
  scd(0, 16, 15), //       30: fails: nothing
  SPIN,
];

class Scratch implements MmioDevice {
  readonly name = 'scratch';
  readonly writes: string[] = [];
  read(offset: number): number {
    return 0x1234 + offset;
  }
  write(offset: number, width: number, value: number): void {
    this.writes.push(`${offset}:${width}:${value.toString(16)}`);
  }
}

const PI = 0x400921fb54442d18n;

function pagedMachine(engine: Engine): BareMachine & { dev: Scratch } {
  const m = machineWith(MEM_PROGRAM);
  writeWords(m, MTRAP, HANDLER);
  m.cpu.engine = engine;
  m.cpu.code.hotAfter = 1;
  put64(m, ROOT + 8 * 2, pte(0x80000000, PTE_V | PTE_RWX | PTE_AD));
  put64(m, ROOT, pte(L1, PTE_V));
  put64(m, L1, pte(L0, PTE_V));
  put64(m, L0 + 8 * (VA >>> 12), pte(PAGE, PTE_V | PTE_RW | PTE_AD));
  put64(m, L0 + 8 * (DEV_VA >>> 12), pte(DEV, PTE_V | PTE_RW | PTE_AD));
  // 0x1000: 0x2222222211111111, 0x1010: 0x4444444433333333, 0x1018: 7, 0x1020: 0xbbbbbbbbaaaaaaaa, 0x1030: 0xf0
  writeWords(m, PAGE, [0x11111111, 0x22222222, 0, 0, 0x33333333, 0x44444444, 7, 0]);
  writeWords(m, PAGE + 0x20, [0xaaaaaaaa, 0xbbbbbbbb, 0, 0, 0xf0]);
  const dev = new Scratch();
  m.bus.attach(DEV, 0x1000, dev);
  m.cpu.csrWrite(CSR.satp, ROOT >>> 12, 8 << 28);
  m.cpu.csrWrite(CSR.mstatus, m.cpu.mstatus | MSTATUS_FS, 0);
  enter(m, PRIV_S);
  setX(m, 10, BigInt(VA));
  setX(m, 8, BigInt(VA + 0x20));
  setX(m, 9, BigInt(DEV_VA));
  setX(m, 12, 0x1122334455667788n);
  setX(m, 15, 5n);
  setX(m, 20, 0xdeadbeefn);
  setX(m, 22, 0x5000n); // not mapped
  m.cpu.fpu.fr[2] = Number(BigInt.asIntN(32, PI));
  m.cpu.fpu.fr[3] = Number(BigInt.asIntN(32, PI >> 32n));
  return Object.assign(m, { dev });
}

const hex = (v: bigint | number) => v.toString(16);

/** Each subscription's events as text, after running MEM_PROGRAM. */
async function memoryLogs(
  engine: Engine,
  filters: Record<string, MemoryFilter>,
): Promise<Record<string, string[]>> {
  const m = pagedMachine(engine);
  const host = new PluginHost(m, () => {});
  const logs: Record<string, string[]> = {};
  await host.add(
    'mem',
    (vmrs) => {
      for (const [name, f] of Object.entries(filters)) {
        const log: string[] = (logs[name] = []);
        vmrs.onMemory((e) => {
          const where = e.device === undefined ? '' : ` ${e.device}+${e.offset}`;
          log.push(
            `${e.icount} @${hex(e.pc - BigInt(CODE))} ${e.write ? 'W' : 'R'}${e.size} ` +
              `v=${hex(e.vaddr)} p=${hex(e.paddr)} ${hex(e.value)}${where}`,
          );
        }, f);
      }
    },
    [],
  );
  host.install();
  step(m, 40);
  assert.equal(host.failure, undefined);
  return logs;
}

const P = (o: number) => hex(PAGE + o);
const ALL_ACCESSES = [
  `0 @0 R8 v=1000 p=${P(0)} 2222222211111111`,
  `1 @4 W4 v=1008 p=${P(8)} 11111111`,
  `3 @c R8 v=1010 p=${P(0x10)} 4444444433333333`,
  `5 @14 R8 v=1018 p=${P(0x18)} 7`,
  `5 @14 W8 v=1018 p=${P(0x18)} c`,
  `6 @18 R8 v=1018 p=${P(0x18)} c`,
  `6 @18 W8 v=1018 p=${P(0x18)} 11`,
  `7 @1c R8 v=1018 p=${P(0x18)} 11`,
  `8 @20 W8 v=1018 p=${P(0x18)} deadbeef`,
  `10 @28 R8 v=1020 p=${P(0x20)} bbbbbbbbaaaaaaaa`,
  `11 @2a R4 v=1020 p=${P(0x20)} aaaaaaaa`,
  `12 @2c W8 v=1020 p=${P(0x20)} 1122334455667788`,
  `14 @30 W8 v=1028 p=${P(0x28)} ${hex(PI)}`,
  `15 @34 R8 v=1028 p=${P(0x28)} ${hex(PI)}`,
  `16 @38 R4 v=2004 p=10000004 1238 scratch+4`,
  `17 @3c W4 v=2008 p=10000008 deadbeef scratch+8`,
  `27 @4c R1 v=1030 p=${P(0x30)} f0`,
  `28 @50 R8 v=1018 p=${P(0x18)} deadbeef`,
  `29 @54 W8 v=1018 p=${P(0x18)} 5`,
];

test('onMemory: loads, stores, AMOs, LR/SC, compressed and FP accesses, device registers, exactly; faults report nothing', async () => {
  const logs = await memoryLogs('interp', { all: { from: 0n, to: 1n << 64n, kind: 'both' } });
  assert.deepEqual(logs.all, ALL_ACCESSES);
});

test('onMemory: ranges are virtual or physical, [from, to), by kind; the same on both engines', async () => {
  const filters: Record<string, MemoryFilter> = {
    all: { from: 0n, to: 1n << 64n, kind: 'both' },
    // 0x1000..0x1007 is just below, 0x1020 just past.
    virtual: { from: 0x1008, to: 0x1019, kind: 'both' },
    reads: { from: 0n, to: 0x2000n, kind: 'read' },
    // Physical: the same page's writes; the virtual range 0x1000.. holds none of them.
    physicalWrites: { from: PAGE, to: PAGE + 0x1000, kind: 'write', physical: true },
    notPhysical: { from: 0x1000, to: 0x2000, kind: 'write', physical: true },
    // The device's register 4, not 8 (which starts at the end of the range).
    device: { from: BigInt(DEV), to: BigInt(DEV + 8), kind: 'both', physical: true },
  };
  const logs = await memoryLogs('interp', filters);
  const pick = (f: (l: string) => boolean) => ALL_ACCESSES.filter(f);
  const icount = (l: string) => Number(l.split(' ')[0]);
  assert.deepEqual(logs.all, ALL_ACCESSES);
  assert.deepEqual(
    logs.virtual,
    pick((l) => [1, 3, 5, 6, 7, 8, 28, 29].includes(icount(l))),
  );
  assert.deepEqual(
    logs.reads,
    pick((l) => / R\d /.test(l) && !l.includes('scratch')),
  );
  assert.deepEqual(
    logs.physicalWrites,
    pick((l) => / W\d /.test(l) && !l.includes('scratch')),
  );
  assert.deepEqual(logs.notPhysical, []);
  assert.deepEqual(
    logs.device,
    pick((l) => l.includes('scratch+4')),
  );
  assert.deepEqual(await memoryLogs('translate', filters), logs);
});

test('onMemory observes only: the program does the same with and without it', async () => {
  const plain = pagedMachine('translate');
  step(plain, 40);
  const watched = pagedMachine('translate');
  const host = new PluginHost(watched, () => {});
  let n = 0;
  await host.add(
    'mem',
    (vmrs) => vmrs.onMemory(() => n++, { from: 0, to: 1n << 64n, kind: 'both' }),
    [],
  );
  host.install();
  step(watched, 40);
  assert.equal(n, ALL_ACCESSES.length);
  assert.deepEqual(watched.cpu.saveState(), plain.cpu.saveState());
  assert.deepEqual(watched.bus.ram8, plain.bus.ram8);
  assert.deepEqual(watched.dev.writes, plain.dev.writes);
  assert.deepEqual(watched.dev.writes, ['8:4:deadbeef']);
});

test('onMemory refuses ranges that are not ranges', async () => {
  const m = pagedMachine('interp');
  const host = new PluginHost(m, () => {});
  const bad = async (f: unknown, re: RegExp) =>
    assert.rejects(
      host.add('bad', (vmrs) => vmrs.onMemory(() => {}, f as MemoryFilter), []),
      re,
    );
  await bad(
    { from: 8, to: 8, kind: 'both' },
    /failed to start: onMemory: the range \[8, 8\) is empty/,
  );
  await bad({ from: -1, to: 8, kind: 'both' }, /from must be an address/);
  await bad({ from: 0, to: 8, kind: 'all' }, /kind must be/);
  await bad(undefined, /onMemory needs a filter/);
});

test('the example mmio-log plugin counts device register accesses by device and register', async () => {
  const m = pagedMachine('interp');
  const lines: string[] = [];
  const host = new PluginHost(m, (l) => lines.push(l));
  const mod = (await import(pathToFileURL(resolve('examples/plugins/mmio-log.mjs')).href)) as {
    default: PluginMain;
  };
  await host.add('mmio-log.mjs', mod.default, ['trace']);
  host.install();
  step(m, 40);
  await host.end({ icount: m.cpu.icount, state: 'done' });
  assert.equal(host.failure, undefined);
  const pc = (o: number) => hex(CODE + o);
  const counts = (r: number, w: number) =>
    `${String(r).padStart(8)} reads ${String(w).padStart(8)} writes`;
  assert.deepEqual(lines, [
    `mmio 16 pc=0x${pc(0x38)} read scratch +0x4 4 0x1238`,
    `mmio 17 pc=0x${pc(0x3c)} write scratch +0x8 4 0xdeadbeef`,
    `mmio-log: 2 device register accesses up to icount ${m.cpu.icount} (done)`,
    `  ${'scratch'.padEnd(30)} ${counts(1, 1)}`,
    `    +${'0x4'.padEnd(27)} ${counts(1, 0)}`,
    `    +${'0x8'.padEnd(27)} ${counts(0, 1)}`,
  ]);
});

test('onPrivilege: an ecall round trip, U to M and back, at exact icounts', async () => {
  for (const engine of ['interp', 'translate'] as const) {
    const log: string[] = [];
    await hosted(engine, (vmrs) =>
      vmrs.onPrivilege((p) => log.push(`${p.icount} ${p.from}->${p.to} pc=${hex(p.pc)}`)),
    );
    assert.deepEqual(log, [
      `1 U->M pc=${hex(MTRAP)}`,
      `4 M->U pc=${hex(CODE + 8)}`,
      `6 U->M pc=${hex(MTRAP)}`,
      `9 M->U pc=${hex(CODE + 16)}`,
    ]);
  }
});

test('onPrivilege alone sets no instruction hook: it costs what the trap hooks cost', async () => {
  const m = machine('translate');
  const host = new PluginHost(m, () => {});
  await host.add('p', (vmrs) => vmrs.onPrivilege(() => {}), []);
  host.install();
  assert.deepEqual(Object.keys(m.cpu.hooks ?? {}).sort(), ['trap', 'xret']);
});

// A loop (three times round), a jump, a taken branch to its own fallthrough, an untaken one, a spin.
const LOOP = [
  addi(5, 0, 3), //   0
  addi(5, 5, -1), //  4: loop
  bne(5, 0, -4), //   8
  encJ(0, 8), //     12: jal to 20
  addi(6, 0, 1), //  16: jumped over
  beq(0, 0, 4), //   20: taken, to 24
  bne(0, 0, 4), //   24: not taken
  SPIN, //           28
];

async function blockLog(engine: Engine, words: readonly number[], n: number): Promise<string[]> {
  const m = words === PROGRAM ? machine(engine) : machineWith(words);
  m.cpu.engine = engine;
  const host = new PluginHost(m, () => {});
  const log: string[] = [];
  await host.add(
    'blocks',
    (vmrs) => vmrs.onBlock((b) => log.push(`${b.icount} @${hex(b.pc - BigInt(CODE))}`)),
    [],
  );
  host.install();
  step(m, n);
  return log;
}

test('onBlock: the first instruction, and each after a jump, a taken branch, a trap, an xRET', async () => {
  const loop = ['0 @0', '3 @4', '5 @4', '8 @14', '9 @18', '11 @1c', '12 @1c', '13 @1c'];
  assert.deepEqual(await blockLog('interp', LOOP, 14), loop);
  assert.deepEqual(await blockLog('translate', LOOP, 14), loop);
  // The system-call program: traps into the handler (at MTRAP, CODE + 0x800) and mret back.
  const calls = ['0 @0', '1 @800', '5 @8', '6 @800', '10 @10', '12 @14'];
  assert.deepEqual(await blockLog('interp', PROGRAM, 13), calls);
  assert.deepEqual(await blockLog('translate', PROGRAM, 13), calls);
});
