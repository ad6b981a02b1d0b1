/**
 * Host entries into a device (network frames, console bytes, link changes)
 * go through the transport's guard as guest notifies do: a guest that has
 * corrupted its receive ring gets its device marked DEVICE_NEEDS_RESET when
 * host input arrives, and the host call returns normally.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RAM, TestDriver } from './virtio-driver.js';
import { Reg, STATUS_NEEDS_RESET } from '../../src/devices/virtio/mmio.js';
import { VirtioNet } from '../../src/devices/virtio/net.js';
import { VirtioConsole } from '../../src/devices/virtio/console.js';

const W = true;
const MAC = Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56);

/** Ways a driver can wreck a receive queue without notifying the device. */
const corruptions: [string, (d: TestDriver) => void, RegExp][] = [
  ['available index jump', (d) => d.ram.setU16(d.queues[0].avail + 2, 0x8000), /jumped/],
  [
    'descriptor loop',
    (d) => {
      d.desc(0, 0, RAM + 0x50000, 2048, 3, 1);
      d.desc(0, 1, RAM + 0x50000, 2048, 3, 0);
      d.offer(0, 0, false);
    },
    /loops/,
  ],
  ['head out of range', (d) => d.offer(0, 999, false), /out of range/],
  [
    'indirect table outside RAM',
    (d) => {
      d.desc(0, 0, 0x1000, 64, 4, 0);
      d.offer(0, 0, false);
    },
    /indirect/,
  ],
];

function netDriver() {
  const net = new VirtioNet({ send: () => {} }, MAC);
  const d = new TestDriver(net);
  d.init();
  return { d, net };
}

function consoleDriver() {
  const con = new VirtioConsole({ write: () => {} });
  const d = new TestDriver(con);
  const [lo, hi] = d.features();
  d.init([lo & ~(1 << 1), hi]); // no MULTIPORT: input flows as soon as buffers are posted
  return { d, con };
}

function assertFailedCleanly(d: TestDriver, why: RegExp, what: string): void {
  assert.ok(d.r(Reg.Status) & STATUS_NEEDS_RESET, `${what}: DEVICE_NEEDS_RESET set`);
  assert.match(d.dev.failure ?? '', why, what);
  assert.ok(d.r(Reg.InterruptStatus) & 2, `${what}: configuration change interrupt`);
}

for (const [name, corrupt, why] of corruptions) {
  test(`virtio-net: a frame from the host into a corrupted RX ring (${name}) needs a reset, never throws`, () => {
    const { d, net } = netDriver();
    corrupt(d);
    assert.doesNotThrow(() => net.deliver(new Uint8Array(60).fill(1)));
    assertFailedCleanly(d, why, name);
    // Later frames are dropped while the device needs a reset; a reset brings it back.
    assert.doesNotThrow(() => net.deliver(new Uint8Array(60).fill(2)));
    d.init();
    const b = d.alloc(1526);
    d.submit(0, [{ addr: b, len: 1526, write: W }]);
    net.deliver(new Uint8Array(60).fill(3));
    assert.deepEqual(
      d.takeUsed(0).map((u) => u[1]),
      [72],
    );
    assert.equal(d.bytes(b + 12, 1)[0], 3);
  });

  test(`virtio-console: host input into a corrupted receive ring (${name}) needs a reset, never throws`, () => {
    const { d, con } = consoleDriver();
    corrupt(d);
    assert.doesNotThrow(() => con.deliver(new TextEncoder().encode('hello')));
    assertFailedCleanly(d, why, name);
  });
}

test('virtio-net: a link change while the device needs a reset is harmless', () => {
  const { d, net } = netDriver();
  d.ram.setU16(d.queues[0].avail + 2, 0x8000);
  net.deliver(new Uint8Array(60));
  d.ack();
  assert.doesNotThrow(() => net.setLink(false));
  assert.equal(net.linkUp, false);
});
