import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EventChunkEncoder,
  FORMAT_VERSION,
  RecordingFormatError,
  encodeHeader,
  encodeImageChunk,
  readRecording,
  type RecordingHeader,
} from '../../src/replay/log-format.js';
import { EMPTY, EventType, type RecordedEvent } from '../../src/replay/events.js';
import { crc32 } from '../../src/replay/crc32.js';

const header: RecordingHeader = {
  formatVersion: FORMAT_VERSION,
  vmrsVersion: 'test',
  createdUnixMs: 0,
  machine: {
    memoryBytes: 64 << 20,
    append: 'console=ttyS0',
    insnsPerTick: 100,
    rtcStartUnixNs: 1_700_000_000_000_000_000,
    consoleOn: 'uart',
  },
  bios: 'none',
  kernel: { path: 'k', size: 3, sha256: 'ab', embedded: true },
  devices: [{ kind: 'rng' }],
  digestInterval: 1000,
};

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function sampleEvents(n: number): RecordedEvent[] {
  const evs: RecordedEvent[] = [];
  let ic = 0;
  for (let i = 0; i < n; i++) {
    ic += (i * 7919) % 100_003;
    evs.push({
      type: ((i % 6) + 1) as EventType,
      icount: ic,
      arg: i % 3,
      value: i % 5 === 0 ? 2 ** 40 + i : i,
      data: i % 4 === 0 ? EMPTY : Uint8Array.from({ length: (i % 50) + 1 }, (_, j) => i + j),
    });
  }
  return evs;
}

/** A file with the header, an image chunk and the events cut into chunks of `per`. */
function makeFile(events: RecordedEvent[], per: number): { file: Uint8Array; chunkEnds: number[] } {
  const parts = [encodeHeader(header), encodeImageChunk('kernel', Uint8Array.of(1, 2, 3))];
  const enc = new EventChunkEncoder();
  events.forEach((e, i) => {
    enc.add(e);
    if ((i + 1) % per === 0) parts.push(enc.flush());
  });
  parts.push(enc.flush());
  const chunkEnds: number[] = [];
  let at = 0;
  for (const p of parts) chunkEnds.push((at += p.length));
  return { file: concat(parts), chunkEnds };
}

test('events and images round-trip through chunks, icounts beyond 2^32 included', () => {
  const events = sampleEvents(1000);
  events.push({ type: EventType.End, icount: 2 ** 45, arg: 0, value: 0, data: EMPTY });
  const { file } = makeFile(events, 97);
  const rec = readRecording(file);
  assert.equal(rec.damage, undefined);
  assert.deepEqual(rec.header, header);
  assert.deepEqual(rec.images.get('kernel'), Uint8Array.of(1, 2, 3));
  assert.equal(rec.events.length, events.length);
  for (let i = 0; i < events.length; i++) {
    const a = rec.events[i];
    const b = events[i];
    assert.equal(a.type, b.type, `event ${i} type`);
    assert.equal(a.icount, b.icount, `event ${i} icount`);
    assert.equal(a.arg, b.arg);
    assert.equal(a.value, b.value);
    assert.deepEqual(Array.from(a.data), Array.from(b.data));
  }
  assert.equal(rec.validBytes, file.length);
});

test('an empty chunk flush writes nothing; out-of-order events are refused', () => {
  const enc = new EventChunkEncoder();
  assert.equal(enc.flush().length, 0);
  enc.add({ type: EventType.Console, icount: 10, arg: 0, value: 0, data: EMPTY });
  assert.throws(
    () => enc.add({ type: EventType.Console, icount: 9, arg: 0, value: 0, data: EMPTY }),
    RangeError,
  );
});

test('a file cut anywhere reads up to its last whole chunk and says why it stopped', () => {
  const events = sampleEvents(300);
  const { file, chunkEnds } = makeFile(events, 50);
  const headerEnd = chunkEnds[0];
  // Every cut point inside the chunk area: never throws, never invents events.
  for (let cut = headerEnd; cut < file.length; cut += 37) {
    const rec = readRecording(file.subarray(0, cut));
    const whole = chunkEnds.filter((e) => e <= cut).length - 1; // chunks after the header
    assert.equal(rec.chunks, whole, `cut at ${cut}`);
    assert.equal(rec.validBytes, chunkEnds[whole]);
    const expectEvents = Math.min(events.length, Math.max(0, whole - 1) * 50);
    assert.equal(rec.events.length, expectEvents, `cut at ${cut}`);
    if (cut !== chunkEnds[whole]) assert.match(rec.damage ?? '', /truncated/);
  }
});

test('a flipped byte in a chunk stops reading at that chunk (checksum)', () => {
  const events = sampleEvents(200);
  const { file, chunkEnds } = makeFile(events, 50);
  const bad = file.slice();
  const inThird = chunkEnds[3] + 20; // inside the 3rd event chunk's stored bytes
  bad[inThird] ^= 0x40;
  const rec = readRecording(bad);
  assert.match(rec.damage ?? '', /corrupt \(checksum mismatch\)/);
  assert.equal(rec.events.length, 100);
  assert.equal(rec.validBytes, chunkEnds[3]);
});

test('garbage after the last chunk is reported, not parsed', () => {
  const { file } = makeFile(sampleEvents(10), 50);
  const rec = readRecording(concat([file, new TextEncoder().encode('not a chunk at all')]));
  assert.equal(rec.events.length, 10);
  assert.match(rec.damage ?? '', /no chunk marker/);
});

test('a chunk whose lengths lie is refused without allocating them', () => {
  const { file, chunkEnds } = makeFile(sampleEvents(10), 50);
  const bad = file.slice();
  const dv = new DataView(bad.buffer);
  // rawLength of the events chunk (after "CHNK" + kind): claim 4 GiB.
  dv.setUint32(chunkEnds[1] + 5, 0xffffffff, true);
  const rec = readRecording(bad);
  assert.equal(rec.events.length, 0);
  assert.match(rec.damage ?? '', /impossible length|does not decompress/);
});

test('a chunk that decompresses to other than its stated length is damage', () => {
  const { file, chunkEnds } = makeFile(sampleEvents(10), 50);
  const bad = file.slice();
  const dv = new DataView(bad.buffer);
  const raw = dv.getUint32(chunkEnds[1] + 5, true);
  dv.setUint32(chunkEnds[1] + 5, raw + 10, true);
  const rec = readRecording(bad);
  assert.equal(rec.events.length, 0);
  assert.ok(rec.damage);
});

test('headers: bad magic, other versions, corrupt or truncated JSON are clear errors', () => {
  const good = encodeHeader(header);
  assert.throws(
    () => readRecording(new TextEncoder().encode('hello world, not vmrs')),
    /bad magic/,
  );
  assert.throws(() => readRecording(new Uint8Array(0)), /bad magic/);
  const v2 = good.slice();
  new DataView(v2.buffer).setUint32(8, 99, true);
  assert.throws(() => readRecording(v2), /version 99 is not supported/);
  const flipped = good.slice();
  flipped[20] ^= 1;
  assert.throws(() => readRecording(flipped), /checksum mismatch/);
  assert.throws(() => readRecording(good.subarray(0, 30)), RecordingFormatError);
  // Valid checksum over JSON that is not a recording header.
  const json = new TextEncoder().encode('{"hello":1}');
  const fake = new Uint8Array(16 + json.length + 4);
  fake.set(good.subarray(0, 12));
  const dv = new DataView(fake.buffer);
  dv.setUint32(12, json.length, true);
  fake.set(json, 16);
  dv.setUint32(16 + json.length, crc32(json), true);
  assert.throws(() => readRecording(fake), /header is missing/);
});

test('the header alone is a valid, empty recording', () => {
  const rec = readRecording(encodeHeader(header));
  assert.equal(rec.events.length, 0);
  assert.equal(rec.chunks, 0);
  assert.equal(rec.damage, undefined);
});
