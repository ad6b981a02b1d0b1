/**
 * The plugin host on a bare hart: traps, xRETs, CSR writes and instructions
 * reach plugins at exact icounts, the same on both engines; a plugin that
 * throws is stopped without harm to the machine; what plugins get are copies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CSR, MSTATUS_MPP } from '../../src/cpu/csr-numbers.js';
import { PRIV_U } from '../../src/cpu/hart-constants.js';
import type { Engine } from '../../src/cpu/cpu.js';
import { PluginHost } from '../../src/plugin/plugin-host.js';
import type { PluginMain } from '../../src/plugin/plugin-api.js';
import { ECALL, MRET, SPIN, addi, csrrs, csrrw, sd } from '../cpu/asm.js';
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
