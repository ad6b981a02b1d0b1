/**
 * The fuzzers, long run: mutated real recordings, snapshots, ELF files and
 * GDB packets (test/fuzz/) against what vmrs does with them, counting cases
 * tried, inputs accepted and refused, crashes, hangs and memory.
 *
 *   node dist/bench/fuzz.js --target recording|snapshot|elf|gdb|all [--cases N] [--seed S]
 *   node dist/bench/fuzz.js --target elf --seed S --case I     (one case again, in this process)
 *   npm run fuzz -- --target all --cases 100000
 *
 * Cases run in a worker process with a bounded heap: a worker that dies
 * (an out-of-memory included) is a crash of the case it was running, one
 * that goes silent for HANG_MS is a hang of that case; either way a new
 * worker goes on from the next case. Case I of seed S is made from S and I
 * alone, so any case can be made and run again by itself.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TARGETS, makeCase, runner, type TargetName } from '../test/fuzz/cases.js';
import { loadSeeds, makeSeeds } from '../test/fuzz/seeds.js';
import { FuzzHang } from '../test/fuzz/targets.js';

/** A case that says nothing for this long is a hang (bounded work takes well under a second). */
const HANG_MS = 60_000;
/** The worker's JavaScript heap: a case that needs more dies, and is counted a crash. */
const WORKER_HEAP_MB = 1024;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Worker: run cases [from, to) and report each on stdout. */
async function worker(): Promise<void> {
  const target = arg('target') as TargetName;
  const seed = Number(arg('seed'));
  const from = Number(arg('from'));
  const to = Number(arg('to'));
  const r = runner(target, loadSeeds(arg('seeds')!));
  const say = (s: string) => process.stdout.write(s + '\n');
  process.on('unhandledRejection', (e) =>
    say(`x ${JSON.stringify(String((e as Error)?.stack ?? e))}`),
  );
  for (let i = from; i < to; i++) {
    say(`s ${i}`);
    const t0 = performance.now();
    try {
      const out = await r.run(makeCase(r, seed, i));
      say(`r ${i} ${out} ${(performance.now() - t0).toFixed(1)}`);
    } catch (e) {
      const what = e instanceof FuzzHang ? 'h' : 'c';
      say(
        `${what} ${i} ${JSON.stringify(
          String((e as Error)?.stack ?? e)
            .split('\n')
            .slice(0, 4)
            .join(' | '),
        )}`,
      );
    }
    if (i % 200 === 0) {
      (globalThis as { gc?: () => void }).gc?.();
      const m = process.memoryUsage();
      say(`m ${m.heapUsed} ${m.rss}`);
    }
  }
  say('done');
}

interface Tally {
  target: string;
  tried: number;
  accepted: number;
  rejected: number;
  crashes: { i: number; why: string }[];
  hangs: { i: number; why: string }[];
  slowestMs: number;
  slowestCase: number;
  heapAfterGcFirst: number;
  heapAfterGcLast: number;
  peakRss: number;
  seconds: number;
}

/** The run under way: reported as it stands if the command is stopped (SIGINT, SIGTERM). */
const running: {
  tally?: Tally;
  t0: number;
  child?: ReturnType<typeof spawn>;
  seed: number;
  seedsDir: string;
} = {
  t0: 0,
  seed: 0,
  seedsDir: '',
};
/** Cases between progress lines. */
const PROGRESS = 10_000;

/** Run cases [0, n) of `target` in workers; returns the tally. */
async function fuzz(target: TargetName, n: number, seed: number, seedsDir: string): Promise<Tally> {
  const t: Tally = {
    target,
    tried: 0,
    accepted: 0,
    rejected: 0,
    crashes: [],
    hangs: [],
    slowestMs: 0,
    slowestCase: -1,
    heapAfterGcFirst: 0,
    heapAfterGcLast: 0,
    peakRss: 0,
    seconds: 0,
  };
  const t0 = performance.now();
  Object.assign(running, { tally: t, t0, seed, seedsDir });
  const self = fileURLToPath(import.meta.url);
  let next = 0;
  while (next < n) {
    const child = spawn(
      process.execPath,
      [
        `--max-old-space-size=${WORKER_HEAP_MB}`,
        '--expose-gc',
        self,
        '--worker',
        '--target',
        target,
        '--seed',
        String(seed),
        '--from',
        String(next),
        '--to',
        String(n),
        '--seeds',
        seedsDir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.child = child;
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    let current = next;
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    let hung = false;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        hung = true;
        child.kill('SIGKILL');
      }, HANG_MS);
    };
    arm();
    const exited = new Promise<void>((r) => child.on('close', () => r()));
    for await (const line of createInterface({ input: child.stdout })) {
      arm();
      const [k, a, b, c] = line.split(' ');
      if (k === 's') current = Number(a);
      else if (k === 'r') {
        t.tried++;
        if (b === 'accepted') t.accepted++;
        else t.rejected++;
        if (Number(c) > t.slowestMs) {
          t.slowestMs = Number(c);
          t.slowestCase = Number(a);
        }
        next = Number(a) + 1;
        if (t.tried % PROGRESS === 0) {
          t.seconds = (performance.now() - t0) / 1000;
          report(t, seed, seedsDir, 'so far');
        }
      } else if (k === 'c' || k === 'h') {
        t.tried++;
        (k === 'c' ? t.crashes : t.hangs).push({
          i: Number(a),
          why: JSON.parse(line.slice(line.indexOf(' ', 2) + 1)) as string,
        });
        next = Number(a) + 1;
      } else if (k === 'x')
        t.crashes.push({
          i: current,
          why: `unhandled rejection: ${JSON.parse(line.slice(2)) as string}`,
        });
      else if (k === 'm') {
        if (!t.heapAfterGcFirst) t.heapAfterGcFirst = Number(a);
        t.heapAfterGcLast = Number(a);
        t.peakRss = Math.max(t.peakRss, Number(b));
      } else if (k === 'done') finished = true;
    }
    await exited;
    clearTimeout(timer);
    if (!finished) {
      // The worker died or went silent in case `current`.
      t.tried++;
      if (hung) t.hangs.push({ i: current, why: `no answer in ${HANG_MS / 1000} s` });
      else
        t.crashes.push({
          i: current,
          why: `the process died: ${err.trim().split('\n').slice(-3).join(' | ')}`,
        });
      next = current + 1;
    }
  }
  t.seconds = (performance.now() - t0) / 1000;
  return t;
}

function report(t: Tally, seed: number, seedsDir: string, when = ''): void {
  const mb = (x: number) => (x / 1048576).toFixed(0);
  console.log(
    `fuzz ${t.target.padEnd(9)} seed ${seed}${when ? ` (${when})` : ''}: ${t.tried} cases (${t.accepted} accepted, ${t.rejected} refused), ` +
      `${t.crashes.length} crashes, ${t.hangs.length} hangs; slowest case ${t.slowestMs.toFixed(0)} ms (#${t.slowestCase}); ` +
      `worker heap after GC ${mb(t.heapAfterGcFirst)} -> ${mb(t.heapAfterGcLast)} MiB, peak RSS ${mb(t.peakRss)} MiB; ${t.seconds.toFixed(0)} s`,
  );
  for (const c of [...t.crashes, ...t.hangs].slice(0, 10))
    console.log(
      `  case ${c.i}: ${c.why}   (again: node dist/bench/fuzz.js --target ${t.target} --seed ${seed} --seeds ${seedsDir} --case ${c.i})`,
    );
}

async function main(): Promise<void> {
  if (process.argv.includes('--worker')) return worker();
  const which = arg('target') ?? 'all';
  const targets = which === 'all' ? [...TARGETS] : [which as TargetName];
  for (const t of targets)
    if (!TARGETS.includes(t)) throw new Error(`--target: one of ${TARGETS.join(', ')}, all`);
  const seed =
    arg('seed') !== undefined ? Number(arg('seed')) : Math.floor(Math.random() * 2 ** 31);
  const seedsDir = arg('seeds') ?? mkdtempSync(join(tmpdir(), 'vmrs-fuzz-'));
  console.log(`fuzz seed ${seed} (seeds in ${seedsDir})`);
  if (!arg('seeds')) await makeSeeds(seedsDir);
  const one = arg('case');
  if (one !== undefined) {
    const r = runner(targets[0], loadSeeds(seedsDir));
    const c = makeCase(r, seed, Number(one));
    console.log(
      JSON.stringify(c, (_k, v: unknown) =>
        typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Array.from(v) : v,
      ).slice(0, 2000),
    );
    console.log(await r.run(c));
    return;
  }
  const n = Number(arg('cases') ?? 10_000);
  const stop = () => {
    running.child?.kill('SIGKILL');
    if (running.tally) {
      running.tally.seconds = (performance.now() - running.t0) / 1000;
      report(running.tally, running.seed, running.seedsDir, 'stopped early');
    }
    process.exit(
      running.tally && running.tally.crashes.length + running.tally.hangs.length ? 1 : 2,
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  let bad = 0;
  for (const t of targets) {
    const tally = await fuzz(t, n, seed, seedsDir);
    report(tally, seed, seedsDir);
    bad += tally.crashes.length + tally.hangs.length;
  }
  process.exitCode = bad ? 1 : 0;
}

await main();
