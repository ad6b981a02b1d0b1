/**
 * `vmrs verify FILE [--jobs N]`: check a whole recording by replaying the
 * segments between its checkpoints in parallel, on worker threads. Each
 * segment must end exactly in the state recorded at the next checkpoint.
 * Exit 0 when every segment matches, 2 on a divergence, 1 on a file that
 * cannot be read whole (damage, missing images).
 */
import { availableParallelism } from 'node:os';
import { statSync } from 'node:fs';
import { segmentsProgress } from './analysis-progress.js';
import { readRecordingFile } from './open-replay.js';
import { UsageError } from './options.js';
import { segmentsOf, type Segment, type SegmentResult } from './verify-segment.js';
import { SegmentThreads } from './segment-threads.js';
import { runOnQueue } from './segment-queue.js';

export interface VerifyOptions {
  jobs?: string;
  /** Hand the segments to `vmrs worker`s through this Redis queue instead of threads here. */
  queue?: string;
  /** With --queue: how the workers reach the recording (a shared path or an http(s) URL). */
  share?: string;
  engine?: string;
  json?: boolean;
  quiet?: boolean;
}

export const VERIFY_DIVERGED = 2;
export const VERIFY_BAD_FILE = 1;

/** What a verifier found, segment by segment, and the verdict of the whole. */
export interface VerifyReport {
  file: string;
  segments: SegmentResult[];
  instructions: number;
  digests: number;
  wallMs: number;
  /** The first segment that did not match (undefined: all did). */
  firstBad?: SegmentResult;
  status: number;
}

export function verdictOf(file: string, results: SegmentResult[], wallMs: number): VerifyReport {
  const segments = [...results].sort((a, b) => a.index - b.index);
  const firstBad = segments.find((r) => r.verdict !== 'ok');
  return {
    file,
    segments,
    instructions: segments.reduce((a, r) => a + r.instructions, 0),
    digests: segments.reduce((a, r) => a + r.digests, 0),
    wallMs,
    firstBad,
    status: !firstBad
      ? 0
      : segments.some((r) => r.verdict === 'diverged')
        ? VERIFY_DIVERGED
        : VERIFY_BAD_FILE,
  };
}

/** The report as people read it. */
export function describeReport(rep: VerifyReport, segments: Segment[]): string {
  const secs = rep.wallMs / 1000;
  let s = '';
  for (const r of rep.segments) {
    if (r.verdict === 'ok') continue;
    const seg = segments[r.index];
    const range = `icount ${seg.fromIcount}–${seg.toIcount ?? 'end'}`;
    s += `vmrs: segment ${r.index} (${range}) ${r.verdict === 'diverged' ? `diverged at icount ${r.icount}` : 'cannot be checked'}: ${r.message}\n`;
    for (const d of r.details ?? []) s += `  ${d}\n`;
  }
  const last = rep.segments[rep.segments.length - 1];
  const note = rep.segments.find((r) => r.verdict === 'ok' && r.message)?.message;
  s +=
    `vmrs: ${rep.firstBad ? 'NOT verified' : 'verified'}: ${rep.segments.filter((r) => r.verdict === 'ok').length} of ${rep.segments.length} segments match, ` +
    `${rep.instructions} instructions and ${rep.digests} state digests in ${secs.toFixed(2)} s ` +
    `(${(rep.instructions / Math.max(secs, 1e-3) / 1e6).toFixed(0)} MIPS)` +
    (last?.exit && !rep.firstBad
      ? `; the guest ended with ${last.exit.kind}, status ${last.exit.status}`
      : '') +
    (note ? `; ${note}` : '') +
    '\n';
  return s;
}

/** Runs segment jobs on a pool of worker threads. */
export async function runOnThreads(
  file: string,
  segments: Segment[],
  jobs: number,
  engine: string | undefined,
  progress: (index: number, icount: number) => void,
  done: (r: SegmentResult) => void,
): Promise<SegmentResult[]> {
  const pool = new SegmentThreads(Math.min(jobs, segments.length), progress);
  try {
    return await Promise.all(
      segments.map(async (segment) => {
        let r: SegmentResult;
        try {
          r = await pool.run({ file, segment, engine });
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
        done(r);
        return r;
      }),
    );
  } finally {
    await pool.close();
  }
}

export function parseJobs(spec: string | undefined): number {
  if (spec === undefined) return availableParallelism();
  const n = Number(spec);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new UsageError('--jobs must be a whole number, at least 1');
  return n;
}

export async function verifyCommand(file: string, opts: VerifyOptions): Promise<number> {
  const jobs = parseJobs(opts.jobs);
  if (opts.share && !opts.queue) throw new UsageError('--share goes with --queue');
  const rec = readRecordingFile(file);
  const segments = segmentsOf(rec);
  const start = rec.header.startIcount ?? 0;
  const total = (rec.events.lastIcount ?? start) - start;
  // A file cut short by its end is a prefix to verify; damage inside it is a bad file.
  const damage = rec.cutShort ? undefined : rec.damage;
  rec.source.close?.();
  const log = (s: string) => {
    if (!opts.quiet && !opts.json) process.stderr.write(`[vmrs] ${s}\n`);
  };
  log(
    `verifying ${file}: ${segments.length} segment(s) between ${segments.length - 1} checkpoint(s), ` +
      (opts.queue ? `on the workers of ${opts.queue}` : `${jobs} job(s)`),
  );
  const bar = segmentsProgress(
    'verify',
    total,
    segments.length,
    !opts.quiet && !opts.json && !!process.stderr.isTTY,
  );
  const t0 = performance.now();
  let results: SegmentResult[];
  try {
    const progress = (i: number, icount: number) =>
      bar.progress(i, icount - segments[i].fromIcount);
    const done = (r: SegmentResult) => bar.done(r);
    results = opts.queue
      ? await runOnQueue(
          opts.queue,
          { name: opts.share ?? file, size: statSync(file).size },
          segments,
          opts.engine,
          progress,
          done,
          log,
        )
      : await runOnThreads(file, segments, jobs, opts.engine, progress, done);
  } finally {
    bar.stop();
  }
  const rep = verdictOf(file, results, performance.now() - t0);
  if (damage && rep.status === 0) rep.status = VERIFY_BAD_FILE;
  if (opts.json)
    process.stdout.write(JSON.stringify({ ...rep, damage: damage ?? null }, null, 2) + '\n');
  else {
    process.stderr.write(describeReport(rep, segments));
    if (damage)
      process.stderr.write(`vmrs: the file is damaged after its last whole chunk: ${damage}\n`);
    else if (rec.damage)
      process.stderr.write(`vmrs: note: ${rec.damage}; its whole chunks were verified\n`);
  }
  return rep.status;
}
