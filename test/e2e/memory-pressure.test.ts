/**
 * No hidden state under Linux: a default-guest session under memory
 * pressure is recorded once, then replayed four ways — plainly, without
 * digest checks, split by a snapshot, and under GDB with seeks and reverse
 * steps. Each way prints exactly what the recording printed and, where
 * digests are checked, matches every one. The workload is
 * test/programs/linux/pressure-probe.c: it keeps a few mapped pages hot
 * while it streams a file larger than the guest's RAM, so reclaim clears the
 * accessed bits of its live PTEs without SFENCE.VMA, as Linux does, and it
 * prints its major faults.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, VMRS_BIN } from '../helpers/guest-session.js';
import { readRecording } from '../../src/replay/log-format.js';
import { needTools } from '../helpers/tools.js';
import { replayUnderGdb } from '../helpers/gdb-serve.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-pressure-'));

function vmrs(
  args: string[],
  input = '',
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [VMRS_BIN, ...args], {
    encoding: 'latin1',
    input,
    timeout: 1_200_000,
    maxBuffer: 64 << 20,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `bytes` fixed pseudo-random bytes (xorshift32 from `seed`). */
function noise(bytes: number, seed: number): Buffer {
  const b = Buffer.alloc(bytes);
  let x = seed | 0;
  for (let i = 0; i < b.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeInt32LE(x | 0, i);
  }
  return b;
}

/** An ext2 image with the probe, its hot file and `big` (40 MiB: more than the guest's free RAM). */
function pressureDisk(): string {
  const content = join(dir, 'content');
  mkdirSync(content);
  const cc = spawnSync(
    'riscv64-linux-gnu-gcc',
    [
      '-O2',
      '-static',
      '-o',
      join(content, 'pressure-probe'),
      join(REPO_ROOT, 'test/programs/linux/pressure-probe.c'),
    ],
    { encoding: 'utf8' },
  );
  assert.equal(cc.status, 0, `building pressure-probe: ${cc.stderr}`);
  writeFileSync(join(content, 'hot'), noise(256 << 10, 0x1234567));
  writeFileSync(join(content, 'big'), noise(40 << 20, 0x9e3779b9));
  const img = join(dir, 'disk.img');
  const r = spawnSync('mke2fs', ['-q', '-t', 'ext2', '-d', content, img, '64M'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `mke2fs: ${r.stderr}`);
  return img;
}

const WORKLOAD = [
  '/mnt/pressure-probe /mnt/hot /mnt/big',
  "grep -E 'workingset_refault_file|nr_mapped' /proc/vmstat",
  'poweroff -f',
  '',
].join('\n');

let recorded: { file: string; stdout: string; end: number } | undefined;
function recording(): { file: string; stdout: string; end: number } {
  if (recorded) return recorded;
  const file = join(dir, 'pressure.vmrs');
  const disk = pressureDisk();
  const r = vmrs(
    [
      'record',
      '-q',
      '-o',
      file,
      '-m',
      '32',
      '--drive',
      `file=${disk},snapshot=on`,
      '--digest-interval',
      '1000003',
    ],
    WORKLOAD,
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /sum=\d+ majflt=\d+ minflt=\d+/, 'the probe ran');
  assert.match(r.stdout, /workingset_refault_file \d+/);
  const end = readRecording(new Uint8Array(readFileSync(file))).events.lastIcount!;
  recorded = { file, stdout: r.stdout, end };
  return recorded;
}

test('memory pressure: replay and replay --no-verify print what was recorded', (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc')) return;
  const { file, stdout } = recording();
  const replay = vmrs(['replay', '-q', file]);
  assert.equal(replay.status, 0, replay.stderr);
  assert.equal(replay.stdout, stdout);
  const noVerify = vmrs(['replay', '-q', '--no-verify', file]);
  assert.equal(noVerify.status, 0, noVerify.stderr);
  assert.equal(noVerify.stdout, stdout);
});

test('memory pressure: a replay split by a snapshot mid-workload matches every digest', (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc')) return;
  const { file, stdout, end } = recording();
  const at = Math.floor(end * 0.7);
  const snap = join(dir, 'mid.snap');
  // From the start (not the recording's checkpoint before `at`): the console output up to `at` is wanted.
  const first = vmrs([
    'replay',
    '-q',
    file,
    '--from-start',
    '--to',
    String(at),
    '--save-snapshot',
    snap,
  ]);
  assert.equal(first.status, 0, first.stderr);
  const rest = vmrs(['replay', '-q', file, '--from-snapshot', snap]);
  assert.equal(rest.status, 0, rest.stderr);
  assert.equal(first.stdout + rest.stdout, stdout);
});

test('memory pressure: a replay under GDB with seeks and reverse steps matches every digest', async (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc', 'gdb-multiarch')) return;
  const { file, stdout, end } = recording();
  const { port, exited, err, out } = await replayUnderGdb(file, 5_000_000);
  const cmds = [
    `monitor seek ${Math.floor(end * 0.5)}`,
    'stepi 2000',
    'reverse-stepi 1500',
    `monitor seek ${Math.floor(end * 0.3)}`,
    'stepi 100',
    `monitor seek ${Math.floor(end * 0.8)}`,
    'reverse-stepi 10',
    'continue',
  ];
  const g = spawnSync(
    'gdb-multiarch',
    [
      '-batch',
      '-nx',
      '-ex',
      'set architecture riscv:rv64',
      '-ex',
      `target remote 127.0.0.1:${port}`,
      ...cmds.flatMap((c) => ['-ex', c]),
    ],
    { encoding: 'utf8', timeout: 1_200_000 },
  );
  assert.equal(g.status, 0, g.stderr);
  assert.equal(await exited, 0, err());
  assert.doesNotMatch(err(), /diverged/);
  assert.match(err(), /the recording ends here \(guest poweroff\)/);
  assert.equal(out(), stdout);
});
