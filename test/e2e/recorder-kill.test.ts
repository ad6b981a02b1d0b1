/**
 * kill -9 of `vmrs record` at seeded random moments — during boot, amid a
 * workload, while the guest idles — and a recorder that cannot write its
 * file in full: every recording must be readable (`vmrs inspect`), replay
 * without divergence to its last whole chunk, exit 3 and say at which
 * icount it ends, its console output a prefix of what the recorder
 * printed. `npm run soak -- --kill` does the same many times.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planRun, type KillPlan } from '../../bench/soak/plan.js';
import { formatRun, soakRun } from '../../bench/soak/runner.js';
import { VMRS_BIN } from '../helpers/guest-session.js';
import { TEST_SEED } from '../helpers/seed.js';
import { needTools } from '../helpers/tools.js';

const seed = TEST_SEED;
const dir = mkdtempSync(join(tmpdir(), 'vmrs-kill-test-'));

function firstRun(phase: KillPlan['phase']): number {
  for (let run = 0; run < 1000; run++)
    if (planRun(seed, run, true).kill!.phase === phase) return run;
  throw new Error(`seed ${seed}: no ${phase} kill in 1000 runs`);
}

for (const phase of ['boot', 'workload', 'idle'] as const)
  test(`a recorder killed with SIGKILL (${phase}, seed ${seed}) leaves a recording that replays to where it ends`, async (t) => {
    if (!needTools(t, 'passt')) return;
    const run = firstRun(phase);
    const r = await soakRun(seed, run, true, dir);
    const msg = formatRun(r, seed, true);
    assert.equal(r.verdict, 'ok', msg);
    const [{ rec, check }] = r.recordings;
    assert.ok(rec.killed, msg);
    if (rec.killed.writtenSincePrompt) {
      // Written after the prompt was printed: the boot is in the recording.
      assert.ok(check.endIcount! > 0, msg);
      assert.match(check.replay.stdout, /vmrs default guest/, msg);
    }
  });

test('a recorder that cannot write its file in full stops, and the file ends at a whole chunk', () => {
  const file = join(dir, 'limited.vmrs');
  // A 192 KiB file size limit, and a digest every 10 000 instructions, so that chunks are
  // cut by size (~120 KiB each) during boot: write(2) takes part of the second chunk, then fails (EFBIG; vmrs ignores SIGXFSZ as node does).
  const rec = spawnSync(
    'bash',
    [
      '-c',
      `ulimit -f 192; exec "$0" "$@"`,
      process.execPath,
      VMRS_BIN,
      'record',
      '-q',
      '-o',
      file,
      '--digest-interval',
      '10000',
    ],
    { input: '', encoding: 'latin1', timeout: 600_000 },
  );
  assert.equal(rec.status, 1, rec.stderr);
  assert.match(
    rec.stderr,
    /cannot write the recording .* \(EFBIG\); it ends at its last whole chunk/,
  );
  assert.equal(statSync(file).size, 192 * 1024);
  const replay = spawnSync(process.execPath, [VMRS_BIN, 'replay', file], {
    encoding: 'latin1',
    timeout: 600_000,
  });
  assert.equal(replay.status, 3, replay.stderr);
  assert.match(
    replay.stderr,
    /ends at icount [1-9]\d* without an end marker \(chunk \d+ at byte \d+ is truncated/,
  );
  assert.ok(rec.stdout.startsWith(replay.stdout));
});
