import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtMachine } from '../../src/machine/virt.js';
import {
  captureSnapshot,
  readSnapshot,
  restoreSnapshot,
} from '../../src/snapshot/snapshot-file.js';
import { OP_AMO, auipc, encJ, encR, sd } from '../cpu/asm.js';
import { bareElf, bareVirt, headerFor } from '../fuzz/crafted.js';

const T0 = 5,
  A0 = 10,
  A1 = 11,
  A2 = 12;
// t0 = the page after the program; a word stored there; lr.d a0, (t0); sc.d a1, a2, (t0); j .
const PROGRAM = [
  auipc(T0, 1),
  sd(T0, T0, 0),
  encR(OP_AMO, 3, 2 << 2, A0, T0, 0),
  encR(OP_AMO, 3, 3 << 2, A1, T0, A2),
  encJ(0, 0),
];

for (const engine of ['translate', 'interp'] as const)
  test(`a snapshot taken between LR and SC keeps the reservation when restored (${engine})`, () => {
    const kernel = bareElf(PROGRAM);
    const a = bareVirt(kernel);
    a.cpu.engine = engine;
    // Through the boot ROM, up to the SC: the reservation is held.
    while (a.cpu.pcLo >>> 0 !== 0x8000000c && a.cpu.icount < 100) a.runSlice(1);
    assert.equal(a.cpu.pcLo >>> 0, 0x8000000c);
    assert.equal(a.cpu.resAddr, 0x80001000);
    const h = headerFor(kernel);
    const bytes = captureSnapshot(a, {
      ...{ formatVersion: 1, vmrsVersion: 'test', createdUnixMs: 0 },
      ...{ machine: h.machine, bios: h.bios, kernel: h.kernel, initrd: h.initrd },
      devices: h.devices,
    });
    // Into a fresh machine, whose page at t0 differs: writing it must not end the reservation.
    const b = bareVirt(kernel);
    b.cpu.engine = engine;
    restoreSnapshot(b, readSnapshot(bytes));
    assert.equal(b.cpu.resAddr, 0x80001000);
    a.runSlice(1);
    b.runSlice(1);
    const x = (m: VirtMachine, r: number) => m.cpu.regs[r << 1];
    assert.equal(x(a, A1), 0, 'the SC stored');
    assert.equal(x(b, A1), 0, 'the SC after the restore stored too');
  });
