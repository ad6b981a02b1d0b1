/**
 * What every recording is made with unless told otherwise, wherever it is
 * made (`vmrs record`, the page's live machine): its header's stamp, state
 * digests every 10 M instructions, and checkpoints every 200 M instructions
 * or 60 s of guest time, whichever comes first. Node-free.
 */
import { TIMEBASE_HZ } from '../machine/clock.js';
import { VMRS_VERSION } from '../cli/version.js';
import { FORMAT_VERSION, type FileStamp, type RecordingHeader } from './log-format.js';
import type { CheckpointSchedule } from './recorder.js';
import { instructionCount } from '../util/instruction-count.js';

export const DEFAULT_DIGEST_INTERVAL = 10_000_000;
/** As `--checkpoint-every` takes it (parseCheckpointSchedule). */
export const DEFAULT_CHECKPOINT_EVERY = '200M,60s';

/** A `--checkpoint-every` that does not parse: the message says why. */
export class ScheduleError extends Error {}

/**
 * `--checkpoint-every`: instructions (200M, 1.5G, 50000) and/or guest time
 * (30s, 500ms, 2min), comma-separated, whichever comes first; 0 or off: none.
 */
export function parseCheckpointSchedule(spec: string): CheckpointSchedule {
  const out: CheckpointSchedule = { instructions: Infinity, guestTicks: Infinity };
  if (spec === '0' || spec === 'off' || spec === 'none') return out;
  for (const part of spec.split(',')) {
    const bad = () =>
      new ScheduleError(
        `--checkpoint-every: '${part}' is neither instructions (200M) nor guest time (30s); 0 turns checkpoints off`,
      );
    const time = /^(\d+(?:\.\d+)?)(s|ms|min)$/.exec(part.trim());
    if (time) {
      const n = Number(time[1]);
      if (!(n > 0)) throw bad();
      const secs = n * (time[2] === 'ms' ? 0.001 : time[2] === 'min' ? 60 : 1);
      out.guestTicks = Math.min(out.guestTicks, Math.max(1, Math.round(secs * TIMEBASE_HZ)));
    } else {
      // Instructions as every option that takes a count reads them (util/instruction-count.ts).
      const insns = /^\s*\d/.test(part) ? instructionCount(part) : undefined;
      if (insns === undefined || insns === 0) throw bad();
      if (insns < 1000)
        throw new ScheduleError(
          '--checkpoint-every: at least 1000 instructions between checkpoints',
        );
      out.instructions = Math.min(out.instructions, insns);
    }
  }
  return out;
}

/** A recording's header: the machine and settings given, stamped with this format, this vmrs and now. */
export function newRecordingHeader(h: Omit<RecordingHeader, keyof FileStamp>): RecordingHeader {
  return {
    formatVersion: FORMAT_VERSION,
    vmrsVersion: VMRS_VERSION,
    createdUnixMs: Date.now(),
    ...h,
  };
}
