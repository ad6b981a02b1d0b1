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
    for (const parts of [1, 2, 3, 4, 7]) {
      const pieces = await deflateInParts(raw, parts, 1024);
      assert.equal(pieces.length, parts);
      assert.deepEqual(inflateSync(joined(pieces)), raw, `${parts} parts`);
    }
    // Too small to cut: one piece.
    assert.equal((await deflateInParts(raw.subarray(0, 1000), 4, 1024)).length, 1);
    assert.deepEqual(
      inflateSync(joined(await deflateInParts(new Uint8Array(0), 4))),
      new Uint8Array(0),
    );
  }),
);
