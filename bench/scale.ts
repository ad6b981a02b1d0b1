/**
 * Long recordings at scale (`npm run bench -- --only scale`):
 *   - record overhead with checkpoints on (default schedule, and every 50M),
 *     against checkpoints off, on boot + md5sum of 4 MiB (interleaved rounds);
 *   - checkpoint bytes per guest-minute, idle and busy;
 *   - replay memory (peak RSS) for idle recordings of 1, 10 and 60 guest-minutes
 *     (made with --clock warp), and seek time (`replay --to N`) to random icounts
 *     in the longest, opened fresh, with and without its checkpoints;
 *   - `vmrs verify` throughput for 1 and 2 jobs, and with two `vmrs worker`
 *     processes through Redis.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROMPT, VMRS, fmt, median, runVmrs, type Step } from './cli-session.js';
import { prng } from '../test/helpers/seed.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-bench-scale-'));
const spread = (xs: number[]) => `${fmt(Math.min(...xs), 2)}-${fmt(Math.max(...xs), 2)}`;

interface Info {
  fileBytes: number;
  guestSeconds: number;
  instructions: number;
  checkpoints: { icount: number; bytes: number }[];
}

function inspect(file: string): Info {
  const r = spawnSync(VMRS, ['inspect', '--json', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`inspect failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Info;
}

const md5Steps: Step[] = [
  {
    waitFor: PROMPT,
    send: 'dd if=/dev/zero bs=64k count=64 2>/dev/null | md5sum; echo DONE-$((40+2))\n',
  },
  { waitFor: /DONE-42/ },
  { waitFor: PROMPT, send: 'poweroff -f\n' },
];

async function recordOverhead(): Promise<void> {
  const variants: [string, string][] = [
    ['off', '0'],
    ['default (200M,60s)', '200M,60s'],
    ['every 50M', '50M'],
  ];
  const times = variants.map(() => [] as number[]);
  const file = join(dir, 'overhead.vmrs');
  for (let round = 0; round < 5; round++)
    for (const [i, [, every]] of variants.entries()) {
      const r = await runVmrs(['record', '-q', '-o', file, '--checkpoint-every', every], md5Steps);
      if (r.status !== 0) throw new Error(`record failed: ${r.stderr}`);
      times[i].push(r.wallSeconds);
    }
  const base = median(times[0]);
  for (const [i, [name, every]] of variants.entries()) {
    await runVmrs(['record', '-q', '-o', file, '--checkpoint-every', every], md5Steps);
    const info = inspect(file);
    console.log(
      `record with checkpoints ${name.padEnd(18)} median ${fmt(median(times[i]), 2)} s (${spread(times[i])}, 5 interleaved rounds)` +
        (i ? `, overhead ${fmt((median(times[i]) / base - 1) * 100)} %` : '') +
        `; ${info.checkpoints.length} checkpoints, file ${fmt(info.fileBytes / 1048576, 2)} MiB`,
    );
  }
}

/**
 * A mostly idle guest recorded for `minutes` of guest time, as fast as the host
 * goes: once a second it wakes, reads the clock and its uptime, and sleeps again.
 */
async function recordIdle(minutes: number): Promise<string> {
  const file = join(dir, `idle-${minutes}min.vmrs`);
  const r = await runVmrs(
    ['record', '-q', '--clock', 'warp', '-o', file],
    [
      {
        waitFor: PROMPT,
        send: `for i in $(seq ${minutes * 60}); do date > /tmp/now; cat /proc/uptime > /dev/null; sleep 1; done; echo SLEPT-$((1+1))\n`,
      },
      { waitFor: /SLEPT-2/ },
      { waitFor: PROMPT, send: 'poweroff -f\n' },
    ],
    3_600_000,
  );
  if (r.status !== 0) throw new Error(`record failed: ${r.stderr}`);
  return file;
}

function perMinute(info: Info): string {
  const bytes = info.checkpoints.reduce((a, c) => a + c.bytes, 0);
  return `${fmt(bytes / 1048576 / (info.guestSeconds / 60), 2)} MiB of checkpoints per guest-minute (${info.checkpoints.length} in ${fmt(info.guestSeconds)} guest s; file ${fmt(info.fileBytes / 1048576, 2)} MiB)`;
}

function replayStats(file: string, extra: string[] = []): { secs: number; rssMiB: number } {
  const t0 = performance.now();
  const r = spawnSync(VMRS, ['replay', '-q', '--stats', file, ...extra], {
    encoding: 'utf8',
  });
  const secs = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`replay failed (${r.status}): ${r.stderr}`);
  return { secs, rssMiB: Number(/peak RSS (\d+) MiB/.exec(r.stderr)?.[1] ?? NaN) };
}

async function longRecordings(): Promise<void> {
  const rng = prng('bench-scale');
  let longest = '';
  for (const minutes of [1, 10, 60]) {
    const t0 = performance.now();
    const file = await recordIdle(minutes);
    const recSecs = (performance.now() - t0) / 1000;
    const info = inspect(file);
    const rep = replayStats(file);
    console.log(
      `idle ${String(minutes).padStart(2)} guest-min (${fmt(info.instructions / 1e9, 2)} G instructions): recorded in ${fmt(recSecs)} s (--clock warp), replayed in ${fmt(rep.secs, 2)} s, peak RSS ${rep.rssMiB} MiB; ${perMinute(info)}`,
    );
    longest = file;
  }
  const info = inspect(longest);
  const seek = (extra: string[]) => {
    const out: number[] = [];
    for (let i = 0; i < 5; i++) {
      const to = Math.floor(info.instructions * (0.2 + 0.8 * rng.next()));
      const t0 = performance.now();
      const r = spawnSync(VMRS, ['replay', '-q', longest, '--to', String(to), ...extra], {
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`replay --to failed: ${r.stderr}`);
      out.push((performance.now() - t0) / 1000);
    }
    return out;
  };
  const withCp = seek([]);
  const fromStart = seek(['--from-start']);
  console.log(
    `seek (replay --to N, fresh process) in the 60 guest-min recording (${fmt(info.instructions / 1e9, 2)} G instructions): ` +
      `median ${fmt(median(withCp), 2)} s (${spread(withCp)}) from its checkpoints, ${fmt(median(fromStart), 2)} s (${spread(fromStart)}) from the start`,
  );
}

const busySteps: Step[] = [
  {
    waitFor: PROMPT,
    send: 'for i in 1 2 3 4 5 6 7 8; do dd if=/dev/zero bs=1M count=16 2>/dev/null | md5sum; done; echo BUSY-$((1+1))\n',
  },
  { waitFor: /BUSY-2/ },
  { waitFor: PROMPT, send: 'poweroff -f\n' },
];

async function busyRecording(): Promise<string> {
  const file = join(dir, 'busy.vmrs');
  const r = await runVmrs(['record', '-q', '-o', file], busySteps);
  if (r.status !== 0) throw new Error(`record failed: ${r.stderr}`);
  return file;
}

function verifyRun(args: string[]): { secs: number; insns: number } {
  const t0 = performance.now();
  const r = spawnSync(VMRS, ['verify', ...args, '--json'], { encoding: 'utf8' });
  const secs = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`verify failed (${r.status}): ${r.stderr}`);
  return { secs, insns: (JSON.parse(r.stdout) as { instructions: number }).instructions };
}

async function verifyThroughput(file: string): Promise<void> {
  const info = inspect(file);
  // Record overhead on this longer run: checkpoints off against the default, interleaved.
  const off: number[] = [];
  const on: number[] = [];
  for (let i = 0; i < 3; i++)
    for (const [every, out] of [
      ['0', off],
      ['200M,60s', on],
    ] as const) {
      const r = await runVmrs(
        ['record', '-q', '-o', join(dir, 'busy-again.vmrs'), '--checkpoint-every', every],
        busySteps,
      );
      if (r.status !== 0) throw new Error(`record failed: ${r.stderr}`);
      out.push(r.wallSeconds);
    }
  console.log(
    `record busy workload: checkpoints off median ${fmt(median(off), 2)} s (${spread(off)}), default ${fmt(median(on), 2)} s (${spread(on)}), overhead ${fmt((median(on) / median(off) - 1) * 100)} % (3 interleaved rounds)`,
  );
  console.log(
    `busy recording: ${fmt(info.instructions / 1e9, 2)} G instructions, ${fmt(info.guestSeconds)} guest s; ${perMinute(info)}`,
  );
  const mips = (r: { secs: number; insns: number }) => fmt(r.insns / r.secs / 1e6, 0);
  const plain = replayStats(file);
  console.log(
    `replay (one thread, from the start): ${fmt(plain.secs, 2)} s, ${fmt(info.instructions / plain.secs / 1e6, 0)} MIPS`,
  );
  for (const jobs of [1, 2]) {
    const rs = [0, 1, 2].map(() => verifyRun([file, '--jobs', String(jobs)]));
    const secs = rs.map((r) => r.secs);
    console.log(
      `verify --jobs ${jobs}: median ${fmt(median(secs), 2)} s (${spread(secs)}), ${mips({ secs: median(secs), insns: rs[0].insns })} MIPS (whole process)`,
    );
  }
  const port = 20000 + Math.floor(Math.random() * 20000);
  const redis = spawn(
    'redis-server',
    ['--port', String(port), '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const url = `redis://127.0.0.1:${port}`;
  await new Promise((r) => setTimeout(r, 500));
  const workers = [0, 1].map(() =>
    spawn(VMRS, ['worker', '-q', '--queue', url, '--concurrency', '1'], {
      stdio: 'ignore',
    }),
  );
  await new Promise((r) => setTimeout(r, 2000));
  try {
    const rs = [0, 1, 2].map(() => verifyRun([file, '--queue', url]));
    const secs = rs.map((r) => r.secs);
    console.log(
      `verify --queue (2 vmrs worker processes, Redis on loopback): median ${fmt(median(secs), 2)} s (${spread(secs)}), ${mips({ secs: median(secs), insns: rs[0].insns })} MIPS`,
    );
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    redis.kill();
  }
}

export async function benchScale(): Promise<void> {
  console.log('== long recordings at scale ==');
  await recordOverhead();
  await verifyThroughput(await busyRecording());
  await longRecordings();
}
