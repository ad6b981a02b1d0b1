/**
 * `vmrs worker --queue redis://HOST:PORT`: take segment jobs from the queue
 * (see segment-queue.ts) and replay them, until stopped. Run as many as you
 * like, on as many machines: each needs the recording and its images at
 * the path the job names (or the recording at its URL).
 */
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { UsageError } from './options.js';
import { SEGMENT_QUEUE, redisConnection } from './segment-queue.js';
import type { SegmentJob, SegmentResult } from './verify-segment.js';
import { dynamicImport } from '../host/dynamic-import.js';

export interface WorkerOptions {
  queue: string;
  concurrency?: string;
  /** Milliseconds a job stays locked without renewal before it is handed to another worker. */
  lockMs: string;
  quiet?: boolean;
}

export async function workerCommand(opts: WorkerOptions): Promise<number> {
  const log = (s: string) => {
    if (!opts.quiet) process.stderr.write(`[vmrs worker] ${s}\n`);
  };
  const concurrency =
    opts.concurrency === undefined ? availableParallelism() : Number(opts.concurrency);
  if (!Number.isSafeInteger(concurrency) || concurrency < 1)
    throw new UsageError('--concurrency must be a whole number, at least 1');
  const lockDuration = Number(opts.lockMs);
  if (!Number.isSafeInteger(lockDuration) || lockDuration < 1000)
    throw new UsageError('--lock-ms must be a whole number of milliseconds, at least 1000');
  const processor = fileURLToPath(new URL('./queue-processor.js', import.meta.url));
  // Loaded here, not at start-up: bullmq and ioredis cost every vmrs command 0.1 s to load.
  const { Worker } = await dynamicImport<typeof import('bullmq')>('bullmq');
  const worker = new Worker<SegmentJob, SegmentResult>(SEGMENT_QUEUE, processor, {
    connection: redisConnection(opts.queue),
    concurrency,
    lockDuration,
    // A job whose worker died is found on the next check and handed out again (at least once).
    stalledInterval: lockDuration,
    maxStalledCount: 5,
  });
  worker.on('active', (job) => log(`segment ${job.data.segment.index} of ${job.data.file}`));
  worker.on('completed', (job, r) =>
    log(
      `segment ${r.index}: ${r.verdict}, ${r.instructions} instructions in ${(r.ms / 1000).toFixed(2)} s${r.message ? ` (${r.message})` : ''}`,
    ),
  );
  worker.on('failed', (job, e) => log(`segment ${job?.data.segment.index}: failed: ${e.message}`));
  worker.on('error', (e) => log(`error: ${e.message}`));
  await worker.waitUntilReady();
  log(`waiting for segments on ${opts.queue} (queue ${SEGMENT_QUEUE}, ${concurrency} at once)`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  log('stopping: finishing the jobs in hand');
  await worker.close();
  return 0;
}
