/**
 * `vmrs profile` on a recording of a CPU-bound guest program: the program is
 * on top, kernel functions are named from the default guest's vmlinux, the
 * collapsed stacks add up to the whole run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { recordSession, vmrsOn } from '../helpers/recording.js';
import { VMRS_BIN } from '../helpers/guest-session.js';
import { waitUntil } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-profile-'));
const profile = (file: string, extra: string[]) => vmrsOn('profile', file, extra);

test('a CPU-bound program is on top of its profile; kernel functions are named; collapsed stacks add up', async () => {
  const { file } = await recordSession(
    join(dir, 'busy.vmrs'),
    ['--checkpoint-every', '0'],
    async (vm) => {
      await vm.shell('dd if=/dev/zero bs=64k count=256 2>/dev/null | sha256sum');
    },
  );
  const collapsed = join(dir, 'busy.folded');
  const r = profile(file, ['--interval', '20000', '--collapsed', collapsed]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /kernel symbols from .*vmlinux/);
  const [head, , ...rows] = r.stdout.trim().split('\n');
  const total = Number(/^(\d+) instructions/.exec(head)![1]);
  const parsed = rows.map((l) => {
    const m = /^\s*([\d.]+)\s+(\d+)\s+(\S+)\s+(.+)$/.exec(l)!;
    return { pct: Number(m[1]), n: Number(m[2]), comm: m[3], fn: m[4] };
  });
  assert.equal(parsed[0].comm, 'sha256sum', r.stdout);
  assert.equal(parsed[0].fn, '[user]');
  assert.ok(parsed[0].pct > 30, r.stdout);
  assert.ok(
    parsed.some((p) => p.fn.startsWith('[k] ') && !p.fn.includes('[kernel]')),
    'no kernel function named',
  );
  const folded = readFileSync(collapsed, 'utf8').trim().split('\n');
  const sum = folded.reduce((a, l) => a + Number(/ (\d+)$/.exec(l)![1]), 0);
  assert.equal(sum, total);
  assert.ok(folded.every((l) => /^[^;]+;.+ \d+$/.test(l)));

  // Stopped midway (Ctrl-C), it prints the profile of the run so far.
  const p = spawn(process.execPath, [
    VMRS_BIN,
    'profile',
    file,
    '--jobs',
    '1',
    '--interval',
    '20000',
  ]);
  let out = '';
  let err = '';
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  p.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
  await waitUntil(() => /task_struct layout/.test(err), 'the profile to start', 60_000);
  await new Promise((r) => setTimeout(r, 1500));
  p.kill('SIGINT');
  assert.equal(await exited, 130, err);
  const stoppedAt = Number(
    /stopped at icount (\d+): the profile covers the run up to there/.exec(err)?.[1],
  );
  assert.ok(stoppedAt > 0 && stoppedAt < total, err);
  assert.equal(Number(/^(\d+) instructions/.exec(out)?.[1]), stoppedAt, out);

  const notElf = join(dir, 'not-elf');
  writeFileSync(notElf, 'hello');
  const bad = profile(file, ['--symbols', notElf]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /not an ELF64 file with a symbol table/);
});

test('--jobs: the segments between checkpoints sampled apart give the same profile; kernel stacks are walked', async () => {
  const { file } = await recordSession(
    join(dir, 'segments.vmrs'),
    ['--checkpoint-every', '30M'],
    async (vm) => {
      await vm.shell(
        'dd if=/dev/zero bs=64k count=64 2>/dev/null | md5sum; ls -R /sys/kernel >/dev/null',
      );
    },
  );
  const c1 = join(dir, 'one.folded');
  const c3 = join(dir, 'three.folded');
  const one = profile(file, ['--interval', '7919', '--jobs', '1', '--collapsed', c1]);
  assert.equal(one.status, 0, one.stderr);
  const many = profile(file, ['--interval', '7919', '--jobs', '3', '--collapsed', c3]);
  assert.equal(many.status, 0, many.stderr);
  assert.ok(Number(/sampling (\d+) segments/.exec(many.stderr)?.[1]) >= 4, many.stderr);
  assert.equal(many.stdout, one.stdout);
  const folded = readFileSync(c1, 'utf8');
  assert.equal(readFileSync(c3, 'utf8'), folded);
  // A system call's kernel stack, outermost first: the call's entry above the functions it calls.
  const stacks = folded.trim().split('\n');
  assert.ok(
    stacks.some((l) => /;\[k\] __se_sys_\w+;(\[k\] [^;]+;)+\[k\] [^;]+ \d+$/.test(l)),
    'no system call with a stack under it',
  );
  const total = Number(/^(\d+) instructions/.exec(one.stdout)![1]);
  assert.equal(
    stacks.reduce((a, l) => a + Number(/ (\d+)$/.exec(l)![1]), 0),
    total,
  );
});
