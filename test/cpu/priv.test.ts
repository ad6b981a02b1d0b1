import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CSR } from '../../src/cpu/csr-numbers.js';
import { PRIV_M, PRIV_S, PRIV_U } from '../../src/cpu/cpu.js';
import { MIP_MEIP, MIP_MTIP, MIP_STIP, MIP_SSIP } from '../../src/devices/device.js';
import { xreg, writeWords } from '../helpers/bare-machine.js';
import * as A from './asm.js';
import {
  machineWith,
  enter,
  csr,
  pc,
  setX,
  step,
  CODE,
  MTRAP,
  STRAP,
  DATA,
  INTERRUPT,
} from './harness.js';

test('writing a read-only CSR is illegal; mtval holds the instruction', () => {
  const insn = A.csrrw(0, CSR.mvendorid, 1);
  const m = machineWith([A.csrrs(5, CSR.mvendorid, 0), insn]);
  writeWords(m, MTRAP, [A.addi(7, 7, 1), A.SPIN]);
  setX(m, 5, 77n);
  assert.equal(m.cpu.run(2), 2);
  assert.equal(xreg(m, 7), 1n, 'the handler ran: the csrrw did not retire');
  assert.equal(xreg(m, 5), 0n, 'csrrs with rs1=x0 only reads');
  assert.equal(csr(m, CSR.mcause), 2n);
  assert.equal(csr(m, CSR.mtval), BigInt(insn));
  assert.equal(csr(m, CSR.mepc), BigInt(CODE + 4));
});

test('a CSR that does not exist traps (OpenSBI probes features this way)', () => {
  const m = machineWith([A.csrrs(5, 0x7ff, 0)]);
  step(m, 5);
  assert.equal(csr(m, CSR.mcause), 2n);
});

test('CSR privilege comes from bits 9:8: S-mode cannot touch mstatus', () => {
  const m = machineWith([A.csrrs(5, CSR.sstatus, 0), A.csrrs(6, CSR.mstatus, 0)]);
  enter(m, PRIV_S);
  step(m, 5);
  assert.equal(m.cpu.priv, PRIV_M);
  assert.equal(csr(m, CSR.mcause), 2n);
  assert.equal(csr(m, CSR.mepc), BigInt(CODE + 4));
  assert.equal((csr(m, CSR.mstatus)! >> 11n) & 3n, 1n, 'MPP = S');
});

test('cycle/time/instret from U need mcounteren and scounteren', () => {
  const prog = [A.csrrs(5, CSR.instret, 0), A.csrrs(6, CSR.time, 0), A.SPIN];
  const denied = machineWith(prog);
  denied.cpu.csrWrite(CSR.mcounteren, 7, 0); // scounteren still 0
  enter(denied, PRIV_U);
  step(denied, 3);
  assert.equal(pc(denied), MTRAP);
  assert.equal(csr(denied, CSR.mcause), 2n);

  const allowed = machineWith([A.addi(1, 0, 1), A.addi(1, 1, 1), ...prog]);
  allowed.cpu.csrWrite(CSR.mcounteren, 7, 0);
  allowed.cpu.csrWrite(CSR.scounteren, 7, 0);
  enter(allowed, PRIV_U);
  step(allowed, 4);
  assert.equal(xreg(allowed, 5), 2n, 'instret = instructions retired before it');
  assert.equal(xreg(allowed, 6), 3n, 'time = ticksAt(icount) with 1 instruction per tick');
});

test('satp is WARL: an unsupported mode leaves it unchanged', () => {
  const m = machineWith([A.csrrw(0, CSR.satp, 5), A.csrrw(0, CSR.satp, 6), A.SPIN]);
  setX(m, 5, (8n << 60n) | 0x80123n); // Sv39
  setX(m, 6, (10n << 60n) | 0x80456n); // Sv57: not implemented
  step(m, 2);
  assert.equal(csr(m, CSR.satp), (8n << 60n) | 0x80123n);
});

test('misa reports RV64 IMAFDCSU', () => {
  const m = machineWith([]);
  const misa = csr(m, CSR.misa)!;
  assert.equal(misa >> 62n, 2n);
  for (const ch of 'IMAFDCSU') assert.ok(misa & (1n << BigInt(ch.charCodeAt(0) - 65)), ch);
});

test('ecall from U goes to M, or to S when delegated', () => {
  const m = machineWith([A.ECALL]);
  enter(m, PRIV_U);
  step(m, 1);
  assert.equal(pc(m), MTRAP);
  assert.equal(csr(m, CSR.mcause), 8n);

  const d = machineWith([A.ECALL]);
  d.cpu.csrWrite(CSR.medeleg, 1 << 8, 0);
  enter(d, PRIV_U);
  step(d, 1);
  assert.equal(pc(d), STRAP);
  assert.equal(d.cpu.priv, PRIV_S);
  assert.equal(csr(d, CSR.scause), 8n);
  assert.equal(csr(d, CSR.sepc), BigInt(CODE));
  assert.equal((csr(d, CSR.sstatus)! >> 8n) & 1n, 0n, 'SPP = U');

  // Delegation never lowers the privilege: an M-mode ecall stays in M.
  const mm = machineWith([A.ECALL]);
  mm.cpu.csrWrite(CSR.medeleg, 1 << 11, 0);
  step(mm, 1);
  assert.equal(pc(mm), MTRAP);
  assert.equal(csr(mm, CSR.mcause), 11n);
});

test('vectored mtvec sends interrupts to base + 4*cause', () => {
  const m = machineWith([A.SPIN]);
  m.cpu.csrWrite(CSR.mtvec, MTRAP | 1 | 0, 0);
  m.cpu.csrWrite(CSR.mie, MIP_MTIP, 0);
  m.cpu.csrWrite(CSR.mstatus, 1 << 3, 0); // MIE
  writeWords(m, MTRAP + 4 * 7, [A.SPIN]);
  m.cpu.setPending(MIP_MTIP, true);
  m.cpu.run(1);
  assert.equal(csr(m, CSR.mcause), INTERRUPT | 7n);
  assert.equal(csr(m, CSR.mepc), BigInt(CODE), 'taken before the first instruction');
  assert.equal(pc(m), MTRAP + 4 * 7);
});

test('interrupt priority and enabling rules (priv 3.1.9)', () => {
  // MEI beats MTI.
  const m = machineWith([A.SPIN]);
  m.cpu.csrWrite(CSR.mie, MIP_MTIP | MIP_MEIP, 0);
  m.cpu.csrWrite(CSR.mstatus, 1 << 3, 0);
  m.cpu.setPending(MIP_MTIP | MIP_MEIP, true);
  m.cpu.run(1);
  assert.equal(csr(m, CSR.mcause), INTERRUPT | 11n);

  // M-mode with MIE=0: nothing is taken.
  const off = machineWith([A.addi(1, 1, 1), A.SPIN]);
  off.cpu.csrWrite(CSR.mie, MIP_MTIP, 0);
  off.cpu.setPending(MIP_MTIP, true);
  step(off, 1);
  assert.equal(xreg(off, 1), 1n);

  // A delegated supervisor interrupt is not taken in M-mode, is taken in U even with SIE=0.
  const s = machineWith([A.addi(1, 1, 1), A.SPIN]);
  s.cpu.csrWrite(CSR.mideleg, MIP_STIP | MIP_SSIP, 0);
  s.cpu.csrWrite(CSR.mie, MIP_STIP, 0);
  s.cpu.setPending(MIP_STIP, true);
  step(s, 1);
  assert.equal(xreg(s, 1), 1n, 'not taken in M');
  enter(s, PRIV_U);
  s.cpu.run(1);
  assert.equal(pc(s), STRAP);
  assert.equal(csr(s, CSR.scause), INTERRUPT | 5n);
  assert.equal(s.cpu.priv, PRIV_S);
});

test('sip/sie are views of mip/mie under mideleg', () => {
  const m = machineWith([]);
  m.cpu.csrWrite(CSR.mie, MIP_STIP | MIP_MTIP, 0);
  assert.equal(csr(m, CSR.sie), 0n, 'nothing delegated: sie reads 0');
  m.cpu.csrWrite(CSR.mideleg, MIP_STIP, 0);
  assert.equal(csr(m, CSR.sie), BigInt(MIP_STIP));
});

test('run() stops at an exact instruction count', () => {
  const words = [];
  for (let k = 0; k < 50; k++) words.push(A.addi(1, 1, 1));
  const m = machineWith(words);
  assert.equal(m.cpu.run(7), 7);
  assert.equal(m.cpu.run(13), 13);
  assert.equal(m.cpu.icount, 20);
  assert.equal(xreg(m, 1), 20n);
});

test('WFI halts until an enabled interrupt is pending, even with MIE clear', () => {
  const m = machineWith([A.WFI, A.addi(1, 1, 1), A.SPIN]);
  m.cpu.csrWrite(CSR.mie, MIP_MTIP, 0);
  assert.equal(m.cpu.run(10), 1, 'WFI retires and ends the slice');
  assert.equal(m.cpu.wfi, true);
  assert.equal(m.cpu.run(10), 0);
  m.cpu.setPending(MIP_MTIP, true);
  step(m, 1);
  assert.equal(m.cpu.wfi, false);
  assert.equal(xreg(m, 1), 1n, 'resumed after the WFI (no trap: MIE=0)');
});

test('TW traps WFI in S-mode; TSR traps SRET; TVM traps satp', () => {
  for (const [bit, insn] of [
    [21, A.WFI],
    [22, A.SRET],
    [20, A.csrrs(5, CSR.satp, 0)],
  ] as const) {
    const m = machineWith([insn]);
    m.cpu.csrWrite(CSR.mstatus, 1 << bit, 0);
    enter(m, PRIV_S);
    step(m, 1);
    assert.equal(pc(m), MTRAP, `bit ${bit}`);
    assert.equal(csr(m, CSR.mcause), 2n);
  }
});

test('mret restores MIE from MPIE and the privilege from MPP', () => {
  const m = machineWith([A.MRET]);
  m.cpu.csrWrite(CSR.mepc, (DATA - 0x100) | 0, 0);
  m.cpu.csrWrite(CSR.mstatus, (1 << 7) | (1 << 11), 0); // MPIE, MPP=S
  step(m, 1);
  assert.equal(m.cpu.priv, PRIV_S);
  assert.equal(pc(m), DATA - 0x100);
  const ms = csr(m, CSR.mstatus)!;
  assert.equal((ms >> 3n) & 1n, 1n, 'MIE <- MPIE');
  assert.equal((ms >> 11n) & 3n, 0n, 'MPP <- U');
});

test('misaligned LR and AMO raise misaligned exceptions; plain loads do not', () => {
  const m = machineWith([A.ld(3, 10, 1), A.lrw(4, 10)]);
  writeWords(m, DATA, [0x33221100, 0x77665544, 0xbbaa9988]);
  setX(m, 10, BigInt(DATA + 2));
  step(m, 5);
  assert.equal(xreg(m, 3), 0xaa99887766554433n, 'misaligned ld is done in hardware');
  assert.equal(csr(m, CSR.mcause), 4n);
  assert.equal(csr(m, CSR.mtval), BigInt(DATA + 2));

  const a = machineWith([A.amoaddd(4, 10, 11)]);
  setX(a, 10, BigInt(DATA + 4));
  step(a, 5);
  assert.equal(csr(a, CSR.mcause), 6n);
});

test('a load from an unmapped physical address is an access fault', () => {
  const m = machineWith([A.lw(3, 10, 0)]);
  setX(m, 10, 0x40000000n);
  step(m, 2);
  assert.equal(csr(m, CSR.mcause), 5n);
  assert.equal(csr(m, CSR.mtval), 0x40000000n);
});

test('Sstc: a stimecmp whose low word has bit 31 set counts it as 2^31, not as a sign', () => {
  const m = machineWith([A.SPIN]);
  m.cpu.csrWrite(CSR.menvcfg, 0, 1 << 31);
  m.cpu.csrWrite(CSR.stimecmp, 0x80000005 | 0, 3);
  assert.equal(m.cpu.stimecmpTicks(), 3 * 2 ** 32 + 0x80000005);
  m.cpu.csrWrite(CSR.stimecmp, -1, 0);
  assert.equal(m.cpu.stimecmpTicks(), 2 ** 32 - 1);
  m.cpu.csrWrite(CSR.stimecmp, 7, 0);
  assert.equal(m.cpu.stimecmpTicks(), 7);
});

test('Sstc: STIP follows time >= stimecmp when menvcfg.STCE is set', () => {
  const m = machineWith([A.addi(1, 1, 1), A.addi(1, 1, 1), A.addi(1, 1, 1), A.SPIN]);
  assert.equal(m.cpu.stimecmpTicks(), Infinity);
  m.cpu.csrWrite(CSR.menvcfg, 0, 1 << 31); // STCE is bit 63
  m.cpu.csrWrite(CSR.stimecmp, 2, 0);
  assert.equal(m.cpu.stimecmpTicks(), 2);
  m.cpu.run(1);
  assert.equal(m.cpu.mip & MIP_STIP, 0, 'time 1 < 2');
  m.cpu.run(1);
  m.cpu.run(0);
  assert.equal(m.cpu.mip & MIP_STIP, MIP_STIP, 'time 2 >= 2');
  // With STCE clear, stimecmp from S-mode is illegal.
  const s = machineWith([A.csrrs(5, CSR.stimecmp, 0)]);
  enter(s, PRIV_S);
  step(s, 1);
  assert.equal(csr(s, CSR.mcause), 2n);
});

test('a stimecmp write ends run(), so the board can end the next slice at the new deadline', () => {
  // Checking for the interrupt in place is not enough: a deadline a few instructions ahead would
  // be passed and its interrupt taken wherever the slice happens to end (record and replay differ).
  const m = machineWith([A.csrrw(0, CSR.stimecmp, 5), A.addi(7, 7, 1), A.addi(7, 7, 1)]);
  setX(m, 5, 1000n);
  assert.equal(m.cpu.run(100), 1);
  assert.equal(csr(m, CSR.stimecmp), 1000n);
  // An mstatus write only re-checks interrupts in place: run() goes on.
  const n = machineWith([A.csrrs(0, CSR.mstatus, 6), A.addi(7, 7, 1), A.addi(7, 7, 1)]);
  setX(n, 6, 1n << 3n);
  assert.equal(n.cpu.run(3), 3);
});
