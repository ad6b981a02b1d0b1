/**
 * The sandboxed processor of `vmrs worker`: BullMQ runs it in a child
 * process, so a segment's CPU-bound replay never keeps the worker from
 * renewing its job lock. It keeps its machine from one job to the next,
 * and fetches a recording named by URL once.
 */
import type { SandboxedJob } from 'bullmq';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SegmentMachine,
  verifySegment,
  type SegmentJob,
  type SegmentResult,
} from './verify-segment.js';

const machine = new SegmentMachine();
const fetched = new Map<string, Promise<string>>();

/** A local path for a recording named by path or http(s) URL (downloaded once, kept by URL). */
function localCopy(file: string): Promise<string> {
  if (!/^https?:\/\//.test(file)) return Promise.resolve(file);
  let p = fetched.get(file);
  if (!p) {
    p = (async () => {
      const dir = join(tmpdir(), 'vmrs-worker-recordings');
      mkdirSync(dir, { recursive: true });
      const path = join(
        dir,
        createHash('sha256').update(file).digest('hex').slice(0, 32) + '.vmrs',
      );
      if (existsSync(path)) return path;
      const res = await fetch(file);
      if (!res.ok) throw new Error(`cannot fetch ${file}: HTTP ${res.status}`);
      const tmp = `${path}.tmp-${process.pid}`;
      writeFileSync(tmp, new Uint8Array(await res.arrayBuffer()));
      renameSync(tmp, path);
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
  const file = await localCopy(job.data.file);
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
  );
}
