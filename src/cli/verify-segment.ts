/**
 * One segment of `vmrs verify`: the stretch of a recording between two of
 * its checkpoints (or its start, or its end), replayed on its own. It
 * starts from the first checkpoint (checked against the digest logged with
 * it), checks every digest on the way, and must arrive at the next
 * checkpoint's digest — the state the recorder saved there — before that
 * checkpoint's first event. A segment depends on nothing but the file, so
 * running it twice (a retried job) gives the same verdict.
 */
import { openReplayAsync, type OpenReplayOptions, type OpenedReplay } from './open-replay.js';
import { chooseEngine } from './engine-option.js';
import { readHotSeeds } from '../host/hot-profile.js';
import type { HotSeeds } from '../cpu/hot-seeds.js';
import { RecordingFormatError, type ParsedRecording } from '../replay/log-format.js';
import { SnapshotError } from '../snapshot/state.js';
import type { ReplayStatus } from '../replay/replayer.js';
import type { AnalysisOutput, AnalysisWork } from './analysis-segment.js';

/** Instructions replayed between turns of the event loop (progress, signals, a queue's lock renewals). */
const YIELD_EVERY = 20_000_000;

export interface Segment {
  /** Its number: 0 from the recording's start, k from checkpoint k-1. */
  index: number;
  /** The checkpoint it starts at (-1: the recording's start). */
  fromSeq: number;
  fromIcount: number;
  /** Event number it must reach, the next checkpoint's (null: the recording's end). */
  toEvent: number | null;
  /** icount it ends at (null: the end, not known before). */
  toIcount: number | null;
}

export interface SegmentJob {
  /** The recording, by a path this process can read (or, on a queue, an http(s) URL). */
  file: string;
  /** Its size in bytes, to check a copy fetched by URL. */
  size?: number;
  segment: Segment;
  engine?: string;
  /** An analysis to run over the segment as it is verified (analysis-segment.ts); none: verify only. */
  analysis?: AnalysisWork;
}

export type Verdict = 'ok' | 'diverged' | 'damaged';

export interface SegmentResult {
  index: number;
  verdict: Verdict;
  fromIcount: number;
  /** Where it ended (or stopped). */
  icount: number;
  instructions: number;
  digests: number;
  ms: number;
  /** What went wrong, or a note (the recording ends without an end marker). */
  message?: string;
  details?: string[];
  /** The last segment: how the guest ended. */
  exit?: { kind: string; status: number };
  /** What the analysis found (with SegmentJob.analysis). */
  analysis?: AnalysisOutput;
  /** Stopped before its end, as asked (verifySegment's `stop`). */
  stopped?: boolean;
}

/**
 * What an analysis does during a segment's replay: it is attached at the
 * segment's start, may stop the replay at icounts of its choosing (a
 * profile's samples), may end the segment early (a trace that has what it
 * came for), and gives its output at the end, whatever the verdict.
 */
export interface SegmentObserver {
  attach(opened: OpenedReplay, segment: Segment): void;
  /** The next icount to stop at (Infinity: none). */
  nextStop(): number;
  /** The replay is at the icount nextStop() gave; true ends the segment here. */
  stopped(icount: number): boolean;
  /** The segment is over (`state`: how its replay ended); the output, hooks removed. */
  detach(state: string, icount: number): AnalysisOutput;
}

/** The segments of a recording, from its checkpoints. */
export function segmentsOf(rec: ParsedRecording): Segment[] {
  const start = rec.header.startIcount ?? 0;
  const cps = rec.checkpoints;
  const out: Segment[] = [];
  for (let k = 0; k <= cps.length; k++) {
    const from = cps[k - 1];
    const to = cps[k];
    out.push({
      index: k,
      fromSeq: from ? from.seq : -1,
      fromIcount: from ? from.icount : start,
      toEvent: to ? to.eventIndex : null,
      toIcount: to ? to.icount : null,
    });
  }
  return out;
}

/**
 * The machine a worker replays segments on, kept from one segment to the
 * next: a segment that starts at a checkpoint restores every part of it,
 * and its RAM only where it differs, so translated code and page hashes of
 * the pages that stayed the same carry over. A segment from the start
 * needs a machine that has not run yet.
 */
export class SegmentMachine {
  private opened: OpenedReplay | undefined;
  private file = '';
  private fresh = false;
  /** The images' hot-code profile (src/host/hot-profile.ts), for each segment's start. */
  private seeds: HotSeeds | undefined;

  /** `hear` says who hears the guest's console and the frames it sends (by default nobody). */
  constructor(
    private readonly hear: Partial<
      Pick<OpenReplayOptions, 'stdout' | 'netSent' | 'diskRequest'>
    > = {},
  ) {}

  /** A replay of `file` for a segment (from the start: one that has not run). */
  async get(file: string, fromStart: boolean): Promise<OpenedReplay> {
    if (!this.opened || this.file !== file || (fromStart && !this.fresh)) {
      this.close();
      this.opened = await openReplayAsync(file, {
        verify: true,
        log: () => {},
        stdout: this.hear.stdout ?? (() => {}),
        netSent: this.hear.netSent,
        diskRequest: this.hear.diskRequest,
      });
      this.file = file;
      this.fresh = true;
      this.seeds = readHotSeeds(this.opened.vm);
    }
    return this.opened;
  }

  /**
   * Seed the code cache's hot counters for a segment about to run (a
   * checkpoint's restore may have emptied the cache): code that turned hot
   * in the images' last run is compiled at its first visit.
   */
  seed(): void {
    const vm = this.opened?.vm;
    if (vm && this.seeds && vm.cpu.engine === 'translate') this.seeds.apply(vm.cpu.code);
  }

  /** The machine ran (it is no longer at the recording's start). */
  used(): void {
    this.fresh = false;
  }

  close(): void {
    this.opened?.close();
    this.opened = undefined;
  }
}

/**
 * Replay one segment; `progress` hears the icount now and then. Never
 * throws for a bad file (only for one that cannot be opened: missing
 * images). `machine` keeps the machine for the next segment.
 */
export async function verifySegment(
  job: SegmentJob,
  progress: (icount: number) => void = () => {},
  machine?: SegmentMachine,
  observer?: SegmentObserver,
  /** Ends the replay early (between steps): the result says `stopped`. */
  stop?: AbortSignal,
): Promise<SegmentResult> {
  const own = machine ?? new SegmentMachine();
  try {
    return await runSegment(job, progress, own, observer, stop);
  } finally {
    if (!machine) own.close();
  }
}

async function runSegment(
  job: SegmentJob,
  progress: (icount: number) => void,
  machine: SegmentMachine,
  observer: SegmentObserver | undefined,
  stop: AbortSignal | undefined,
): Promise<SegmentResult> {
  let r: SegmentResult;
  try {
    r = await replaySegment(job, progress, machine, observer, stop);
  } catch (e) {
    // The machine goes on to other jobs: without this one's hooks.
    try {
      observer?.detach('damaged', 0);
    } catch {
      /* the error thrown first is the one to tell */
    }
    throw e;
  }
  // 'end': the recording's end (or the end of what there is of it); 'segment-end': the next checkpoint.
  const state =
    r.verdict !== 'ok'
      ? r.verdict
      : r.stopped
        ? 'stopped'
        : job.segment.toEvent === null
          ? 'end'
          : 'segment-end';
  if (observer) r.analysis = observer.detach(state, r.icount);
  return r;
}

async function replaySegment(
  job: SegmentJob,
  progress: (icount: number) => void,
  machine: SegmentMachine,
  observer: SegmentObserver | undefined,
  halt: AbortSignal | undefined,
): Promise<SegmentResult> {
  const seg = job.segment;
  const t0 = performance.now();
  const result = (
    verdict: Verdict,
    icount: number,
    more: Partial<SegmentResult> = {},
  ): SegmentResult => ({
    index: seg.index,
    verdict,
    fromIcount: seg.fromIcount,
    icount,
    instructions: icount - seg.fromIcount,
    digests: 0,
    ms: performance.now() - t0,
    ...more,
  });
  const opened = await machine.get(job.file, seg.fromSeq < 0);
  const { vm, replayer, rec } = opened;
  machine.used();
  replayer.pauseAt(Infinity);
  chooseEngine(vm.cpu, job.engine);
  if (seg.fromSeq >= 0) {
    let st: ReplayStatus;
    try {
      st = replayer.startAtCheckpoint(seg.fromSeq);
    } catch (e) {
      if (e instanceof RecordingFormatError || e instanceof SnapshotError)
        return result('damaged', seg.fromIcount, { message: e.message });
      throw e;
    }
    if (st.state === 'diverged')
      return result('diverged', seg.fromIcount, {
        message: st.divergence.reason,
        details: st.divergence.details,
      });
  }
  machine.seed();
  const digests0 = replayer.digestsChecked;
  replayer.pauseBeforeEvent(seg.toEvent ?? Infinity);
  observer?.attach(opened, seg);
  let stop = observer ? observer.nextStop() : Infinity;
  let yielded = vm.cpu.icount;
  /** A turn of the event loop (progress, signals, a job queue's messages); true: stop, as asked. */
  const breathe = async (icount: number): Promise<boolean> => {
    yielded = icount;
    progress(icount);
    await new Promise<void>((r) => setImmediate(r));
    return halt?.aborted === true;
  };
  replayer.pauseAt(stop);
  for (;;) {
    const st = replayer.step(20_000_000);
    const digests = replayer.digestsChecked - digests0;
    const icount = vm.cpu.icount;
    switch (st.state) {
      case 'running':
        if (await breathe(icount))
          return result('ok', icount, { digests, message: 'stopped', stopped: true });
        continue;
      case 'paused':
        if (
          observer &&
          icount === stop &&
          !(seg.toEvent !== null && replayer.eventIndex >= seg.toEvent)
        ) {
          if (observer.stopped(icount)) return result('ok', icount, { digests });
          stop = observer.nextStop();
          replayer.pauseAt(stop);
          // Stops close together (a profile's samples) must not keep the event loop waiting.
          if (icount - yielded >= YIELD_EVERY && (await breathe(icount)))
            return result('ok', icount, { digests, message: 'stopped', stopped: true });
          continue;
        }
        if (seg.toEvent !== null && replayer.eventIndex >= seg.toEvent) {
          if (icount !== seg.toIcount)
            return result('diverged', icount, {
              digests,
              message: `the segment ended at icount ${icount}, its checkpoint is at ${seg.toIcount}`,
            });
          return result('ok', icount, { digests });
        }
        return result('diverged', icount, {
          digests,
          message: `the replay stopped at icount ${icount} (a breakpoint in the guest's program?)`,
        });
      case 'done':
        return result('ok', icount, { digests, exit: { kind: st.exitKind, status: st.status } });
      case 'truncated': {
        // A file cut short (a killed recorder) is whole up to its last chunk: that prefix verifies.
        const damage = rec.events.damage ?? (rec.cutShort ? undefined : rec.damage);
        if (seg.toEvent !== null || damage)
          return result('damaged', icount, {
            digests,
            message: damage
              ? `the recording is damaged: ${damage}`
              : `the events end at icount ${icount}, before the segment's end`,
          });
        return result('ok', icount, {
          digests,
          message: `the recording ends at icount ${icount} without an end marker (its recorder was stopped${rec.damage ? `: ${rec.damage}` : ''})`,
        });
      }
      case 'diverged': {
        const d = st.divergence;
        return result(d.host ? 'damaged' : 'diverged', d.icount, {
          digests,
          message: d.reason,
          details: d.details,
        });
      }
    }
  }
}
