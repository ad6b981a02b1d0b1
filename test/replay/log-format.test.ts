import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EventChunkEncoder,
  FORMAT_VERSION,
  RecordingFormatError,
  allEvents,
  encodeHeader,
  encodeImageChunk,
  readRecording,
  type RecordingHeader,
  frameChunk,
  CHUNK_INDEX,
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
  kernel: { path: 'k', size: 3, sha256: 'ab'.repeat(32), embedded: true },
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
  assert.equal(rec.events.count, events.length);
  const read = allEvents(rec);
  for (let i = 0; i < events.length; i++) {
    const a = read[i];
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
    assert.equal(rec.events.count, expectEvents, `cut at ${cut}`);
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
  assert.equal(rec.events.count, 100);
  assert.equal(rec.validBytes, chunkEnds[3]);
});

test('garbage after the last chunk is reported, not parsed', () => {
  const { file } = makeFile(sampleEvents(10), 50);
  const rec = readRecording(concat([file, new TextEncoder().encode('not a chunk at all')]));
  assert.equal(rec.events.count, 10);
  assert.match(rec.damage ?? '', /no chunk marker/);
});

test('a chunk whose lengths lie is refused without allocating them', () => {
  const { file, chunkEnds } = makeFile(sampleEvents(10), 50);
  const bad = file.slice();
  const dv = new DataView(bad.buffer);
  // rawLength of the events chunk (after "CHNK" + kind): claim 4 GiB.
  dv.setUint32(chunkEnds[1] + 5, 0xffffffff, true);
  const rec = readRecording(bad);
  assert.equal(rec.events.count, 0);
  assert.match(rec.damage ?? '', /impossible length|does not decompress/);
});

test('a chunk that decompresses to other than its stated length is damage', () => {
  const { file, chunkEnds } = makeFile(sampleEvents(10), 50);
  const bad = file.slice();
  const dv = new DataView(bad.buffer);
  const raw = dv.getUint32(chunkEnds[1] + 5, true);
  dv.setUint32(chunkEnds[1] + 5, raw + 10, true);
  const rec = readRecording(bad);
  assert.equal(rec.events.count, 0);
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
  assert.throws(() => readRecording(fake), /corrupt header: machine is missing/);
});

test('the header alone is a valid, empty recording', () => {
  const rec = readRecording(encodeHeader(header));
  assert.equal(rec.events.count, 0);
  assert.equal(rec.chunks, 0);
  assert.equal(rec.damage, undefined);
});

test('cursors: positions kept and gone back to, icount seeks, pull/push skipping across chunks', () => {
  const events = sampleEvents(700);
  const { file } = makeFile(events, 64);
  const log = readRecording(file).events;
  assert.equal(log.count, 700);
  assert.equal(log.lastIcount, events[699].icount);
  const c = log.cursor();
  const kept: { at: number; pos: typeof c.position }[] = [];
  for (let i = 0; i < 700; i++) {
    assert.equal(c.index, i);
    assert.equal(c.peek()!.icount, events[i].icount, `event ${i}`);
    if (i % 97 === 0) kept.push({ at: i, pos: c.position });
    c.advance();
  }
  assert.equal(c.peek(), undefined);
  assert.equal(c.index, 700);
  for (const k of kept.reverse()) {
    c.position = k.pos;
    assert.equal(c.index, k.at);
    assert.deepEqual(Array.from(c.peek()!.data), Array.from(events[k.at].data));
  }
  // Seeks by icount agree with a search of the whole array.
  for (const i of [0, 1, 63, 64, 65, 300, 699]) {
    const ic = events[i].icount;
    c.seekIcount(ic, true);
    assert.equal(
      c.index,
      events.findIndex((e) => e.icount >= ic),
    );
    c.seekIcount(ic, false);
    const after = events.findIndex((e) => e.icount > ic);
    assert.equal(c.index, after < 0 ? 700 : after);
  }
  c.seekIcount(events[699].icount + 1, true);
  assert.equal(c.peek(), undefined);
  // Pull (entropy) and push cursors see exactly the events of their kind, in order.
  const pulls = events.filter((e) => e.type === EventType.Entropy).map((e) => e.icount);
  const seen: number[] = [];
  const p = log.cursor();
  for (p.toPull(); p.peek(); p.advance(), p.toPull()) seen.push(p.peek()!.icount);
  assert.deepEqual(seen, pulls);
  let pushes = 0;
  const q = log.cursor();
  for (q.toPush(); q.peek(); q.advance(), q.toPush()) pushes++;
  assert.equal(pushes, 700 - pulls.length);
});

test('events chunks claiming more than deflate can give, or more than a chunk may hold, are damage', () => {
  const parts = [encodeHeader(header)];
  const enc = new EventChunkEncoder();
  enc.add({ type: EventType.Console, icount: 5, arg: 0, value: 0, data: Uint8Array.of(65) });
  const good = enc.flush();
  parts.push(good);
  // The same chunk claiming 2000x its stored size.
  const bad = good.slice();
  const dv = new DataView(bad.buffer);
  dv.setUint32(5, dv.getUint32(9, true) * 2000, true);
  parts.push(bad);
  const rec = readRecording(concat(parts));
  assert.equal(rec.events.count, 1);
  assert.match(rec.damage ?? '', /chunk 1 at byte \d+ has an impossible length/);
});

test('an event whose icount passes 2^53 is damage, not a rounded number', () => {
  const enc = new EventChunkEncoder();
  enc.add({ type: EventType.Console, icount: 2 ** 52, arg: 0, value: 0, data: EMPTY });
  enc.add({ type: EventType.Console, icount: 2 ** 53 - 1, arg: 0, value: 0, data: EMPTY });
  const first = enc.flush();
  const enc2 = new EventChunkEncoder();
  enc2.add({ type: EventType.Console, icount: 2 ** 52, arg: 0, value: 0, data: EMPTY });
  const rec = readRecording(concat([encodeHeader(header), first, enc2.flush()]));
  assert.equal(rec.events.count, 2);
  assert.match(rec.damage ?? '', /chunk 1 .* is malformed: an icount beyond 2\^53/);
});

test('embedded images are found by name and inflated only when asked for', () => {
  const big = new Uint8Array(1 << 20).fill(7);
  const file = concat([
    encodeHeader(header),
    encodeImageChunk('kernel', Uint8Array.of(1, 2, 3)),
    encodeImageChunk('disk0', big),
  ]);
  const rec = readRecording(file);
  assert.equal(rec.damage, undefined);
  assert.equal(rec.images.get('nothing'), undefined);
  assert.deepEqual(rec.images.get('disk0'), big);
  assert.deepEqual(rec.images.get('kernel'), Uint8Array.of(1, 2, 3));
});

test('header fields out of bounds are refused, each named', () => {
  const withField = (f: (h: Record<string, unknown>) => void): Uint8Array => {
    const h = JSON.parse(JSON.stringify(header)) as Record<string, unknown>;
    f(h);
    return encodeHeader(h as unknown as RecordingHeader);
  };
  const m = (h: Record<string, unknown>) => h.machine as Record<string, unknown>;
  const cases: [(h: Record<string, unknown>) => void, RegExp][] = [
    [(h) => (m(h).memoryBytes = 2 ** 40), /machine\.memoryBytes/],
    [(h) => (m(h).memoryBytes = 4097 * 1024), /machine\.memoryBytes/],
    [(h) => (m(h).memoryBytes = -1), /machine\.memoryBytes/],
    [(h) => (m(h).insnsPerTick = 0), /machine\.insnsPerTick/],
    [(h) => (m(h).insnsPerTick = 1.5), /machine\.insnsPerTick/],
    [(h) => (m(h).rtcStartUnixNs = 1e300), /machine\.rtcStartUnixNs/],
    [(h) => (m(h).append = 5), /machine\.append/],
    [(h) => (h.createdUnixMs = 1e300), /createdUnixMs/],
    [
      (h) => (h.kernel = { path: 'k', size: -3, sha256: 'x', embedded: 1 }),
      /kernel\.size.*kernel\.sha256.*kernel\.embedded/,
    ],
    [(h) => (h.bios = 'nothing'), /bios is not an image reference/],
    [(h) => (h.devices = new Array(9).fill({ kind: 'rng' })), /9 devices; the board has 8/],
    [(h) => (h.devices = [{ kind: 'gpu' }]), /devices\[0\] is of unknown kind "gpu"/],
    [
      (h) => (h.devices = [{ kind: 'net', mac: 'zz', linkUp: true, backend: 'user' }]),
      /devices\[0\]\.mac/,
    ],
    [
      (h) =>
        (h.devices = [
          {
            kind: 'blk',
            disk: {
              path: 'd',
              size: 1,
              sha256: 'ab'.repeat(32),
              embedded: false,
              serial: 's'.repeat(21),
              readOnly: false,
            },
          },
        ]),
      /devices\[0\]\.disk\.serial/,
    ],
    [(h) => (h.digestInterval = -5), /digestInterval/],
    [(h) => (h.startIcount = 0.5), /startIcount/],
    [(h) => (h.snapshot = { path: 's' }), /snapshot\.size/],
  ];
  for (const [f, re] of cases) {
    const bytes = withField(f);
    assert.throws(
      () => readRecording(bytes),
      (e: Error) =>
        e instanceof RecordingFormatError &&
        /^corrupt header: /.test(e.message) &&
        re.test(e.message),
      re.source,
    );
  }
  // A header as a writer makes it passes.
  assert.doesNotThrow(() => readRecording(withField(() => {})));
});

test('a version-2 file (no checkpoints, no index) is read by a scan; a version-2 reader would not know kinds 4 and 5', () => {
  const events = sampleEvents(300);
  const { file } = makeFile(events, 50);
  const v2 = file.slice();
  new DataView(v2.buffer).setUint32(8, 2, true);
  const rec = readRecording(v2);
  assert.equal(rec.version, 2);
  assert.equal(rec.indexed, false);
  assert.equal(rec.damage, undefined);
  assert.deepEqual(rec.checkpoints, []);
  assert.equal(allEvents(rec).length, 300);
  // A checkpoint or index chunk in a file that says version 2 is damage, not something to guess at.
  const withIndex = concat([v2, frameChunk(CHUNK_INDEX, new TextEncoder().encode('{}'))]);
  assert.match(readRecording(withIndex).damage ?? '', /unknown kind 5/);
});
