/**
 * A pool of worker threads (verify-worker.ts) that replay segment jobs —
 * `vmrs verify`'s and the analyses' (analysis-segment.ts) — one at a time
 * each. Jobs can be added while others run (a segmented trace's second
 * jobs depend on the first ones' results); urgent ones go to the front.
 * Each thread keeps its machine from one job to the next.
 */
import { Worker } from 'node:worker_threads';
import type { SegmentJob, SegmentResult } from './verify-segment.js';
import type { WorkerMessage } from './verify-worker.js';
import type { RvcWorkerData } from './worker-rvc.js';
import { rvcTable } from '../cpu/rvc.js';

interface Queued {
  job: SegmentJob;
  resolve: (r: SegmentResult) => void;
  reject: (e: Error) => void;
}

export class SegmentThreads {
  private readonly queue: Queued[] = [];
  private readonly idle: Worker[] = [];
  private readonly all: Worker[] = [];
  private failure: Error | undefined;

  constructor(
    private readonly size: number,
    private readonly progress: (index: number, icount: number) => void = () => {},
  ) {}

  /** Replay `job` on a thread; rejects when the thread cannot (the recording or its images cannot be opened). */
  run(job: SegmentJob, urgent = false): Promise<SegmentResult> {
    return new Promise<SegmentResult>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      const q = { job, resolve, reject };
      if (urgent) this.queue.unshift(q);
      else this.queue.push(q);
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length) {
      let w = this.idle.pop();
      if (!w) {
        if (this.all.length >= this.size) return;
        // The thread takes this process's compressed-instruction table instead of computing one.
        const workerData: RvcWorkerData = { rvcTable };
        w = new Worker(new URL('./verify-worker.js', import.meta.url), { workerData });
        this.all.push(w);
      }
      this.start(w, this.queue.shift()!);
    }
  }

  private start(w: Worker, q: Queued): void {
    const off = () => {
      w.off('message', onMessage);
      w.off('error', onError);
    };
    const onMessage = (m: WorkerMessage) => {
      if (m.kind === 'progress') return this.progress(m.index, m.icount);
      off();
      if (m.kind === 'result') q.resolve(m.result);
      else q.reject(new Error(m.message));
      this.idle.push(w);
      this.dispatch();
    };
    const onError = (e: Error) => {
      // A thread that died (out of memory): its job and every later one fail.
      off();
      this.failure ??= e;
      q.reject(e);
      for (const left of this.queue.splice(0)) left.reject(e);
    };
    w.on('message', onMessage);
    w.on('error', onError);
    w.postMessage(q.job);
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((w) => w.terminate()));
  }
}
