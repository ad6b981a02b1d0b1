/**
 * A short soak (bench/soak.ts runs the long one): a few seeded runs of the
 * soak harness, chosen among the seed's runs so that between them they
 * cover a forwarded port with host requests, a wire between two VMs, and a
 * disk, each with at most 5 commands per machine. Each records the default guest with `vmrs record`, typed into with
 * random timing, and must replay with the same exit status and console
 * output and no divergence. The seed (VMRS_TEST_SEED to choose it) and the
 * command that repeats a failed run are in the failure message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planRun, type RunPlan } from '../../bench/soak/plan.js';
import { formatRun, soakRun } from '../../bench/soak/runner.js';
import { TEST_SEED } from '../helpers/seed.js';
import { needTools } from '../helpers/tools.js';

const seed = TEST_SEED;
const dir = mkdtempSync(join(tmpdir(), 'vmrs-soak-test-'));

/** The seed's first run whose plan is `wanted` and short (the long soak takes the rest). */
function firstRun(wanted: (p: RunPlan) => boolean): number {
  const short = (p: RunPlan) => p.vms.every((v) => v.actions.length <= 5);
  for (let run = 0; run < 1000; run++) {
    const p = planRun(seed, run);
    if (short(p) && wanted(p)) return run;
  }
  throw new Error(`seed ${seed}: no run of the kind wanted in 1000`);
}

const cases: [string, (p: RunPlan) => boolean][] = [
  ['host requests through a forwarded port', (p) => p.vms[0].net === 'user-hostfwd'],
  ['two VMs on a wire', (p) => p.wire.length > 0],
  ['a disk', (p) => p.vms.length === 1 && p.vms[0].disk !== 'none'],
];

test('a run repeats from its seed and number alone', () => {
  for (let run = 0; run < 50; run++) {
    assert.deepEqual(planRun(seed, run), planRun(seed, run));
    assert.deepEqual(planRun(seed, run, true), planRun(seed, run, true));
    // The kill mode records the same session (a wire's machine aside), and kills it.
    const plain = planRun(seed, run);
    const { kill, ...session } = planRun(seed, run, true);
    if (!plain.wire.length) assert.deepEqual(session, plain);
    assert.ok(kill && !plain.kill);
  }
  assert.notDeepEqual(planRun(seed, 0), planRun(seed, 1));
  assert.notDeepEqual(planRun(seed, 0), planRun(seed + 1, 0));
});

for (const [what, wanted] of cases)
  test(`soak run with ${what} (seed ${seed}) records and replays exactly`, async (t) => {
    if (!needTools(t, 'passt')) return;
    const run = firstRun(wanted);
    const r = await soakRun(seed, run, false, dir);
    assert.equal(r.verdict, 'ok', formatRun(r, seed, false));
    for (const { check } of r.recordings)
      assert.match(check.replay.stderr, /replay complete: .* [1-9]\d* state digests verified/);
  });
