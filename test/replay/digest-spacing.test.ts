import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DigestSpacing, MAX_STRETCH, MIN_GAP_MS } from '../../src/replay/digest-spacing.js';

/** A recorder's digests over time: `run` gives the next `n` gaps when an instruction takes `msPerInsn`. */
function recorder(interval: number) {
  const clock = { now: 0 };
  const spacing = new DigestSpacing(interval, true, () => clock.now);
  let gap = spacing.next(); // the first digest, at the start
  return {
    spacing,
    run(msPerInsn: number, n: number): number[] {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        clock.now += gap * msPerInsn;
        out.push(gap);
        gap = spacing.next();
      }
      return out;
    },
  };
}

test('digests are spread out where the guest runs fast, and come back to the interval where it does not', () => {
  const r = recorder(10_000_000);
  // Slow code (a boot on the translator: 10 M instructions in 70 ms): every 10 M.
  assert.deepEqual(r.run(70 / 10e6, 5), Array(5).fill(10_000_000));
  // Fast code (1.3 G instructions a second): doubled until a gap takes MIN_GAP_MS or more.
  const fast = r.run(1 / 1.3e6, 8);
  assert.deepEqual(fast.slice(0, 4), [10_000_000, 20_000_000, 40_000_000, 80_000_000]);
  assert.ok(fast.slice(3).every((g) => g === 80_000_000 && g / 1.3e6 >= MIN_GAP_MS));
  // Faster still: never more than MAX_STRETCH intervals.
  assert.ok(r.run(1e-9, 10).every((g) => g <= MAX_STRETCH * 10_000_000));
  // Idle waits or slow code again: halved back, gap by gap, to the interval.
  const slow = r.run(70 / 10e6, 8);
  assert.deepEqual(slow.slice(0, 5), [160_000_000, 80_000_000, 40_000_000, 20_000_000, 10_000_000]);
  assert.ok(slow.slice(4).every((g) => g === 10_000_000));
});

test('an interval given on the command line is kept exactly, however fast the guest runs', () => {
  let now = 0;
  const s = new DigestSpacing(10_000, false, () => now);
  for (let i = 0; i < 20; i++) {
    assert.equal(s.next(), 10_000);
    now += 0.001;
  }
});
