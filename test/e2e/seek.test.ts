/**
 * Checkpoints and seeking in a replay: a machine put back at a checkpoint
 * and run forwards is the machine the uninterrupted replay had at every
 * icount — here for a guest in the middle of disk, network and entropy
 * activity, sought backwards and forwards in random order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestSession, VMRS_BIN } from '../helpers/guest-session.js';
import { openReplay } from '../../src/cli/open-replay.js';
import { StateDigester, digestsMatch } from '../../src/replay/state-digest.js';
import { hostUrlFromGuest, makeExt2, servePayload } from '../helpers/host-tools.js';
import { haveTool } from '../helpers/tools.js';
import { testRng, type Prng } from '../helpers/seed.js';
import type { TestContext } from 'node:test';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-seek-'));
const PROMPT = /[#$] $/m;

async function recordBusyGuest(t: TestContext, rng: Prng): Promise<string> {
  const file = join(dir, 'busy.vmrs');
  const img = makeExt2(join(dir, 'disk.img'), 8);
  const payload = rng.bytes(1 << 20);
  const server = await servePayload(payload);
  const port = server.port;
  const net = haveTool(t, 'passt') ? ['--net', 'user'] : [];
  const vm = new GuestSession([
    'record',
    '-q',
    '-o',
    file,
    '--rng',
    '--drive',
    `file=${img}`,
    ...net,
  ]);
  try {
    await vm.waitFor(PROMPT);
    // Disk, network and entropy at once, then more of each while the first is settling.
    const fetchCmd = net.length ? `wget -q -O /mnt/dl ${hostUrlFromGuest(port)} &` : '';
    await vm.shell(
      `${fetchCmd} dd if=/dev/hwrng of=/mnt/rnd bs=1k count=64 2>/dev/null; sync; wait; md5sum /mnt/*`,
    );
    await vm.shell('cat /mnt/rnd /mnt/rnd > /mnt/twice; sync; ls -l /mnt');
    vm.type('poweroff -f\n');
    assert.equal(await vm.exited, 0, vm.stderr);
  } finally {
    vm.kill();
    server.close();
  }
  return file;
}

test('seeking back and forth through checkpoints gives the states of the uninterrupted replay', async (t) => {
  const rng = testRng(t);
  const file = await recordBusyGuest(t, rng);
  const quiet = { verify: true, log: () => {}, stdout: () => {} };

  // The uninterrupted replay: digests at a set of random icounts.
  const ref = openReplay(file, quiet);
  const total = Number(
    /guest\s+(\d+) instructions/.exec(
      spawnSync(process.execPath, [VMRS_BIN, 'inspect', file], { encoding: 'utf8' }).stdout,
    )![1],
  );
  const points = Array.from({ length: 12 }, () => rng.int(total)).sort((a, b) => a - b);
  const refDigester = new StateDigester(ref.vm);
  const expected = new Map<number, Uint8Array>();
  for (const p of points) {
    const st = ref.replayer.runTo(p);
    assert.equal(st.state, 'paused', JSON.stringify(st));
    expected.set(p, refDigester.take());
  }
  assert.equal(ref.replayer.runTo(Number.MAX_SAFE_INTEGER).state, 'done');

  // A replay with checkpoints, sought in random order (backwards too), then run to the end.
  const sk = openReplay(file, quiet);
  sk.replayer.enableCheckpoints({ interval: 5_000_000, memoryBudget: 256 << 20 });
  const digester = new StateDigester(sk.vm);
  const order = rng.shuffled(points);
  for (const p of order) {
    const st = sk.replayer.seek(p);
    assert.equal(st.state, 'paused', `seek to ${p}: ${JSON.stringify(st)}`);
    assert.equal(sk.vm.cpu.icount, p);
    assert.ok(digestsMatch(expected.get(p)!, digester.take()), `state at ${p} after seeking`);
  }
  assert.ok(sk.replayer.checkpointCount >= 2, 'checkpoints were taken');
  // Back to the first point and on to the end: every recorded digest still matches.
  sk.replayer.seek(points[0]);
  const end = sk.replayer.runTo(Number.MAX_SAFE_INTEGER);
  assert.equal(end.state, 'done', JSON.stringify(end));
});

test('vmrs replay --to stops at an icount and prints the state there', async () => {
  const file = join(dir, 'short.vmrs');
  const vm = new GuestSession(['record', '-q', '-o', file]);
  try {
    await vm.waitFor(PROMPT);
    vm.type('poweroff -f\n');
    assert.equal(await vm.exited, 0);
  } finally {
    vm.kill();
  }
  const r = spawnSync(process.execPath, [VMRS_BIN, 'replay', file, '--to', '50M'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /icount 50000000 {2}pc 0x[0-9a-f]{16} {2}privilege [MSU]/);
  assert.match(r.stderr, /x2\/sp 0x[0-9a-f]{16}/);
  assert.match(r.stderr, /sepc 0x[0-9a-f]{16}/);
  const bad = spawnSync(process.execPath, [VMRS_BIN, 'replay', file, '--to', 'soon'], {
    encoding: 'utf8',
  });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--to must be an instruction count/);
});

test("a first seek that jumps ahead to one of the recording's checkpoints can still go back before it", async () => {
  const file = join(dir, 'ahead.vmrs');
  const vm = new GuestSession(['record', '-q', '-o', file, '--checkpoint-every', '30M']);
  try {
    await vm.waitFor(PROMPT);
    vm.type('poweroff -f\n');
    assert.equal(await vm.exited, 0, vm.stderr);
  } finally {
    vm.kill();
  }
  const quiet = { verify: true, log: () => {}, stdout: () => {} };
  const ref = openReplay(file, quiet);
  const early = 12_345_678;
  assert.equal(ref.replayer.runTo(early).state, 'paused');
  const expected = new StateDigester(ref.vm).take();

  const sk = openReplay(file, quiet);
  sk.replayer.enableCheckpoints({ interval: 5_000_000, memoryBudget: 256 << 20 });
  // Ahead first: the replay starts from the recording's checkpoint past 90M, never replaying 0..90M.
  assert.equal(sk.replayer.seek(95_000_000).state, 'paused');
  const st = sk.replayer.seek(early);
  assert.equal(st.state, 'paused', JSON.stringify(st));
  assert.equal(sk.vm.cpu.icount, early);
  assert.ok(
    digestsMatch(expected, new StateDigester(sk.vm).take()),
    'the state at the early icount',
  );
});
