import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync } from 'fflate';
import { deflateInParts } from '../../src/host/deflate-native.js';
import { withSeed } from '../helpers/seed.js';

/** The pieces written one after another, as the recorder does. */
function joined(pieces: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of pieces) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

test(
  'deflateInParts: pieces laid end to end are one DEFLATE stream that gives the input back',
  withSeed(async (_t, rng) => {
    // Like a checkpoint: random bytes, runs, zero stretches and repeats.
    const raw = new Uint8Array(300_000 + rng.int(50_000));
    for (let o = 0; o < raw.length;) {
      const len = 1 + rng.int(5000);
      const kind = rng.int(3);
      if (kind === 0) raw.set(rng.bytes(Math.min(len, raw.length - o)), o);
      else if (kind === 1) raw.fill(rng.int(256), o, o + len);
      else if (o > 10_000)
        raw.copyWithin(o, o - 1 - rng.int(10_000), o - 1 - rng.int(10_000) + len);
      o += len;
    }
    const one = joined(await deflateInParts(raw, 1, 1024));
    for (const parts of [1, 2, 3, 4, 7]) {
      // Each part gives zlib's pieces as they came (the bulk, then the final flush's rest).
      const pieces = await deflateInParts(raw, parts, 1024);
      assert.ok(pieces.length >= parts, `${parts} parts in ${pieces.length} pieces`);
      const all = joined(pieces);
      assert.deepEqual(inflateSync(all), raw, `${parts} parts`);
      // Parts compress apart, each ending in a flush: not the stream one part gives.
      if (parts > 1) assert.notDeepEqual(all, one, `${parts} parts`);
    }
    // Too small to cut: the same stream as one part.
    const small = raw.subarray(0, 1000);
    assert.deepEqual(
      joined(await deflateInParts(small, 4, 1024)),
      joined(await deflateInParts(small, 1, 1024)),
    );
    assert.deepEqual(
      inflateSync(joined(await deflateInParts(new Uint8Array(0), 4))),
      new Uint8Array(0),
    );
  }),
);
