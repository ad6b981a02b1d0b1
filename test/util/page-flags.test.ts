import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newPageFlags, nextFlagged } from '../../src/util/page-flags.js';
import { withSeed } from '../helpers/seed.js';

/** Every set flag, in order, as nextFlagged finds them. */
function flagged(f: Uint8Array): number[] {
  const out: number[] = [];
  for (let p = nextFlagged(f, 0); p >= 0; p = nextFlagged(f, p + 1)) out.push(p);
  return out;
}

test(
  'page flags are found exactly as a byte-by-byte walk finds them',
  withSeed((_t, rng) => {
    for (const pages of [0, 1, 3, 4, 5, 255, 256, 1025, 65536]) {
      const f = newPageFlags(pages);
      assert.equal(f.length, pages);
      assert.deepEqual(flagged(f), [], `${pages}: none`);
      for (const density of [0.001, 0.1, 0.9]) {
        f.fill(0);
        const want: number[] = [];
        for (let p = 0; p < pages; p++)
          if (rng.next() < density) {
            f[p] = 1;
            want.push(p);
          }
        // The last page: the walk's end.
        if (pages > 0 && !f[pages - 1]) {
          f[pages - 1] = 1;
          want.push(pages - 1);
        }
        assert.deepEqual(flagged(f), want, `${pages} pages, density ${density}`);
        // From any page: the first set one there or after; past the end, none.
        for (let k = 0; k < 20 && pages > 0; k++) {
          const from = rng.int(pages + 1);
          assert.equal(nextFlagged(f, from), want.find((p) => p >= from) ?? -1);
        }
        assert.equal(nextFlagged(f, pages + 5), -1);
      }
      f.fill(1);
      assert.equal(flagged(f).length, pages);
    }
  }),
);
