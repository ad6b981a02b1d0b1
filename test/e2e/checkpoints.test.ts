/**
 * Checkpoints inside recordings (format version 3 and up) and `vmrs verify`: a
 * replay from any checkpoint ends in the state of the uninterrupted replay;
 * `--to N` starts from the checkpoint before N and stops in the state a
 * replay from the start has there; verify passes on good recordings with
 * any number of jobs and points at the right segment when a checkpoint or a
 * chunk is damaged, or the replay goes another way; a recorder killed with
 * SIGKILL leaves a prefix that verifies; disk writes go into checkpoints
 * once, and come back from them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestSession, VMRS_BIN } from '../helpers/guest-session.js';
import { openReplay } from '../../src/cli/open-replay.js';
import { StateDigester, digestsMatch } from '../../src/replay/state-digest.js';
import {
  CHUNK_CHECKPOINT,
  readChunkAt,
  readRecording,
  type ParsedRecording,
} from '../../src/replay/log-format.js';
import { parseCheckpoint, type ParsedCheckpoint } from '../../src/replay/checkpoint-chunk.js';
import { makeExt2 } from '../helpers/host-tools.js';
import { testRng } from '../helpers/seed.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-checkpoints-'));
const PROMPT = /[#$] $/m;
const quiet = { verify: true, log: () => {}, stdout: () => {} };

function vmrs(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(process.execPath, [VMRS_BIN, ...args], { encoding: 'utf8', env });
}

interface Report {
  status: number;
  segments: { index: number; verdict: string; icount: number; message?: string }[];
  firstBad?: { index: number; verdict: string; message?: string };
}

function verify(file: string, jobs: number, env?: NodeJS.ProcessEnv): Report & { exit: number } {
  const r = vmrs(['verify', file, '--jobs', String(jobs), '--json'], env);
  assert.ok(r.stdout.startsWith('{'), `verify --json printed no report: ${r.stderr}`);
  return { ...(JSON.parse(r.stdout) as Report), exit: r.status ?? -1 };
}

/**
 * A replay from each checkpoint (in `order`, one after another on one machine, as a verifier
 * does) ends in the state of the replay from the start, with as many digests checked.
 */
function replaysFromEachCheckpoint(file: string, order: number[]): void {
  const ref = openReplay(file, quiet);
  const end = ref.replayer.runTo(Number.MAX_SAFE_INTEGER);
  assert.equal(end.state, 'done');
  const refDigest = new StateDigester(ref.vm).take();
  const refDigests = ref.replayer.digestsChecked;
  ref.close();
  const o = openReplay(file, quiet);
  for (const k of order) {
    const st = o.replayer.startAtCheckpoint(k);
    assert.equal(st.state, 'running', `checkpoint ${k}: ${JSON.stringify(st)}`);
    assert.equal(o.vm.cpu.icount, o.rec.checkpoints[k].icount);
    const done = o.replayer.runTo(Number.MAX_SAFE_INTEGER);
    assert.equal(done.state, 'done', `from checkpoint ${k}: ${JSON.stringify(done)}`);
    assert.equal(o.replayer.digestsChecked, refDigests, `digests from checkpoint ${k}`);
    assert.ok(
      digestsMatch(refDigest, new StateDigester(o.vm).take()),
      `the end state from checkpoint ${k}`,
    );
  }
  o.close();
}

/** Every checkpoint of a recording, read and taken apart. */
function parsedCheckpoints(rec: ParsedRecording): ParsedCheckpoint[] {
  return rec.checkpoints.map((c) =>
    parseCheckpoint(
      readChunkAt(rec.source, c.at, CHUNK_CHECKPOINT, c.storedLength, c.rawLength),
      rec.header.machine.memoryBytes / 4096,
      rec.version,
    ),
  );
}

/** A guest busy with disk writes and entropy, checkpointed every 25M instructions: its console and vmrs's messages. */
async function recordBusy(file: string): Promise<{ output: string; stderr: string }> {
  const img = makeExt2(join(dir, 'disk.img'), 8);
  const vm = new GuestSession([
    'record',
    '-o',
    file,
    '--rng',
    '--drive',
    `file=${img}`,
    '--checkpoint-every',
    '25M',
  ]);
  try {
    await vm.waitFor(PROMPT);
    await vm.shell(
      'grep -q " /mnt " /proc/mounts || mount /dev/vda /mnt; dd if=/dev/hwrng of=/mnt/rnd bs=1k count=32 2>/dev/null; sync; md5sum /mnt/rnd',
    );
    await vm.shell('i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; echo counted $i');
    vm.type('poweroff -f\n');
    assert.equal(await vm.exited, 0, vm.stderr);
  } finally {
    vm.kill();
  }
  return { output: vm.output, stderr: vm.stderr };
}

test('a recording with checkpoints replays the same from its start and from each checkpoint; verify agrees with any number of jobs', async (t) => {
  const rng = testRng(t);
  const file = join(dir, 'busy.vmrs');
  const { output, stderr } = await recordBusy(file);
  const rec = readRecording(readFileSync(file));
  assert.ok(rec.indexed, 'a finished recording has its index');
  const cps = rec.checkpoints;
  assert.ok(cps.length >= 4, `${cps.length} checkpoints`);

  const info = JSON.parse(vmrs(['inspect', file, '--json']).stdout) as {
    indexed: boolean;
    checkpoints: { icount: number; bytes: number }[];
    events: Record<string, { count: number }>;
  };
  // What recording cost the hart's thread, as the recorder says at the end, counted as the file has it.
  const said =
    /recorded (\d+) events \((\d+) state digests, \d+ ms to take\) and (\d+) checkpoints \([\d.]+ MiB, \d+ ms to capture\)/.exec(
      stderr,
    );
  assert.ok(said, stderr);
  assert.equal(Number(said[2]), info.events.digest.count);
  assert.equal(Number(said[3]), cps.length);
  assert.equal(info.indexed, true);
  assert.deepEqual(
    info.checkpoints.map((c) => c.icount),
    cps.map((c) => c.icount),
  );
  assert.ok(info.checkpoints.every((c) => c.bytes > 0));

  // From each checkpoint (in random order, on one machine), to the end.
  replaysFromEachCheckpoint(file, rng.shuffled(cps.map((_, i) => i)));

  // --to N starts at the checkpoint before N and stops in the state a replay from the start has.
  const last = cps[cps.length - 1].icount;
  const to = cps[1].icount + 1 + rng.int(last - cps[1].icount);
  const fromCp = vmrs(['replay', file, '--to', String(to)]);
  const fromStart = vmrs(['replay', file, '--to', String(to), '--from-start']);
  assert.equal(fromCp.status, 0, fromCp.stderr);
  assert.match(fromCp.stderr, /starting from the recording's checkpoint \d+/);
  assert.doesNotMatch(fromStart.stderr, /starting from the recording's checkpoint/);
  const state = (s: string) => s.slice(s.indexOf(`icount ${to}  pc`));
  assert.equal(state(fromCp.stderr), state(fromStart.stderr));
  assert.ok(output.includes('counted 3000'));
  assert.match(output, /^[0-9a-f]{32} {2}\/mnt\/rnd$/m, 'the guest wrote its disk');

  // verify: every segment matches, whatever the number of jobs.
  const one = verify(file, 1);
  const two = verify(file, 3);
  assert.equal(one.exit, 0, JSON.stringify(one.firstBad));
  assert.equal(one.segments.length, cps.length + 1);
  assert.deepEqual(
    two.segments.map((s) => [s.index, s.verdict, s.icount]),
    one.segments.map((s) => [s.index, s.verdict, s.icount]),
  );
  assert.equal(two.exit, 0);
});

test('verify points at the segment of a damaged checkpoint, a damaged chunk, or a divergence', async (t) => {
  const rng = testRng(t);
  const file = join(dir, 'busy.vmrs');
  if (!statSync(file, { throwIfNoEntry: false })) await recordBusy(file);
  const data = readFileSync(file);
  const rec = readRecording(new Uint8Array(data));
  const cps = rec.checkpoints;

  // A flipped byte inside checkpoint k: the segment that starts there cannot be checked (exit 1);
  // those before it match (the one that ends there ends at the digest logged with it). Later
  // checkpoints may take pages from k, and fail with it.
  const k = 1 + rng.int(cps.length - 1);
  const bad = join(dir, 'bad-checkpoint.vmrs');
  const b = Buffer.from(data);
  b[cps[k].at + rng.int(cps[k].storedLength)] ^= 0x40;
  writeFileSync(bad, b);
  let r = verify(bad, 2);
  assert.equal(r.exit, 1);
  assert.equal(r.firstBad?.index, k + 1, JSON.stringify(r.firstBad));
  assert.match(r.firstBad?.message ?? '', new RegExp(`checkpoint ${k} .*cannot be read`));
  assert.ok(r.segments.filter((s) => s.index <= k).every((s) => s.verdict === 'ok'));
  assert.ok(r.segments.filter((s) => s.index > k).every((s) => s.verdict !== 'diverged'));
  // A replay to a point after it starts from the start instead, and says why.
  const to = vmrs(['replay', bad, '--to', String(cps[k].icount + 1000)]);
  assert.equal(to.status, 0, to.stderr);
  assert.match(
    to.stderr,
    /replaying from the start instead|starting from the recording's checkpoint/,
  );

  // A flipped byte in an events chunk: the segment that holds it.
  const chunks = rec.events.chunks;
  const c = chunks[rng.int(chunks.length)];
  const seg = cps.filter((cp) => cp.eventIndex <= c.firstIndex).length;
  const badEvents = join(dir, 'bad-events.vmrs');
  const e = Buffer.from(data);
  e[c.at + rng.int(c.storedLength)] ^= 0x01;
  writeFileSync(badEvents, e);
  r = verify(badEvents, 2);
  assert.equal(r.exit, 1);
  assert.equal(r.firstBad?.index, seg, JSON.stringify(r));
  assert.equal(r.firstBad?.verdict, 'damaged');

  // The replay going another way inside segment j: exit 2, segment j. A byte of the kernel's
  // boot code is flipped (a page never written again, so the next digest sees it for sure; a
  // flipped register could be overwritten unused before a digest, and was, once in CI).
  const j = rng.int(cps.length);
  const from = j === 0 ? 0 : cps[j - 1].icount;
  const at = from + 1000 + rng.int(cps[j].icount - from - 2000);
  r = verify(file, 2, { ...process.env, VMRS_TEST_PERTURB: `ram:0x80201000@${at}` });
  assert.equal(r.exit, 2, JSON.stringify(r));
  assert.equal(r.firstBad?.index, j, `changed at ${at}: ${JSON.stringify(r.firstBad)}`);
  assert.equal(r.firstBad?.verdict, 'diverged');
});

test('a recorder killed with SIGKILL leaves a prefix whose checkpoints and segments verify', async () => {
  const file = join(dir, 'killed.vmrs');
  const vm = new GuestSession(['record', '-q', '-o', file, '--checkpoint-every', '20M']);
  try {
    await vm.waitFor(PROMPT);
    vm.type('while true; do :; done\n');
    // Running on until the file holds three checkpoints.
    const deadline = Date.now() + 120_000;
    for (;;) {
      let n = 0;
      try {
        n = readRecording(readFileSync(file)).checkpoints.length;
      } catch {
        // not a whole header yet
      }
      if (n >= 3) break;
      assert.ok(Date.now() < deadline, `the file holds ${n} checkpoints after two minutes`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    vm.kill();
  }
  await vm.exited;
  const rec = readRecording(readFileSync(file));
  assert.equal(rec.indexed, false, 'a killed recorder wrote no index');
  assert.ok(rec.checkpoints.length >= 3);
  const r = verify(file, 2);
  assert.equal(r.exit, 0, JSON.stringify(r));
  assert.equal(r.segments.length, rec.checkpoints.length + 1);
  assert.match(r.segments[r.segments.length - 1].message ?? '', /without an end marker/);
});

test('disk writes go into checkpoints once (also on an overlay disk), and a replay from each checkpoint reads them back', async () => {
  const img = makeExt2(join(dir, 'overlay-base.img'), 8);
  const file = join(dir, 'overlay.vmrs');
  const vm = new GuestSession([
    'record',
    '-q',
    '-o',
    file,
    '--rng',
    '--checkpoint-every',
    '20M',
    '--drive',
    `file=${img},overlay=${join(dir, 'new.overlay')}`,
  ]);
  const sums: string[] = [];
  try {
    await vm.waitFor(PROMPT);
    // 2 MiB of random bytes (32 clusters of 64 KiB), then checkpoints with no disk writes, then
    // the file read back from the disk (not the page cache), after the checkpoints.
    for (const cmd of [
      'grep -q " /mnt " /proc/mounts || mount /dev/vda /mnt; dd if=/dev/hwrng of=/mnt/a bs=64k count=32 2>/dev/null; sync; md5sum /mnt/a',
      'i=0; while [ $i -lt 6000 ]; do i=$((i+1)); done; echo counted $i',
      'echo 3 > /proc/sys/vm/drop_caches; md5sum /mnt/a',
    ]) {
      const out = await vm.shell(cmd);
      const m = /^([0-9a-f]{32}) {2}\/mnt\/a$/m.exec(out);
      if (m) sums.push(m[1]);
    }
    vm.type('poweroff -f\n');
    assert.equal(await vm.exited, 0, vm.stderr);
  } finally {
    vm.kill();
  }
  assert.equal(sums.length, 2);
  assert.equal(sums[0], sums[1]);
  assert.doesNotMatch(vm.stderr, /no checkpoints/);

  const rec = readRecording(readFileSync(file));
  const cps = rec.checkpoints;
  assert.ok(cps.length >= 3, `${cps.length} checkpoints`);
  const parsed = parsedCheckpoints(rec);
  // Each checkpoint lists every written cluster, but holds only those written since the one before.
  const last = parsed[parsed.length - 1].disks;
  assert.equal(last.length, 1);
  assert.ok(last[0].clusters.length >= 32, `${last[0].clusters.length} clusters written`);
  const held = parsed.reduce((n, p) => n + (p.disks[0]?.own.size ?? 0), 0);
  assert.ok(
    last[0].own.size < last[0].clusters.length,
    'the last checkpoint takes clusters from earlier ones',
  );
  assert.ok(
    held < last[0].clusters.length + 16,
    `${held} clusters held by ${parsed.length} checkpoints of a disk with ${last[0].clusters.length}`,
  );

  // From each checkpoint to the end: the same digests as the whole replay (the md5sum after the
  // checkpoints reads the clusters into RAM, which the digests cover).
  replaysFromEachCheckpoint(
    file,
    cps.map((_, i) => cps.length - 1 - i),
  );
  assert.equal(verify(file, 2).exit, 0);
});

test('a recording started from a snapshot holds the disk clusters written before it in its first checkpoint', async () => {
  const img = makeExt2(join(dir, 'snap-disk.img'), 8);
  const drive = ['--rng', '--drive', `file=${img},snapshot=on`];
  const snap = join(dir, 'disk.snap');
  const vm = new GuestSession(['run', '-q', ...drive, '--save-snapshot-on-exit', snap]);
  let sum = '';
  try {
    await vm.waitFor(PROMPT);
    const out = await vm.shell(
      'grep -q " /mnt " /proc/mounts || mount /dev/vda /mnt; dd if=/dev/hwrng of=/mnt/a bs=64k count=16 2>/dev/null; sync; md5sum /mnt/a',
    );
    sum = /^([0-9a-f]{32}) {2}\/mnt\/a$/m.exec(out)?.[1] ?? '';
    vm.child.kill('SIGTERM');
    await vm.exited;
  } finally {
    vm.kill();
  }
  assert.notEqual(sum, '', vm.output);

  // The file is read back from the disk (not the page cache) after the checkpoints.
  const file = join(dir, 'from-snap.vmrs');
  const r = spawnSync(
    process.execPath,
    [
      VMRS_BIN,
      'record',
      '-q',
      '-o',
      file,
      '--load-snapshot',
      snap,
      '--checkpoint-every',
      '20M',
      ...drive,
    ],
    {
      input:
        'i=0; while [ $i -lt 4000 ]; do i=$((i+1)); done\necho 3 > /proc/sys/vm/drop_caches; md5sum /mnt/a\npoweroff -f\n',
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`${sum} {2}/mnt/a`));

  const rec = readRecording(readFileSync(file));
  const cps = rec.checkpoints;
  assert.ok(cps.length >= 1, `${cps.length} checkpoints`);
  const first = parsedCheckpoints(rec)[0];
  assert.ok(first.disks[0].own.size >= 16, `${first.disks[0].own.size} clusters in checkpoint 0`);

  replaysFromEachCheckpoint(
    file,
    cps.map((_, i) => cps.length - 1 - i),
  );
});
