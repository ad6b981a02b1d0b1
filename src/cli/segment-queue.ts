/**
 * Segments of a recording as jobs on a BullMQ queue over Redis, so that
 * `vmrs worker` processes on any number of machines share the work of one
 * `vmrs verify --queue`. A job names the recording by a path or URL every
 * worker can reach, and one segment; it depends on nothing else, so a job
 * delivered twice (BullMQ delivers at least once: a worker killed mid-job
 * has its job retried after its lock lapses) gives the same verdict twice.
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type { ConnectionOptions } from 'bullmq';
import { UsageError } from './options.js';
import type { Segment, SegmentJob, SegmentResult } from './verify-segment.js';
import { dynamicImport } from '../host/dynamic-import.js';

/** The queue's name in Redis. */
export const SEGMENT_QUEUE = 'vmrs-segments';

/** Connection options from `redis://[user:password@]host[:port][/db]`. */
export function redisConnection(url: string): ConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--queue: '${url}' is not a URL (redis://HOST:PORT)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new UsageError(`--queue: '${url}' is not a redis:// URL`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isSafeInteger(db) || db < 0)
    throw new UsageError(`--queue: bad database in '${url}'`);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    // Workers block on the queue: a request must wait for a reconnect, not fail (BullMQ's rule).
    maxRetriesPerRequest: null,
  };
}

/** How workers reach the recording: a URL as given, a path made absolute. */
export function sharedName(file: string): string {
  return /^https?:\/\//.test(file) ? file : resolve(file);
}

/** Where the workers find the recording, and how they check it is the one read here. */
export interface SharedRecording {
  /** A path or http(s) URL every worker can read. */
  name: string;
  size: number;
}

/** A run's connection to the queue: jobs go in, their results come back. */
export interface SegmentQueue {
  /** Put a job on the queue; its result, or a UsageError when it failed on every attempt. */
  run(job: SegmentJob): Promise<SegmentResult>;
  /** Workers listening now. */
  workers(): Promise<number>;
  close(): Promise<void>;
}

/** Open the queue at `url` for one run's jobs; `progress` hears the workers' icounts by segment. */
export async function openSegmentQueue(
  url: string,
  progress: (index: number, icount: number) => void,
): Promise<SegmentQueue> {
  const connection = redisConnection(url);
  // Loaded here, not at start-up: bullmq and ioredis cost every vmrs command 0.1 s to load.
  const { Queue, QueueEvents } = await dynamicImport<typeof import('bullmq')>('bullmq');
  const queue = new Queue<SegmentJob, SegmentResult>(SEGMENT_QUEUE, { connection });
  const events = new QueueEvents(SEGMENT_QUEUE, { connection });
  const close = async () => {
    await Promise.allSettled([events.close(), queue.close()]);
  };
  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  } catch (e) {
    await close();
    throw e;
  }
  const run = randomUUID();
  const byId = new Map<string, number>();
  let n = 0;
  events.on('progress', ({ jobId, data }) => {
    const index = byId.get(jobId);
    if (index !== undefined && typeof data === 'number') progress(index, data);
  });
  return {
    async run(job) {
      const jobId = `${run}-${n++}`;
      byId.set(jobId, job.segment.index);
      const j = await queue.add(
        job.analysis ? `${job.analysis.kind}-segment` : 'verify-segment',
        job,
        {
          jobId,
          attempts: 3,
          backoff: { type: 'fixed', delay: 1000 },
          removeOnComplete: { age: 3600 },
          removeOnFail: { age: 24 * 3600 },
        },
      );
      try {
        return (await j.waitUntilFinished(events)) as SegmentResult;
      } catch (e) {
        throw new UsageError(
          `segment ${job.segment.index} failed on the workers: ${(e as Error).message}`,
        );
      }
    },
    workers: () => queue.getWorkersCount(),
    close,
  };
}

/** How a run tells where its jobs went, and whether anyone will take them. */
export async function announceQueue(
  q: SegmentQueue,
  url: string,
  jobs: number,
  log: (s: string) => void,
) {
  const workers = await q.workers();
  log(
    `${jobs} segment job(s) on ${url} (queue ${SEGMENT_QUEUE}); ${workers} worker(s) listening` +
      (workers ? '' : ' — start some with: vmrs worker --queue ' + url),
  );
}

/**
 * Put `segments` on the queue as one run's jobs and gather their verdicts.
 * A job that fails on every attempt (a worker that cannot open the
 * recording or its images) fails the run with its message.
 */
export async function runOnQueue(
  url: string,
  shared: SharedRecording,
  segments: Segment[],
  engine: string | undefined,
  progress: (index: number, icount: number) => void,
  done: (r: SegmentResult) => void,
  log: (s: string) => void,
): Promise<SegmentResult[]> {
  const q = await openSegmentQueue(url, progress);
  try {
    const file = sharedName(shared.name);
    const results = segments.map((segment) =>
      q.run({ file, size: shared.size, segment, engine }).then((r) => {
        done(r);
        return r;
      }),
    );
    const all = Promise.all(results);
    all.catch(() => {}); // awaited below; a failure meanwhile is not unhandled
    await announceQueue(q, url, segments.length, log);
    return await all;
  } finally {
    await q.close();
  }
}
