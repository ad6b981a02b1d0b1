/**
 * The replayer: re-executes a recording from its log alone. It runs the
 * machine to each logged event's icount and applies it there, hands
 * entropy out through the ReplayGate, checks state digests, and stops —
 * never hangs — at the first sign of divergence, saying where and what.
 */
import type { VirtMachine } from '../machine/virt.js';
import { END_KINDS, EVENT_NAMES, EventType, type RecordedEvent } from './events.js';
import type { EventCursor, EventLog, EventPosition } from './event-log.js';
import type { ReplayGate } from './replay-gate.js';
import type { State } from '../snapshot/state.js';
import { RamPages, pagesBytes, type PageRefs } from '../snapshot/ram-pages.js';
import { digestVerifier, type DigestVerifier } from './state-digest.js';
import { hex64 } from './hex.js';
import { FORMAT_VERSION } from './log-format.js';
import type { FileCheckpoints } from './file-checkpoints.js';
import { RecordingFormatError } from './recording-error.js';
import { SnapshotError } from '../snapshot/state.js';
import type { CheckpointInfo } from './checkpoint-chunk.js';

export interface Divergence {
  icount: number;
  pc: string;
  reason: string;
  details: string[];
  /** Not the guest going another way: a host failure stopped the replay (an image unreadable here). */
  host?: boolean;
}

export type ReplayStatus =
  | { state: 'running' }
  /** Reached the icount asked for (runTo / seek); replay can go on from here. */
  | { state: 'paused'; icount: number; debug?: boolean }
  | { state: 'done'; exitKind: string; status: number; icount: number }
  /** The log ended without an end marker (recorder killed, or damage): replayed up to here. */
  | { state: 'truncated'; icount: number }
  | { state: 'diverged'; divergence: Divergence };

/** A seek further than twice this past a checkpoint leaves a checkpoint this far before its target. */
const LOCAL_GAP = 200_000;
const MAX_LOCAL = 16;

/** A moment of the replay kept to seek back to. */
interface Checkpoint {
  icount: number;
  next: EventPosition;
  gateCursor: EventPosition;
  digestsChecked: number;
  machine: State;
  ram: PageRefs;
}

export interface CheckpointOptions {
  /** Instructions between checkpoints (doubled whenever the budget is reached). */
  interval: number;
  /** Bytes of page copies the checkpoints may hold. */
  memoryBudget: number;
}

/** A test-only change to the machine at an icount, to prove divergences are caught. */
export interface Perturbation {
  icount: number;
  apply(vm: VirtMachine): void;
}

export class Replayer {
  /** Told of each input the replay hands the guest (console, network, idle jumps), before it lands: plugins. */
  onInput: ((ev: RecordedEvent) => void) | undefined;
  /** The next push event to apply (events are decoded as the replay reaches them). */
  private readonly next: EventCursor;
  private readonly digests: DigestVerifier;
  digestsChecked = 0;
  status: ReplayStatus = { state: 'running' };
  /** Stop here (runTo); Infinity: run to the end. */
  private stopAt = Infinity;
  private readonly checkpoints: Checkpoint[] = [];
  /** Checkpoints added where seek() went (see addLocalCheckpoint), oldest first. */
  private readonly locals: Checkpoint[] = [];
  private ram: RamPages | undefined;
  private checkpointOpts: CheckpointOptions | undefined;
  private nextCheckpointAt = Infinity;
  /** Bytes of RAM copies the checkpoints hold (recounted when thinning). */
  checkpointBytes = 0;
  /** The recording's own checkpoints (format version 3), to start or seek from. */
  private fileCheckpoints: FileCheckpoints | undefined;
  /** Stop with 'paused' before applying event number `stopIndex` (a segment's end). */
  private stopIndex = Infinity;

  constructor(
    private readonly vm: VirtMachine,
    private readonly events: EventLog,
    private readonly gate: ReplayGate,
    private readonly verify = true,
    private perturb?: Perturbation,
    /** The recording's format version: its digests are checked in that version's layout. */
    recordingVersion = FORMAT_VERSION,
  ) {
    this.next = events.cursor();
    this.digests = digestVerifier(vm, recordingVersion);
    this.skipPull();
  }

  /** Keep checkpoints while replaying, so seek() can go back. Call before the first step. */
  enableCheckpoints(opts: CheckpointOptions): void {
    this.checkpointOpts = { ...opts };
    this.ram = new RamPages(this.vm);
    // The start is kept at once: a first seek may jump ahead to one of the recording's own
    // checkpoints without replaying from here, and a later seek back before that must still
    // find a place to start from.
    this.takeCheckpoint();
  }

  /** Set when the recording's digests could be checked only in part (e.g. RAM only). */
  get digestNote(): string | undefined {
    return this.digests.note;
  }

  get checkpointCount(): number {
    return this.checkpoints.length;
  }

  /** The machine and the replay's position as they are now (RAM shared with earlier captures). */
  private capture(): Checkpoint {
    const { refs, copied } = this.ram!.capture();
    this.checkpointBytes += copied * 4096;
    return {
      icount: this.vm.cpu.icount,
      next: this.next.position,
      gateCursor: this.gate.cursor.position,
      digestsChecked: this.digestsChecked,
      machine: this.vm.saveState(),
      ram: refs,
    };
  }

  private takeCheckpoint(): void {
    const opts = this.checkpointOpts!;
    const icount = this.vm.cpu.icount;
    const last = this.checkpoints[this.checkpoints.length - 1];
    if (!last || last.icount < icount) {
      this.checkpoints.push(this.capture());
      if (this.checkpointBytes > opts.memoryBudget && this.checkpoints.length > 2) {
        // Over budget: keep every other checkpoint (always the first) and space them twice as far.
        const kept = this.checkpoints.filter(
          (_, i) => i % 2 === 0 || i === this.checkpoints.length - 1,
        );
        this.checkpoints.length = 0;
        this.checkpoints.push(...kept);
        opts.interval *= 2;
        this.checkpointBytes = pagesBytes(this.checkpoints.map((c) => c.ram));
      }
    }
    this.nextCheckpointAt = icount + opts.interval;
  }

  /** Go back to the latest checkpoint at or before `icount`. */
  private restoreBefore(icount: number): void {
    let best: Checkpoint | undefined;
    for (const c of this.checkpoints) if (c.icount <= icount) best = c;
    if (!best) throw new Error(`no checkpoint at or before icount ${icount}`);
    this.ram!.restore(best.ram);
    this.vm.loadState(best.machine, true);
    this.next.position = best.next;
    this.gate.cursor.position = best.gateCursor;
    this.gate.positionChanged();
    this.gate.divergence = undefined;
    this.gate.hostError = undefined;
    this.digestsChecked = best.digestsChecked;
    if (this.verify) this.digests.resync();
    this.status = { state: 'running' };
    const opts = this.checkpointOpts!;
    const later = this.checkpoints.find((c) => c.icount > best.icount);
    this.nextCheckpointAt = later ? later.icount : best.icount + opts.interval;
  }

  /**
   * Put the machine at `icount` (within the recording), going back to a
   * checkpoint when it lies behind — or ahead by more than a checkpoint.
   * Returns the status there: 'paused' when reached.
   */
  seek(icount: number): ReplayStatus {
    if (!this.checkpointOpts) throw new Error('seek needs checkpoints (enableCheckpoints)');
    const cpu = this.vm.cpu;
    let nearest = -1;
    for (const c of this.checkpoints) if (c.icount <= icount) nearest = c.icount;
    const inFile = this.fileCheckpoints?.before(icount);
    const behind = icount < cpu.icount || this.status.state !== 'running';
    let fromFile = false; // the machine was put back already
    if (inFile && inFile.icount > nearest && (behind || inFile.icount > cpu.icount)) {
      // The recording's own checkpoint is the closest start.
      try {
        const st = this.startAtCheckpoint(inFile.seq);
        if (st.state !== 'running') return st;
        fromFile = true;
        const opts = this.checkpointOpts!;
        const later = this.checkpoints.find((c) => c.icount > cpu.icount);
        this.nextCheckpointAt = later ? later.icount : cpu.icount + opts.interval;
      } catch (e) {
        // Damaged (and not offered again: FileCheckpoints.before skips it). The machine may be
        // half restored: a checkpoint kept here puts all of it back.
        if (!(e instanceof RecordingFormatError || e instanceof SnapshotError) || nearest < 0)
          throw e;
        this.restoreBefore(icount);
        fromFile = true;
      }
    }
    if (!fromFile && (behind || nearest > cpu.icount) && nearest >= 0) this.restoreBefore(icount);
    if (icount - cpu.icount > 2 * LOCAL_GAP) {
      // A debugger that went here tends to step back from here: keep a checkpoint close by.
      const st = this.runTo(icount - LOCAL_GAP);
      if (st.state !== 'paused') return st;
      this.addLocalCheckpoint();
    }
    return this.runTo(icount);
  }

  /** A checkpoint here, between the periodic ones; the oldest of these go first. */
  private addLocalCheckpoint(): void {
    const icount = this.vm.cpu.icount;
    if (this.checkpoints.some((c) => c.icount === icount)) return;
    const c = this.capture();
    const at = this.checkpoints.findIndex((x) => x.icount > icount);
    this.checkpoints.splice(at < 0 ? this.checkpoints.length : at, 0, c);
    this.locals.push(c);
    if (this.locals.length > MAX_LOCAL) {
      const old = this.locals.shift()!;
      const i = this.checkpoints.indexOf(old);
      if (i > 0) this.checkpoints.splice(i, 1);
    }
  }

  /**
   * The machine was put at `icount` from elsewhere (a snapshot taken in
   * another replay of this recording, paused there): go on from there.
   */
  resumeAt(icount: number): void {
    // As after a pause there: inputs logged at `icount` were applied; entropy asked for
    // at `icount` is asked by the instruction that comes next.
    this.next.seekIcount(icount, false);
    this.skipPull();
    this.gate.cursor.seekIcount(icount, true);
    this.gate.cursor.toPull();
    this.gate.positionChanged();
    if (this.verify) this.digests.resync();
    this.status = { state: 'running' };
  }

  /** Seek and start through the recording's own checkpoints too. */
  useFileCheckpoints(fc: FileCheckpoints | undefined): void {
    this.fileCheckpoints = fc;
  }

  /**
   * Go on from event number `index` of the recording (the machine was put
   * where the recording was just before it), `digests` digests in.
   */
  resumeAtEvent(index: number, digests: number): void {
    this.next.seekIndex(index);
    this.skipPull();
    this.gate.cursor.seekIndex(index);
    this.gate.cursor.toPull();
    this.gate.positionChanged();
    this.gate.divergence = undefined;
    this.gate.hostError = undefined;
    this.digestsChecked = digests;
    if (this.verify) this.digests.resync();
    this.status = { state: 'running' };
  }

  /**
   * Put the machine at the recording's checkpoint `seq` and go on from
   * there. The state restored is checked against the digest logged with
   * it: a checkpoint that does not hold what was recorded there is a
   * divergence at its icount. Throws (RecordingFormatError) when it cannot
   * be read.
   */
  startAtCheckpoint(seq: number): ReplayStatus {
    const fc = this.fileCheckpoints;
    if (!fc) throw new Error('startAtCheckpoint needs useFileCheckpoints');
    const info: CheckpointInfo = fc.restore(this.vm, seq);
    this.resumeAtEvent(info.eventIndex, info.digests);
    if (this.verify && info.eventIndex > 0) {
      const c = this.events.cursor();
      c.seekIndex(info.eventIndex - 1);
      const ev = c.peek();
      if (ev && ev.type === EventType.Digest && ev.icount === info.icount) {
        const differs = this.digests.check(ev.data);
        if (differs)
          return this.diverge(
            `checkpoint ${seq} at icount ${info.icount} does not hold the state recorded there (damaged, or written by a vmrs that saved another state)`,
            differs,
          );
      }
    }
    return this.status;
  }

  /** Make step() stop with 'paused' before event number `index` is applied (Infinity: don't). */
  pauseBeforeEvent(index: number): void {
    this.stopIndex = index;
  }

  /** Number of the next event the replay will apply. */
  get eventIndex(): number {
    return this.next.index;
  }

  /** Make step() stop with 'paused' at `icount` (Infinity: don't). */
  pauseAt(icount: number): void {
    this.stopAt = icount;
  }

  /** Where the replay can go back to: the first checkpoint's icount. */
  get startIcount(): number {
    return this.checkpoints.length ? this.checkpoints[0].icount : this.vm.cpu.icount;
  }

  /** icounts of the checkpoints, oldest first. */
  checkpointIcounts(): number[] {
    return this.checkpoints.map((c) => c.icount);
  }

  /** Replay forwards to `icount` (or the end, or a divergence, if first). */
  runTo(icount: number): ReplayStatus {
    if (icount < this.vm.cpu.icount)
      throw new Error(
        `icount ${icount} is behind the machine (${this.vm.cpu.icount}): seek() goes back`,
      );
    this.stopAt = icount;
    let st: ReplayStatus;
    do st = this.step(50_000_000);
    while (st.state === 'running');
    this.stopAt = Infinity;
    return st;
  }

  private skipPull(): void {
    this.next.toPush();
  }

  /** The first pull event not yet handed out, if it comes before event number `i`. */
  private unconsumedPullBefore(i: number): RecordedEvent | undefined {
    const c = this.gate.cursor;
    return c.index < i ? c.peek() : undefined;
  }

  private pc(): string {
    return hex64(this.vm.cpu.pcLo, this.vm.cpu.pcHi);
  }

  private diverge(reason: string, details: string[] = [], host = false): ReplayStatus {
    const divergence: Divergence = { icount: this.vm.cpu.icount, pc: this.pc(), reason, details };
    if (host) divergence.host = true;
    this.status = { state: 'diverged', divergence };
    return this.status;
  }

  /**
   * Replay for at most about `budget` instructions (so a caller can let its
   * output drain between steps); returns the status.
   */
  step(budget: number): ReplayStatus {
    if (this.status.state !== 'running') return this.status;
    const vm = this.vm;
    const cpu = vm.cpu;
    let spent = 0;
    while (spent < budget) {
      if (this.next.index >= this.stopIndex) return { state: 'paused', icount: cpu.icount };
      const ev = this.next.peek();
      if (!ev) return (this.status = { state: 'truncated', icount: cpu.icount });
      let target = ev.icount;
      const p = this.perturb;
      if (p && p.icount < target) target = p.icount;
      if (this.stopAt < target) target = this.stopAt;
      if (this.nextCheckpointAt < target) target = this.nextCheckpointAt;
      if (cpu.icount > target)
        return this.diverge(
          `the machine passed icount ${target} of a recorded ${EVENT_NAMES[ev.type]} event`,
        );
      while (cpu.icount < target) {
        const r = vm.runSlice(Math.min(target - cpu.icount, budget - spent + 1));
        spent += r.executed;
        if (this.gate.hostError) return this.diverge(this.gate.hostError, [], true);
        if (this.gate.divergence) return this.diverge(this.gate.divergence);
        if (r.result === 'exit')
          if (cpu.icount !== ev.icount)
            return this.diverge(
              `the guest exited (${vm.exit?.kind}) at icount ${cpu.icount}, but the recording goes on to icount ${ev.icount}`,
            );
          else break;
        if (r.result === 'debug') return { state: 'paused', icount: cpu.icount, debug: true };
        if (r.result === 'stuck')
          return this.diverge(
            `the guest traps at every instruction from icount ${cpu.icount} on (its trap vector faults too) and can never reach icount ${target}`,
          );
        if (r.result === 'idle' && cpu.icount < target)
          return this.diverge(
            `the guest went idle at icount ${cpu.icount}; the recording's next event (${EVENT_NAMES[ev.type]}) is at icount ${ev.icount}`,
          );
        if (spent >= budget && cpu.icount < target) return this.status;
      }
      if (cpu.icount === this.nextCheckpointAt) {
        this.takeCheckpoint();
        continue;
      }
      if (cpu.icount === this.stopAt && cpu.icount < ev.icount) {
        return { state: 'paused', icount: cpu.icount };
      }
      if (p && cpu.icount === p.icount) {
        p.apply(vm);
        this.perturb = undefined;
        continue;
      }
      const missed = this.unconsumedPullBefore(this.next.index);
      if (missed)
        return this.diverge(
          `the recording has ${EVENT_NAMES[missed.type]} requested at icount ${missed.icount}, which the replayed guest never asked for`,
        );
      this.next.advance();
      this.skipPull();
      if (this.onInput !== undefined && ev.type !== EventType.Digest && ev.type !== EventType.End)
        this.onInput(ev);
      switch (ev.type) {
        case EventType.Console:
          vm.queueConsoleInput(ev.data);
          break;
        case EventType.Hvc:
          vm.queueHvcInput(ev.data);
          break;
        case EventType.NetFrame:
          vm.queueNetFrame(ev.arg, ev.data);
          break;
        case EventType.NetLink:
          vm.setNetLink(ev.arg, ev.value === 1);
          break;
        case EventType.IdleJump:
          vm.advanceTimeTo(ev.value);
          break;
        case EventType.Digest:
          if (this.verify) {
            this.digestsChecked++;
            const differs = this.digests.check(ev.data);
            if (differs)
              return this.diverge(`state digest mismatch at icount ${ev.icount}`, differs);
          }
          break;
        case EventType.End: {
          const kind = END_KINDS[ev.arg] ?? 'stopped';
          if (kind !== 'stopped' && (!vm.exit || vm.exit.kind !== kind))
            return this.diverge(
              `the recording ends with the guest's ${kind} at icount ${ev.icount}, but the replayed guest did not exit there`,
            );
          return (this.status = {
            state: 'done',
            exitKind: kind,
            status: ev.value,
            icount: cpu.icount,
          });
        }
        default:
          return this.diverge(`unknown event type ${ev.type as number} in the recording`);
      }
    }
    return this.status;
  }
}
