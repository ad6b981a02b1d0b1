import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  InflateOverflow,
  deflateCodec,
  maxInflated,
  fflateCodec,
  nodeCodec,
  type DeflateCodec,
} from '../../src/util/deflate-raw.js';
import { withSeed } from '../helpers/seed.js';

const zlib = nodeCodec();

test('on Node the built-in zlib is the codec in use', () => {
  assert.ok(zlib, 'process.getBuiltinModule reaches node:zlib');
  assert.equal(deflateCodec.name, 'zlib');
});

const codecs: DeflateCodec[] = [fflateCodec, ...(zlib ? [zlib] : [])];

/** Bytes as a checkpoint has them: random stretches, runs, zeros and repeats. */
function sample(rng: { int(n: number): number; bytes(n: number): Uint8Array }, n: number) {
  const raw = new Uint8Array(n);
  for (let o = 0; o < n;) {
    const len = Math.min(1 + rng.int(3000), n - o);
    const kind = rng.int(3);
    if (kind === 0) raw.set(rng.bytes(len), o);
    else if (kind === 1) raw.fill(rng.int(256), o, o + len);
    else if (o > 5000) raw.copyWithin(o, o - 1 - rng.int(5000), o - 1 - rng.int(5000) + len);
    o += len;
  }
  return raw;
}

test(
  'each codec reads what either wrote, exactly, at any level and size',
  withSeed((_t, rng) => {
    for (const n of [0, 1, 7, 4096, 100_000 + rng.int(50_000)]) {
      const raw = sample(rng, n);
      for (const writer of codecs)
        for (const level of [1, 6]) {
          const stored = writer.deflate(raw, level);
          assert.ok(stored instanceof Uint8Array && stored.constructor === Uint8Array);
          for (const reader of codecs) {
            const out = reader.inflate(stored, n);
            const what = `${n} bytes by ${writer.name} at ${level}, read by ${reader.name}`;
            assert.equal(out.constructor, Uint8Array, what);
            assert.equal(out.byteOffset % 8, 0, `${what}: aligned for Int32Array views`);
            assert.deepEqual(out, raw, what);
          }
        }
    }
  }),
);

test(
  'a stream longer than the room given, truncated or damaged is refused',
  withSeed((_t, rng) => {
    const raw = sample(rng, 20_000);
    for (const c of codecs) {
      const stored = c.deflate(raw, 6);
      assert.throws(() => c.inflate(stored, raw.length - 1), InflateOverflow, c.name);
      assert.throws(() => c.inflate(stored, 0), InflateOverflow, c.name);
      // Cut short: not a whole stream (or, if the cut ends a block, fewer bytes than made).
      let short: Uint8Array | undefined;
      try {
        short = c.inflate(stored.subarray(0, stored.length >> 1), raw.length);
      } catch (e) {
        assert.ok(!(e instanceof InflateOverflow), c.name);
      }
      if (short) assert.ok(short.length < raw.length, c.name);
      // A block type that does not exist (BTYPE 11) at the start.
      assert.throws(() => c.inflate(new Uint8Array([0x07, 0, 0, 0]), raw.length), c.name);
      assert.throws(() => c.inflate(new Uint8Array(0), raw.length), c.name);
    }
  }),
);

test('the output memory is bounded by what the stored bytes can hold, not by the room claimed', () => {
  // 1 MiB of zeros: about 1 KiB stored, near DEFLATE's best ratio.
  const raw = new Uint8Array(1 << 20);
  for (const c of codecs) {
    const stored = c.deflate(raw, 9);
    assert.ok(maxInflated(stored.length) >= raw.length, `${c.name}: the bound holds`);
    // A damaged header could claim 1 GiB for these bytes: the reader does not allocate it.
    const out = c.inflate(stored, 1 << 30);
    assert.equal(out.length, raw.length, c.name);
    const held = out.buffer.byteLength;
    assert.ok(held <= maxInflated(stored.length) + 1, `${c.name}: ${held} bytes held`);
  }
});
