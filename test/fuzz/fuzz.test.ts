/**
 * The fuzzers, short run (the long run is `npm run fuzz`, bench/fuzz.ts):
 * mutated real recordings, snapshots, ELF files and GDB packets, a few
 * thousand cases in all, seeded. A crash (an exception other than the
 * documented errors) or a hang (work past a bound) fails the test, and
 * fast-check prints the seed and the case; VMRS_FUZZ_SEED=N repeats a run.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { makeSeeds, type Seeds } from './seeds.js';
import { runner, type TargetName } from './cases.js';

const seed = process.env.VMRS_FUZZ_SEED
  ? Number(process.env.VMRS_FUZZ_SEED)
  : Math.floor(Math.random() * 2 ** 31);
let seeds: Seeds;

before(async () => {
  seeds = await makeSeeds(mkdtempSync(join(tmpdir(), 'vmrs-fuzz-')));
});

const RUNS: Record<TargetName, number> = { recording: 600, snapshot: 400, elf: 800, gdb: 600 };

for (const target of Object.keys(RUNS) as TargetName[])
  test(`fuzz ${target}: ${RUNS[target]} mutated cases, no crash or hang (seed ${seed})`, async () => {
    const r = runner(target, seeds);
    const tally = { accepted: 0, rejected: 0 };
    await fc.assert(
      fc.asyncProperty(r.arb, async (c) => {
        tally[await r.run(c)]++;
      }),
      { seed, numRuns: RUNS[target], endOnFailure: true },
    );
    // Some mutated inputs must get past the checks, or the fuzzer tests only the front door.
    assert.ok(tally.accepted > RUNS[target] / 20, `accepted ${tally.accepted} of ${RUNS[target]}`);
  });
