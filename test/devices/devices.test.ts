/** Unit tests of the board's devices, driven through their MMIO registers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Plic } from '../../src/devices/plic.js';
import { Clint } from '../../src/devices/clint.js';
import { Uart16550 } from '../../src/devices/uart16550.js';
import { SifiveTest } from '../../src/devices/sifive-test.js';
import { GoldfishRtc } from '../../src/devices/goldfish-rtc.js';
import {
  MIP_MEIP,
  MIP_MSIP,
  MIP_MTIP,
  MIP_SEIP,
  type HartInterruptLines,
} from '../../src/devices/device.js';

function lines(): HartInterruptLines & { mip: number } {
  const l = {
    mip: 0,
    setPending(_h: number, mask: number, level: boolean) {
      l.mip = level ? l.mip | mask : l.mip & ~mask;
    },
  };
  return l;
}

test('PLIC: priority, threshold, claim/complete, per-context enables', () => {
  const l = lines();
  const plic = new Plic(l, 1, 96);
  const a = plic.irq(10),
    b = plic.irq(11);
  plic.write(4 * 10, 4, 1);
  plic.write(4 * 11, 4, 2);
  plic.write(0x2080, 4, (1 << 10) | (1 << 11)); // S context enables
  a.set(true);
  b.set(true);
  assert.equal(l.mip & MIP_SEIP, MIP_SEIP);
  assert.equal(l.mip & MIP_MEIP, 0, 'M context has nothing enabled');
  assert.equal(plic.read(0x1000, 4), (1 << 10) | (1 << 11), 'pending bits');
  // highest priority first
  assert.equal(plic.read(0x201004, 4), 11);
  assert.equal(plic.read(0x201004, 4), 10);
  assert.equal(plic.read(0x201004, 4), 0, 'nothing left to claim');
  assert.equal(l.mip & MIP_SEIP, 0);
  // completing a still-asserted source pends it again
  plic.write(0x201004, 4, 11);
  assert.equal(l.mip & MIP_SEIP, MIP_SEIP);
  // threshold masks priorities at or below it
  plic.write(0x201000, 4, 2);
  assert.equal(l.mip & MIP_SEIP, 0);
  plic.write(0x201000, 4, 1);
  assert.equal(plic.read(0x201004, 4), 11);
  b.set(false);
  plic.write(0x201004, 4, 11);
  plic.write(0x201004, 4, 10);
  a.set(false);
  assert.equal(l.mip & MIP_SEIP, 0);
  // equal priorities: lowest id wins
  plic.write(4 * 11, 4, 1);
  plic.write(0x201000, 4, 0);
  a.set(true);
  b.set(true);
  assert.equal(plic.read(0x201004, 4), 10);
});

test('CLINT: mtime from the time source, mtimecmp raises MTIP, msip raises MSIP', () => {
  const l = lines();
  let now = 1000;
  const clint = new Clint(l, { now: () => now });
  assert.equal(clint.read(0xbff8, 4), 1000);
  assert.equal(clint.nextDeadline(0), Infinity, 'reset mtimecmp is all ones');
  clint.write(0x4004, 4, 0);
  clint.write(0x4000, 4, 1500);
  assert.equal(clint.nextDeadline(0), 1500);
  assert.equal(l.mip & MIP_MTIP, 0);
  now = 1500;
  clint.update();
  assert.equal(l.mip & MIP_MTIP, MIP_MTIP);
  clint.write(0x4000, 4, 3000);
  assert.equal(l.mip & MIP_MTIP, 0);
  clint.write(0, 4, 1);
  assert.equal(l.mip & MIP_MSIP, MIP_MSIP);
  assert.equal(clint.read(0, 4), 1);
  clint.write(0, 4, 0);
  assert.equal(l.mip & MIP_MSIP, 0);
});

test('UART: transmit, receive FIFO, IIR priorities, THRE on enable', () => {
  let level = false;
  const out: number[] = [];
  const uart = new Uart16550({ set: (v) => (level = v) }, (b) => out.push(b));
  uart.write(0, 1, 0x41);
  assert.deepEqual(out, [0x41]);
  assert.equal(uart.read(5, 1) & 0x60, 0x60, 'THRE and TEMT');
  assert.equal(uart.rxListening(), false);
  uart.write(2, 1, 0x01); // FIFO on
  uart.write(1, 1, 0x02); // ETBEI: THR is empty, so THRE is raised at once
  assert.equal(level, true);
  assert.equal(uart.read(2, 1) & 0x0f, 0x02);
  assert.equal(level, false, 'reading IIR clears THRE');
  uart.write(1, 1, 0x01); // ERBFI
  assert.equal(uart.rxListening(), true);
  const accepted = uart.receive(new TextEncoder().encode('x'.repeat(20)));
  assert.equal(accepted, 16, 'FIFO holds 16');
  assert.equal(level, true);
  assert.equal(uart.read(2, 1) & 0x0f, 0x04, 'RX data available');
  assert.equal(uart.read(5, 1) & 1, 1);
  for (let i = 0; i < 16; i++) assert.equal(uart.read(0, 1), 0x78);
  assert.equal(uart.read(5, 1) & 1, 0);
  assert.equal(level, false);
  // DLAB reaches the divisor latches
  uart.write(3, 1, 0x80);
  uart.write(0, 1, 0x12);
  assert.equal(uart.read(0, 1), 0x12);
  uart.write(3, 1, 0x03);
  assert.equal(out.length, 1, 'divisor writes do not transmit');
});

test('sifive_test: poweroff, fail with code, reset', () => {
  const seen: [string, number][] = [];
  const t = new SifiveTest((k, c) => seen.push([k, c]));
  t.write(0, 2, 0x5555);
  t.write(0, 4, (3 << 16) | 0x3333);
  t.write(0, 4, 0x3333);
  t.write(0, 4, 0x7777);
  t.write(0, 4, 0x1234);
  assert.deepEqual(seen, [
    ['poweroff', 0],
    ['fail', 3],
    ['fail', 1],
    ['reset', 0],
  ]);
});

test('goldfish RTC: time from virtual ticks, low read latches high, alarm', () => {
  let now = 0;
  let level = false;
  const start = 1_700_000_000_000_000_000n;
  const rtc = new GoldfishRtc({ set: (v) => (level = v) }, { now: () => now }, start);
  now = 10_000_000; // one second
  const lo = rtc.read(0);
  const hi = rtc.read(4);
  assert.equal((BigInt(hi) << 32n) | BigInt(lo), start + 1_000_000_000n);
  rtc.write(0x10, 4, 1);
  const alarm = start + 2_000_000_000n;
  rtc.write(0x0c, 4, Number(alarm >> 32n));
  rtc.write(0x08, 4, Number(alarm & 0xffffffffn));
  assert.equal(rtc.nextDeadline(), 20_000_000);
  rtc.update();
  assert.equal(level, false);
  now = 20_000_000;
  rtc.update();
  assert.equal(level, true);
  rtc.write(0x1c, 4, 1);
  assert.equal(level, false);
});
