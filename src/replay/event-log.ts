/**
 * A recording's events, decoded as they are reached. The reader lists the
 * file's whole event chunks (where each is, how many events it holds, its
 * icount range) without keeping any event; cursors then inflate one chunk
 * at a time and decode one event at a time. Memory follows what a replay is
 * at, not what the file holds: a 100 KB file of millions of tiny events
 * costs one chunk's bytes, not millions of objects.
 *
 * Positions are small values a replayer can keep (checkpoints) and go back
 * to; a chunk left behind is inflated again when a cursor comes back to it.
 */
import { isPull, type EventType, type RecordedEvent } from './events.js';
import type { RecordingSource } from './recording-source.js';
import { CHUNK_EVENTS, readChunkAt } from './log-format.js';
import { RecordingFormatError } from './recording-error.js';

/** A whole, checked chunk of events (see log-format.ts). */
export interface EventChunk {
  /** Offset in the file of the chunk's stored (compressed) bytes. */
  at: number;
  storedLength: number;
  rawLength: number;
  /** Number, in the whole file, of the chunk's first event. */
  firstIndex: number;
  count: number;
  /** icount of the event before the chunk's first (the base of its first delta). */
  icountBefore: number;
  lastIcount: number;
  /** How many of its events are pull events (entropy). */
  pulls: number;
}

/** Where a cursor is: the event number in the file and where that event's bytes start. */
export interface EventPosition {
  readonly index: number;
  readonly chunk: number;
  readonly offset: number;
  readonly icountBefore: number;
}

/** Reads events from a chunk's raw bytes. Throws RangeError on malformed bytes. */
export class EventDecoder {
  pos = 0;
  constructor(readonly raw: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.raw.length;
  }

  private u8(): number {
    if (this.pos >= this.raw.length) throw new RangeError('an event runs past its chunk');
    return this.raw[this.pos++];
  }

  private varint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if (!(b & 0x80)) {
        if (!Number.isSafeInteger(v)) throw new RangeError('a number beyond 2^53');
        return v;
      }
      mul *= 0x80;
    }
    throw new RangeError('varint too long');
  }

  /** The next event, its icount from `icountBefore` plus its delta. */
  next(icountBefore: number): RecordedEvent {
    const type = this.u8() as EventType;
    const icount = icountBefore + this.varint();
    if (!Number.isSafeInteger(icount)) throw new RangeError('an icount beyond 2^53');
    const arg = this.varint();
    const value = this.varint();
    const n = this.varint();
    if (n > this.raw.length - this.pos) throw new RangeError('an event runs past its chunk');
    const data = this.raw.subarray(this.pos, this.pos + n);
    this.pos += n;
    return { type, icount, arg, value, data };
  }

  /** icount delta of the event last skipped. */
  delta = 0;

  /** Step over the next event (as next(), without keeping it): returns its type, leaves its delta in `delta`. */
  skip(): number {
    const type = this.u8();
    this.delta = this.varint();
    this.varint();
    this.varint();
    const n = this.varint();
    if (n > this.raw.length - this.pos) throw new RangeError('an event runs past its chunk');
    this.pos += n;
    return type;
  }
}

/** Chunks inflated and kept at once (the cursors of a replay are rarely more than two chunks apart). */
const CACHED_CHUNKS = 3;

export class EventLog {
  /** Events in the file. */
  readonly count: number;
  private readonly cache = new Map<number, Uint8Array>();
  /**
   * Why the events end before the file's last chunk: a chunk found through
   * the index that turned out damaged when read. Cursors end there.
   */
  damage: string | undefined;
  /** Chunks before the first that could not be read. */
  private readable: number;

  constructor(
    private readonly source: RecordingSource,
    readonly chunks: readonly EventChunk[],
  ) {
    this.readable = chunks.length;
    const last = chunks[chunks.length - 1];
    this.count = last ? last.firstIndex + last.count : 0;
  }

  /** icount of the last event (undefined: no events). */
  get lastIcount(): number | undefined {
    return this.chunks.length ? this.chunks[this.chunks.length - 1].lastIcount : undefined;
  }

  /** Events that can be read (count, or fewer once a damaged chunk was met). */
  get readableCount(): number {
    const c = this.chunks[this.readable];
    return c ? c.firstIndex : this.count;
  }

  /** A chunk's raw bytes (inflated when not among the few kept); undefined when it is damaged. */
  raw(k: number): Uint8Array | undefined {
    if (k >= this.readable) return undefined;
    let raw = this.cache.get(k);
    if (raw) {
      // Most recently used last.
      this.cache.delete(k);
      this.cache.set(k, raw);
      return raw;
    }
    const c = this.chunks[k];
    try {
      raw = readChunkAt(this.source, c.at, CHUNK_EVENTS, c.storedLength, c.rawLength);
    } catch (e) {
      // Damage in the file ends the log here; a host that cannot read the file is another
      // matter (said as such, not taken for a recording cut short).
      if (!(e instanceof RecordingFormatError)) throw e;
      this.readable = k;
      this.damage = (e as Error).message;
      return undefined;
    }
    this.cache.set(k, raw);
    if (this.cache.size > CACHED_CHUNKS) this.cache.delete(this.cache.keys().next().value!);
    return raw;
  }

  cursor(): EventCursor {
    return new EventCursor(this);
  }
}

/** A place in the event log; the events it passes are not kept. */
export class EventCursor {
  // The position, kept in fields (a position object is made only when asked for).
  private index_ = 0;
  private chunk = 0;
  private offset = 0;
  private icountBefore = 0;
  private current: RecordedEvent | undefined;
  /** Decoder over the current chunk's bytes (undefined: not inflated yet). */
  private decoder: EventDecoder | undefined;

  constructor(private readonly log: EventLog) {
    this.toChunk(0);
  }

  private toChunk(k: number): void {
    const c = this.log.chunks[k];
    this.chunk = k;
    this.offset = 0;
    this.index_ = c ? c.firstIndex : this.log.count;
    this.icountBefore = c ? c.icountBefore : 0;
    this.current = undefined;
    this.decoder = undefined;
  }

  /** Number of the event under the cursor in the file (log.count at the end). */
  get index(): number {
    return this.index_;
  }

  get position(): EventPosition {
    return {
      index: this.index_,
      chunk: this.chunk,
      offset: this.offset,
      icountBefore: this.icountBefore,
    };
  }

  set position(p: EventPosition) {
    if (p.chunk !== this.chunk) this.decoder = undefined;
    this.index_ = p.index;
    this.chunk = p.chunk;
    this.offset = p.offset;
    this.icountBefore = p.icountBefore;
    this.current = undefined;
  }

  /** The event under the cursor; undefined at the end. */
  peek(): RecordedEvent | undefined {
    if (this.current) return this.current;
    if (this.index_ >= this.log.count) return undefined;
    if (!this.decoder) {
      const raw = this.log.raw(this.chunk);
      if (!raw) return undefined; // damaged: the log ends here (log.damage says why)
      this.decoder = new EventDecoder(raw);
    }
    this.decoder.pos = this.offset;
    try {
      this.current = this.decoder.next(this.icountBefore);
    } catch (e) {
      // A chunk whose checksum holds but whose events do not parse (a writer's bug): it ends here.
      this.log.damage ??= `an event in chunk ${this.chunk} is malformed: ${(e as Error).message}`;
      return undefined;
    }
    return this.current;
  }

  /** Go to the next event. */
  advance(): void {
    const ev = this.peek();
    if (!ev) return;
    const c = this.log.chunks[this.chunk];
    if (this.index_ + 1 >= c.firstIndex + c.count) {
      this.toChunk(this.chunk + 1);
      return;
    }
    this.index_++;
    this.offset = this.decoder!.pos;
    this.icountBefore = ev.icount;
    this.current = undefined;
  }

  /** Go forwards to the next pull event (entropy), skipping chunks that hold none. */
  toPull(): void {
    for (;;) {
      const c = this.log.chunks[this.chunk];
      if (!c) return;
      if (c.pulls === 0) {
        this.toChunk(this.chunk + 1);
        continue;
      }
      const ev = this.peek();
      if (!ev || isPull(ev.type)) return;
      this.advance();
    }
  }

  /** Go forwards to the next push event. */
  toPush(): void {
    for (let ev = this.peek(); ev && isPull(ev.type); ev = this.peek()) this.advance();
  }

  /** Go to event number `index` of the file (count: the end). */
  seekIndex(index: number): void {
    const chunks = this.log.chunks;
    let lo = 0;
    let hi = chunks.length;
    // The first chunk that ends after `index`.
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (chunks[mid].firstIndex + chunks[mid].count > index) hi = mid;
      else lo = mid + 1;
    }
    this.toChunk(lo);
    while (this.index_ < index && this.peek()) this.advance();
  }

  /** Go to the first event whose icount is above `icount` (or at it too, with `inclusive`). */
  seekIcount(icount: number, inclusive: boolean): void {
    const chunks = this.log.chunks;
    const past = (ic: number) => (inclusive ? ic >= icount : ic > icount);
    // The first chunk whose last event qualifies; icounts never go down.
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (past(chunks[mid].lastIcount)) hi = mid;
      else lo = mid + 1;
    }
    this.toChunk(lo);
    for (let ev = this.peek(); ev && !past(ev.icount); ev = this.peek()) this.advance();
  }
}
