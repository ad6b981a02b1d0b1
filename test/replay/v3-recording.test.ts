/**
 * A recording written by format version 3 (test/fixtures/v3-checkpoint-loop.vmrs):
 * its checkpoints hold the disks' clusters in the machine state, where
 * version 4 keeps them apart. It replays, starts from its checkpoints and
 * verifies. The program is test/fixtures/v1-digest-loop.S; the recording,
 * which embeds it, was made by vmrs at commit 620a07d (format 3) with
 *   vmrs record --bios none --kernel checkpoint-loop.elf -m 16M --embed \
 *     --digest-interval 200000 --checkpoint-every 500000 -o v3-checkpoint-loop.vmrs
 * That vmrs also took a checkpoint after the guest had ended, at its last
 * icount: readers leave such a checkpoint out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { REPO_ROOT, VMRS_BIN } from '../helpers/guest-session.js';
import { readRecording } from '../../src/replay/log-format.js';

const FILE = resolve(REPO_ROOT, 'test/fixtures/v3-checkpoint-loop.vmrs');

function vmrs(args: string[]) {
  return spawnSync(process.execPath, [VMRS_BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
}

test('a version-3 recording replays, starts from its checkpoints and verifies', () => {
  const rec = readRecording(readFileSync(FILE));
  assert.equal(rec.version, 3);
  assert.deepEqual(
    rec.checkpoints.map((c) => c.icount),
    [600000, 1200000],
  );

  const info = vmrs(['inspect', FILE]);
  assert.equal(info.status, 0, info.stderr);
  assert.match(info.stdout, /format 3,/);
  assert.match(info.stdout, /checkpoints 2,/);

  const ok = vmrs(['replay', FILE]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, 'ok\n');

  const fromCp = vmrs(['replay', FILE, '--to', '1500000']);
  assert.equal(fromCp.status, 0, fromCp.stderr);
  assert.match(fromCp.stderr, /starting from the recording's checkpoint 1 at icount 1200000/);
  const fromStart = vmrs(['replay', FILE, '--to', '1500000', '--from-start']);
  const state = (s: string) => s.slice(s.indexOf('icount 1500000  pc'));
  assert.equal(state(fromCp.stderr), state(fromStart.stderr));
  assert.match(state(fromCp.stderr), /x6\/t1 0x000000000003d08e/);

  const v = vmrs(['verify', FILE, '--jobs', '2']);
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stderr, /3 segment\(s\) between 2 checkpoint\(s\)/);
});
