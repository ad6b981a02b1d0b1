/**
 * Watchpoints in the CPU: with watchStopsBefore (live debugging) the hart
 * stops at the accessing instruction with the access undone, and runs it
 * once disarmed; otherwise the instruction completes and run() ends after
 * it (a replay then seeks back to the hit's icount).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CODE, DATA, enter, machineWith, pc } from './harness.js';
import { addi, auipc, encR, ld, sd, SPIN } from './asm.js';
import { read32 } from '../helpers/bare-machine.js';

const PROGRAM = [
  auipc(5, (DATA - CODE) >>> 12), // x5 = DATA
  addi(6, 0, 42),
  sd(6, 5, 0), // +8: a write
  ld(7, 5, 0), // +12: a read
  encR(0x2f, 3, 0, 8, 5, 6), // +16: amoadd.d x8, x6, (x5): a read and a write
  SPIN,
];
const WRITE = 1;
const READ = 2;

function machine(kind: number, before: boolean) {
  const m = machineWith(PROGRAM);
  enter(m, 3);
  m.cpu.watchStopsBefore = before;
  m.cpu.setWatchpoints([{ lo: DATA | 0, hi: 0, len: 8, kind }]);
  return m;
}

test('a write watchpoint stops before the store; disarmed, the store runs; an AMO stops too', () => {
  const m = machine(WRITE, true);
  assert.equal(m.cpu.run(100), 2);
  assert.equal(m.cpu.debugHit, 2);
  assert.equal(pc(m), CODE + 8, 'stopped at the store');
  assert.equal(m.cpu.icount, 2);
  assert.equal(read32(m, DATA), 0, 'the store has not happened');
  assert.deepEqual(
    { ...m.cpu.watchHit },
    { index: 0, addrLo: DATA | 0, addrHi: 0, write: true, icount: 2 },
  );
  // The debugger steps over it with watchpoints off, as GDB does.
  m.cpu.debugHit = 0;
  m.cpu.debugArmed = false;
  assert.equal(m.cpu.run(1), 1);
  assert.equal(read32(m, DATA), 42);
  m.cpu.debugArmed = true;
  // The load does not hit a write watchpoint; the AMO does, before it reads or writes.
  assert.equal(m.cpu.run(100), 1);
  assert.equal(pc(m), CODE + 16);
  assert.equal(read32(m, DATA), 42);
  assert.equal(m.cpu.regs[16], 0, 'the AMO has not read');
  assert.equal(m.cpu.regs[14], 42, 'the load ran');
});

test('a read watchpoint stops before the load, leaving its register as it was', () => {
  const m = machine(READ, true);
  m.cpu.regs[14] = 7;
  assert.equal(m.cpu.run(100), 3);
  assert.equal(pc(m), CODE + 12);
  assert.equal(m.cpu.regs[14], 7);
  assert.equal(m.cpu.watchHit.write, false);
});

test('without watchStopsBefore the accessing instruction completes and run() ends after it', () => {
  const m = machine(WRITE, false);
  assert.equal(m.cpu.run(100), 3);
  assert.equal(m.cpu.debugHit, 2);
  assert.equal(pc(m), CODE + 12);
  assert.equal(read32(m, DATA), 42);
  assert.equal(m.cpu.watchHit.icount, 2, 'the hit names the icount before the store');
});
