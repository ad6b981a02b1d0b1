/**
 * A recording written by format version 1 (test/fixtures/v1-digest-loop.vmrs,
 * made by vmrs before version 2) replays with its digests checked in their
 * own layout: it verifies, and a forced change is reported as version 1
 * reported it (the register by name, RAM by MiB).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { REPO_ROOT, VMRS_BIN } from '../helpers/guest-session.js';

const FILE = resolve(REPO_ROOT, 'test/fixtures/v1-digest-loop.vmrs');

function vmrs(args: string[], perturb?: string) {
  const env = { ...process.env };
  delete env.VMRS_TEST_PERTURB;
  if (perturb) env.VMRS_TEST_PERTURB = perturb;
  return spawnSync(process.execPath, [VMRS_BIN, ...args], {
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
}

test('a version-1 recording replays with its digests checked in the version-1 layout', () => {
  const info = vmrs(['inspect', FILE]);
  assert.equal(info.status, 0, info.stderr);
  assert.match(info.stdout, /format 1,/);

  const ok = vmrs(['replay', FILE]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, 'ok\n');
  assert.match(ok.stderr, /replay complete: 1800022 instructions .* 11 state digests verified/);

  // The program's counter (t1 = x6) and a byte of RAM far from what it writes, changed at the
  // digest at icount 1 M: reported there, in version 1's words.
  const reg = vmrs(['replay', FILE], 'x6@1000000');
  assert.equal(reg.status, 2, reg.stderr);
  assert.match(reg.stderr, /replay diverged at icount 1000000, .*state digest mismatch/);
  assert.match(reg.stderr, /\n {2}x6: recorded 0x[0-9a-f]{16}, replayed 0x[0-9a-f]{16}\n/);
  const ram = vmrs(['replay', FILE], 'ram:0x80100000@1000000');
  assert.equal(ram.status, 2, ram.stderr);
  assert.match(ram.stderr, /\n {2}RAM differs in 0x80100000\.\.0x801fffff\n/);

  // Version-1 digests held no device state: a device's change goes unseen there (a version-2
  // digest names it), which shows the old layout is what was checked.
  const dev = vmrs(['replay', FILE], 'dev:uart.scr@1000000');
  assert.equal(dev.status, 0, dev.stderr);
});
