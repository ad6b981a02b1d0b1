/**
 * The soak: many seeded runs, each recorded with `vmrs record` and checked
 * with `vmrs replay` (bench/soak/check.ts), a few at a time. A run's
 * recordings, disk images and outputs stay in its directory when it fails
 * and are deleted when it passes.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describePlan, planRun, type RunPlan } from './plan.js';
import { Rng } from './random.js';
import { liveRecorders, recordRun, type VmRecording } from './record-session.js';
import { checkFinished, checkKilled, liveChecks, type ReplayCheck, type Verdict } from './check.js';
import type { HostSide } from './workload.js';

export interface RunResult {
  run: number;
  plan: RunPlan;
  verdict: Verdict;
  /** Why it is not ok: commands to repeat it, and what went wrong. */
  report: string[];
  seconds: number;
  recordSeconds: number;
  replaySeconds: number;
  /** Instructions the replays ran (all machines). */
  instructions: number;
  dir: string;
  recordings: { rec: VmRecording; check: ReplayCheck }[];
}

/** The host's payload server: GET /N answers the first N bytes of the payload. */
async function servePrefixes(payload: Uint8Array): Promise<{ port: number; server: Server }> {
  const server = createServer((req, res) => {
    const n = Number((req.url ?? '/').slice(1)) || payload.length;
    res.end(payload.subarray(0, Math.min(n, payload.length)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, server };
}

const vmrsLine = (args: string[]) =>
  `vmrs ${args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a}'`)).join(' ')}`;

export function repeatCommand(seed: number, run: number, kill: boolean): string {
  return `node dist/bench/soak.js --seed ${seed} --only-run ${run}${kill ? ' --kill' : ''}`;
}

/** One run of the soak, in a directory of its own under `baseDir`. */
export async function soakRun(
  seed: number,
  run: number,
  kill: boolean,
  baseDir: string,
  keep = false,
): Promise<RunResult> {
  const t0 = performance.now();
  const plan = planRun(seed, run, kill);
  const dir = join(baseDir, `run-${run}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan, null, 1));
  const payload = new Rng(plan.payloadSeed).bytes(plan.payloadBytes);
  const needsServer = plan.vms.some((v) => v.net === 'user' || v.net === 'user-hostfwd');
  const served = needsServer ? await servePrefixes(payload) : undefined;
  const host: HostSide = { payloadPort: served?.port ?? 0, payload };
  let recs: VmRecording[];
  try {
    recs = await recordRun(plan, dir, host);
  } finally {
    served?.server.close();
  }
  const recordSeconds = (performance.now() - t0) / 1000;
  const recordings: RunResult['recordings'] = [];
  for (const rec of recs)
    recordings.push({ rec, check: await (kill ? checkKilled(rec) : checkFinished(rec)) });
  const seconds = (performance.now() - t0) / 1000;

  const report: string[] = [];
  let verdict: Verdict = 'ok';
  for (const { rec, check } of recordings) {
    const problems = [...rec.problems];
    if (!kill && rec.status !== rec.expectedStatus)
      problems.push(
        `vmrs record exited ${rec.status}, expected ${rec.expectedStatus}: ${rec.stderr.trim().slice(-2000)}`,
      );
    if (check.verdict === 'diverged') verdict = 'diverged';
    else if ((check.verdict === 'failed' || problems.length) && verdict === 'ok')
      verdict = 'failed';
    if (check.verdict === 'ok' && !problems.length) continue;
    report.push(`machine ${rec.plan.name}:`);
    report.push(`  record: ${vmrsLine(rec.args)}`);
    if (rec.killed)
      report.push(
        `  killed (SIGKILL) ${(rec.killed.atMs / 1000).toFixed(2)} s after start, phase ${rec.killed.phase}, ${rec.killed.fileBytes} bytes written`,
      );
    report.push(`  replay: vmrs replay ${rec.file}`);
    for (const p of problems) report.push(`  recording: ${p}`);
    for (const line of check.report) report.push(`  ${line}`);
  }
  if (verdict !== 'ok' || keep) {
    for (const { rec, check } of recordings) {
      writeFileSync(join(dir, `${rec.plan.name}.record-stdout`), rec.output, 'latin1');
      writeFileSync(join(dir, `${rec.plan.name}.record-stderr`), rec.stderr, 'latin1');
      writeFileSync(join(dir, `${rec.plan.name}.replay-stdout`), check.replay.stdout, 'latin1');
      writeFileSync(join(dir, `${rec.plan.name}.replay-stderr`), check.replay.stderr, 'latin1');
    }
    writeFileSync(join(dir, 'report.txt'), report.join('\n') + '\n');
  } else rmSync(dir, { recursive: true, force: true });
  return {
    run,
    plan,
    verdict,
    report,
    seconds,
    recordSeconds,
    replaySeconds: seconds - recordSeconds,
    instructions: recordings.reduce(
      (n, { check }) =>
        n +
        Number(
          /replay complete: (\d+) instructions/.exec(check.replay.stderr)?.[1] ??
            check.endIcount ??
            0,
        ),
      0,
    ),
    dir,
    recordings,
  };
}

export interface SoakOptions {
  seed: number;
  /** Runs first..first+runs-1. */
  first: number;
  runs: number;
  jobs: number;
  kill: boolean;
  dir: string;
  /** Keep the recordings of passing runs too. */
  keep?: boolean;
  log: (line: string) => void;
  /** Each run's result as it ends. */
  onResult?: (r: RunResult) => void;
}

/** One line per run; a failed run adds its report. */
export function formatRun(r: RunResult, seed: number, kill: boolean): string {
  const head =
    `run ${r.run}: ${r.verdict === 'ok' ? 'ok' : r.verdict.toUpperCase()} ` +
    `${r.seconds.toFixed(1)} s (record ${r.recordSeconds.toFixed(1)}, replay ${r.replaySeconds.toFixed(1)}` +
    `${r.instructions ? `, ${(r.instructions / 1e6).toFixed(0)} M instructions` : ''})`;
  const killInfo = kill
    ? r.recordings
        .map(({ rec, check }) =>
          rec.killed
            ? ` killed at ${(rec.killed.atMs / 1000).toFixed(1)} s (${rec.killed.phase}${rec.killed.promptSeen ? '' : ', before the prompt'}), ` +
              (check.endIcount !== undefined
                ? `replays to icount ${check.endIcount}, ${check.lostOutputBytes} output bytes after it`
                : check.report[0])
            : '',
        )
        .join('')
    : '';
  const lines = [`${head}${killInfo}  ${describePlan(r.plan)}`];
  if (r.verdict !== 'ok') {
    lines.push(`  repeat: ${repeatCommand(seed, r.run, kill)}`);
    lines.push(...r.report.map((l) => `  ${l}`));
    lines.push(`  kept in ${r.dir}`);
  }
  return lines.join('\n');
}

export interface SoakSummary {
  results: RunResult[];
  line: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[s.length >> 1] : NaN;
}

export function summarize(results: RunResult[], opts: SoakOptions, wallSeconds: number): string {
  const n = results.length;
  const div = results.filter((r) => r.verdict === 'diverged');
  const fail = results.filter((r) => r.verdict === 'failed');
  const secs = results.map((r) => r.seconds);
  const lines = [
    `soak${opts.kill ? ' (kill -9 mode)' : ''}: seed ${opts.seed}, ${n} runs, ` +
      `${div.length} divergences${div.length ? ` (runs ${div.map((r) => r.run).join(', ')})` : ''}, ` +
      `${fail.length} other failures${fail.length ? ` (runs ${fail.map((r) => r.run).join(', ')})` : ''}; ` +
      `per run ${median(secs).toFixed(1)} s median, ${Math.max(0, ...secs).toFixed(1)} s max; ` +
      `${(wallSeconds / 60).toFixed(1)} min in all with ${opts.jobs} job${opts.jobs > 1 ? 's' : ''}`,
  ];
  if (opts.kill) {
    const killed = results.flatMap((r) => r.recordings.filter((x) => x.rec.killed));
    const byPhase = new Map<string, number>();
    for (const k of killed)
      byPhase.set(k.rec.killed!.phase, (byPhase.get(k.rec.killed!.phase) ?? 0) + 1);
    const ends = killed.filter((k) => k.check.endIcount !== undefined);
    const lost = ends.map((k) => k.check.lostOutputBytes ?? 0);
    const age = killed.map((k) => k.rec.killed!.lastWriteAgeMs).filter((x) => Number.isFinite(x));
    const early = killed.filter(
      (k) => k.check.report[0] === 'killed before the header was written',
    );
    lines.push(
      `kills: ${killed.length} (${[...byPhase].map(([p, c]) => `${p} ${c}`).join(', ')}); ` +
        `${ends.length} replayed to their last whole chunk and said where they end, ` +
        `${early.length} killed before the header was written; ` +
        `console output past the end: median ${median(lost)} bytes, max ${Math.max(0, ...lost)}; ` +
        `last write before the kill: median ${median(age).toFixed(0)} ms, max ${Math.max(0, ...age).toFixed(0)} ms`,
    );
  }
  return lines.join('\n');
}

/** Run the soak; prints each run as it ends and returns every result. */
export async function soak(opts: SoakOptions): Promise<SoakSummary> {
  const t0 = performance.now();
  const results: RunResult[] = [];
  let next = opts.first;
  const end = opts.first + opts.runs;
  const worker = async () => {
    while (next < end) {
      const run = next++;
      let r: RunResult;
      try {
        r = await soakRun(opts.seed, run, opts.kill, opts.dir, opts.keep);
      } catch (e) {
        // A harness error: reported as a failure of the run, the soak goes on.
        r = {
          run,
          plan: planRun(opts.seed, run, opts.kill),
          verdict: 'failed',
          report: [`harness error: ${(e as Error).stack ?? e}`],
          seconds: 0,
          recordSeconds: 0,
          replaySeconds: 0,
          instructions: 0,
          dir: join(opts.dir, `run-${run}`),
          recordings: [],
        };
      }
      results.push(r);
      opts.onResult?.(r);
      opts.log(formatRun(r, opts.seed, opts.kill));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.jobs) }, worker));
  results.sort((a, b) => a.run - b.run);
  return { results, line: summarize(results, opts, (performance.now() - t0) / 1000) };
}

/** Stop every recorder and replay the soak started (it was interrupted). */
export function stopChildren(): void {
  for (const s of liveRecorders) s.kill();
  for (const c of liveChecks) if (c.exitCode === null) c.kill('SIGKILL');
}
