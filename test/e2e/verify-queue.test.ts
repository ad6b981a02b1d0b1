/**
 * `vmrs verify --queue` with `vmrs worker`s over Redis: a local Redis
 * server (Debian's redis-server, started here), three worker processes, one
 * of them killed (with its sandboxed processor) while it replays a segment.
 * Its segment is handed out again once its lock lapses, and the run ends
 * with the verdict `--jobs 1` gives, segment for segment. `vmrs trace` and
 * `vmrs profile` on the same queue give the output of one replay.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VMRS_BIN } from '../helpers/guest-session.js';
import { freePort, servePayload } from '../helpers/host-tools.js';
import { needTools } from '../helpers/tools.js';
import { waitUntil } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-queue-'));

interface Report {
  status: number;
  segments: { index: number; verdict: string; icount: number; digests: number }[];
}

function startProcess(args: string[], cmd = process.execPath): ChildProcess & { out: string } {
  // Its own process group: killing it kills the sandboxed processors it forked too.
  const p = spawn(cmd, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  }) as ChildProcess & {
    out: string;
  };
  p.out = '';
  p.stdout!.on('data', (b: Buffer) => (p.out += b.toString()));
  p.stderr!.on('data', (b: Buffer) => (p.out += b.toString()));
  return p;
}

/** A command run to its end without blocking this process; its status and output. */
function run(
  cmd: string,
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function killGroup(p: ChildProcess): void {
  try {
    process.kill(-p.pid!, 'SIGKILL');
  } catch {
    // gone already
  }
}

test('segments verified by three queue workers, one killed mid-job, give the verdict of --jobs 1', async (t) => {
  if (!needTools(t, 'redis-server')) return;
  // A boot with a checkpoint every 15M instructions: about ten segments.
  const file = join(dir, 'boot.vmrs');
  const rec = spawnSync(
    process.execPath,
    [VMRS_BIN, 'record', '-q', '-o', file, '--checkpoint-every', '15M'],
    { input: 'poweroff -f\n', encoding: 'utf8' },
  );
  assert.equal(rec.status, 0, rec.stderr);
  const local = spawnSync(process.execPath, [VMRS_BIN, 'verify', file, '--jobs', '1', '--json'], {
    encoding: 'utf8',
  });
  assert.equal(local.status, 0, local.stderr);
  const expected = JSON.parse(local.stdout) as Report;
  assert.ok(expected.segments.length >= 6, `${expected.segments.length} segments`);

  const port = await freePort();
  const redis = startProcess(
    ['--port', String(port), '--save', '', '--appendonly', 'no'],
    'redis-server',
  );
  const workers: (ChildProcess & { out: string })[] = [];
  try {
    await waitUntil(
      () => /Ready to accept connections/.test(redis.out),
      'redis-server to start',
      20_000,
    );
    const url = `redis://127.0.0.1:${port}`;
    for (let i = 0; i < 3; i++)
      workers.push(
        startProcess([
          VMRS_BIN,
          'worker',
          '--queue',
          url,
          '--concurrency',
          '1',
          '--lock-ms',
          '3000',
        ]),
      );
    await waitUntil(
      () => workers.every((w) => /waiting for segments/.test(w.out)),
      'three workers to listen',
      30_000,
    );
    const verify = startProcess([VMRS_BIN, 'verify', file, '--queue', url, '--json']);
    const exited = new Promise<number | null>((r) => verify.on('exit', (code) => r(code)));
    // The first worker to take a job is killed while it replays it.
    let victim: (ChildProcess & { out: string }) | undefined;
    await waitUntil(() => {
      victim = workers.find((w) => /segment \d+ of /.test(w.out));
      return victim !== undefined;
    }, 'a worker to take a segment');
    const taken = Number(/segment (\d+) of /.exec(victim!.out)![1]);
    killGroup(victim!);
    const code = await exited;
    assert.equal(code, 0, verify.out);
    const got = JSON.parse(verify.out.slice(verify.out.indexOf('{'))) as Report;
    assert.deepEqual(
      got.segments.map((s) => [s.index, s.verdict, s.icount, s.digests]),
      expected.segments.map((s) => [s.index, s.verdict, s.icount, s.digests]),
    );
    // The killed worker's segment was done by another.
    const others = workers
      .filter((w) => w !== victim)
      .map((w) => w.out)
      .join('\n');
    assert.match(others, new RegExp(`segment ${taken}: ok`), others);

    // Workers that reach the recording by URL (fetched once each) give the same report; a URL
    // that serves another file fails the run, clearly.
    const served = await servePayload(readFileSync(file));
    const wrong = await servePayload('not this recording');
    try {
      // Run apart (not spawnSync): the HTTP servers answer from this process's event loop.
      const viaUrl = (port: number, ...more: string[]) =>
        run(process.execPath, [
          VMRS_BIN,
          'verify',
          file,
          '--queue',
          url,
          '--share',
          `http://127.0.0.1:${port}/boot.vmrs`,
          ...more,
        ]);
      const byUrl = await viaUrl(served.port, '--json');
      assert.equal(byUrl.status, 0, byUrl.stderr);
      assert.deepEqual(
        (JSON.parse(byUrl.stdout) as Report).segments.map((s) => [s.index, s.verdict, s.icount]),
        expected.segments.map((s) => [s.index, s.verdict, s.icount]),
      );
      const bad = await viaUrl(wrong.port);
      assert.equal(bad.status, 1, bad.stderr);
      assert.match(
        bad.stderr,
        /failed on the workers: .* is 18 bytes, the recording verified is \d+/,
      );
    } finally {
      served.close();
      wrong.close();
    }

    // The analyses take the same workers: a trace and a profile by queue are one replay's.
    for (const args of [
      ['trace', file, '--syscalls', '-q'],
      ['profile', file, '--interval', '5000', '-q'],
    ]) {
      const here = await run(process.execPath, [VMRS_BIN, ...args, '--jobs', '1']);
      assert.equal(here.status, 0, here.stderr);
      assert.ok(here.stdout.split('\n').length > 20, here.stdout);
      const byQueue = await run(process.execPath, [VMRS_BIN, ...args, '--queue', url]);
      assert.equal(byQueue.status, 0, byQueue.stderr);
      assert.equal(byQueue.stdout, here.stdout, args[0]);
    }
  } finally {
    for (const w of workers) killGroup(w);
    killGroup(redis);
  }
});
