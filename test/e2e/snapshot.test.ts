/**
 * Machine snapshots: a snapshot taken in the middle of disk and network
 * activity, restored into a fresh machine, runs on exactly as the original
 * did (every later state digest of the recording matches); `vmrs run`
 * saves and loads them; a recording can start from one; bad snapshot files
 * are refused with a clear error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resourceUsage } from 'node:process';
import { GuestSession, VMRS_BIN } from '../helpers/guest-session.js';
import { openReplay } from '../../src/cli/open-replay.js';
import {
  captureSnapshot,
  readSnapshot,
  restoreSnapshot,
} from '../../src/snapshot/snapshot-file.js';
import { SnapshotError } from '../../src/snapshot/state.js';
import { allEvents, readRecording } from '../../src/replay/log-format.js';
import { hostUrlFromGuest, makeExt2, servePayload } from '../helpers/host-tools.js';
import { haveTool } from '../helpers/tools.js';
import { testRng } from '../helpers/seed.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-snap-'));
const PROMPT = /[#$] $/m;

function vmrs(args: string[], input?: string) {
  return spawnSync(process.execPath, [VMRS_BIN, ...args], {
    encoding: 'latin1',
    input,
    timeout: 600_000,
  });
}

test('a snapshot taken amid disk and network activity continues exactly as the original', async (t) => {
  const rng = testRng(t);
  const img = makeExt2(join(dir, 'disk.img'), 8);
  const payload = rng.bytes(2 << 20);
  const server = await servePayload(payload);
  const port = server.port;
  const net = haveTool(t, 'passt') ? ['--net', 'user'] : [];
  const file = join(dir, 'busy.vmrs');
  const vm = new GuestSession(['record', '-q', '-o', file, '--drive', `file=${img}`, ...net]);
  let activityFrom = 0;
  try {
    await vm.waitFor(PROMPT);
    const fetchCmd = net.length ? `wget -q -O /mnt/dl ${hostUrlFromGuest(port)} &` : '';
    await vm.shell(
      `${fetchCmd} dd if=/dev/urandom of=/mnt/r bs=1k count=512 2>/dev/null; sync; wait`,
    );
    await vm.shell('md5sum /mnt/*');
    vm.type('poweroff -f\n');
    assert.equal(await vm.exited, 0, vm.stderr);
  } finally {
    vm.kill();
    server.close();
  }
  // Where the activity is: the first network frame (or console input) after the prompt.
  const rec = readRecording(new Uint8Array(readFileSync(file)));
  const events = allEvents(rec);
  const busy = events.filter((e) => e.type === 3 || e.type === 1);
  activityFrom = busy[0].icount;
  const end = events[events.length - 1].icount;
  const quiet = { verify: true, log: () => {}, stdout: () => {} };
  for (let k = 0; k < 3; k++) {
    // A moment inside the activity that no event falls on.
    let at: number;
    do at = activityFrom + Math.floor(rng.next() * (end - activityFrom) * 0.8);
    while (events.some((e) => e.icount === at));
    const a = openReplay(file, quiet);
    assert.equal(a.replayer.runTo(at).state, 'paused');
    const snapBytes = captureSnapshot(a.vm, {
      formatVersion: 1,
      vmrsVersion: 'test',
      createdUnixMs: 0,
      machine: rec.header.machine,
      bios: rec.header.bios,
      kernel: rec.header.kernel,
      initrd: rec.header.initrd,
      devices: rec.header.devices,
    });
    // A fresh machine of the same recording, started from the snapshot instead of icount 0.
    const b = openReplay(file, quiet);
    const faults = resourceUsage().minorPageFault;
    restoreSnapshot(b.vm, readSnapshot(snapBytes));
    // Only the pages the guest used are written: zeroing the rest of a fresh 256 MiB machine
    // first touched 65 k pages of host memory (about 1 s here).
    const touched = resourceUsage().minorPageFault - faults;
    assert.ok(touched < b.vm.bus.ram8.length / 4096 / 4, `${touched} page faults in a restore`);
    b.replayer.resumeAt(at);
    const st = b.replayer.runTo(Number.MAX_SAFE_INTEGER);
    assert.equal(st.state, 'done', `restored at ${at}: ${JSON.stringify(st)}`);
    assert.ok(b.replayer.digestsChecked >= 1, 'the final digest was checked');
  }
});

test('vmrs run saves a snapshot on exit and starts from it; a recording can start from one', async () => {
  const snap = join(dir, 'shell.snap');
  const vm = new GuestSession(['run', '-q', '--rng', '--save-snapshot-on-exit', snap]);
  try {
    await vm.waitFor(PROMPT);
    await vm.shell('echo kept-in-ram > /tmp/mark; head -c 8 /dev/hwrng > /tmp/rnd');
    vm.child.kill('SIGTERM');
    await vm.exited;
  } finally {
    vm.kill();
  }
  assert.ok(existsSync(snap), vm.stderr);

  const r = vmrs(['run', '-q', '--rng', '--load-snapshot', snap], 'cat /tmp/mark\npoweroff -f\n');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /kept-in-ram/);

  // A guest that powers itself off leaves nothing worth saving: no file, and vmrs says why.
  const off = join(dir, 'off.snap');
  const po = vmrs(
    ['run', '-q', '--load-snapshot', snap, '--rng', '--save-snapshot-on-exit', off],
    'poweroff -f\n',
  );
  assert.equal(po.status, 0, po.stderr);
  assert.match(po.stderr, /no snapshot saved: the guest stopped itself \(poweroff\)/);
  assert.equal(existsSync(off), false);

  // Other devices than the snapshot's: refused, with what differs.
  const wrong = vmrs(['run', '-q', '--load-snapshot', snap], 'poweroff -f\n');
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /virtio slot 0: the snapshot has virtio-rng, this machine none/);

  // A recording that starts from the snapshot replays, also with the snapshot embedded and gone.
  const copy = join(dir, 'copy.snap');
  writeFileSync(copy, readFileSync(snap));
  for (const embed of [false, true]) {
    const file = join(dir, `from-snap-${embed}.vmrs`);
    const input = 'cat /tmp/mark; md5sum /tmp/rnd; head -c 16 /dev/hwrng | md5sum\npoweroff -f\n';
    const recd = vmrs(
      ['record', '-q', '-o', file, '--rng', '--load-snapshot', copy, ...(embed ? ['--embed'] : [])],
      input,
    );
    assert.equal(recd.status, 0, recd.stderr);
    assert.match(recd.stdout, /kept-in-ram/);
    const info = JSON.parse(vmrs(['inspect', '--json', file]).stdout) as {
      startIcount: number;
      instructions: number;
      snapshot: { embedded: boolean } | null;
    };
    assert.ok(info.startIcount > 0, 'inspect gives the icount the recording starts at');
    assert.equal(info.snapshot?.embedded, embed);
    assert.ok(info.instructions > 0 && info.instructions < info.startIcount);
    if (embed) rmSync(copy);
    const rep = vmrs(['replay', '-q', file]);
    assert.equal(rep.status, 0, rep.stderr);
    assert.equal(rep.stdout, recd.stdout);
  }
});

test('bad snapshot files: a clear error, nothing started', () => {
  const good = readFileSync(join(dir, 'shell.snap'));
  const cases: [string, Uint8Array, RegExp][] = [
    ['junk', new TextEncoder().encode('not a snapshot at all'), /bad magic/],
    ['truncated', good.subarray(0, good.length - 1000), /truncated/],
    ['flipped', Uint8Array.from(good, (b, i) => (i === good.length - 50 ? b ^ 1 : b)), /checksum/],
    ['header', Uint8Array.from(good, (b, i) => (i === 40 ? b ^ 1 : b)), /checksum|corrupt/],
    [
      'version',
      Uint8Array.from(good, (b, i) => (i === 8 ? 9 : b)),
      /snapshot format version 9 is not supported/,
    ],
  ];
  for (const [name, bytes, msg] of cases) {
    const f = join(dir, `${name}.snap`);
    writeFileSync(f, bytes);
    const r = vmrs(['run', '-q', '--rng', '--load-snapshot', f], 'poweroff -f\n');
    assert.equal(r.status, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, msg, name);
    assert.equal(r.stdout, '', `${name}: nothing ran`);
    assert.throws(() => readSnapshot(bytes), SnapshotError);
  }
  const missing = vmrs(['run', '--load-snapshot', join(dir, 'nope.snap')]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /does not exist/);
});

test('a replay saves a snapshot at an icount; another replay starts there and prints the rest', () => {
  const file = join(dir, 'from-snap-true.vmrs');
  const full = vmrs(['replay', '-q', file]);
  assert.equal(full.status, 0, full.stderr);
  const evs = allEvents(readRecording(new Uint8Array(readFileSync(file))));
  const start = evs[0].icount;
  const total = evs[evs.length - 1].icount;
  assert.ok(start > 0, 'the recording starts from the snapshot, not a boot');
  const at = Math.floor(total - (total - start) * 0.4);
  const snap = join(dir, 'mid-replay.snap');
  const first = vmrs(['replay', '-q', file, '--to', String(at), '--save-snapshot', snap]);
  assert.equal(first.status, 0, first.stderr);
  const rest = vmrs(['replay', '-q', file, '--from-snapshot', snap]);
  assert.equal(rest.status, 0, rest.stderr);
  assert.equal(first.stdout + rest.stdout, full.stdout, 'the two halves make the whole');
  // A snapshot of another recording's replay, or of a run, is refused.
  const other = vmrs(['replay', '-q', join(dir, 'busy.vmrs'), '--from-snapshot', snap]);
  assert.equal(other.status, 1, other.stderr);
  assert.match(other.stderr, /was not taken in a replay of/);
  const shell = vmrs(['replay', '-q', file, '--from-snapshot', join(dir, 'shell.snap')]);
  assert.equal(shell.status, 1);
  assert.match(shell.stderr, /was not taken in a replay of/);
  const needsTo = vmrs(['replay', '-q', file, '--save-snapshot', snap]);
  assert.equal(needsTo.status, 1);
  assert.match(needsTo.stderr, /--save-snapshot needs --to/);
});
