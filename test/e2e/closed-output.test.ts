/**
 * The reader of vmrs's console output goes away (`vmrs record … | head`):
 * vmrs stops as SIGPIPE would, with one line saying why, and a recording
 * it was making is whole — it replays to its end with every digest
 * verified. A replay, or `inspect`, whose output is closed stops the same
 * way, without a stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, VMRS_BIN } from '../helpers/guest-session.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-closed-'));

/** Run vmrs, close our end of its stdout once it has printed something; its status and stderr. */
function closeOutputEarly(args: string[]): Promise<{ status: number | null; stderr: string }> {
  const child = spawn(process.execPath, [VMRS_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.once('data', () => child.stdout.destroy());
  return new Promise((resolve) =>
    child.on('exit', (status) => {
      child.stdin.destroy();
      resolve({ status, stderr });
    }),
  );
}

test('a recording whose console reader goes away ends whole, and replays', async () => {
  const file = join(dir, 'closed.vmrs');
  const rec = await closeOutputEarly(['record', '-q', '-o', file]);
  assert.equal(rec.status, 141, rec.stderr);
  assert.equal(rec.stderr, 'vmrs: console output failed (EPIPE); stopping the machine\n');
  const r = spawnSync(process.execPath, [VMRS_BIN, 'replay', file], { encoding: 'latin1' });
  assert.equal(r.status, 141, r.stderr);
  assert.match(r.stderr, /replay complete: \d+ instructions .* [1-9]\d* state digests verified/);
});

test('a replay whose console reader goes away stops with one line, no stack trace', async () => {
  const file = join(dir, 'session.vmrs');
  const r = spawnSync(process.execPath, [VMRS_BIN, 'record', '-q', '-o', file], {
    input: 'echo some output; poweroff -f\n',
    encoding: 'latin1',
  });
  assert.equal(r.status, 0, r.stderr);
  // The reader leaves at the firmware's banner; the kernel's and the shell's output follow.
  const rep = await closeOutputEarly(['replay', file]);
  assert.equal(rep.status, 141, rep.stderr);
  assert.equal(rep.stderr, 'vmrs: console output failed (EPIPE); replay stopped\n');
});

test('inspect whose reader went before it wrote ends as SIGPIPE would, without a stack trace', async () => {
  const file = join(REPO_ROOT, 'test/fixtures/v3-checkpoint-loop.vmrs');
  const child = spawn(process.execPath, [VMRS_BIN, 'inspect', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.destroy(); // gone before vmrs has started, so its first write fails
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const status = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(status, 141, stderr);
  assert.equal(stderr, '');
});
