/** The messages between the page (app.ts) and the replay worker (replay-worker.ts). */
import type { Engine } from '../cpu/cpu.js';

export type ReplayState = 'idle' | 'loading' | 'running' | 'paused' | 'done' | 'diverged' | 'error';

export type ToWorker =
  /** Open a recording (and start playing it unless `play` is false). */
  | {
      kind: 'open';
      name: string;
      recording: ArrayBuffer;
      play?: boolean;
      /** The execution engine (`?engine=` in the page's address); default: the core's choice. */
      engine?: Engine;
    }
  | { kind: 'play' }
  | { kind: 'pause' }
  /** Instructions per second, in millions; null: as fast as it goes. */
  | { kind: 'speed'; mipsLimit: number | null }
  /** Go to `icount` (answered by 'seeked' once there, paused); `id` is echoed. */
  | { kind: 'seek'; icount: number; id?: number }
  /** Read 256 bytes at virtual address `addr` (hex) through the MMU, without side effects. */
  | { kind: 'memory'; addr: string; id: number };

/** One kind of event along the recording: the icount of each, in order. */
export interface EventTrack {
  name: string;
  icounts: Float64Array;
  /** What each event was, in words, where there is more to say than its kind (console text, a frame's size). */
  labels?: string[];
  /**
   * The guest's own doing (frames it sent, disk requests), not in the log:
   * found as the replay passes (ActionsMessage), so known only up to where
   * it has been.
   */
  observed?: boolean;
}

/**
 * Events of the observed tracks that the replay met since the last such
 * message, each list in icount order and after what was sent before
 * (the replay has run on from where it was: only new ground is reported).
 */
export interface ActionsMessage {
  kind: 'actions';
  added: { name: string; icounts: Float64Array; labels?: string[] }[];
  /** The observed tracks are complete up to this icount (where the replay has been). */
  observedTo: number;
}

/** The recording's events, sent once after an open. */
export interface EventsMessage {
  kind: 'events';
  lastIcount: number;
  tracks: EventTrack[];
  /** Where the readable events end, when a damaged chunk stops them before lastIcount. */
  damagedFrom?: number;
  /** Milliseconds the worker took to read them. */
  ms: number;
  /** What maps an icount to guest time. */
  clock: GuestClock;
}

/**
 * Guest time along the recording (src/machine/clock.ts): in ticks of the
 * 10 MHz timebase, floor(icount / insnsPerTick) + the idle ticks, which
 * grow only at idle jumps. So guest time runs with icount between two idle
 * jumps and steps up at each: piecewise linear, with a step per jump.
 */
export interface GuestClock {
  insnsPerTick: number;
  /** Ticks per second (TIMEBASE_HZ). */
  hz: number;
  /** The icount the recording starts at: 0 for a boot, else its snapshot's. */
  startIcount: number;
  /**
   * The idle ticks at startIcount, before the first jump: 0 for a boot, the
   * snapshot's when it is embedded. A snapshot the recording does not carry
   * is fetched only after the events are sent: then this is a guess (the
   * idle ticks after the first jump, or 0 without jumps) and
   * `estimatedBefore` says up to where it counts.
   */
  startIdleTicks: number;
  /** The idle jumps, in order: at icount jumpIcounts[i] the clock jumps to jumpTicks[i] ticks. */
  jumpIcounts: Float64Array;
  jumpTicks: Float64Array;
  /** Guest time before this icount rests on the guessed startIdleTicks (absent: it is exact; Infinity: all of it). */
  estimatedBefore?: number;
  /** Guest time after this icount is a lower bound: idle jumps past it could not be read (damage). */
  estimatedAfter?: number;
}

/** The machine where the replay stands (sent when it stops: paused, done, diverged, error). */
export interface MachineMessage {
  kind: 'machine';
  icount: number;
  /** 16 hex digits, as are x and csrs. */
  pc: string;
  priv: string;
  x: string[];
  /** The CSRs that the hart has (absent: it has not). */
  csrs: Record<string, string>;
  /** The instruction at pc: its bytes in hex (as the word or halfword reads), length and disassembly; null: pc not readable. */
  insn: { hex: string; length: number; asm: string } | null;
  /** The instructions from pc on (pc's first), as far as they can be read: address in 16 hex digits. */
  listing: { address: string; hex: string; length: number; asm: string }[];
}

export interface MemoryMessage {
  kind: 'memory';
  id: number;
  /** 16 hex digits. */
  addr: string;
  /** The physical address of `addr` (16 hex digits), null when it is not mapped. */
  physical: string | null;
  /** The bytes read, from `addr` on (fewer than asked where memory stops being RAM or mapped). */
  bytes: Uint8Array;
  error?: string;
}

export interface Divergence {
  icount: number;
  pc: string;
  reason: string;
  details: string[];
}

export interface WorkerStatus {
  kind: 'status';
  state: ReplayState;
  /** The recording's name as opened. */
  name: string;
  icount: number;
  /** The icount of the recording's last event (0 before one is open). */
  lastIcount: number;
  digestsVerified: number;
  /** Replay speed over the last second or so (0 when not running). */
  mips: number;
  /** Average speed of the replay so far (time spent replaying forwards, not seeking). */
  avgMips: number;
  error?: string;
  divergence?: Divergence;
  /** What the recording or the opening said that is worth a look (damage, recorder notes). */
  warnings?: string[];
  /** How the guest ended ('done'): poweroff, reset, ... and its status. */
  exit?: { kind: string; status: number };
  /** Milliseconds the open took (read, images, machine), once open. */
  openMs?: number;
}

export interface Seeked {
  kind: 'seeked';
  icount: number;
  id?: number;
  /** x0..x31, pc, priv and a few CSRs, as hex strings (priv as 'M', 'S' or 'U'). */
  registers: Record<string, string>;
  /** Milliseconds the seek took. */
  ms: number;
  /** Why the replay is not there (it ended, diverged or failed first). */
  error?: string;
}

export type FromWorker =
  | { kind: 'console'; bytes: Uint8Array }
  | WorkerStatus
  | Seeked
  | EventsMessage
  | ActionsMessage
  | MachineMessage
  | MemoryMessage
  /** A progress line while opening (fetching an image, building the machine). */
  | { kind: 'log'; text: string };
