/**
 * A worker thread of `vmrs verify --jobs N` and of the analyses' `--jobs`
 * (segment-threads.ts): replays the segments it is sent, one at a time,
 * with the job's analysis if it has one, and posts progress and results back.
 */
// First: the parent's compressed-instruction table, before anything loads rvc.ts.
import './worker-rvc.js';
import { parentPort } from 'node:worker_threads';
import { SegmentMachine, verifySegment, type SegmentJob } from './verify-segment.js';
import { analysisObserver } from './analysis-segment.js';

export type WorkerMessage =
  | { kind: 'progress'; index: number; icount: number }
  | { kind: 'result'; result: import('./verify-segment.js').SegmentResult }
  | { kind: 'error'; index: number; message: string };

const port = parentPort!;
const machine = new SegmentMachine();
port.on('message', async (job: SegmentJob) => {
  const post = (m: WorkerMessage) => port.postMessage(m);
  try {
    const result = await verifySegment(
      job,
      (icount) => post({ kind: 'progress', index: job.segment.index, icount }),
      machine,
      job.analysis && analysisObserver(job.analysis),
    );
    post({ kind: 'result', result });
  } catch (e) {
    post({ kind: 'error', index: job.segment.index, message: (e as Error).message });
  }
});
