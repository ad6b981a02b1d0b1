/**
 * The sandboxed processor of `vmrs worker`: BullMQ runs it in a child
 * process, so a segment's CPU-bound replay never keeps the worker from
 * renewing its job lock. It keeps its machine from one job to the next,
 * and fetches a recording named by URL once.
 */
import type { SandboxedJob } from 'bullmq';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SegmentMachine,
  verifySegment,
  type SegmentJob,
  type SegmentResult,
} from './verify-segment.js';
import { analysisObserver } from './analysis-segment.js';

const machine = new SegmentMachine();
const fetched = new Map<string, Promise<string>>();

let downloads: string | undefined;

/**
 * A local path for a recording named by path or http(s) URL: fetched once
 * per worker process (into a directory of its own), and checked to be the
 * size the verifier read, so a URL that now serves another file fails the
 * job instead of verifying the wrong recording.
 */
function localCopy(file: string, size: number): Promise<string> {
  if (!/^https?:\/\//.test(file)) return Promise.resolve(file);
  let p = fetched.get(file);
  if (!p) {
    p = (async () => {
      downloads ??= mkdtempSync(join(tmpdir(), 'vmrs-worker-'));
      const res = await fetch(file);
      if (!res.ok) throw new Error(`cannot fetch ${file}: HTTP ${res.status}`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (bytes.length !== size)
        throw new Error(`${file} is ${bytes.length} bytes, the recording verified is ${size}`);
      const path = join(downloads, `${fetched.size}.vmrs`);
      writeFileSync(path, bytes);
      return path;
    })();
    fetched.set(file, p);
    p.catch(() => fetched.delete(file));
  }
  return p;
}

export default async function processSegment(
  job: SandboxedJob<SegmentJob, SegmentResult>,
): Promise<SegmentResult> {
  const file = await localCopy(job.data.file, job.data.size ?? -1);
  let last = 0;
  return verifySegment(
    { ...job.data, file },
    (icount) => {
      const now = Date.now();
      if (now - last < 250) return;
      last = now;
      void job.updateProgress(icount);
    },
    machine,
    job.data.analysis && analysisObserver(job.data.analysis),
  );
}
