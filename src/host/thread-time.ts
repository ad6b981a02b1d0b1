/**
 * The calling thread's time on a core, and waiting for one, from Linux's
 * schedstat (/proc/thread-self/schedstat: nanoseconds running, then
 * nanoseconds runnable but not running). `--stats` shows both for the
 * guest's thread: where other processes, or V8's own compile and GC
 * threads, keep the cores busy, the guest waits for one, and every figure
 * of the run grows by that wait. With Node's pool of 4 compile threads on
 * a 2-core host, a boot in one process waited 130-175 ms of its 0.9-1.1 s
 * (three runs); with bin/vmrs's pool (src/host/v8-pool.ts) 0-2 ms. A
 * benchmark figure taken while the guest waited says more about the host
 * than about vmrs. Elsewhere (not Linux, no /proc): undefined.
 */
import { readFileSync } from 'node:fs';

export interface ThreadTimes {
  /** Milliseconds on a core. */
  runMs: number;
  /** Milliseconds runnable, waiting for a core. */
  waitMs: number;
}

/** This thread's times so far, if the host tells them. */
export function threadTimes(): ThreadTimes | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/thread-self/schedstat', 'utf8');
  } catch {
    return undefined;
  }
  const [run, wait] = text.trim().split(/\s+/).map(Number);
  if (!Number.isFinite(run) || !Number.isFinite(wait)) return undefined;
  return { runMs: run / 1e6, waitMs: wait / 1e6 };
}

/** A wait for a core this large a share of the thread's time is pointed out. */
const BUSY_SHARE = 0.05;

/** What this thread did since `from` (threadTimes()), as a line for --stats; undefined where unknown. */
export function threadTimesSince(from: ThreadTimes | undefined): string | undefined {
  const now = threadTimes();
  if (from === undefined || now === undefined) return undefined;
  const run = now.runMs - from.runMs;
  const wait = now.waitMs - from.waitMs;
  const share = run + wait > 0 ? wait / (run + wait) : 0;
  return (
    `host: the guest's thread ran ${(run / 1000).toFixed(2)} s on a core, and waited ` +
    `${(wait / 1000).toFixed(2)} s for one` +
    (share >= BUSY_SHARE
      ? ` (${(100 * share).toFixed(0)}% of its time: other processes, or V8's threads, had the cores, and every figure above grew with the wait)`
      : '')
  );
}
