/**
 * Checkpoints and the index in the recording file (format version 3), on a
 * bare-metal program that keeps writing across 1 MiB of RAM: each
 * checkpoint restores to exactly the machine recorded there; the index
 * lists what a scan of the file finds; no checkpoint takes pages from more
 * than REFRESH_AFTER checkpoints back; damage is refused, never applied.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateInParts } from '../../src/host/deflate-native.js';
import { Recorder } from '../../src/replay/recorder.js';
import {
  CHUNK_CHECKPOINT,
  FORMAT_VERSION,
  readChunkAt,
  readRecording,
  type ParsedRecording,
} from '../../src/replay/log-format.js';
import {
  AS_LOADED,
  CheckpointBuilder,
  REFRESH_AFTER,
  parseCheckpoint,
} from '../../src/replay/checkpoint-chunk.js';
import { openReplayOf } from '../../src/cli/open-replay.js';
import { bareElf, bareVirt, headerFor } from '../fuzz/crafted.js';
import { OP_IMM, add, addi, bne, encI, encJ, lui, slli, sw } from '../cpu/asm.js';

const andi = (rd: number, rs1: number, imm: number) => encI(OP_IMM, 7, rd, rs1, imm);
// t0 = 0x80100000; t1 = 0; loop: store t1 at t0 + (t1 & 255) * 4096; t1++.
const WRITER = [
  lui(5, 0x40080),
  slli(5, 5, 1),
  addi(6, 0, 0),
  andi(7, 6, 255),
  slli(7, 7, 12),
  add(7, 7, 5),
  sw(6, 7, 0),
  addi(6, 6, 1),
  encJ(0, -20),
];

interface Recorded {
  file: Uint8Array;
  /** RAM and pc at each checkpoint, as the recording machine had them. */
  at: { icount: number; ram: Uint8Array; pc: number }[];
}

/** Record the writer until `checkpoints` are taken; keep RAM as it was at those numbered in `keep`. */
async function recordWriter(checkpoints: number, keep: number[] = []): Promise<Recorded> {
  const kernel = bareElf(WRITER);
  const header = { ...headerFor(kernel), digestInterval: 100_000 };
  const parts: Uint8Array[] = [];
  // Memory readied for captures is left full of junk: a capture must write every byte it uses.
  const readied = new Set<ArrayBufferLike>();
  let intoReadied = 0;
  const rec = new Recorder((b) => parts.push(b.slice()), header, {
    images: new Map([['kernel', kernel]]),
    schedule: { instructions: 30_000, guestTicks: Infinity },
    compress: (raw) => {
      if (readied.has(raw.buffer)) intoReadied++;
      // In three parts laid end to end, as the CLI's compressor does with large checkpoints.
      return deflateInParts(raw, 3, 1);
    },
    prefault: (buf) => {
      buf.fill(0xa5);
      readied.add(buf.buffer);
      return Promise.resolve();
    },
  });
  const vm = bareVirt(kernel);
  rec.attach(vm);
  const at: Recorded['at'] = [];
  while (rec.checkpointsTaken < checkpoints) {
    const slice = Math.max(1, Math.min(10_000, rec.nextDigestAt - vm.cpu.icount));
    vm.runSlice(slice);
    if (vm.cpu.icount === rec.nextDigestAt) rec.digestNow();
    const taken = rec.checkpointsTaken;
    rec.maybeCheckpoint();
    if (rec.checkpointsTaken > taken)
      at.push({
        icount: vm.cpu.icount,
        ram: keep.includes(taken) ? vm.bus.ram8.slice() : new Uint8Array(0),
        pc: vm.cpu.pcLo,
      });
    // Let the compressor's promise settle, as the event loop would between slices.
    await new Promise((r) => setImmediate(r));
  }
  // Captures went into readied memory (the first checkpoint's, at least: later ones may fit
  // in the memory of the one before).
  assert.ok(intoReadied > 0, 'no capture used memory readied for it');
  // A little more after the last checkpoint (readers leave out one at the recording's last icount).
  vm.runSlice(1000);
  rec.end({ kind: 'stopped', status: 0 });
  await rec.close();
  const file = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    file.set(p, o);
    o += p.length;
  }
  return { file, at };
}

function sameLists(a: ParsedRecording, b: ParsedRecording): void {
  assert.deepEqual(
    a.checkpoints.map((c) => [c.seq, c.icount, c.eventIndex, c.digests, c.at, c.storedLength]),
    b.checkpoints.map((c) => [c.seq, c.icount, c.eventIndex, c.digests, c.at, c.storedLength]),
  );
  const ev = (r: ParsedRecording) =>
    r.events.chunks.map((c) => [
      c.at,
      c.storedLength,
      c.rawLength,
      c.firstIndex,
      c.count,
      c.lastIcount,
      c.pulls,
    ]);
  assert.deepEqual(ev(a), ev(b));
  assert.equal(a.events.count, b.events.count);
}

test('each checkpoint restores the machine recorded there; the index lists what a scan finds', async () => {
  const n = REFRESH_AFTER + 8;
  const order = [n - 1, 0, 5, REFRESH_AFTER + 3, 1, n - 2];
  const { file, at } = await recordWriter(n, order);
  const rec = readRecording(file);
  assert.equal(rec.indexed, true);
  assert.equal(rec.checkpoints.length, n);
  assert.equal(at.length, n);
  assert.deepEqual(
    rec.checkpoints.map((c) => c.icount),
    at.map((a) => a.icount),
  );

  // Without its footer (a killed recorder) the file is scanned: the same lists.
  const scanned = readRecording(file.subarray(0, file.length - 16));
  assert.equal(scanned.indexed, false);
  assert.equal(scanned.damage, undefined);
  sameLists(rec, scanned);
  // A damaged index is not trusted either.
  const bad = file.slice();
  bad[file.length - 20] ^= 1;
  const rescanned = readRecording(bad);
  assert.equal(rescanned.indexed, false);
  sameLists(rec, rescanned);

  // Pages come from at most REFRESH_AFTER checkpoints back, so a restore reads that many at most.
  const pages = (16 << 20) / 4096;
  for (const c of rec.checkpoints) {
    const cp = parseCheckpoint(
      readChunkAt(rec.source, c.at, CHUNK_CHECKPOINT, c.storedLength, c.rawLength),
      pages,
      rec.version,
    );
    // Each holds what changed since the one before, the writer's 256 pages, and nothing else.
    assert.equal(cp.own.size, 256, `checkpoint ${c.seq}`);
    for (const m of cp.map)
      if (m !== 0 && m !== AS_LOADED)
        assert.ok(
          m - 1 <= c.seq && c.seq - (m - 1) < REFRESH_AFTER,
          `checkpoint ${c.seq} takes from ${m - 1}`,
        );
  }
  // The program's page and the device tree, never written, are as the images load them:
  // said so in every checkpoint's map, stored in none. A version-4 file cannot say it.
  const first = rec.checkpoints[0];
  const firstRaw = readChunkAt(
    rec.source,
    first.at,
    CHUNK_CHECKPOINT,
    first.storedLength,
    first.rawLength,
  );
  const cp0 = parseCheckpoint(firstRaw, pages, rec.version);
  assert.equal(cp0.map[0], AS_LOADED, 'the program page');
  assert.ok(!cp0.own.has(0));
  assert.ok(cp0.map.filter((m) => m === AS_LOADED).length >= 2, 'the program and the device tree');
  assert.throws(() => parseCheckpoint(firstRaw, pages, 4), /page 0 is said to be as loaded/);

  // Restored in any order onto one machine: RAM and pc as recorded; the replay goes on to the end.
  const o = openReplayOf(rec, { verify: true, log: () => {}, stdout: () => {} });
  for (const k of order) {
    // The program's page changed meanwhile (as after running elsewhere): the restore puts it back.
    o.vm.bus.writeBytes(o.vm.bus.ramBase, new Uint8Array(4096).fill(0x5a));
    const st = o.replayer.startAtCheckpoint(k);
    assert.equal(st.state, 'running', `checkpoint ${k}: ${JSON.stringify(st)}`);
    assert.equal(o.vm.cpu.icount, at[k].icount);
    assert.equal(o.vm.cpu.pcLo, at[k].pc);
    assert.ok(Buffer.from(o.vm.bus.ram8).equals(Buffer.from(at[k].ram)), `RAM at checkpoint ${k}`);
  }
  o.replayer.startAtCheckpoint(3);
  const end = o.replayer.runTo(Number.MAX_SAFE_INTEGER);
  assert.equal(end.state, 'done', JSON.stringify(end));
});

for (const engine of ['translate', 'interp'] as const)
  test(`a page sorted out ahead of a build (zero, as loaded) and written after is stored (${engine})`, () => {
    // Spin 2,000 turns, then write a word into a page never written and one into the
    // program's own page (as loaded until then), then spin.
    const program = [
      addi(6, 0, 2000),
      addi(6, 6, -1),
      bne(6, 0, -4),
      lui(5, 0x40080),
      slli(5, 5, 1), // t0 = 0x80100000
      lui(28, 0x40000),
      slli(28, 28, 1), // t3 = 0x80000000
      addi(7, 0, 0x77),
      sw(7, 5, 0),
      sw(7, 28, 0x7f0),
      encJ(0, 0),
    ];
    const vm = bareVirt(bareElf(program));
    vm.cpu.engine = engine;
    const builder = new CheckpointBuilder(vm);
    vm.runSlice(1000);
    // Readying memory for the capture sorts the written pages out: neither is to be stored.
    builder.estimateBytes();
    vm.runSlice(20_000);
    assert.equal(vm.bus.ram8[0x100000], 0x77, 'the program ran its stores');
    assert.equal(vm.bus.ram8[0x7f0], 0x77);
    const { raw } = builder.build(0, 0);
    const cp = parseCheckpoint(raw, (16 << 20) / 4096, FORMAT_VERSION);
    for (const p of [0, 0x100]) {
      assert.equal(cp.map[p], 1, `page ${p} is in this checkpoint`);
      const at = cp.own.get(p)!;
      assert.ok(
        Buffer.from(raw.subarray(at, at + 4096)).equals(
          Buffer.from(vm.bus.ram8.subarray(p * 4096, p * 4096 + 4096)),
        ),
        `page ${p} as RAM holds it`,
      );
    }
  });

test('a damaged checkpoint is refused before the machine is touched', async () => {
  const { file } = await recordWriter(4);
  const rec = readRecording(file);
  const c = rec.checkpoints[2];
  const bad = file.slice();
  bad[c.at + (c.storedLength >> 1)] ^= 0x10;
  const r = readRecording(bad);
  // Through the index, the damage shows only when the checkpoint is read.
  assert.equal(r.indexed, true);
  const o = openReplayOf(r, { verify: true, log: () => {}, stdout: () => {} });
  const pc = o.vm.cpu.pcLo;
  assert.throws(() => o.replayer.startAtCheckpoint(2), /checkpoint 2 .*cannot be read.*checksum/);
  assert.equal(o.vm.cpu.icount, 0);
  assert.equal(o.vm.cpu.pcLo, pc);
  // The others still restore; a scan of the file stops at the damage.
  assert.equal(o.replayer.startAtCheckpoint(1).state, 'running');
  // A seek (as GDB's) past the damaged checkpoint falls back to the checkpoints kept in memory
  // and lands in the state a replay of the sound file has there.
  const quiet = { verify: true, log: () => {}, stdout: () => {} };
  const target = c.icount + 1234;
  const good = openReplayOf(readRecording(file), quiet);
  assert.equal(good.replayer.runTo(target).state, 'paused');
  const seeker = openReplayOf(readRecording(bad), quiet);
  seeker.replayer.enableCheckpoints({ interval: 10_000, memoryBudget: 64 << 20 });
  assert.equal(seeker.replayer.seek(c.icount - 5000).state, 'paused');
  assert.equal(seeker.replayer.seek(target).state, 'paused');
  assert.equal(seeker.vm.cpu.pcLo, good.vm.cpu.pcLo);
  assert.ok(Buffer.from(seeker.vm.bus.ram8).equals(Buffer.from(good.vm.bus.ram8)));
  // ...and back again, behind it, and forward through it once more.
  assert.equal(seeker.replayer.seek(target - 20_000).state, 'paused');
  assert.equal(seeker.replayer.seek(target).state, 'paused');
  assert.ok(Buffer.from(seeker.vm.bus.ram8).equals(Buffer.from(good.vm.bus.ram8)));

  const scanned = readRecording(bad.subarray(0, bad.length - 16));
  assert.equal(scanned.checkpoints.length, 2);
  assert.match(scanned.damage ?? '', /checksum mismatch/);
  assert.equal(scanned.cutShort, false);
});
