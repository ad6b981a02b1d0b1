/**
 * The index of a recording (format version 3): written last, it lists
 * every chunk a reader needs — events, checkpoints, images, notes — so that
 * opening a long recording reads the index, not the whole file. After it
 * comes a fixed footer that finds it from the file's end:
 *
 *   "VMRSIDX\0" u32 indexOffsetLow, u32 indexOffsetHigh
 *
 * (the offset of the index chunk's "CHNK" marker). The index is trusted
 * only when its chunk's checksum holds and every entry lies inside the
 * file, in order; otherwise, and in files without one (a recorder killed
 * before its end), the reader scans the chunks and rebuilds the same lists.
 * The chunks it lists are checked when they are read.
 */
import type { EventChunk } from './event-log.js';
import type { CheckpointInfo } from './checkpoint-chunk.js';
import type { RecordingNote } from './log-format.js';

export const FOOTER_MAGIC = Uint8Array.from([0x56, 0x4d, 0x52, 0x53, 0x49, 0x44, 0x58, 0x00]); // "VMRSIDX\0"
export const FOOTER_BYTES = 16;

export interface ImageChunk {
  name: string;
  /** Offset of its stored bytes. */
  at: number;
  storedLength: number;
  rawLength: number;
}

export interface RecordingIndex {
  events: EventChunk[];
  checkpoints: CheckpointInfo[];
  images: ImageChunk[];
  notes: RecordingNote[];
  /** Chunks in the file before the index. */
  chunks: number;
}

export function encodeIndex(ix: RecordingIndex): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      events: ix.events.map((c) => [
        c.at,
        c.storedLength,
        c.rawLength,
        0, // reserved: a chunk's checksum is in its own header, checked when it is read
        c.firstIndex,
        c.count,
        c.icountBefore,
        c.lastIcount,
        c.pulls,
      ]),
      checkpoints: ix.checkpoints.map((c) => [
        c.at,
        c.storedLength,
        c.rawLength,
        c.seq,
        c.icount,
        c.eventIndex,
        c.digests,
      ]),
      images: ix.images.map((c) => [c.name, c.at, c.storedLength, c.rawLength]),
      notes: ix.notes,
      chunks: ix.chunks,
    }),
  );
}

export function encodeFooter(indexAt: number): Uint8Array {
  const out = new Uint8Array(FOOTER_BYTES);
  out.set(FOOTER_MAGIC);
  const dv = new DataView(out.buffer);
  dv.setUint32(8, indexAt % 2 ** 32, true);
  dv.setUint32(12, Math.floor(indexAt / 2 ** 32), true);
  return out;
}

/** The index chunk's offset, from a file's last FOOTER_BYTES bytes; undefined when they are no footer. */
export function findIndex(tail: Uint8Array): number | undefined {
  if (tail.length !== FOOTER_BYTES || !FOOTER_MAGIC.every((b, i) => tail[i] === b))
    return undefined;
  const dv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  return dv.getUint32(8, true) + dv.getUint32(12, true) * 2 ** 32;
}

const isCount = (v: unknown): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function counts(v: unknown, n: number): number[] | undefined {
  return Array.isArray(v) && v.length === n && v.every(isCount) ? (v as number[]) : undefined;
}

/**
 * An index read back, checked against a file of `end` bytes (the index
 * chunk's offset): entries in range and in order. Undefined when it is not
 * one a reader can trust.
 */
export function decodeIndex(raw: Uint8Array, end: number): RecordingIndex | undefined {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(new TextDecoder().decode(raw)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { events, checkpoints, images, notes, chunks } = v;
  if (!Array.isArray(events) || !Array.isArray(checkpoints) || !Array.isArray(images))
    return undefined;
  if (!Array.isArray(notes) || !isCount(chunks)) return undefined;
  const ix: RecordingIndex = { events: [], checkpoints: [], images: [], notes: [], chunks };
  let lastAt = -1;
  let index = 0;
  let icount = 0;
  for (const e of events) {
    const c = counts(e, 9);
    if (!c) return undefined;
    const [at, storedLength, rawLength, , firstIndex, count, icountBefore, lastIcount, pulls] = c;
    if (at <= lastAt || at + storedLength > end || firstIndex !== index || count === 0)
      return undefined;
    if (icountBefore !== icount || lastIcount < icountBefore || pulls > count) return undefined;
    ix.events.push({
      at,
      storedLength,
      rawLength,
      firstIndex,
      count,
      icountBefore,
      lastIcount,
      pulls,
    });
    lastAt = at;
    index += count;
    icount = lastIcount;
  }
  for (const [seq, e] of checkpoints.entries()) {
    const c = counts(e, 7);
    if (!c || c[3] !== seq || c[0] + c[1] > end || c[5] > index) return undefined;
    const prev = ix.checkpoints[seq - 1];
    if (prev && (c[0] <= prev.at || c[4] < prev.icount || c[5] < prev.eventIndex)) return undefined;
    ix.checkpoints.push({
      at: c[0],
      storedLength: c[1],
      rawLength: c[2],
      seq,
      icount: c[4],
      eventIndex: c[5],
      digests: c[6],
    });
  }
  for (const e of images) {
    if (!Array.isArray(e) || e.length !== 4 || typeof e[0] !== 'string') return undefined;
    const c = counts(e.slice(1), 3);
    if (!c || c[0] + c[1] > end) return undefined;
    ix.images.push({ name: e[0], at: c[0], storedLength: c[1], rawLength: c[2] });
  }
  for (const n of notes) {
    const o = n as Partial<RecordingNote> | null;
    if (typeof o !== 'object' || o === null || !isCount(o.icount) || typeof o.text !== 'string')
      return undefined;
    ix.notes.push({ icount: o.icount, text: o.text });
  }
  return ix;
}
