/**
 * The recorder: receives the gate's events, adds state digests (every
 * digestInterval instructions, further apart in fast code: digest-spacing.ts)
 * and the end marker, and writes checksummed, compressed chunks
 * through `write` (the host appends them to the file). A chunk is cut when
 * enough events are waiting or when the host asks (flush), so a killed
 * recorder loses at most its last moments.
 *
 * Checkpoints (format version 3 and up): when one is due, between slices, the
 * machine is captured at once and deflated off the main thread; chunks
 * made meanwhile wait behind it, so the file keeps the order of the run.
 * At the end comes the index of every chunk, and the footer that finds it.
 */
import { deflate } from 'fflate';
import type { VirtMachine, GuestExit } from '../machine/virt.js';
import type { EventSink } from './gate.js';
import { EMPTY, END_KINDS, EventType, type RecordedEvent } from './events.js';
import {
  CHUNK_CHECKPOINT,
  CHUNK_HEADER,
  CHUNK_INDEX,
  EventChunkEncoder,
  encodeHeader,
  encodeImageChunk,
  encodeNoteChunk,
  frameChunk,
  chunkHeader,
  type RecordingHeader,
  type RecordingNote,
} from './log-format.js';
import { StateDigester } from './state-digest.js';
import { DigestSpacing } from './digest-spacing.js';
import { crc32 } from './crc32.js';
import { CheckpointBuilder, type CheckpointInfo } from './checkpoint-chunk.js';
import type { EventChunk } from './event-log.js';
import { encodeFooter, encodeIndex, type ImageChunk } from './recording-index.js';

/** Cut a chunk when this many uncompressed event bytes wait. */
const CHUNK_BYTES = 256 << 10;

/** When checkpoints are taken: whichever comes first (Infinity: never by that measure). */
export interface CheckpointSchedule {
  instructions: number;
  /** Guest time, in timebase ticks. */
  guestTicks: number;
}

/**
 * Deflates a checkpoint (off the main thread where the platform allows) into
 * one raw DEFLATE stream, given as pieces that are written one after another.
 */
export type Compressor = (raw: Uint8Array) => Promise<Uint8Array[]>;

const deflateAsync: Compressor = (raw) =>
  new Promise((resolve, reject) =>
    deflate(raw, { level: 1 }, (err, out) => (err ? reject(err) : resolve([out]))),
  );

/**
 * Touches every page of `buf` off the main thread (the host's thread pool),
 * so that capturing a checkpoint into it later does not pay for the
 * operating system's first-touch faults there: those were most of a
 * multi-MiB capture's time.
 */
export type Prefault = (buf: Uint8Array) => Promise<void>;

/** A piece of the file waiting its turn: bytes (or a checkpoint still compressing) and its index entry. */
interface Pending {
  bytes?: Uint8Array;
  /** Written right after `bytes`: a checkpoint's stored data (in pieces) after its chunk header. */
  payload?: Uint8Array[];
  payloadBytes?: number;
  failed?: Error;
  /** Told where its stored bytes landed in the file. */
  landed?: (storedAt: number) => void;
}

/** What a Recorder writes besides events and digests, and how. */
export interface RecorderOptions {
  /** Images embedded in the file (vmrs record --embed), by the names the header's refs use. */
  images?: Map<string, Uint8Array>;
  /** When checkpoints are taken (none by default). */
  schedule?: CheckpointSchedule;
  /** How checkpoints are deflated (fflate's, off the main thread where it can, by default). */
  compress?: Compressor;
  /** Readies memory for the next checkpoint's capture ahead of time (see Prefault). */
  prefault?: Prefault;
  /** Spread digests out in fast code (digest-spacing.ts); otherwise every digestInterval exactly. */
  spreadDigests?: boolean;
}

export class Recorder implements EventSink {
  private readonly encoder = new EventChunkEncoder();
  private digester: StateDigester | undefined;
  private vm: VirtMachine | undefined;
  private checkpoints: CheckpointBuilder | undefined;
  /** icount of the next state digest (Infinity: none). */
  nextDigestAt = Infinity;
  private readonly spacing: DigestSpacing;
  private nextCheckpointIcount = Infinity;
  private nextCheckpointTicks = Infinity;
  events = 0;
  /** Digest events among them. */
  private digests = 0;
  bytesWritten = 0;
  /** Checkpoints written, and their bytes. */
  checkpointsWritten = 0;
  checkpointBytes = 0;
  /** Host milliseconds spent capturing checkpoints on the main thread (and sizing their memory). */
  checkpointMs = 0;
  /**
   * Host milliseconds spent on state digests (hashing the pages written
   * since the last, walking the hart's and devices' fields), from the
   * digester's start.
   */
  digestMs = 0;
  /** Why this recording has no checkpoints though they were asked for. */
  checkpointsOff: string | undefined;
  private readonly queue: Pending[] = [];
  private compressing = 0;
  /** Memory for the next capture, its pages touched (the last capture's, or one readied). */
  private spare: Uint8Array | undefined;
  /** The checkpoint (by number) for which memory was readied: once per checkpoint. */
  private readiedFor = -1;
  private drained: (() => void) | undefined;
  private readonly index = {
    events: [] as EventChunk[],
    checkpoints: [] as CheckpointInfo[],
    images: [] as ImageChunk[],
    notes: [] as RecordingNote[],
    chunks: 0,
  };

  private readonly schedule: CheckpointSchedule;
  private readonly compress: Compressor;
  private readonly prefault: Prefault | undefined;

  constructor(
    private readonly write: (bytes: Uint8Array) => void,
    readonly header: RecordingHeader,
    options: RecorderOptions = {},
  ) {
    const images = options.images ?? new Map<string, Uint8Array>();
    this.schedule = options.schedule ?? { instructions: Infinity, guestTicks: Infinity };
    this.compress = options.compress ?? deflateAsync;
    this.prefault = options.prefault;
    this.spacing = new DigestSpacing(header.digestInterval, options.spreadDigests ?? false);
    const head = encodeHeader(header);
    this.write(head);
    this.bytesWritten = head.length;
    for (const [name, data] of images) {
      const bytes = encodeImageChunk(name, data);
      this.emit(bytes, (at) =>
        this.index.images.push({
          name,
          at,
          storedLength: bytes.length - CHUNK_HEADER,
          rawLength: rawLengthOf(bytes),
        }),
      );
    }
  }

  private emit(bytes: Uint8Array, landed?: (storedAt: number) => void): void {
    if (!bytes.length) return;
    this.queue.push({ bytes, landed });
    this.drain();
  }

  /** Write what is ready at the head of the queue, in order. */
  private drain(): void {
    const q = this.queue;
    while (q.length && (q[0].bytes || q[0].failed)) {
      const p = q.shift()!;
      if (p.failed) continue; // a checkpoint that could not be made: the file goes on without it
      const at = this.bytesWritten;
      this.write(p.bytes!);
      for (const piece of p.payload ?? []) this.write(piece);
      this.bytesWritten += p.bytes!.length + (p.payloadBytes ?? 0);
      this.index.chunks++;
      p.landed?.(at + CHUNK_HEADER);
    }
    if (!q.length) this.drained?.();
  }

  /** State digests logged so far. */
  get digestsTaken(): number {
    return this.digests;
  }

  /** Checkpoints taken (some may still be compressing). */
  get checkpointsTaken(): number {
    return this.checkpoints?.count ?? 0;
  }

  /** Start digests on the machine (at icount 0 and every interval after), and checkpoints. */
  attach(vm: VirtMachine): void {
    this.vm = vm;
    const t0 = performance.now();
    this.digester = new StateDigester(vm);
    this.digestMs += performance.now() - t0;
    if (this.header.digestInterval > 0) this.nextDigestAt = vm.cpu.icount;
    const s = this.schedule;
    if (s.instructions < Infinity || s.guestTicks < Infinity) {
      try {
        // A machine that cannot be saved (a disk written in place) has no checkpoints.
        this.checkpoints = new CheckpointBuilder(vm);
      } catch (e) {
        this.checkpointsOff = (e as Error).message;
        return;
      }
      this.nextCheckpointIcount = vm.cpu.icount + s.instructions;
      this.nextCheckpointTicks = vm.now() + s.guestTicks;
    }
  }

  append(ev: RecordedEvent): void {
    this.encoder.add(ev);
    this.events++;
    if (ev.type === EventType.Digest) this.digests++;
    if (this.encoder.pending >= CHUNK_BYTES) this.flush();
  }

  private appendDigest(final: boolean): void {
    const t0 = performance.now();
    const data = this.digester!.take();
    this.digestMs += performance.now() - t0;
    this.append({
      type: EventType.Digest,
      icount: this.vm!.cpu.icount,
      arg: final ? 1 : 0,
      value: 0,
      data,
    });
  }

  /** The machine is at nextDigestAt: log its digest and schedule the next (digest-spacing.ts). */
  digestNow(): void {
    this.appendDigest(false);
    this.nextDigestAt = this.vm!.cpu.icount + this.spacing.next();
  }

  /**
   * Between slices: take a checkpoint if one is due. It comes after a
   * digest at the same icount, which a replay of the segment before it
   * checks, so a verifier knows the segment ended in this very state. One
   * still compressing puts the next off (memory stays bounded).
   */
  maybeCheckpoint(): void {
    const vm = this.vm;
    // Not after the guest has ended: nothing is left to replay from there.
    if (!vm || !this.checkpoints || this.compressing > 0 || vm.exit) return;
    if (vm.cpu.icount < this.nextCheckpointIcount && vm.now() < this.nextCheckpointTicks) {
      this.maybeReady(vm);
      return;
    }
    this.appendDigest(false);
    this.flush();
    const t0 = performance.now();
    let built: ReturnType<CheckpointBuilder['build']>;
    try {
      built = this.checkpoints.build(this.events, this.digests, this.spare);
    } catch (e) {
      // A disk cluster the host cannot read back, or a checkpoint too large for a file: the
      // recording goes on without checkpoints from here (a builder that failed is spent).
      this.checkpoints = undefined;
      this.checkpointsOff = (e as Error).message;
      this.note(`no checkpoints from here on: ${this.checkpointsOff}`);
      return;
    }
    const { head, raw } = built;
    // The capture's memory is busy until compressed; then it is the next one's.
    const memory = raw.buffer === this.spare?.buffer ? this.spare : raw;
    if (memory === this.spare) this.spare = undefined;
    this.nextCheckpointIcount = vm.cpu.icount + this.schedule.instructions;
    this.nextCheckpointTicks = vm.now() + this.schedule.guestTicks;
    const slot: Pending = {
      landed: (at) => {
        this.index.checkpoints.push({
          ...head,
          at,
          storedLength: slot.payloadBytes!,
          rawLength: raw.length,
        });
        this.checkpointsWritten++;
        this.checkpointBytes += CHUNK_HEADER + slot.payloadBytes!;
      },
    };
    this.queue.push(slot);
    this.compressing++;
    this.checkpointMs += performance.now() - t0;
    this.compress(raw).then(
      (stored) => {
        this.compressing--;
        this.keepSpare(memory);
        let length = 0;
        let crc = 0;
        for (const piece of stored) {
          length += piece.length;
          crc = crc32(piece, crc);
        }
        slot.bytes = chunkHeader(CHUNK_CHECKPOINT, raw.length, length, crc);
        slot.payload = stored;
        slot.payloadBytes = length;
        this.drainSafely();
      },
      (e: Error) => {
        this.compressing--;
        slot.failed = e;
        this.drainSafely();
      },
    );
  }

  /**
   * Once an interval is three quarters over (by instructions or guest time):
   * if the memory kept for captures is too small for the checkpoint to
   * come, ready a larger one off the main thread. A quarter of an interval
   * leaves the thread pool time even when the guest runs fast, and the
   * estimate is exact for the pages written so far; an eighth more allows
   * for what is written after (a boot's first checkpoint: 9.74 MB estimated
   * at 150 M instructions, 9.72 MB taken at 200 M; at half way it was 8.4).
   */
  private maybeReady(vm: VirtMachine): void {
    const { instructions, guestTicks } = this.schedule;
    const builder = this.checkpoints!;
    if (!this.prefault || this.readiedFor === builder.count) return;
    const near =
      (instructions < Infinity && vm.cpu.icount >= this.nextCheckpointIcount - instructions / 4) ||
      (guestTicks < Infinity && vm.now() >= this.nextCheckpointTicks - guestTicks / 4);
    if (!near) return;
    this.readiedFor = builder.count;
    const t0 = performance.now();
    const need = builder.estimateBytes();
    this.checkpointMs += performance.now() - t0;
    if (this.spare && this.spare.length >= need) return;
    const buf = new Uint8Array(need + (need >> 3));
    this.prefault(buf).then(
      () => this.keepSpare(buf),
      () => {}, // not readied: the capture takes new memory, as without a prefault
    );
  }

  private keepSpare(buf: Uint8Array): void {
    if (!this.spare || buf.length > this.spare.length) this.spare = buf;
  }

  /** A write that fails later, from a callback, is kept for close() to report. */
  private writeError: Error | undefined;
  private drainSafely(): void {
    try {
      this.drain();
    } catch (e) {
      this.writeError ??= e as Error;
      this.drained?.();
    }
  }

  /** Write the events waiting as a chunk. */
  flush(): void {
    const c = this.encoder.flushChunk();
    if (!c) return;
    this.emit(c.bytes, (at) => this.index.events.push({ ...c.entry, at }));
  }

  /** Write a note (after the events so far): something a replay should be told. */
  note(text: string): void {
    this.flush();
    const note = { icount: this.vm?.cpu.icount ?? 0, text };
    this.emit(encodeNoteChunk(note), () => this.index.notes.push(note));
  }

  /** The run is over: a final digest, the end marker, the last chunk. */
  end(exit: GuestExit): void {
    const vm = this.vm!;
    const icount = vm.cpu.icount;
    this.appendDigest(true);
    const kind = END_KINDS.indexOf(exit.kind);
    this.append({
      type: EventType.End,
      icount,
      arg: kind < 0 ? END_KINDS.length - 1 : kind,
      value: exit.status >>> 0,
      data: EMPTY,
    });
    this.flush();
  }

  /** Wait until every chunk made so far is written (checkpoints compressing included). */
  async settle(): Promise<void> {
    if (this.queue.length)
      await new Promise<void>((r) => {
        this.drained = r;
        if (!this.queue.length) r();
      });
    this.drained = undefined;
  }

  /**
   * After end(): wait for checkpoints still compressing, then write the
   * index and the footer. Without this (a killed recorder) the file is
   * still whole up to its last chunk; readers scan it instead.
   */
  async close(): Promise<void> {
    await this.settle();
    if (this.writeError) throw this.writeError;
    const at = this.bytesWritten;
    const bytes = frameChunk(CHUNK_INDEX, encodeIndex(this.index));
    this.write(bytes);
    this.write(encodeFooter(at));
    this.bytesWritten += bytes.length + 16;
  }
}

/** The raw length a framed chunk declares. */
function rawLengthOf(framed: Uint8Array): number {
  return new DataView(framed.buffer, framed.byteOffset).getUint32(5, true);
}
