/**
 * What `vmrs trace` and `vmrs profile` share: where a recording's kernel
 * symbols are, where its tasks keep their pid and name, and how its
 * segments are run — here in this process (one replay of the whole), on
 * worker threads (`--jobs N`), or by `vmrs worker`s on a Redis queue
 * (`--queue`).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError } from './options.js';
import { parseJobs } from './verify.js';
import { SegmentThreads } from './segment-threads.js';
import { announceQueue, openSegmentQueue, sharedName } from './segment-queue.js';
import type { ParsedRecording } from '../replay/log-format.js';
import type { Segment, SegmentJob, SegmentResult } from './verify-segment.js';
import { DwarfError, DwarfStructs } from '../analysis/dwarf.js';
import type { TaskOffsets } from '../analysis/task-layout.js';

export interface ParallelOptions {
  /** Segments replayed at once (default: one per core when the recording has checkpoints). */
  jobs?: string;
  queue?: string;
  share?: string;
}

/** Runs segment jobs somewhere: threads here or workers on a queue. */
export interface SegmentPool {
  run(job: SegmentJob, urgent?: boolean): Promise<SegmentResult>;
  /** The job's recording, by the name the pool's workers open it. */
  file: string;
  size: number;
  close(): Promise<void>;
}

/** How many segments run at once (1: the whole recording as one replay here). */
export function parallelism(opts: ParallelOptions, segments: Segment[]): number {
  if (opts.share && !opts.queue) throw new UsageError('--share goes with --queue');
  if (opts.queue) return Infinity;
  const jobs = parseJobs(opts.jobs);
  return segments.length > 1 ? jobs : 1;
}

export async function openPool(
  file: string,
  opts: ParallelOptions,
  jobs: number,
  progress: (index: number, icount: number) => void,
  log: (s: string) => void,
  count: number,
): Promise<SegmentPool> {
  const size = statSync(file).size;
  if (opts.queue) {
    const q = await openSegmentQueue(opts.queue, progress);
    await announceQueue(q, opts.queue, count, log);
    return { run: (job) => q.run(job), file: sharedName(opts.share ?? file), size, close: q.close };
  }
  const pool = new SegmentThreads(jobs, progress);
  return {
    run: (job, urgent) => pool.run(job, urgent),
    file,
    size,
    close: () => pool.close(),
  };
}

/** The kernel's ELF with symbols: `given`, else the vmlinux beside the recorded kernel image. */
export function vmlinuxOf(rec: ParsedRecording, given?: string): string | undefined {
  if (given) {
    if (!existsSync(given)) throw new UsageError(`${given}: no such file`);
    return given;
  }
  const kernel = rec.header.kernel.path;
  const beside = kernel ? join(dirname(kernel), 'vmlinux') : undefined;
  return beside && existsSync(beside) ? beside : undefined;
}

/** The kernel's DWARF, or undefined (no file, none in it, or none readable: said in the log). */
export function kernelDwarf(
  vmlinux: string | undefined,
  log: (s: string) => void,
): DwarfStructs | undefined {
  if (!vmlinux) return undefined;
  try {
    return DwarfStructs.read(readFileSync(vmlinux));
  } catch (e) {
    if (!(e instanceof DwarfError)) throw e;
    log(`${vmlinux}: ${e.message}`);
    return undefined;
  }
}

/**
 * Where task_struct keeps pid and comm, from the kernel's DWARF; undefined
 * when it has no task_struct, so the caller learns it from a replay instead.
 */
export function taskOffsetsFromDwarf(d: DwarfStructs): TaskOffsets | undefined {
  const pid = d.offsetOf('task_struct', 'pid');
  const comm = d.offsetOf('task_struct', 'comm');
  return pid === undefined || comm === undefined ? undefined : { pid, comm };
}
