/**
 * State digests on a small machine with every kind of device: a digest
 * changes nothing the guest sees; a field of any device, or one byte of
 * RAM, changed between two digests is named at the next one (device,
 * field, both values; the exact page); a reader that starts between two
 * digests (a snapshot, a checkpoint) names them exactly too; damaged
 * digests are refused, never thrown on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtMachine, RAM_BASE, type VirtioSpec } from '../../src/machine/virt.js';
import { MemoryCowStore } from '../../src/host/block-cow.js';
import {
  DigestChecker,
  StateDigester,
  decodeDigest,
  digestsMatch,
  zeroRamHash,
  ZERO_RAM_SUMS,
} from '../../src/replay/state-digest.js';
import { LEAF_VALUE, stateLeaves } from '../../src/replay/state-leaves.js';
import type { State } from '../../src/snapshot/state.js';
import { OP_IMM, add, addi, auipc, encI, encJ, sd, slli } from '../../src/cpu/encode.js';

const T0 = 5,
  T1 = 6,
  T2 = 7,
  T3 = 28;
/** Loops forever writing a counter into eight pages at RAM_BASE + 1 MiB (6 instructions a turn). */
const PROGRAM = [
  auipc(T0, 0x100),
  addi(T1, 0, 0),
  addi(T1, T1, 1),
  encI(OP_IMM, 7, T2, T1, 7), // andi t2, t1, 7
  slli(T2, T2, 12),
  add(T3, T0, T2),
  sd(T1, T3, 0),
  encJ(0, -20),
];

/** A host action at an icount, done alike on every machine of a test (part of the workload). */
interface Poke {
  at: number;
  apply(vm: VirtMachine): void;
}

/** The test machine; `devices`: how many of its virtio devices (rng, blk, net, console) to plug. */
function makeMachine(inPlaceDisk = false, devices = 4): VirtMachine {
  const bytes = new Uint8Array(PROGRAM.length * 4);
  const dv = new DataView(bytes.buffer);
  PROGRAM.forEach((w, i) => dv.setUint32(4 * i, w, true));
  const disk = new Uint8Array(1 << 20);
  const store = inPlaceDisk
    ? {
        // A disk written in place: no saveState (a snapshot refuses it; a digest must not).
        size: disk.length,
        readOnly: false,
        read: (o: number, d: Uint8Array) => d.set(disk.subarray(o, o + d.length)),
        write: (o: number, s: Uint8Array) => disk.set(s, o),
        flush: () => {},
        close: () => {},
      }
    : new MemoryCowStore(disk, false);
  const virtio: VirtioSpec[] = [
    { kind: 'rng', source: { fill: (d) => d.fill(7) } },
    { kind: 'blk', store },
    { kind: 'net', sink: { send: () => {} }, mac: Uint8Array.of(2, 0, 0, 0, 0, 1) },
    { kind: 'console', sink: { write: () => {} } },
  ];
  return new VirtMachine(
    {
      memoryBytes: 16 << 20,
      bios: bytes,
      biosName: 'digest-test',
      append: '',
      insnsPerTick: 10,
      rtcStartUnixNs: 1_700_000_000_000_000_000,
      virtio: virtio.slice(0, devices),
    },
    () => {},
  );
}

function runTo(vm: VirtMachine, to: number, pokes: readonly Poke[] = []): void {
  const run = (until: number) => {
    while (vm.cpu.icount < until) {
      const r = vm.runSlice(until - vm.cpu.icount);
      assert.equal(r.result, 'budget', `the program runs on (at ${vm.cpu.icount})`);
    }
  };
  const due = pokes.filter((p) => p.at >= vm.cpu.icount && p.at < to).sort((a, b) => a.at - b.at);
  for (const p of due) {
    run(p.at);
    p.apply(vm);
  }
  run(to);
}

const POINTS = [0, 100_000, 200_000, 300_000];

/** The digests a recording of the workload holds at POINTS. */
function recordDigests(pokes: readonly Poke[] = []): Uint8Array[] {
  const vm = makeMachine();
  const d = new StateDigester(vm);
  return POINTS.map((p) => {
    runTo(vm, p, pokes);
    return d.take();
  });
}

type Fields = Record<string, unknown>;
const fieldsOf = (o: unknown) => o as Fields;

/** Replays the workload with `change` done at `at`; returns what the first mismatching digest says. */
function replayWith(change: Poke, pokes: readonly Poke[] = []): { at: number; lines: string[] } {
  const rec = recordDigests(pokes);
  const vm = makeMachine();
  const checker = new DigestChecker(vm);
  for (let i = 0; i < POINTS.length; i++) {
    runTo(vm, POINTS[i], [...pokes, change]);
    const lines = checker.check(rec[i]);
    if (lines) return { at: POINTS[i], lines };
  }
  return { at: -1, lines: [] };
}

test("RAM's hash when all of it is zero: the precomputed sums are the sums of their terms, for any size", () => {
  for (const [pages, sum] of ZERO_RAM_SUMS)
    assert.equal(zeroRamHash(pages, []), sum, `${pages} pages`);
  // Sizes between the table's: from the largest entry below, term by term.
  for (const pages of [0, 1, 4095, 4097, 65536 + 3, 200_000])
    assert.equal(zeroRamHash(pages), zeroRamHash(pages, []), `${pages} pages`);
  // A machine's first digest has the same RAM hash as one summed term by term (digests start from it).
  assert.equal(new StateDigester(makeMachine()).ramHash, zeroRamHash(4096, []));
});

test('taking a digest changes nothing the guest sees, and works with a disk written in place', () => {
  for (const inPlace of [false, true]) {
    const vm = makeMachine(inPlace);
    runTo(vm, 123_457);
    const before = vm.saveState({ digest: true });
    const ram = vm.bus.ram8.slice();
    const full = inPlace ? undefined : vm.saveState();
    const d = new StateDigester(vm);
    d.take();
    d.take();
    assert.deepEqual(vm.saveState({ digest: true }), before);
    if (full) assert.deepEqual(vm.saveState(), full, 'the full state, disk included');
    assert.ok(Buffer.from(vm.bus.ram8).equals(Buffer.from(ram)), 'RAM untouched');
  }
});

test('a run with a digest every few hundred instructions ends as a run without digests', () => {
  const plain = makeMachine();
  runTo(plain, 200_000);
  const digested = makeMachine();
  const d = new StateDigester(digested);
  for (let at = 0; at < 200_000; at += 997) {
    runTo(digested, at);
    d.take();
  }
  runTo(digested, 200_000);
  assert.deepEqual(digested.saveState(), plain.saveState());
  assert.ok(Buffer.from(digested.bus.ram8).equals(Buffer.from(plain.bus.ram8)));
});

test('the same machine digests alike; a digest of another state does not match', () => {
  const a = recordDigests();
  const b = recordDigests();
  for (let i = 0; i < a.length; i++) assert.ok(digestsMatch(a[i], b[i]), `digest ${i}`);
  assert.ok(!digestsMatch(a[1], a[2]));
  const first = decodeDigest(a[0])!;
  assert.equal(first.pages.length, 0, 'the first digest lists no pages (RAM there is the images)');
  const second = decodeDigest(a[1])!;
  assert.deepEqual(
    Array.from({ length: second.pages.length / 2 }, (_, i) => second.pages[2 * i]),
    [256, 257, 258, 259, 260, 261, 262, 263],
    'the second lists the eight pages the program writes',
  );
});

test('a device field changed between two digests is named at the next, with both values', () => {
  const uart = replayWith({ at: 150_000, apply: (vm) => void (fieldsOf(vm.uart).scr = 0x5a) });
  assert.equal(uart.at, 200_000);
  assert.deepEqual(uart.lines, ['uart16550: scr recorded 0, replayed 90']);

  const queue = replayWith({
    at: 150_001,
    apply: (vm) => {
      const q = fieldsOf((fieldsOf(vm.virtio[1]).queues as unknown[])[0]);
      q.lastAvail = 17;
    },
  });
  assert.deepEqual(queue.lines, ['virtio-blk@slot 1: queue 0 lastAvail recorded 0, replayed 17']);

  // Input the guest has not taken yet: a list of byte arrays (one hash) and its size.
  const held = replayWith({ at: 250_000, apply: (vm) => vm.queueHvcInput(Uint8Array.of(1, 2, 3)) });
  assert.equal(held.at, 300_000);
  assert.deepEqual(held.lines, [
    'virtio-console@slot 3: incoming.items differs (replayed: 1 entry)',
    'virtio-console@slot 3: incoming.bytes recorded 0, replayed 3',
  ]);

  const reg = replayWith({ at: 199_999, apply: (vm) => void (vm.cpu.regs[18] = 0x1234) });
  assert.deepEqual(reg.lines, ['x9: recorded 0x0000000000000000, replayed 0x0000000000001234']);
});

test('one byte of RAM changed is named by its exact page', () => {
  const poke = (addr: number) => (vm: VirtMachine) => {
    vm.bus.ram8[addr - RAM_BASE] ^= 0x40;
    vm.bus.markDirty(addr, 1);
  };
  // A page nothing else writes, and one the program writes all the time.
  const quiet = replayWith({ at: 100_000, apply: poke(RAM_BASE + 0xabc123) });
  assert.deepEqual(quiet.lines, ['RAM differs in 1 page: 0x80abc000..0x80abcfff']);
  const busy = replayWith({ at: 234_567, apply: poke(RAM_BASE + 0x103800) });
  assert.deepEqual(busy.lines, ['RAM differs in 1 page: 0x80103000..0x80103fff']);
});

test('a reader that starts between two digests names fields and pages exactly', () => {
  // The workload changes a page and a device field at 120 k and puts them back at 180 k: both
  // differ at the snapshot (150 k) from what they are at the digests around it (100 k, 200 k).
  const page = RAM_BASE + 0x400000;
  const pokes: Poke[] = [
    { at: 120_000, apply: (vm) => vm.bus.writeBytes(page, Uint8Array.of(1, 2, 3)) },
    { at: 120_000, apply: (vm) => void (fieldsOf(vm.uart).scr = 0x11) },
    { at: 180_000, apply: (vm) => vm.bus.writeBytes(page, Uint8Array.of(0, 0, 0)) },
    { at: 180_000, apply: (vm) => void (fieldsOf(vm.uart).scr = 0) },
  ];
  const rec = recordDigests(pokes);
  const fromSnapshot = (change: Poke): string[] | undefined => {
    // A snapshot at 150 k of a faithful run, restored into a fresh machine.
    const orig = makeMachine();
    runTo(orig, 150_000, pokes);
    const vm = makeMachine();
    vm.loadState(orig.saveState());
    vm.bus.ram8.set(orig.bus.ram8);
    const checker = new DigestChecker(vm);
    checker.resync();
    runTo(vm, 200_000, [...pokes, change]);
    return checker.check(rec[2]);
  };
  assert.deepEqual(fromSnapshot({ at: 160_000, apply: (vm) => void (fieldsOf(vm.uart).lcr = 3) }), [
    'uart16550: lcr recorded 0, replayed 3',
  ]);
  assert.deepEqual(
    fromSnapshot({
      at: 160_000,
      apply: (vm) => {
        vm.bus.ram8[0x700010] = 9;
        vm.bus.markDirty(RAM_BASE + 0x700010, 1);
      },
    }),
    ['RAM differs in 1 page: 0x80700000..0x80700fff'],
  );
});

test('a recording whose fields are laid out otherwise (another vmrs) has its RAM checked', () => {
  // Made on a machine without the console: a state of another shape, the same RAM.
  const other = makeMachine(false, 3);
  const d = new StateDigester(other);
  const rec = POINTS.map((p) => {
    runTo(other, p);
    return d.take();
  });
  const vm = makeMachine();
  const checker = new DigestChecker(vm);
  runTo(vm, 0);
  assert.equal(checker.check(rec[0]), undefined);
  runTo(vm, 100_000);
  assert.equal(checker.check(rec[1]), undefined);
  assert.match(checker.note ?? '', /^RAM only: .* laid out as another vmrs version saved them/);
  vm.bus.ram8[0x123456] ^= 1;
  vm.bus.markDirty(RAM_BASE + 0x123456, 1);
  runTo(vm, 200_000);
  assert.deepEqual(checker.check(rec[2]), [
    checker.note,
    'RAM differs in 1 page: 0x80123000..0x80123fff',
  ]);
});

/** Seeded generator (mulberry32), so a failing run can be repeated. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The saved value at `path` ("virtio[1].queues[0].num", "cpu.csrLo[773]") and its holder. */
function locate(s: State, path: string): { holder: Record<string, unknown>; key: string } {
  const parts = path.split(/\.|(?=\[)/);
  let o: Record<string, unknown> = s;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i];
    o = (p.startsWith('[') ? (o as unknown as unknown[])[Number(p.slice(1, -1))] : o[p]) as Record<
      string,
      unknown
    >;
  }
  const last = parts[parts.length - 1];
  return { holder: o, key: last.startsWith('[') ? last.slice(1, -1) : last };
}

test('any one field of the saved state that differs is named, with values one bit apart', () => {
  const seed = Number(process.env.VMRS_TEST_SEED ?? Date.now() % 1e9);
  const random = rng(seed);
  const ref = makeMachine();
  runTo(ref, 50_000);
  const recorded = new StateDigester(ref);
  const rec = recorded.take();
  const named = stateLeaves(ref.saveState({ digest: true }), true);
  const candidates = named.kinds
    .map((k, i) => i)
    .filter((i) => named.kinds[i] === LEAF_VALUE && named.paths![i] !== 'clock.insnsPerTick');
  for (let n = 0; n < 60; n++) {
    const leaf = candidates[Math.floor(random() * candidates.length)];
    const path = named.paths![leaf];
    const vm = makeMachine();
    runTo(vm, 50_000);
    const checker = new DigestChecker(vm);
    const s = vm.saveState();
    const { holder, key } = locate(s, path);
    const v = holder[key];
    holder[key] = typeof v === 'boolean' ? !v : typeof v === 'bigint' ? v ^ 1n : (v as number) ^ 1;
    vm.loadState(s, true);
    const lines = checker.check(rec);
    const where = `seed ${seed} (VMRS_TEST_SEED), field ${path}`;
    assert.ok(lines && lines.length >= 1, where);
    const slot = /^virtio\[(\d+)\]/.exec(path);
    const expectWhere = slot
      ? `@slot ${slot[1]}: `
      : path.startsWith('cpu.')
        ? ''
        : {
            uart: 'uart16550: ',
            plic: 'plic: ',
            clint: 'clint: ',
            rtc: 'goldfish-rtc: ',
            clock: 'clock: ',
          }[path.split('.')[0]]!;
    assert.equal(lines.length, 1, `${where}: ${lines.join(' | ')}`);
    assert.ok(lines[0].startsWith(expectWhere), `${where}: ${lines[0]}`);
    assert.match(lines[0], /recorded .*, replayed /, where);
  }
});

test('damaged digests are refused, never thrown on', () => {
  const seed = Number(process.env.VMRS_TEST_SEED ?? Date.now() % 1e9);
  const random = rng(seed);
  const digests = recordDigests();
  const vm = makeMachine();
  const checker = new DigestChecker(vm);
  for (let n = 0; n < 150; n++) {
    const d = digests[Math.floor(random() * digests.length)].slice();
    const cut = random() < 0.3 ? Math.floor(random() * d.length) : d.length;
    const bad = d.subarray(0, cut);
    for (let k = 0; k < 3; k++)
      if (bad.length) bad[Math.floor(random() * bad.length)] ^= 1 << Math.floor(random() * 8);
    decodeDigest(bad);
    const lines = checker.check(bad);
    assert.ok(lines === undefined || lines.length > 0, `seed ${seed} (VMRS_TEST_SEED)`);
  }
});
