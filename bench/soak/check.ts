/**
 * Replays a soak recording with the real `vmrs replay` and judges it:
 *  - a finished recording must replay to the recorded exit status with the
 *    same console output, byte for byte, and every digest verified;
 *  - a killed one must be readable (`vmrs inspect`), replay without
 *    divergence to where it ends, exit 3 and say at which icount it ends,
 *    its output a prefix of what the recorder printed before the kill.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { VMRS_BIN } from '../../test/helpers/guest-session.js';
import type { VmRecording } from './record-session.js';

/** Safety net against a replay that hangs (the replayer must never hang). */
const REPLAY_LIMIT_MS = 900_000;
/** `vmrs replay`'s status for a recording that ends without its end marker (README). */
export const REPLAY_TRUNCATED = 3;
export const REPLAY_DIVERGED = 2;

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  wallSeconds: number;
  timedOut: boolean;
}

/** Replays and inspections under way (the soak command stops them when it is stopped). */
export const liveChecks = new Set<ChildProcess>();

/** `vmrs ARGS`, collecting its output (latin1, as the guest's bytes were). */
export function vmrs(args: string[], limitMs = REPLAY_LIMIT_MS): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(VMRS_BIN, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    liveChecks.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('close', (code) => {
      liveChecks.delete(child);
      clearTimeout(timer);
      resolve({
        status: code,
        stdout: Buffer.concat(out).toString('latin1'),
        stderr: Buffer.concat(err).toString('latin1'),
        wallSeconds: (performance.now() - t0) / 1000,
        timedOut,
      });
    });
  });
}

export type Verdict = 'ok' | 'diverged' | 'failed';

export interface ReplayCheck {
  verdict: Verdict;
  /** Why it is not ok (with the replay's own report). */
  report: string[];
  replay: Run;
  /** Killed recordings: where the replay ended, and how much of the recorder's output it reached. */
  endIcount?: number;
  lostOutputBytes?: number;
}

/** Where two outputs first differ, shown around that byte. */
function firstDifference(recorded: string, replayed: string): string {
  let at = 0;
  while (at < recorded.length && recorded[at] === replayed[at]) at++;
  const around = (s: string) => JSON.stringify(s.slice(Math.max(0, at - 100), at + 100));
  return (
    `console output differs at byte ${at} (recorded ${recorded.length} bytes, replayed ${replayed.length}):\n` +
    `  recorded: ${around(recorded)}\n  replayed: ${around(replayed)}`
  );
}

const diverged = (r: Run) => r.status === REPLAY_DIVERGED || /replay diverged/.test(r.stderr);

/** Replay a recording that ran to its end, and compare. */
export async function checkFinished(rec: VmRecording): Promise<ReplayCheck> {
  const replay = await vmrs(['replay', rec.file]);
  const report: string[] = [];
  if (replay.timedOut) report.push(`replay did not finish within ${REPLAY_LIMIT_MS / 1000} s`);
  if (diverged(replay)) {
    report.push(`replay exited ${replay.status}:`, ...replay.stderr.trimEnd().split('\n'));
    return { verdict: 'diverged', report, replay };
  }
  if (replay.stdout !== rec.output) {
    report.push(firstDifference(rec.output, replay.stdout));
    report.push(...replay.stderr.trimEnd().split('\n'));
    return { verdict: 'diverged', report, replay };
  }
  if (replay.status !== rec.status)
    report.push(
      `replay exited ${replay.status}, the recorder ${rec.status}:`,
      ...replay.stderr.trimEnd().split('\n'),
    );
  else if (!/replay complete: \d+ instructions .* \d+ state digests verified/.test(replay.stderr))
    report.push(`replay did not say it verified the digests: ${replay.stderr.trim()}`);
  return { verdict: report.length ? 'failed' : 'ok', report, replay };
}

/** Check a recording whose recorder was killed with SIGKILL. */
export async function checkKilled(rec: VmRecording): Promise<ReplayCheck> {
  const report: string[] = [];
  const inspect = await vmrs(['inspect', rec.file], 120_000);
  const replay = await vmrs(['replay', rec.file]);
  if (inspect.status !== 0) {
    // Killed before the header was whole, or before vmrs had created the file (node
    // still starting): nothing was recorded, which must be said clearly.
    const early = !!rec.killed && !rec.killed.promptSeen;
    const noHeader = /not a vmrs recording|truncated header|recording '.*' does not exist/;
    if (
      early &&
      noHeader.test(inspect.stderr) &&
      replay.status === 1 &&
      noHeader.test(replay.stderr)
    )
      return { verdict: 'ok', report: ['killed before the header was written'], replay };
    report.push(`vmrs inspect exited ${inspect.status}: ${inspect.stderr.trim()}`);
  }
  if (replay.timedOut) report.push(`replay did not finish within ${REPLAY_LIMIT_MS / 1000} s`);
  if (diverged(replay)) {
    report.push(`replay exited ${replay.status}:`, ...replay.stderr.trimEnd().split('\n'));
    return { verdict: 'diverged', report, replay };
  }
  if (!rec.output.startsWith(replay.stdout)) {
    report.push('the replayed output is not a prefix of what the recorder printed:');
    report.push(firstDifference(rec.output, replay.stdout));
    return { verdict: 'diverged', report, replay };
  }
  const m = /the recording ends at icount (\d+) without an end marker/.exec(replay.stderr);
  if (replay.status !== REPLAY_TRUNCATED || !m)
    report.push(
      `replay of the killed recording exited ${replay.status} (expected ${REPLAY_TRUNCATED}, saying where it ends):`,
      ...replay.stderr.trimEnd().split('\n'),
    );
  return {
    verdict: report.length ? 'failed' : 'ok',
    report,
    replay,
    endIcount: m ? Number(m[1]) : undefined,
    lostOutputBytes: rec.output.length - replay.stdout.length,
  };
}
