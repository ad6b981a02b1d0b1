import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore, RAM, RAM_SIZE, TestDriver } from './virtio-driver.js';
import { Reg, STATUS_FEATURES_OK, STATUS_NEEDS_RESET } from '../../src/devices/virtio/mmio.js';
import {
  VirtioBlk,
  type BlkRequestObserver,
  BLK_COMPLETION_TICKS,
  BLK_S_IOERR,
  BLK_S_OK,
  BLK_S_UNSUPP,
} from '../../src/devices/virtio/blk.js';
import { VirtioNet } from '../../src/devices/virtio/net.js';
import { VirtioRng } from '../../src/devices/virtio/rng.js';
import { VirtioConsole } from '../../src/devices/virtio/console.js';
import { BlockIoError } from '../../src/devices/virtio/backends.js';

const W = true;

function blkDriver(
  size = 1 << 16,
  readOnly = false,
  accept?: [number, number],
  onRequest?: BlkRequestObserver,
) {
  const store = new MemoryStore(size, readOnly);
  const d = new TestDriver(new VirtioBlk(store, 'vmrs-test-disk', onRequest));
  d.init(accept);
  return { d, store };
}

/** A virtio-blk request: header, data buffers, status byte. Returns the status and data addresses. */
function blkRequest(
  d: TestDriver,
  type: number,
  sector: number,
  data: { len: number; write?: boolean; fill?: Uint8Array }[],
) {
  const hdr = new Uint8Array(16);
  const dv = new DataView(hdr.buffer);
  dv.setUint32(0, type, true);
  dv.setUint32(8, sector % 0x100000000, true);
  dv.setUint32(12, Math.floor(sector / 0x100000000), true);
  const h = d.alloc(16, hdr);
  const bufs = data.map((b) => ({ addr: d.alloc(b.len, b.fill), len: b.len, write: b.write }));
  const st = d.alloc(1, Uint8Array.of(0xee));
  const head = d.submit(0, [{ addr: h, len: 16 }, ...bufs, { addr: st, len: 1, write: W }]);
  return { head, status: st, bufs };
}

test('virtio-mmio: identification registers, empty slot, features', () => {
  const empty = new TestDriver(undefined);
  assert.equal(empty.r(Reg.MagicValue), 0x74726976);
  assert.equal(empty.r(Reg.Version), 2);
  assert.equal(empty.r(Reg.DeviceId), 0);
  const { d } = blkDriver();
  assert.equal(d.r(Reg.DeviceId), 2);
  const [lo, hi] = d.features();
  assert.equal(hi & 1, 1, 'VIRTIO_F_VERSION_1 offered');
  assert.ok(lo & (1 << 28) && lo & (1 << 29), 'indirect descriptors and event index offered');
  assert.ok(lo & (1 << 9), 'flush offered');
  assert.equal(d.r(Reg.QueueNumMax), 256);
  d.w(Reg.QueueSel, 5);
  assert.equal(d.r(Reg.QueueNumMax), 0, 'absent queue');
  // Config space: capacity in sectors, little-endian, readable byte-wise too.
  assert.equal(d.dev.read(Reg.Config, 4), (1 << 16) / 512);
  assert.equal(d.dev.read(Reg.Config, 1), 128);
  assert.equal(d.dev.read(Reg.Config + 20, 4), 512);
});

test('virtio-mmio: FEATURES_OK only for an offered subset that includes VERSION_1', () => {
  const d = new TestDriver(new VirtioBlk(new MemoryStore(4096)));
  const [lo, hi] = d.features();
  d.init([lo | (1 << 0), hi]); // bit 0 (BARRIER) is not offered
  assert.equal(d.r(Reg.Status) & STATUS_FEATURES_OK, 0);
  d.init([lo, 0]); // legacy driver: no VERSION_1
  assert.equal(d.r(Reg.Status) & STATUS_FEATURES_OK, 0);
  d.init([lo, hi]);
  assert.ok(d.r(Reg.Status) & STATUS_FEATURES_OK);
});

test('virtio-blk: write, read back across several buffers, after a fixed virtual delay', () => {
  const { d, store } = blkDriver();
  const payload = new Uint8Array(1024).map((_, i) => (i * 7 + 3) & 0xff);
  const wr = blkRequest(d, 1, 3, [
    { len: 300, fill: payload.subarray(0, 300) },
    { len: 724, fill: payload.subarray(300) },
  ]);
  assert.equal(d.usedIdx(0), 0, 'not complete before the delay');
  d.advance(BLK_COMPLETION_TICKS - 1);
  assert.equal(d.usedIdx(0), 0);
  assert.equal(d.irq.level, false);
  d.advance(1);
  assert.deepEqual(d.takeUsed(0), [[wr.head, 1]]);
  assert.equal(d.irq.level, true);
  assert.equal(d.ack(), 1);
  assert.equal(d.irq.level, false);
  assert.equal(d.bytes(wr.status, 1)[0], BLK_S_OK);
  assert.deepEqual(store.data.subarray(3 * 512, 5 * 512), payload);

  const rd = blkRequest(d, 0, 3, [
    { len: 512, write: W },
    { len: 512, write: W },
  ]);
  d.advance(BLK_COMPLETION_TICKS);
  assert.deepEqual(d.takeUsed(0), [[rd.head, 1025]]);
  assert.equal(d.bytes(rd.status, 1)[0], BLK_S_OK);
  assert.deepEqual(d.bytes(rd.bufs[0].addr, 512), payload.subarray(0, 512));
  assert.deepEqual(d.bytes(rd.bufs[1].addr, 512), payload.subarray(512));
});

test('virtio-blk: flush, get-id, unsupported type, range and length errors, read-only disk; each request told to the observer', () => {
  const told: number[][] = [];
  const { d, store } = blkDriver(8192, false, undefined, (r) =>
    told.push([r.type, r.sector, r.bytes, r.status]),
  );
  const fl = blkRequest(d, 4, 0, []);
  const id = blkRequest(d, 8, 0, [{ len: 20, write: W }]);
  const unsupp = blkRequest(d, 99, 0, []);
  const past = blkRequest(d, 0, 16, [{ len: 512, write: W }]); // sector 16 = 8192: beyond the end
  const odd = blkRequest(d, 0, 0, [{ len: 100, write: W }]);
  const huge = blkRequest(d, 0, 2 ** 40, [{ len: 512, write: W }]);
  d.advance(BLK_COMPLETION_TICKS);
  assert.equal(d.takeUsed(0).length, 6);
  assert.equal(store.flushes, 1);
  assert.equal(d.bytes(fl.status, 1)[0], BLK_S_OK);
  assert.equal(new TextDecoder().decode(d.bytes(id.bufs[0].addr, 14)), 'vmrs-test-disk');
  assert.equal(d.bytes(unsupp.status, 1)[0], BLK_S_UNSUPP);
  assert.equal(d.bytes(past.status, 1)[0], BLK_S_IOERR);
  assert.equal(d.bytes(odd.status, 1)[0], BLK_S_IOERR);
  assert.equal(d.bytes(huge.status, 1)[0], BLK_S_IOERR);
  // (type, sector, data bytes, status) of each, in the order carried out.
  assert.deepEqual(told, [
    [4, 0, 0, BLK_S_OK],
    [8, 0, 0, BLK_S_OK],
    [99, 0, 0, BLK_S_UNSUPP],
    [0, 16, 512, BLK_S_IOERR],
    [0, 0, 100, BLK_S_IOERR],
    [0, 2 ** 40, 512, BLK_S_IOERR],
  ]);

  const ro = blkDriver(4096, true);
  const [lo] = ro.d.features();
  assert.ok(lo & (1 << 5), 'VIRTIO_BLK_F_RO offered');
  const w = blkRequest(ro.d, 1, 0, [{ len: 512, fill: new Uint8Array(512).fill(9) }]);
  ro.d.advance(BLK_COMPLETION_TICKS);
  assert.equal(ro.d.bytes(w.status, 1)[0], BLK_S_IOERR);
  assert.equal(ro.store.data[0], 0, 'read-only disk unchanged');
});

test('virtio-blk: a host I/O error becomes VIRTIO_BLK_S_IOERR', () => {
  const store = new MemoryStore(4096);
  store.read = () => {
    throw new BlockIoError('EIO');
  };
  const d = new TestDriver(new VirtioBlk(store));
  d.init();
  const r = blkRequest(d, 0, 0, [{ len: 512, write: W }]);
  d.advance(BLK_COMPLETION_TICKS);
  assert.equal(d.bytes(r.status, 1)[0], BLK_S_IOERR);
  assert.equal(d.r(Reg.Status) & STATUS_NEEDS_RESET, 0);
});

test('virtio-blk: indirect descriptors', () => {
  const { d, store } = blkDriver();
  store.data.fill(0x5a, 512, 1024);
  const hdr = new Uint8Array(16);
  hdr[8] = 1; // sector 1, read
  const table = d.alloc(48);
  const h = d.alloc(16, hdr);
  const buf = d.alloc(512);
  const st = d.alloc(1);
  const put = (i: number, a: number, l: number, f: number, n: number) => {
    d.ram.setU32(table + 16 * i, a);
    d.ram.setU32(table + 16 * i + 4, 0);
    d.ram.setU32(table + 16 * i + 8, l);
    d.ram.setU16(table + 16 * i + 12, f);
    d.ram.setU16(table + 16 * i + 14, n);
  };
  put(0, h, 16, 1, 1);
  put(1, buf, 512, 3, 2);
  put(2, st, 1, 2, 0);
  d.desc(0, 0, table, 48, 4, 0);
  d.offer(0, 0);
  d.advance(BLK_COMPLETION_TICKS);
  assert.deepEqual(d.takeUsed(0), [[0, 513]]);
  assert.equal(d.bytes(st, 1)[0], BLK_S_OK);
  assert.deepEqual(d.bytes(buf, 512), new Uint8Array(512).fill(0x5a));
});

test('virtio: event index suppresses interrupts until used_event is reached', () => {
  const { d } = blkDriver();
  const lay = d.queues[0];
  // used_event (after the avail ring) = 1: interrupt only when the second request completes.
  d.ram.setU16(lay.avail + 4 + 2 * lay.num, 1);
  blkRequest(d, 4, 0, []);
  d.advance(BLK_COMPLETION_TICKS);
  assert.equal(d.takeUsed(0).length, 1);
  assert.equal(d.irq.raised, 0, 'suppressed');
  // The device publishes avail_event = its next avail index.
  assert.equal(d.ram.u16(lay.used + 4 + 8 * lay.num), 1);
  blkRequest(d, 4, 0, []);
  d.advance(BLK_COMPLETION_TICKS);
  assert.equal(d.irq.raised, 1);
});

// --- a hostile driver

function assertNeedsReset(d: TestDriver, why: RegExp) {
  assert.ok(d.r(Reg.Status) & STATUS_NEEDS_RESET, 'DEVICE_NEEDS_RESET set');
  assert.match(d.dev.failure ?? '', why);
  assert.ok(d.r(Reg.InterruptStatus) & 2, 'configuration change interrupt');
  // Further notifications are ignored, and a reset brings the device back.
  d.w(Reg.QueueNotify, 0);
  d.init();
  assert.equal(d.r(Reg.Status) & STATUS_NEEDS_RESET, 0);
  const r = blkRequest(d, 4, 0, []);
  d.advance(BLK_COMPLETION_TICKS);
  assert.equal(d.bytes(r.status, 1)[0], BLK_S_OK, 'works again after reset');
}

test('hostile: a descriptor loop sets DEVICE_NEEDS_RESET, the host does not hang', () => {
  const { d } = blkDriver();
  d.desc(0, 0, RAM + 0x50000, 16, 1, 1);
  d.desc(0, 1, RAM + 0x50000, 16, 1, 0); // 1 -> 0 -> 1 ...
  d.offer(0, 0);
  assertNeedsReset(d, /loops/);
});

test('hostile: an indirect table that loops, nests or is misaligned', () => {
  for (const [name, setup] of [
    [
      'loop',
      (d: TestDriver, t: number) => {
        d.ram.setU32(t + 8, 16);
        d.ram.setU16(t + 12, 1);
        d.ram.setU16(t + 14, 0);
      },
    ],
    [
      'nested',
      (d: TestDriver, t: number) => {
        d.ram.setU32(t, t);
        d.ram.setU32(t + 8, 16);
        d.ram.setU16(t + 12, 4);
      },
    ],
  ] as const) {
    const { d } = blkDriver();
    const t = d.alloc(16);
    d.ram.setU32(t, RAM + 0x50000);
    setup(d, t);
    d.desc(0, 0, t, 16, 4, 0);
    d.offer(0, 0);
    assert.ok(d.r(Reg.Status) & STATUS_NEEDS_RESET, name);
  }
  const { d } = blkDriver();
  d.desc(0, 0, d.alloc(24), 24, 4, 0); // not a multiple of 16
  d.offer(0, 0);
  assertNeedsReset(d, /indirect/);
});

test('hostile: next index and head out of range, available index jump', () => {
  let { d } = blkDriver();
  d.desc(0, 0, RAM + 0x50000, 16, 1, 999);
  d.offer(0, 0);
  assertNeedsReset(d, /out of range/);
  ({ d } = blkDriver());
  d.offer(0, 500);
  assertNeedsReset(d, /out of range/);
  ({ d } = blkDriver());
  d.ram.setU16(d.queues[0].avail + 2, 300);
  d.w(Reg.QueueNotify, 0);
  assertNeedsReset(d, /jumped/);
});

test('hostile: buffers outside RAM and lengths past the end fail the request with IOERR', () => {
  const { d, store } = blkDriver();
  store.data.fill(1);
  const cases = [
    0x1000, // below RAM
    RAM + RAM_SIZE - 100, // straddles the end of RAM
    2 ** 52, // far away
  ];
  for (const addr of cases) {
    const hdr = d.alloc(16, new Uint8Array(16)); // read sector 0
    const st = d.alloc(1, Uint8Array.of(0xee));
    const head = d.submit(0, [
      { addr: hdr, len: 16 },
      { addr, len: 512, write: W },
      { addr: st, len: 1, write: W },
    ]);
    d.advance(BLK_COMPLETION_TICKS);
    assert.deepEqual(d.takeUsed(0), [[head, 1]]);
    assert.equal(d.bytes(st, 1)[0], BLK_S_IOERR, `buffer at 0x${addr.toString(16)}`);
  }
  // A 4 GiB length inside RAM's start: refused, RAM untouched after the buffer.
  const hdr = d.alloc(16, new Uint8Array(16));
  const buf = d.alloc(16);
  const st = d.alloc(1);
  d.submit(0, [
    { addr: hdr, len: 16 },
    { addr: buf, len: 0xffffffff, write: W },
    { addr: st, len: 1, write: W },
  ]);
  d.advance(BLK_COMPLETION_TICKS);
  assert.equal(d.bytes(st, 1)[0], BLK_S_IOERR);
  assert.equal(d.r(Reg.Status) & STATUS_NEEDS_RESET, 0);
});

test('hostile: a request with no header or no status byte, a queue used before set-up, rings outside RAM', () => {
  let { d } = blkDriver();
  d.submit(0, [{ addr: d.alloc(8), len: 8 }]);
  assertNeedsReset(d, /header/);

  const fresh = new TestDriver(new VirtioBlk(new MemoryStore(4096)));
  fresh.w(Reg.Status, 1 | 2 | 8 | 4); // DRIVER_OK with no queue set up
  fresh.w(Reg.QueueNotify, 0);
  assert.ok(fresh.r(Reg.Status) & STATUS_NEEDS_RESET);
  assert.match(fresh.dev.failure ?? '', /not set up/);

  ({ d } = blkDriver());
  d.w(Reg.QueueNotify, 7);
  assert.match(d.dev.failure ?? '', /absent/);

  ({ d } = blkDriver());
  d.w(Reg.Status, 0);
  d.w(Reg.Status, 1 | 2);
  d.setupQueue(0, 16, RAM + RAM_SIZE - 64);
  assert.ok(d.r(Reg.Status) & STATUS_NEEDS_RESET);
  assert.equal(d.r(Reg.QueueReady), 0);
  ({ d } = blkDriver());
  d.w(Reg.Status, 0);
  d.w(Reg.QueueSel, 0);
  d.w(Reg.QueueNum, 1000); // larger than QueueNumMax
  d.w(Reg.QueueReady, 1);
  assert.ok(d.r(Reg.Status) & STATUS_NEEDS_RESET);
});

test('hostile: random garbage rings never throw out of the device', () => {
  let seed = 12345;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let round = 0; round < 200; round++) {
    const { d } = blkDriver();
    const lay = d.queues[0];
    for (let i = 0; i < 16 * lay.num; i += 4) d.ram.setU32(lay.desc + i, (rnd() * 2 ** 32) >>> 0);
    for (let k = 0; k < 4; k++) d.offer(0, (rnd() * 20) | 0, false);
    d.w(Reg.QueueNotify, 0);
    d.advance(BLK_COMPLETION_TICKS);
    d.takeUsed(0);
  }
});

// --- net, rng, console

test('virtio-net: transmit strips the header; receive waits for buffers; link status', () => {
  const sent: Uint8Array[] = [];
  const mac = Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56);
  const net = new VirtioNet({ send: (f) => sent.push(f) }, mac);
  const d = new TestDriver(net);
  d.init();
  assert.deepEqual(
    Uint8Array.from({ length: 6 }, (_, i) => d.dev.read(Reg.Config + i, 1)),
    mac,
  );
  assert.equal(d.dev.read(Reg.Config + 6, 2), 1, 'link up');
  assert.equal(d.dev.read(Reg.Config + 10, 2), 1500, 'mtu');

  const frame = new Uint8Array(60).map((_, i) => i);
  const pkt = new Uint8Array(12 + 60);
  pkt.set(frame, 12);
  d.submit(1, [{ addr: d.alloc(72, pkt), len: 72 }]);
  assert.deepEqual(sent, [frame]);
  d.advance(100);
  assert.equal(d.takeUsed(1).length, 1);

  // Two frames from the host before any receive buffer: held, then delivered in order.
  net.deliver(Uint8Array.of(1, 2, 3));
  net.deliver(new Uint8Array(100).fill(7));
  const b1 = d.alloc(1526);
  const b2 = d.alloc(1526);
  d.submit(0, [{ addr: b1, len: 1526, write: W }]);
  d.submit(0, [{ addr: b2, len: 1526, write: W }]);
  const used = d.takeUsed(0);
  assert.deepEqual(
    used.map((u) => u[1]),
    [15, 112],
  );
  assert.deepEqual(d.bytes(b1 + 12, 3), Uint8Array.of(1, 2, 3));
  assert.equal(d.bytes(b1 + 10, 1)[0], 1, 'num_buffers');
  // A frame larger than the buffer is dropped, the buffer returned empty.
  d.submit(0, [{ addr: d.alloc(64), len: 64, write: W }]);
  net.deliver(new Uint8Array(200));
  assert.deepEqual(
    d.takeUsed(0).map((u) => u[1]),
    [0],
  );
  assert.equal(net.stats.rxDropped, 1);

  d.ack();
  net.setLink(false);
  assert.equal(d.dev.read(Reg.Config + 6, 2), 0);
  assert.equal(d.ack(), 2, 'config change interrupt');
});

test('virtio-rng: fills buffers from the entropy source, bounded per request', () => {
  let calls = 0;
  const rng = new VirtioRng({ fill: (b) => (calls++, b.fill(0xab)) });
  const d = new TestDriver(rng);
  d.init();
  const a = d.alloc(64);
  const head = d.submit(0, [{ addr: a, len: 64, write: W }]);
  d.advance(1000);
  assert.deepEqual(d.takeUsed(0), [[head, 64]]);
  assert.deepEqual(d.bytes(a, 64), new Uint8Array(64).fill(0xab));
  d.submit(0, [{ addr: d.alloc(16), len: 200000, write: W }]);
  d.advance(1000);
  assert.equal(d.takeUsed(0)[0][1], 4096);
  assert.equal(calls, 2);
});

test('virtio-console without MULTIPORT: output to the sink, input held until the guest posts buffers', () => {
  const out: number[] = [];
  const con = new VirtioConsole({ write: (b) => out.push(...b) });
  const d = new TestDriver(con);
  con.deliver(new TextEncoder().encode('typed early'));
  const [lo, hi] = d.features();
  d.init([lo & ~(1 << 1), hi]);
  d.submit(1, [{ addr: d.alloc(5, new TextEncoder().encode('hello')), len: 5 }]);
  assert.equal(String.fromCharCode(...out), 'hello');
  const b = d.alloc(4);
  d.submit(0, [{ addr: b, len: 4, write: W }]);
  assert.equal(new TextDecoder().decode(d.bytes(b, 4)), 'type');
  assert.equal(con.hasPendingInput(), true);
  const b2 = d.alloc(64);
  d.submit(0, [{ addr: b2, len: 64, write: W }]);
  assert.deepEqual(
    d.takeUsed(0).map((u) => u[1]),
    [4, 7],
  );
  assert.equal(con.hasPendingInput(), false);
});

test('virtio-console with MULTIPORT: the port-0 handshake, and input held until the driver opens the port', () => {
  const con = new VirtioConsole({ write: () => {} });
  const d = new TestDriver(con);
  con.deliver(new TextEncoder().encode('piped at start'));
  d.init();
  const msg = (id: number, event: number, value: number) => {
    const m = new Uint8Array(8);
    const v = new DataView(m.buffer);
    v.setUint32(0, id, true);
    v.setUint16(4, event, true);
    v.setUint16(6, value, true);
    return m;
  };
  const ctrlBufs = Array.from({ length: 4 }, () => d.alloc(8));
  for (const b of ctrlBufs) d.submit(2, [{ addr: b, len: 8, write: W }]);
  const received = () =>
    d.takeUsed(2).map(([head]) => {
      const v = new DataView(d.bytes(ctrlBufs[head], 8).slice().buffer);
      return [v.getUint32(0, true), v.getUint16(4, true), v.getUint16(6, true)];
    });
  const send = (m: Uint8Array) => d.submit(3, [{ addr: d.alloc(8, m), len: 8 }]);
  const rx = d.alloc(64);
  d.submit(0, [{ addr: rx, len: 64, write: W }]);
  assert.deepEqual(d.takeUsed(0), [], 'no input before the port exists');

  send(msg(0xffffffff, 0, 1)); // DEVICE_READY
  assert.deepEqual(received(), [[0, 1, 0]], 'PORT_ADD for port 0');
  send(msg(0, 3, 1)); // PORT_READY
  assert.deepEqual(received(), [
    [0, 4, 1], // CONSOLE_PORT
    [0, 6, 1], // PORT_OPEN: the host side is connected
  ]);
  assert.equal(d.takeUsed(3).length, 2, 'control messages from the driver are returned');
  assert.deepEqual(d.takeUsed(0), [], 'no input before the driver opens the port');
  assert.equal(con.hasPendingInput(), true);

  send(msg(0, 6, 1)); // the driver opened port 0
  assert.deepEqual(d.takeUsed(0), [[0, 14]]);
  assert.equal(new TextDecoder().decode(d.bytes(rx, 14)), 'piped at start');
  send(msg(0, 6, 0)); // closed again: input waits
  con.deliver(new TextEncoder().encode('later'));
  d.submit(0, [{ addr: d.alloc(64), len: 64, write: W }]);
  assert.deepEqual(d.takeUsed(0), []);
  // Garbage on the control queue (short, unknown events, other ports) is returned and ignored.
  d.submit(3, [{ addr: d.alloc(3), len: 3 }]);
  send(msg(7, 6, 1));
  send(msg(0, 99, 1));
  assert.equal(con.hasPendingInput(), true);
});
