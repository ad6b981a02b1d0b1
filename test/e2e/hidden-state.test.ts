/**
 * No hidden state, as a user sees it: the tlb-observer program (see
 * test/programs/tlb-observer.c) prints the same lines — the ones the
 * architecture rules give — under `vmrs run`, `vmrs record`, `vmrs replay`,
 * `replay --no-verify`, `replay --to N --save-snapshot` followed by
 * `--from-snapshot`, and a replay under GDB with reverse steps; and two
 * recordings with different digest intervals agree on every digest they
 * share.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, VMRS_BIN } from '../helpers/guest-session.js';
import { allEvents, readRecording } from '../../src/replay/log-format.js';
import { EventType } from '../../src/replay/events.js';
import { digestsMatch } from '../../src/replay/state-digest.js';
import { TLB_OBSERVER_EXPECTED } from '../helpers/tlb-observer.js';
import { needTools } from '../helpers/tools.js';
import { replayUnderGdb } from '../helpers/gdb-serve.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-hidden-'));

let elf = '';
function program(): string {
  if (elf) return elf;
  const r = spawnSync('bash', [join(REPO_ROOT, 'test/programs/build.sh'), dir], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `building test/programs failed:\n${r.stderr}`);
  elf = join(dir, 'tlb-observer.elf');
  return elf;
}

function vmrs(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [VMRS_BIN, ...args], {
    encoding: 'latin1',
    input: '',
    timeout: 600_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const machine = () => ['--bios', 'none', '--kernel', program(), '-m', '64'];

function record(name: string, interval: number): string {
  const file = join(dir, name);
  const r = vmrs(['record', '-q', '-o', file, '--digest-interval', String(interval), ...machine()]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, TLB_OBSERVER_EXPECTED, 'record');
  return file;
}

test('tlb-observer: the same output under run, record, replay, --no-verify and a snapshot split', (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc')) return;
  const run = vmrs(['run', '-q', ...machine()]);
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, TLB_OBSERVER_EXPECTED, 'run');

  // Odd digest intervals put digests (and their TLB flushes) anywhere in the loops.
  const file = record('a.vmrs', 7919);
  const replay = vmrs(['replay', '-q', file]);
  assert.equal(replay.status, 0, replay.stderr);
  assert.equal(replay.stdout, TLB_OBSERVER_EXPECTED, 'replay');
  const noVerify = vmrs(['replay', '-q', '--no-verify', file]);
  assert.equal(noVerify.status, 0, noVerify.stderr);
  assert.equal(noVerify.stdout, TLB_OBSERVER_EXPECTED, 'replay --no-verify');

  // Snapshots mid-LR/SC loop and mid-page-table loop; each half replays and verifies digests.
  for (const at of [1_300_017, 4_500_001]) {
    const snap = join(dir, `at${at}.snap`);
    const first = vmrs(['replay', '-q', file, '--to', String(at), '--save-snapshot', snap]);
    assert.equal(first.status, 0, first.stderr);
    const rest = vmrs(['replay', '-q', file, '--from-snapshot', snap]);
    assert.equal(rest.status, 0, `from a snapshot at ${at}: ${rest.stderr}`);
    assert.equal(first.stdout + rest.stdout, TLB_OBSERVER_EXPECTED, `split at ${at}`);
  }
});

test('tlb-observer: recordings with other digest intervals agree on every digest they share', (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc')) return;
  const digests = (file: string) =>
    new Map(
      allEvents(readRecording(new Uint8Array(readFileSync(file))))
        .filter((e) => e.type === EventType.Digest)
        .map((e) => [e.icount, e.data] as const),
    );
  const fine = digests(record('fine.vmrs', 10_000));
  const coarse = digests(record('coarse.vmrs', 30_000));
  let shared = 0;
  for (const [icount, d] of coarse) {
    const f = fine.get(icount);
    if (!f) continue;
    shared++;
    // The hashes of state and RAM must agree; what changed since the previous digest
    // depends on the interval.
    assert.ok(digestsMatch(d, f), `digest at icount ${icount}`);
  }
  assert.ok(shared > 100, `only ${shared} digests in common`);
});

test('tlb-observer: a replay under GDB with reverse steps prints the same and ends as recorded', async (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc', 'gdb-multiarch')) return;
  const file = record('gdb.vmrs', 100_003);
  const { port, exited, err, out } = await replayUnderGdb(file, 1_000_000);
  const g = spawnSync(
    'gdb-multiarch',
    [
      '-batch',
      '-nx',
      '-ex',
      `file ${program()}`,
      '-ex',
      `target remote 127.0.0.1:${port}`,
      '-ex',
      'break lrsc',
      '-ex',
      'continue',
      '-ex',
      'stepi 500',
      '-ex',
      'reverse-stepi 200',
      '-ex',
      'break s_main',
      '-ex',
      'continue',
      '-ex',
      'stepi 1000',
      '-ex',
      'reverse-continue',
      '-ex',
      'reverse-stepi 50',
      '-ex',
      'delete',
      '-ex',
      'continue',
    ],
    { encoding: 'utf8', timeout: 600_000 },
  );
  assert.equal(g.status, 0, g.stderr);
  assert.match(g.stdout + g.stderr, /in s_main/);
  assert.equal(await exited, 0, err());
  assert.doesNotMatch(err(), /diverged/);
  assert.match(err(), /the recording ends here \(guest poweroff\)/);
  assert.equal(out(), TLB_OBSERVER_EXPECTED);
});
