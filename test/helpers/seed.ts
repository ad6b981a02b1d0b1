/**
 * Seeded randomness for tests and benches, so that a failing run can be
 * repeated. A run has one seed: VMRS_TEST_SEED when given, otherwise one
 * drawn at random (the test runner draws it once and prints it). Each test
 * derives its own stream from the seed and its name, so its inputs do not
 * depend on which other tests ran. A test wrapped in withSeed() names the
 * seed in its error when it fails.
 */
import type { TestContext } from 'node:test';
import { randomInt } from 'node:crypto';

function seedFromEnv(): number {
  const s = process.env.VMRS_TEST_SEED;
  if (s === undefined || s === '') return randomInt(0, 2 ** 32);
  if (!/^\d+$/.test(s) || Number(s) >= 2 ** 32)
    throw new Error(`VMRS_TEST_SEED must be an integer from 0 to 4294967295, not '${s}'`);
  return Number(s);
}

/** This run's seed. */
export const TEST_SEED = seedFromEnv();

/** FNV-1a of a label, to derive one stream per test from the run's seed. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A small fast generator (sfc32, seeded through splitmix32): not for secrets, only for tests. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(
    readonly seed: number,
    label = '',
  ) {
    let h = (seed ^ hashLabel(label)) | 0;
    const split = () => {
      h = (h + 0x9e3779b9) | 0;
      let z = h;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) | 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  next(): number {
    return ((this.u32() >>> 5) * 67108864 + (this.u32() >>> 6)) / 9007199254740992;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A uniform integer in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo);
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.u32();
      out[i] = v;
      if (i + 1 < n) out[i + 1] = v >>> 8;
      if (i + 2 < n) out[i + 2] = v >>> 16;
      if (i + 3 < n) out[i + 3] = v >>> 24;
    }
    return out;
  }

  /** A shuffled copy of `items`. */
  shuffled<T>(items: readonly T[]): T[] {
    const a = [...items];
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}

/** The stream of the test or bench called `label` in this run. */
export function prng(label: string): Prng {
  return new Prng(TEST_SEED, label);
}

const seedNote = () => `random inputs from VMRS_TEST_SEED=${TEST_SEED}; set it to repeat them`;

/**
 * The stream of the running test, for a test body that does not use
 * withSeed(): the seed goes into the test's report whether it passes or not.
 */
export function testRng(t: TestContext): Prng {
  t.diagnostic(seedNote());
  return prng(t.name);
}

/**
 * A test body with its own seeded stream: `test('name', withSeed(async (t, rng) => …))`.
 * When it fails, the error and the test's report name the seed.
 */
export function withSeed(
  fn: (t: TestContext, rng: Prng) => unknown,
): (t: TestContext) => Promise<void> {
  return async (t) => {
    try {
      await fn(t, prng(t.name));
    } catch (e) {
      t.diagnostic(seedNote());
      if (e instanceof Error) e.message += `\n(${seedNote()})`;
      throw e;
    }
  };
}
