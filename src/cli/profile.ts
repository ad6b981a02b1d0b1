/**
 * `vmrs profile FILE`: where the guest's instructions went, by process and
 * function. The replay is sampled at every multiple of `--interval`
 * instructions (a sample stands for the instructions since the last); a
 * sample in S-mode is the kernel's, with its call stack walked by frame
 * pointers (analysis/kernel-stack.ts) and named from vmlinux (the one
 * beside the recorded kernel image is found by itself, or give --symbols),
 * in U-mode the program's (named from the ELFs given with --symbols, else
 * "[user]"; one frame: user programs are not built with frame pointers),
 * in M-mode the firmware's. The process is the task running: `tp` in the
 * kernel, `sscratch` in user mode, named as `vmrs trace` names them.
 *
 * The flat profile (by innermost function) goes to standard output;
 * --collapsed writes "process;outermost;…;innermost count" lines, a flame
 * graph's input. With checkpoints in the recording, --jobs N (or --queue)
 * samples the segments apart; samples fall at the same icounts, so the
 * profile is the same as one replay's (analysis-segment.ts).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { readRecordingFile } from './open-replay.js';
import { UsageError, parseInstructionCount } from './options.js';
import { analysisProgress, segmentsProgress } from './analysis-progress.js';
import { ElfFunctions } from '../analysis/elf-functions.js';
import { REPLAY_DIVERGED } from './replay.js';
import {
  SegmentMachine,
  segmentsOf,
  verifySegment,
  type Segment,
  type SegmentResult,
} from './verify-segment.js';
import { ProfileObserver, type ProfileOutput, type ProfileWork } from './analysis-segment.js';
import {
  kernelDwarf,
  openPool,
  parallelism,
  vmlinuxOf,
  type ParallelOptions,
} from './analysis-runner.js';
import { taskOffsets } from './trace.js';

/** The exit status of a profile stopped by a signal (after printing what it has), as a shell's 128 + SIGINT. */
const STOPPED = 130;

export interface ProfileOptions extends ParallelOptions {
  symbols?: string[];
  interval: string;
  top: string;
  collapsed?: string;
  quiet?: boolean;
}

export async function profileCommand(file: string, opts: ProfileOptions): Promise<number> {
  const interval = parseInstructionCount('--interval', opts.interval, 100);
  const top = Number(opts.top);
  if (!Number.isSafeInteger(top) || top < 1)
    throw new UsageError('--top must be a positive number');
  const log = (s: string) => !opts.quiet && process.stderr.write(`[vmrs] ${s}\n`);

  // Symbols: each ELF given, and the vmlinux beside the recorded kernel image.
  const tables: { name: string; fns: ElfFunctions }[] = [];
  for (const path of opts.symbols ?? []) {
    if (!existsSync(path)) throw new UsageError(`--symbols ${path}: no such file`);
    const fns = ElfFunctions.read(readFileSync(path));
    if (!fns) throw new UsageError(`--symbols ${path}: not an ELF64 file with a symbol table`);
    tables.push({ name: path, fns });
  }
  const rec = readRecordingFile(file);
  const vmlinux = vmlinuxOf(rec);
  if (vmlinux && !(opts.symbols ?? []).includes(vmlinux)) {
    const fns = ElfFunctions.read(readFileSync(vmlinux));
    if (fns) {
      tables.push({ name: vmlinux, fns });
      log(`kernel symbols from ${vmlinux}`);
    }
  }
  const total = rec.events.lastIcount ?? 0;
  const segments = segmentsOf(rec);
  rec.source.close?.();
  const jobs = parallelism(opts, segments);
  const show = !!process.stderr.isTTY && !opts.quiet;
  const named = new Map<string, string>();
  const name = (hex: string, user: boolean): string => {
    let n = named.get(hex);
    if (n === undefined) {
      const pc = BigInt(`0x${hex}`);
      const lo = Number(pc & 0xffffffffn),
        hi = Number(pc >> 32n);
      n = tables.map((t) => t.fns.find(lo, hi)).find((f) => f !== undefined) ?? '';
      named.set(hex, n);
    }
    return n || (user ? '[user]' : '[kernel]');
  };

  const kernelTask = vmlinux ?? (opts.symbols ?? []).find((p) => /vmlinux/.test(p));
  const layout = await taskOffsets(
    file,
    kernelTask,
    kernelDwarf(kernelTask, log),
    total,
    show,
    log,
  );
  const work: ProfileWork = { kind: 'profile', layout, interval };
  // Stopped (Ctrl-C, SIGTERM): the profile of the run so far, not nothing.
  const halt = new AbortController();
  const stop = () => halt.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let results: SegmentResult[];
  try {
    results =
      jobs === 1
        ? [await profileWhole(file, work, total, show, halt.signal)]
        : await profileSegments(file, opts, jobs, segments, work, total, show, log, halt.signal);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }

  if (results.length === 0) {
    process.stderr.write('vmrs: stopped before the first segment was done: no samples\n');
    return STOPPED;
  }
  // Merge: a segment's first sample also stands for the instructions since the segment before's last.
  const stacks = new Map<string, number>();
  const add = (key: string, n: number) => n > 0 && stacks.set(key, (stacks.get(key) ?? 0) + n);
  let carry = 0;
  let status = 0;
  for (const r of results) {
    const o = r.analysis as ProfileOutput;
    if (o.first) {
      add(o.first[0], o.first[1] + carry);
      carry = 0;
    }
    for (const [k, n] of o.weights) add(k, n);
    carry += o.tail;
    if (r.stopped) {
      process.stderr.write(
        `vmrs: stopped at icount ${r.icount}: the profile covers the run up to there\n`,
      );
      status = STOPPED;
      break;
    }
    if (r.verdict !== 'ok') {
      process.stderr.write(
        `vmrs: ${r.verdict === 'diverged' ? `the replay diverged at icount ${r.icount}` : 'the recording cannot be replayed further'}: ${r.message}; the profile stops there\n`,
      );
      status = REPLAY_DIVERGED;
      break;
    }
  }

  // Name the stacks: "comm;outermost;…;innermost", kernel frames marked [k].
  const flat = new Map<string, number>();
  const folded = new Map<string, number>();
  let sum = 0;
  for (const [key, n] of stacks) {
    const [comm, priv, pcs] = key.split('\t');
    let frames: string[];
    if (priv === 'M') frames = ['[firmware]'];
    else if (priv === 'U') frames = [name(pcs, true)];
    else frames = pcs.split(',').map((pc) => `[k] ${name(pc, false)}`);
    const leaf = `${comm};${frames[0]}`;
    flat.set(leaf, (flat.get(leaf) ?? 0) + n);
    const stack = `${comm};${[...frames].reverse().join(';')}`;
    folded.set(stack, (folded.get(stack) ?? 0) + n);
    sum += n;
  }
  const rows = [...flat].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  process.stdout.write(`${sum} instructions, sampled every ${interval}\n`);
  process.stdout.write('      %  instructions  process  function\n');
  for (const [key, n] of rows.slice(0, top)) {
    const at = key.indexOf(';');
    process.stdout.write(
      `${((100 * n) / Math.max(sum, 1)).toFixed(2).padStart(7)}  ${String(n).padStart(12)}  ${key.slice(0, at).padEnd(8)} ${key.slice(at + 1)}\n`,
    );
  }
  if (opts.collapsed) {
    const lines = [...folded].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, n]) => `${k} ${n}`);
    writeFileSync(opts.collapsed, lines.join('\n') + '\n');
    log(`collapsed stacks in ${opts.collapsed}`);
  }
  return status;
}

async function profileWhole(
  file: string,
  work: ProfileWork,
  total: number,
  show: boolean,
  halt: AbortSignal,
): Promise<SegmentResult> {
  const machine = new SegmentMachine();
  const sampling = analysisProgress('profile', total, show);
  try {
    const segment: Segment = {
      index: 0,
      fromSeq: -1,
      fromIcount: 0,
      toEvent: null,
      toIcount: null,
    };
    return await verifySegment(
      { file, segment },
      (i) => sampling.update(i),
      machine,
      new ProfileObserver(work),
      halt,
    );
  } finally {
    sampling.stop();
    machine.close();
  }
}

async function profileSegments(
  file: string,
  opts: ParallelOptions,
  jobs: number,
  segments: Segment[],
  work: ProfileWork,
  total: number,
  show: boolean,
  log: (s: string) => void,
  halt: AbortSignal,
): Promise<SegmentResult[]> {
  const bar = segmentsProgress('profile', total, segments.length, show);
  const pool = await openPool(
    file,
    opts,
    jobs,
    (i, icount) => bar.progress(i, icount - segments[i].fromIcount),
    log,
    segments.length,
  );
  log(
    `sampling ${segments.length} segments, ${opts.queue ? `on the workers of ${opts.queue}` : `${jobs} at a time`}`,
  );
  try {
    const finished: SegmentResult[] = [];
    const all = Promise.all(
      segments.map(async (segment) => {
        const r = await pool.run({ file: pool.file, size: pool.size, segment, analysis: work });
        finished[segment.index] = r;
        bar.done(r);
        return r;
      }),
    );
    all.catch(() => {}); // raced below
    const halted = new Promise<'halted'>((r) =>
      halt.addEventListener('abort', () => r('halted'), { once: true }),
    );
    const first = await Promise.race([all, halted]);
    if (first !== 'halted') return first;
    // The segments finished from the start on: the run up to the first one still going.
    const prefix: SegmentResult[] = [];
    for (const r of finished) {
      if (!r) break;
      prefix.push(r);
    }
    const last = prefix[prefix.length - 1];
    if (last) last.stopped = true;
    return prefix;
  } finally {
    bar.stop();
    await pool.close();
  }
}
