/**
 * Record and replay, end to end, the way a user runs them: `vmrs record`
 * with a person (or a host program) interacting with the default guest at
 * random moments, then `vmrs replay` of the file — several times — with
 * its console output compared byte for byte and every state digest,
 * including the final one, verified.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestSession, VMRS_BIN } from '../helpers/guest-session.js';
import { fileDigest } from '../../src/host/file-digest.js';
import { freePort, hostUrlFromGuest, makeExt2, servePayload } from '../helpers/host-tools.js';
import { needTools } from '../helpers/tools.js';
import { testRng, type Prng } from '../helpers/seed.js';
import { waitUntil } from '../helpers/wait.js';
import { readRecording } from '../../src/replay/log-format.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-rr-'));
const PROMPT = /[#$] $/m;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A pause before the next input, as a person would make: input timing, not a wait for output. */
const randomDelay = (rng: Prng, maxMs: number) => sleep(rng.int(maxMs));

interface Recording {
  file: string;
  output: string;
  status: number | null;
}

let n = 0;
async function record(
  args: string[],
  body: (vm: GuestSession) => Promise<void>,
  name = `rec${n++}`,
): Promise<Recording> {
  const file = join(dir, `${name}.vmrs`);
  const vm = new GuestSession(['record', '-q', '-o', file, ...args]);
  try {
    await vm.waitFor(PROMPT);
    await body(vm);
    vm.type('poweroff -f\n');
    const status = await vm.exited;
    assert.equal(status, 0, `record exit status; stderr: ${vm.stderr}`);
    return { file, output: vm.output, status };
  } finally {
    vm.kill();
  }
}

interface ReplayResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function replay(file: string, extra: string[] = [], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [VMRS_BIN, 'replay', file, ...extra], {
    env,
    encoding: 'latin1',
    maxBuffer: 1 << 28,
    timeout: 1_200_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr } as ReplayResult;
}

/** Replay `times` times: same console bytes, same exit status, all digests verified each time. */
function assertReplays(rec: Recording, times = 2, env: NodeJS.ProcessEnv = process.env): void {
  for (let i = 0; i < times; i++) {
    // Nothing of the host may leak into the guest: the second replay runs in another time zone and locale.
    const r = replay(
      rec.file,
      [],
      i % 2 ? { ...env, TZ: 'Pacific/Chatham', LANG: 'tr_TR.UTF-8', LC_ALL: 'tr_TR.UTF-8' } : env,
    );
    assert.equal(r.status, rec.status, `replay ${i + 1} exit status; stderr: ${r.stderr}`);
    assert.match(r.stderr, /replay complete: \d+ instructions .* (\d+) state digests verified/);
    const verified = Number(/(\d+) state digests verified/.exec(r.stderr)![1]);
    assert.ok(verified >= 2, 'at least the first and the final digest were checked');
    if (r.stdout !== rec.output) {
      let at = 0;
      while (r.stdout[at] === rec.output[at]) at++;
      assert.fail(
        `replay ${i + 1} output differs from the recording at byte ${at}:\n` +
          `recorded: ${JSON.stringify(rec.output.slice(Math.max(0, at - 80), at + 80))}\n` +
          `replayed: ${JSON.stringify(r.stdout.slice(Math.max(0, at - 80), at + 80))}`,
      );
    }
  }
}

test('a boot and an interactive session typed at random delays replay exactly, repeatedly', async (t) => {
  const rng = testRng(t);
  for (let round = 0; round < 2; round++) {
    const rec = await record(['--rng'], async (vm) => {
      // Keystrokes one at a time, as a person types, with the guest busy or idle in between.
      for (const line of ['echo typed-$((6*7))', 'uname -a', 'ls / | wc -l', 'cat /proc/uptime']) {
        for (const ch of line + '\n') {
          vm.type(ch);
          await randomDelay(rng, 120);
        }
        await vm.waitFor(PROMPT);
        await randomDelay(rng, 1500);
      }
      assert.match(vm.output, /typed-42/);
      // Entropy from the device and from the kernel's pool, time and sleeping.
      await vm.shell('head -c 48 /dev/hwrng | md5sum; head -c 48 /dev/urandom | md5sum');
      const t = await vm.shell('date +%s; sleep 2; date +%s; cat /proc/uptime');
      const [a, b] = t.trim().split('\n').map(Number);
      assert.ok(b - a >= 2 && b - a <= 4, `sleep 2 took ${b - a} guest seconds`);
      await randomDelay(rng, 2000);
      await vm.shell('date');
    });
    assertReplays(rec, 2);
  }
});

test('a recording made with one engine replays with the other, digest for digest', async () => {
  for (const [recorded, replayed] of [
    ['translate', 'interp'],
    ['interp', 'translate'],
  ]) {
    const rec = await record(['--engine', recorded], async (vm) => {
      // CPU-bound work (compiled code), a self-written program run twice, and a shell session
      await vm.shell('dd if=/dev/zero bs=1k count=2048 2>/dev/null | md5sum');
      await vm.shell(
        'mkdir -p /tmp/x && cp /bin/busybox /tmp/x/busybox && /tmp/x/busybox echo copied-$((6*7)) && /tmp/x/busybox seq 3 | md5sum',
      );
      await vm.shell('for i in 1 2 3; do echo $((i*i)); done; ls /proc | wc -l');
    });
    assert.match(rec.output, /copied-42/);
    const r = replay(rec.file, ['--engine', replayed]);
    assert.equal(r.status, 0, `recorded with ${recorded}, replayed with ${replayed}: ${r.stderr}`);
    assert.match(r.stderr, /replay complete: .* (\d+) state digests verified/);
    assert.equal(
      r.stdout,
      rec.output,
      `console output, recorded with ${recorded}, replayed with ${replayed}`,
    );
  }
});

test('a guest HTTP server receiving requests from the host at random times, and a guest download, replay without the network', async (t) => {
  if (!needTools(t, 'passt')) return;
  const rng = testRng(t);
  const hostPort = await freePort();
  const payload = rng.bytes(3 << 20);
  const md5 = createHash('md5').update(payload).digest('hex');
  const server = await servePayload(payload);
  const serverPort = server.port;
  let rec: Recording;
  try {
    rec = await record(['--net', `user,hostfwd=tcp::${hostPort}-:80`], async (vm) => {
      await vm.shell(
        'mkdir -p /www && echo guest-page-$((6*7)) > /www/index.html && httpd -p 80 -h /www',
      );
      for (let i = 0; i < 4; i++) {
        await randomDelay(rng, 1500);
        const res = await fetch(`http://127.0.0.1:${hostPort}/`);
        assert.equal((await res.text()).trim(), 'guest-page-42');
      }
      const got = await vm.shell(`wget -q -O - ${hostUrlFromGuest(serverPort)} | md5sum`);
      assert.equal(got.trim().split(/\s+/)[0], md5, `the guest's download: ${got}`);
    });
  } finally {
    server.close();
  }
  // No passt on the PATH, the host server gone: replay needs neither.
  assertReplays(rec, 2, { ...process.env, PATH: '/nonexistent' });
  const inspect = execFileSync(process.execPath, [VMRS_BIN, 'inspect', rec.file, '--json'], {
    encoding: 'utf8',
  });
  const info = JSON.parse(inspect) as { events: Record<string, { count: number }> };
  assert.ok(info.events['net-frame'].count > 100, 'the download came in as logged frames');
});

test('a disk written during the recording: the base image is untouched, replay starts from it', async (t) => {
  const rng = testRng(t);
  const img = makeExt2(join(dir, 'disk.img'), 16);
  const before = fileDigest(img);
  const rec = await record(['--drive', `file=${img}`], async (vm) => {
    await vm.shell(
      'dd if=/dev/urandom of=/mnt/data bs=1k count=200 2>/dev/null; md5sum /mnt/data; sync; ls -l /mnt',
    );
    await randomDelay(rng, 1000);
    await vm.shell('md5sum /mnt/data; rm /mnt/data; sync');
  });
  assert.equal(fileDigest(img), before, 'recording left the base image as it was');
  assertReplays(rec, 1);
  assert.equal(fileDigest(img), before, 'replay left the base image as it was');

  // An embedded recording carries the disk: it replays after the image is changed.
  const emb = await record(['--embed', '--drive', `file=${img}`], async (vm) => {
    await vm.shell('echo embedded > /mnt/e.txt; sync; cat /mnt/e.txt');
  });
  writeFileSync(img, Buffer.alloc(4096, 0xee), { flag: 'r+' });
  assertReplays(emb, 1);
  // The by-path recording now refuses the changed image, clearly.
  const r = replay(rec.file);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /disk image .* is not the one recorded/);
  assert.equal(r.stdout, '');
});

/** The lines that say what differs, after "replay diverged at ...". */
function divergenceDetails(stderr: string): string[] {
  const at = stderr.indexOf('replay diverged at');
  return stderr
    .slice(at)
    .split('\n')
    .slice(1)
    .filter((l) => l.startsWith('  '))
    .map((l) => l.slice(2));
}

/** Pages (4 KiB, by address) a "RAM differs in N pages: a..b, c..d" line names. */
function pagesNamed(line: string): number[] {
  const pages: number[] = [];
  for (const m of line.matchAll(/0x([0-9a-f]+)\.\.0x([0-9a-f]+)/g))
    for (let p = parseInt(m[1], 16); p < parseInt(m[2], 16); p += 4096) pages.push(p);
  return pages;
}

test('a divergence forced during replay is reported with its icount and pc within one digest interval, naming the device field or the exact page', async (t) => {
  const rng = testRng(t);
  const interval = 2_000_000;
  const rec = await record(['--rng', '--digest-interval', String(interval)], async (vm) => {
    await vm.shell('echo hello');
  });
  const total = Number(
    /guest\s+(\d+) instructions/.exec(
      execFileSync(process.execPath, [VMRS_BIN, 'inspect', rec.file], { encoding: 'utf8' }),
    )?.[1] ?? NaN,
  );
  assert.ok(total > 10 * interval, `the session ran ${total} instructions`);
  /** Replays with `spec` changed at `at`; returns what the report says differs (null: it ran clean, which `mayVanish` allows). */
  const tryDiverge = (
    spec: string,
    at: number,
    extra: string[],
    mayVanish: boolean,
  ): string[] | null => {
    const r = replay(rec.file, extra, { ...process.env, VMRS_TEST_PERTURB: `${spec}@${at}` });
    if (mayVanish && r.status === 0) return null;
    assert.equal(r.status, 2, `perturb ${spec}@${at}: ${r.stderr}`);
    const m = /replay diverged at icount (\d+), pc (0x[0-9a-f]{16}): (.*)/.exec(r.stderr);
    assert.ok(m, r.stderr);
    const icount = Number(m[1]);
    assert.ok(icount >= at && icount <= at + interval, `found at ${icount}, changed at ${at}`);
    return /digest mismatch/.test(m[3]) ? divergenceDetails(r.stderr) : [];
  };
  const diverge = (spec: string, at: number, extra: string[] = []): string[] =>
    tryDiverge(spec, at, extra, false)!;
  // Changes that stay: bytes of the kernel's text (written once at boot), the UART's scratch
  // register and the queue selector of virtio-rng (written only while the drivers start). A change
  // the guest overwrites at once is no divergence. The stack pointer mostly stays (saved and
  // restored, not recomputed), but not always: the guest may drop the context it belongs to (a
  // task that exits, a trap frame rebuilt from tp) or align it away (`andi sp, sp, -16`). So for
  // x2 a replay that runs clean draws another icount, and one of a few draws must diverge.
  for (const spec of [
    'x2',
    'ram:0x80200000',
    'ram:0x80400000',
    'dev:uart.scr',
    'dev:virtio.0.queueSel',
  ]) {
    // A device field is changed only after its driver set the device up (virtio-rng reaches
    // DRIVER_OK about 82 M instructions into the boot, writing queueSel): a change before that
    // is overwritten by the driver, and no divergence at all.
    const from = spec.startsWith('dev:') ? 0.7 : 0.3;
    const draw = () => Math.floor(total * (from + rng.next() * (0.8 - from)));
    let at = draw();
    let details = tryDiverge(spec, at, [], spec === 'x2');
    for (let tries = 1; details === null && tries < 4; tries++) {
      t.diagnostic(`perturb ${spec}@${at}: the guest dropped the change; drawing again`);
      at = draw();
      details = tryDiverge(spec, at, [], tries < 3);
    }
    assert.ok(details);
    const what = `perturb ${spec}@${at}: ${details.join(' | ')}`;
    if (!details.length) continue;
    if (spec === 'x2')
      // A changed sp shows in the registers, or (once the guest has swapped it out, e.g. a
      // context switch saved it and restored another) in the stack it wrote.
      assert.ok(
        details.some((l) =>
          /^((x\d+|pc): recorded 0x[0-9a-f]{16}, replayed 0x[0-9a-f]{16}|RAM differs in \d+ pages?: 0x[0-9a-f]+\.\.0x[0-9a-f]+)/.test(
            l,
          ),
        ),
        what,
      );
    else if (spec === 'ram:0x80200000')
      assert.deepEqual(details, ['RAM differs in 1 page: 0x80200000..0x80200fff'], what);
    else if (spec.startsWith('ram:'))
      assert.ok(
        details.some((l) => l.startsWith('RAM differs') && pagesNamed(l).includes(0x80400000)),
        what,
      );
    else {
      const name = spec === 'dev:uart.scr' ? 'uart16550: scr' : 'virtio-rng@slot 0: queueSel';
      assert.equal(details.length, 1, what);
      const v = new RegExp(`^${name} recorded (\\d+), replayed (\\d+)$`).exec(details[0]);
      assert.ok(v && (Number(v[1]) ^ Number(v[2])) === 1, what);
    }
  }

  // From a snapshot taken mid-run by a replay (--to N --save-snapshot), a replay names the exact
  // page and field too: it takes RAM and the devices there as the recording's.
  const mid = Math.floor(total * 0.5);
  const snap = join(dir, 'mid.snap');
  const saved = replay(rec.file, ['--to', String(mid), '--save-snapshot', snap]);
  assert.equal(saved.status, 0, saved.stderr);
  const from = ['--from-snapshot', snap];
  const after = () => mid + 1 + Math.floor(rng.next() * interval);
  let at = after();
  assert.deepEqual(
    diverge('ram:0x80200000', at, from),
    ['RAM differs in 1 page: 0x80200000..0x80200fff'],
    `ram:0x80200000@${at} from ${mid}`,
  );
  at = after();
  const dev = diverge('dev:uart.scr', at, from);
  assert.equal(dev.length, 1, `dev:uart.scr@${at} from ${mid}: ${dev.join(' | ')}`);
  assert.match(dev[0], /^uart16550: scr recorded \d+, replayed \d+$/);
});

test('a recorder killed mid-run replays up to its last whole chunk and says where it ends', async () => {
  const file = join(dir, 'killed.vmrs');
  const vm = new GuestSession(['record', '-q', '-o', file]);
  try {
    await vm.waitFor(PROMPT);
    await vm.shell('echo before-the-kill');
    // Another command: its input is logged after the output above. Once the file has grown
    // past what it held when that input was logged, a whole chunk on disk covers the output.
    await vm.shell('echo second-command');
    const logged = statSync(file).size;
    await waitUntil(() => statSync(file).size > logged, 'the recorder to write its next chunk');
  } finally {
    vm.kill();
  }
  await vm.exited;
  const r = replay(file);
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /ends at icount \d+ without an end marker/);
  assert.ok(vm.output.startsWith(r.stdout), 'replayed output is a prefix of what was recorded');
  assert.match(r.stdout, /before-the-kill/);
});

test('damaged recordings and wrong images: a clear error or a replay up to the damage, never a false success', async () => {
  const kernelCopy = join(dir, 'Image');
  const paths = execFileSync(process.execPath, [VMRS_BIN, 'guest', 'build'], { encoding: 'utf8' });
  const guest = {
    kernel: /^kernel\s+(.+)$/m.exec(paths)![1],
    initrd: /^initrd\s+(.+)$/m.exec(paths)![1],
  };
  writeFileSync(kernelCopy, readFileSync(guest.kernel));
  const rec = await record(
    ['--kernel', kernelCopy, '--initrd', guest.initrd, '--append', 'console=ttyS0 quiet'],
    async (vm) => {
      await vm.shell('echo one; sleep 1; echo two');
    },
  );
  const data = readFileSync(rec.file);
  const size = statSync(rec.file).size;

  // Truncated to half: replays to the damage, exit 3.
  const half = join(dir, 'half.vmrs');
  writeFileSync(half, data.subarray(0, size >> 1));
  let r = replay(half);
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /truncated|without an end marker/);
  assert.ok(rec.output.startsWith(r.stdout));

  // One flipped byte in the last chunk of events: never a success.
  const flipped = join(dir, 'flipped.vmrs');
  const chunks = readRecording(new Uint8Array(data)).events.chunks;
  const last = chunks[chunks.length - 1];
  const f = Buffer.from(data);
  f[last.at + (last.storedLength >> 1)] ^= 0x55;
  writeFileSync(flipped, f);
  r = replay(flipped);
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /corrupt|checksum/);

  // A flipped byte in the index or its footer: the index is not trusted, a scan finds the
  // same chunks, and the replay is whole.
  for (const at of [size - 10, size - 30]) {
    const g = Buffer.from(data);
    g[at] ^= 0x55;
    writeFileSync(flipped, g);
    r = replay(flipped);
    assert.equal(r.status, 0, `byte ${at} of ${size}: ${r.stderr}`);
    assert.ok(rec.output.startsWith(r.stdout) && r.stdout.includes('two'), r.stdout);
  }

  // Not a recording at all; a missing one.
  const junk = join(dir, 'junk.vmrs');
  writeFileSync(junk, 'hello');
  r = replay(junk);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not a vmrs recording/);
  r = replay(join(dir, 'nope.vmrs'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /does not exist/);

  // The kernel changed after recording: refused before anything runs.
  const k = readFileSync(kernelCopy);
  k[k.length - 1] ^= 1;
  writeFileSync(kernelCopy, k);
  r = replay(rec.file);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /kernel .* is not the one recorded/);
  assert.equal(r.stdout, '');
});
