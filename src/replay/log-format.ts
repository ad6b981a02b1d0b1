/**
 * The recording file (DESIGN "The recording"). Everything little-endian.
 *
 *   file    = header chunk*
 *   header  = "VMRSREC\0" u32 version, u32 jsonLength, json (UTF-8), u32 crc32(json)
 *   chunk   = "CHNK" u8 kind, u32 rawLength, u32 storedLength, u32 crc32(stored), stored
 *             (stored = deflate(raw); the CRC covers what is on disk, so damage is
 *             found before decompression)
 *   kind 1  events: a run of events, each
 *             u8 type, varint icountDelta (from the previous event of the file),
 *             varint arg, varint value, varint dataLength, data
 *   kind 2  embedded image: varint nameLength, name (UTF-8), bytes
 *   kind 3  note (version 2): JSON {icount, text}, something the recorder
 *           noticed that a replay should know (an image that changed while
 *           recording); replay goes on, and says it
 *   kind 4  checkpoint (version 3): the machine at an icount, RAM pages
 *           changed since the previous checkpoint (version 5: none the
 *           guest has not written since its images were loaded), and
 *           (version 4) disk clusters the same way (checkpoint-chunk.ts)
 *   kind 5  index (version 3): where every other chunk is, written last,
 *           followed by a footer "VMRSIDX\0" u64 offset-of-the-index-chunk
 *           (recording-index.ts). A file without it (its recorder was
 *           killed) is read by a scan of its chunks instead.
 *
 * The header's JSON holds the machine configuration, image names and
 * digests, the RTC start and the digest interval (RecordingHeader). A
 * recording whose writer died ends at its last whole chunk; readers report
 * where and why they stopped instead of guessing past damage.
 */
import { Inflate } from 'fflate';
import { InflateOverflow, deflateRaw, inflateRaw } from '../util/deflate-raw.js';
import { RecordingFormatError } from './recording-error.js';
import { BytesSource, type RecordingSource } from './recording-source.js';
import { MAX_CHECKPOINT, MAX_HEAD, readHead, type CheckpointInfo } from './checkpoint-chunk.js';
import { FOOTER_BYTES, decodeIndex, findIndex } from './recording-index.js';
import { crc32 } from './crc32.js';
import { EventType, isPull, type RecordedEvent } from './events.js';
import { EventDecoder, EventLog, type EventChunk } from './event-log.js';
import { descriptionProblems, imageRefProblems, isUint, sayProblems } from './header-check.js';
import { GrowableBytes } from '../util/growable-bytes.js';

/**
 * The version this vmrs writes. Version 2 adds event types (version-1 files
 * never hold them) and changes what a digest event carries; version 3 adds
 * checkpoints and the index; version 4 keeps disk clusters in checkpoints
 * apart from the state, incrementally; version 5 lets a checkpoint's page
 * map say a page is as the machine's images load it (not stored). Readers take
 * every version from OLDEST_READABLE_VERSION up, and ParsedRecording says
 * which one a file is, so its digests are read in that version's layout.
 */
export const FORMAT_VERSION = 5;
export const OLDEST_READABLE_VERSION = 1;
const MAGIC = Uint8Array.from([0x56, 0x4d, 0x52, 0x53, 0x52, 0x45, 0x43, 0x00]); // "VMRSREC\0"
const CHUNK_MAGIC = Uint8Array.from([0x43, 0x48, 0x4e, 0x4b]); // "CHNK"
export const CHUNK_HEADER = 4 + 1 + 4 + 4 + 4;
export const CHUNK_EVENTS = 1;
export const CHUNK_IMAGE = 2;
export const CHUNK_NOTE = 3;
export const CHUNK_CHECKPOINT = 4;
export const CHUNK_INDEX = 5;
/** Notes kept by a reader (a file could hold any number); text of a note at most this long. */
const MAX_NOTES = 32;
const MAX_NOTE_TEXT = 4096;
/** Largest chunk we accept: bounds memory on a corrupt length field. */
const MAX_CHUNK = 256 << 20;

export { RecordingFormatError };

export interface ImageRef {
  /** Path the image was read from when recording. */
  path: string;
  size: number;
  sha256: string;
  /** The image's bytes are in the file (kind-2 chunk with this name). */
  embedded: boolean;
}

export interface DiskRef extends ImageRef {
  serial: string;
  readOnly: boolean;
}

export type DeviceRef =
  | { kind: 'blk'; disk: DiskRef }
  | { kind: 'net'; mac: string; linkUp: boolean; backend: string }
  | { kind: 'rng' }
  | { kind: 'console'; target: string };

export interface MachineInfo {
  memoryBytes: number;
  append: string;
  insnsPerTick: number;
  rtcStartUnixNs: number;
  /** Which console got stdio input: the UART or hvc0. */
  consoleOn: 'uart' | 'hvc';
}

/** The machine as recordings and snapshots name it: configuration, images, devices by slot. */
export interface MachineDescription {
  machine: MachineInfo;
  bios: ImageRef | 'none';
  kernel: ImageRef;
  initrd?: ImageRef;
  devices: DeviceRef[];
}

/** What a file (recording or snapshot) says of itself. */
export interface FileStamp {
  formatVersion: number;
  vmrsVersion: string;
  createdUnixMs: number;
}

export interface RecordingHeader extends MachineDescription, FileStamp {
  /** Instructions between state digests (0: none). */
  digestInterval: number;
  /** The machine started from this snapshot (image name 'snapshot') instead of a boot. */
  snapshot?: ImageRef;
  /** With `snapshot`: the icount the recording starts at. */
  startIcount?: number;
}

// --- little helpers

class ByteWriter extends GrowableBytes {
  constructor() {
    super(1 << 16);
  }

  u32(v: number): void {
    this.room(4);
    new DataView(this.buf.buffer).setUint32(this.len, v >>> 0, true);
    this.len += 4;
  }

  /** Unsigned LEB128 of a non-negative integer up to 2^53. */
  varint(v: number): void {
    if (!(v >= 0) || !Number.isSafeInteger(v)) throw new RangeError(`varint out of range: ${v}`);
    while (v >= 0x80) {
      this.u8((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.u8(v);
  }

  bytes(b: Uint8Array): void {
    this.append(b);
  }

  take(): Uint8Array {
    const out = this.copy();
    this.len = 0;
    return out;
  }
}

class ByteReader {
  pos = 0;
  constructor(private readonly b: Uint8Array) {}

  get left(): number {
    return this.b.length - this.pos;
  }

  u8(): number {
    if (this.pos >= this.b.length) throw new RecordingFormatError('unexpected end of data');
    return this.b[this.pos++];
  }

  u32(): number {
    if (this.pos + 4 > this.b.length) throw new RecordingFormatError('unexpected end of data');
    const v = new DataView(this.b.buffer, this.b.byteOffset).getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  varint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if (!(b & 0x80)) return v;
      mul *= 0x80;
    }
    throw new RecordingFormatError('varint too long');
  }

  bytes(n: number): Uint8Array {
    if (n > this.left) throw new RecordingFormatError('unexpected end of data');
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

// --- writing

export function encodeHeader(h: RecordingHeader): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(h));
  const w = new ByteWriter();
  w.bytes(MAGIC);
  w.u32(FORMAT_VERSION);
  w.u32(json.length);
  w.bytes(json);
  w.u32(crc32(json));
  return w.take();
}

export function frameChunk(kind: number, raw: Uint8Array): Uint8Array {
  return frameStored(kind, raw.length, deflateRaw(raw, 6));
}

/** A chunk of bytes compressed elsewhere, in one piece. */
export function frameStored(kind: number, rawLength: number, stored: Uint8Array): Uint8Array {
  const out = new Uint8Array(CHUNK_HEADER + stored.length);
  out.set(chunkHeader(kind, rawLength, stored.length, crc32(stored)));
  out.set(stored, CHUNK_HEADER);
  return out;
}

/**
 * The header that goes before stored bytes written on their own (a
 * checkpoint, deflated off the main thread, perhaps in pieces): megabytes
 * are not copied once more into fresh memory just to follow 17 bytes.
 */
export function chunkHeader(
  kind: number,
  rawLength: number,
  storedLength: number,
  storedCrc: number,
): Uint8Array {
  const w = new ByteWriter();
  w.bytes(CHUNK_MAGIC);
  w.u8(kind);
  w.u32(rawLength);
  w.u32(storedLength);
  w.u32(storedCrc);
  return w.take();
}

/** Encodes events into chunks; icounts are delta-coded across the whole file. */
export class EventChunkEncoder {
  private readonly w = new ByteWriter();
  private lastIcount = 0;
  /** Events waiting, and what the index says of them. */
  count = 0;
  private firstIndex = 0;
  private icountBefore = 0;
  private pulls = 0;

  add(ev: RecordedEvent): void {
    const d = ev.icount - this.lastIcount;
    if (d < 0) throw new RangeError(`events out of order: ${ev.icount} after ${this.lastIcount}`);
    this.lastIcount = ev.icount;
    this.w.u8(ev.type);
    this.w.varint(d);
    this.w.varint(ev.arg);
    this.w.varint(ev.value);
    this.w.varint(ev.data.length);
    this.w.bytes(ev.data);
    this.count++;
    if (isPull(ev.type)) this.pulls++;
  }

  /** Bytes of events waiting (uncompressed). */
  get pending(): number {
    return this.w.len;
  }

  /** The waiting events as one framed, compressed chunk (empty array when none). */
  flush(): Uint8Array {
    return this.flushChunk()?.bytes ?? new Uint8Array(0);
  }

  /**
   * The waiting events as one framed chunk and its index entry (`at` is
   * the offset of its stored bytes within `bytes`: the writer adds where
   * the chunk lands); undefined when none wait.
   */
  flushChunk(): { bytes: Uint8Array; entry: EventChunk } | undefined {
    if (this.w.len === 0) return undefined;
    const raw = this.w.take();
    const bytes = frameChunk(CHUNK_EVENTS, raw);
    const entry: EventChunk = {
      at: CHUNK_HEADER,
      storedLength: bytes.length - CHUNK_HEADER,
      rawLength: raw.length,
      firstIndex: this.firstIndex,
      count: this.count,
      icountBefore: this.icountBefore,
      lastIcount: this.lastIcount,
      pulls: this.pulls,
    };
    this.firstIndex += this.count;
    this.icountBefore = this.lastIcount;
    this.count = 0;
    this.pulls = 0;
    return { bytes, entry };
  }
}

export function encodeImageChunk(name: string, data: Uint8Array): Uint8Array {
  if (data.length + name.length + 16 > MAX_CHUNK)
    throw new RangeError(
      `image '${name}' is too large to embed (${data.length} bytes; limit ${MAX_CHUNK})`,
    );
  const w = new ByteWriter();
  const n = new TextEncoder().encode(name);
  w.varint(n.length);
  w.bytes(n);
  w.bytes(data);
  return frameChunk(CHUNK_IMAGE, w.take());
}

/** A note of the recorder, at the icount where it was made. */
export interface RecordingNote {
  icount: number;
  text: string;
}

export function encodeNoteChunk(note: RecordingNote): Uint8Array {
  const text = note.text.slice(0, MAX_NOTE_TEXT);
  return frameChunk(
    CHUNK_NOTE,
    new TextEncoder().encode(JSON.stringify({ icount: note.icount, text })),
  );
}

// --- reading

/** Embedded images by name, inflated when asked for. */
export interface EmbeddedImages {
  get(name: string): Uint8Array | undefined;
}

export interface ParsedRecording {
  header: RecordingHeader;
  /** The file's format version (from its first bytes; the header's JSON says the same). */
  version: number;
  /** Where its bytes come from (read as a replay reaches them). */
  source: RecordingSource;
  /** The events, decoded as a cursor reaches them (event-log.ts). */
  events: EventLog;
  images: EmbeddedImages;
  /** The checkpoints (version 3), in order. */
  checkpoints: CheckpointInfo[];
  /** The recorder's notes (the first MAX_NOTES of them). */
  notes: RecordingNote[];
  chunks: number;
  /** Found through the file's index (else by a scan of every chunk). */
  indexed: boolean;
  /** Bytes of the file that were read as whole, valid chunks (through the index: all before it). */
  validBytes: number;
  /** Why reading stopped before the end of the file, if it did. */
  damage?: string;
  /**
   * The damage is only a last chunk cut short by the file's end: what a
   * recorder that was killed, or whose disk filled, leaves. Everything
   * before it is whole.
   */
  cutShort: boolean;
}

/**
 * deflate's largest ratio (a 258-byte match in about two bits) is under
 * 1032:1; a chunk claiming more than that cannot be true, and its claim
 * must not size a buffer.
 */
const MAX_DEFLATE_RATIO = 1032;
/**
 * Largest events chunk: the recorder cuts one at 256 KiB plus one event
 * (a frame or a console read: tens of KiB). Bounds what one chunk costs.
 */
const MAX_EVENT_CHUNK = 16 << 20;
/** Images are inflated in pieces of this much input when checked, so checking one costs little memory. */
const INFLATE_PIECE = 4096;

/** The header's fields are there, of the right kind and within bounds. */
function checkHeader(h: unknown): asserts h is RecordingHeader {
  const p = descriptionProblems(h);
  if (p.length === 1 && p[0] === 'the header is not an object')
    throw new RecordingFormatError('corrupt header (not an object)');
  const o = h as Record<string, unknown>;
  if (!isUint(o.digestInterval)) p.push('digestInterval is not a number of instructions');
  if (o.snapshot !== undefined && o.snapshot !== null)
    p.push(...imageRefProblems(o.snapshot, 'snapshot'));
  if (o.startIcount !== undefined && o.startIcount !== null && !isUint(o.startIcount))
    p.push('startIcount is not an instruction count');
  if (p.length) throw new RecordingFormatError(`corrupt header: ${sayProblems(p)}`);
}

/** Longest image name (the writer uses a handful: bios, kernel, initrd, diskN, snapshot). */
const MAX_IMAGE_NAME = 1024;

/**
 * Inflate `stored` in small pieces, checking it comes to `rawLen` bytes,
 * keeping only its first `keep` bytes: a scan checks a large chunk this way
 * at the cost of a small buffer.
 */
function inflateHead(stored: Uint8Array, rawLen: number, keep: number): Uint8Array {
  const head = new Uint8Array(Math.min(keep, rawLen));
  let seen = 0;
  const inf = new Inflate((piece) => {
    if (seen < head.length) head.set(piece.subarray(0, head.length - seen), seen);
    seen += piece.length;
    if (seen > rawLen) throw new RecordingFormatError(`decompresses to more than ${rawLen} bytes`);
  });
  try {
    if (stored.length === 0) inf.push(stored, true);
    for (let i = 0; i < stored.length; i += INFLATE_PIECE)
      inf.push(stored.subarray(i, i + INFLATE_PIECE), i + INFLATE_PIECE >= stored.length);
  } catch (e) {
    if (e instanceof RecordingFormatError) throw e;
    throw new RecordingFormatError('does not decompress');
  }
  if (seen !== rawLen)
    throw new RecordingFormatError(`decompresses to ${seen} bytes, not ${rawLen}`);
  return head;
}

/** An image chunk's name (the chunk checked whole; nothing but the name is kept). */
function scanImageChunk(stored: Uint8Array, rawLen: number): string {
  const hr = new ByteReader(inflateHead(stored, rawLen, MAX_IMAGE_NAME + 8));
  const nameLen = hr.varint();
  if (nameLen > MAX_IMAGE_NAME) throw new RecordingFormatError('its image name is too long');
  return new TextDecoder().decode(hr.bytes(nameLen));
}

/** Inflate a whole chunk known to be `rawLen` bytes. */
function inflateExact(stored: Uint8Array, rawLen: number): Uint8Array {
  let raw: Uint8Array;
  try {
    raw = inflateRaw(stored, rawLen);
  } catch (e) {
    if (e instanceof InflateOverflow) throw new RecordingFormatError(e.message);
    throw new RecordingFormatError('does not decompress');
  }
  if (raw.length !== rawLen)
    throw new RecordingFormatError(`decompresses to ${raw.length} bytes, not ${rawLen}`);
  return raw;
}

function readNote(stored: Uint8Array, rawLen: number): RecordingNote {
  if (rawLen > MAX_NOTE_TEXT * 8) throw new RecordingFormatError('a note too long');
  const raw = inflateExact(stored, rawLen);
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new RecordingFormatError('a note that is not JSON');
  }
  const o = v as Partial<RecordingNote> | null;
  if (
    typeof o !== 'object' ||
    o === null ||
    !isUint(o.icount) ||
    typeof o.text !== 'string' ||
    o.text.length > MAX_NOTE_TEXT
  )
    throw new RecordingFormatError('a note without icount and text');
  return { icount: o.icount, text: o.text };
}

/**
 * The chunk whose stored bytes are at `at` in `source`, checked again
 * (marker, kind, lengths, checksum) and inflated: what a reader that found
 * it through the index, or comes back to it, does before using it.
 */
export function readChunkAt(
  source: RecordingSource,
  at: number,
  kind: number,
  storedLength: number,
  rawLength: number,
): Uint8Array {
  if (at < CHUNK_HEADER || at + storedLength > source.size)
    throw new RecordingFormatError(`no chunk at byte ${at - CHUNK_HEADER}`);
  const bytes = source.read(at - CHUNK_HEADER, CHUNK_HEADER + storedLength);
  const r = new ByteReader(bytes);
  const where = `the chunk at byte ${at - CHUNK_HEADER}`;
  if (!CHUNK_MAGIC.every((b) => r.u8() === b))
    throw new RecordingFormatError(`${where} is missing`);
  if (r.u8() !== kind || r.u32() !== rawLength || r.u32() !== storedLength)
    throw new RecordingFormatError(`${where} is not the one the index names`);
  const sum = r.u32();
  const stored = r.bytes(storedLength);
  if (crc32(stored) !== sum)
    throw new RecordingFormatError(`${where} is corrupt (checksum mismatch)`);
  try {
    return inflateExact(stored, rawLength);
  } catch (e) {
    throw new RecordingFormatError(`${where} ${(e as Error).message}`);
  }
}

/** The image chunks of a file by name (the last of a name wins), inflated on demand. */
class LazyImages implements EmbeddedImages {
  readonly chunks = new Map<string, { at: number; storedLength: number; rawLength: number }>();
  constructor(private readonly source: RecordingSource) {}

  get(name: string): Uint8Array | undefined {
    const c = this.chunks.get(name);
    if (!c) return undefined;
    let raw: Uint8Array;
    try {
      raw = readChunkAt(this.source, c.at, CHUNK_IMAGE, c.storedLength, c.rawLength);
    } catch (e) {
      throw new RecordingFormatError(
        `the embedded image '${name}' cannot be read: ${(e as Error).message}`,
      );
    }
    const r = new ByteReader(raw);
    r.bytes(r.varint());
    return raw.subarray(r.pos);
  }
}

/** Header fields read from the start of a file. */
function readHeader(source: RecordingSource): {
  header: RecordingHeader;
  version: number;
  end: number;
} {
  const start = source.read(0, MAGIC.length + 8);
  if (start.length < MAGIC.length + 8 || !MAGIC.every((b, i) => start[i] === b))
    throw new RecordingFormatError('not a vmrs recording (bad magic)');
  const dv = new DataView(start.buffer, start.byteOffset, start.byteLength);
  const version = dv.getUint32(MAGIC.length, true);
  if (version < OLDEST_READABLE_VERSION || version > FORMAT_VERSION)
    throw new RecordingFormatError(
      `recording format version ${version} is not supported (this vmrs reads versions ` +
        `${OLDEST_READABLE_VERSION} to ${FORMAT_VERSION}${version > FORMAT_VERSION ? '; the file was written by a newer vmrs' : ''})`,
    );
  const jlen = dv.getUint32(MAGIC.length + 4, true);
  const at = MAGIC.length + 8;
  if (jlen + 4 > source.size - at) throw new RecordingFormatError('truncated header');
  const json = source.read(at, jlen);
  const sumBytes = source.read(at + jlen, 4);
  const sum = new DataView(sumBytes.buffer, sumBytes.byteOffset, 4).getUint32(0, true);
  if (sum !== crc32(json)) throw new RecordingFormatError('corrupt header (checksum mismatch)');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(json));
  } catch {
    throw new RecordingFormatError('corrupt header (bad JSON)');
  }
  checkHeader(header);
  return { header, version, end: at + jlen + 4 };
}

/** What a reader found in a file's chunks (by its index or by a scan). */
interface Found {
  events: EventChunk[];
  checkpoints: CheckpointInfo[];
  images: LazyImages;
  notes: RecordingNote[];
  chunks: number;
  validBytes: number;
  damage?: string;
  cutShort?: boolean;
}

/** Through the footer and index, if the file has them whole (else undefined: scan). */
function readThroughIndex(source: RecordingSource, version: number): Found | undefined {
  if (version < 3 || source.size < FOOTER_BYTES) return undefined;
  const at = findIndex(source.read(source.size - FOOTER_BYTES, FOOTER_BYTES));
  const end = source.size - FOOTER_BYTES;
  if (at === undefined || at + CHUNK_HEADER > end) return undefined;
  const head = new ByteReader(source.read(at, CHUNK_HEADER));
  if (!CHUNK_MAGIC.every((b) => head.u8() === b) || head.u8() !== CHUNK_INDEX) return undefined;
  const rawLen = head.u32();
  const storedLen = head.u32();
  if (at + CHUNK_HEADER + storedLen !== end || rawLen > storedLen * MAX_DEFLATE_RATIO + 64)
    return undefined;
  let ix;
  try {
    ix = decodeIndex(readChunkAt(source, at + CHUNK_HEADER, CHUNK_INDEX, storedLen, rawLen), at);
  } catch {
    return undefined;
  }
  if (!ix) return undefined;
  const images = new LazyImages(source);
  for (const c of ix.images) images.chunks.set(c.name, c);
  return {
    events: ix.events,
    checkpoints: ix.checkpoints,
    images,
    notes: ix.notes.slice(0, MAX_NOTES),
    chunks: ix.chunks,
    validBytes: at,
  };
}

/** Every chunk from `from` on, checked, until the end or the first damage. */
function scan(source: RecordingSource, version: number, from: number): Found {
  const events: EventChunk[] = [];
  const checkpoints: CheckpointInfo[] = [];
  const images = new LazyImages(source);
  const notes: RecordingNote[] = [];
  let chunks = 0;
  let icount = 0;
  let count = 0;
  let digests = 0;
  let damage: string | undefined;
  let cutShort = false;
  let pos = from;
  let validBytes = pos;
  while (pos < source.size) {
    const at = pos;
    const left = source.size - pos;
    if (
      version >= 3 &&
      left === FOOTER_BYTES &&
      findIndex(source.read(pos, FOOTER_BYTES)) !== undefined
    )
      break; // the footer of an index that could not be used
    if (left < CHUNK_HEADER) {
      damage = `truncated chunk header at byte ${at}`;
      cutShort = true;
      break;
    }
    const r = new ByteReader(source.read(pos, CHUNK_HEADER));
    if (!CHUNK_MAGIC.every((b) => r.u8() === b)) {
      damage = `no chunk marker at byte ${at}`;
      break;
    }
    const kind = r.u8();
    const rawLen = r.u32();
    const storedLen = r.u32();
    const sum = r.u32();
    pos += CHUNK_HEADER;
    if (storedLen > source.size - pos) {
      damage = `chunk ${chunks} at byte ${at} is truncated (${source.size - pos} of ${storedLen} bytes)`;
      cutShort = true;
      break;
    }
    const limit =
      kind === CHUNK_EVENTS
        ? MAX_EVENT_CHUNK
        : kind === CHUNK_CHECKPOINT
          ? MAX_CHECKPOINT
          : MAX_CHUNK;
    if (rawLen > limit || storedLen > limit || rawLen > storedLen * MAX_DEFLATE_RATIO + 64) {
      damage = `chunk ${chunks} at byte ${at} has an impossible length`;
      break;
    }
    const storedAt = pos;
    const stored = source.read(pos, storedLen);
    pos += storedLen;
    if (crc32(stored) !== sum) {
      damage = `chunk ${chunks} at byte ${at} is corrupt (checksum mismatch)`;
      break;
    }
    try {
      if (kind === CHUNK_EVENTS) {
        const raw = inflateExact(stored, rawLen);
        const d = new EventDecoder(raw);
        const first = count;
        const before = icount;
        let ic = icount;
        let pulls = 0;
        let ds = 0;
        while (!d.done) {
          const type = d.skip();
          ic += d.delta;
          if (!Number.isSafeInteger(ic)) throw new RangeError('an icount beyond 2^53');
          if (isPull(type)) pulls++;
          if (type === EventType.Digest) ds++;
          count++;
        }
        if (count > first)
          events.push({
            at: storedAt,
            storedLength: storedLen,
            rawLength: rawLen,
            firstIndex: first,
            count: count - first,
            icountBefore: before,
            lastIcount: ic,
            pulls,
          });
        icount = ic;
        digests += ds;
      } else if (kind === CHUNK_NOTE && version >= 2) {
        const n = readNote(stored, rawLen);
        if (notes.length < MAX_NOTES) notes.push(n);
      } else if (kind === CHUNK_IMAGE) {
        images.chunks.set(scanImageChunk(stored, rawLen), {
          at: storedAt,
          storedLength: storedLen,
          rawLength: rawLen,
        });
      } else if (kind === CHUNK_CHECKPOINT && version >= 3) {
        const h = readHead(inflateHead(stored, rawLen, MAX_HEAD + 4));
        if (
          h.seq !== checkpoints.length ||
          h.eventIndex !== count ||
          h.digests !== digests ||
          h.icount < icount
        )
          throw new RecordingFormatError('a checkpoint out of its place');
        checkpoints.push({ ...h, at: storedAt, storedLength: storedLen, rawLength: rawLen });
      } else if (kind === CHUNK_INDEX && version >= 3) {
        // An index the reader could not use (or one before more chunks): the scan stands in for it.
      } else {
        damage = `chunk ${chunks} at byte ${at} has unknown kind ${kind}`;
        break;
      }
    } catch (e) {
      const why = (e as Error).message;
      damage =
        why === 'does not decompress' || why.startsWith('decompresses to')
          ? `chunk ${chunks} at byte ${at} ${why}`
          : `chunk ${chunks} at byte ${at} is malformed: ${why}`;
      // Events of a chunk that failed half-way are not counted.
      break;
    }
    chunks++;
    validBytes = pos;
  }
  return { events, checkpoints, images, notes, chunks, validBytes, damage, cutShort };
}

/**
 * Read a recording: its header (checked), and a list of its whole chunks,
 * from its index when it has a sound one, else by a scan. Events, images
 * and checkpoints are not decoded here: events come through cursors
 * (ParsedRecording.events), the rest when asked for, each chunk checked as
 * it is read. Damage found by a scan ends the list at the last whole chunk
 * and is reported in `damage`; damage found later, in `events.damage`.
 */
export function readRecording(file: Uint8Array | RecordingSource): ParsedRecording {
  const source = file instanceof Uint8Array ? new BytesSource(file) : file;
  const { header, version, end } = readHeader(source);
  const indexed = readThroughIndex(source, version);
  const f = indexed ?? scan(source, version, end);
  // A checkpoint at the icount of the last event has nothing after it to replay, and one taken
  // after the guest ended (format-3 files may hold one) is of a machine whose exit is past:
  // not offered. Only a tail of the list goes, so a checkpoint's number stays its place in it.
  const lastIcount = f.events.length ? f.events[f.events.length - 1].lastIcount : 0;
  const checkpoints = f.checkpoints.filter((c) => c.icount < lastIcount);
  return {
    header,
    version,
    source,
    events: new EventLog(source, f.events),
    images: f.images,
    checkpoints,
    notes: f.notes,
    chunks: f.chunks,
    indexed: indexed !== undefined,
    validBytes: f.validBytes,
    damage: f.damage,
    cutShort: !!f.cutShort,
  };
}

/** Every event of a recording in one array: for tests and tools on recordings known to be small. */
export function allEvents(rec: ParsedRecording): RecordedEvent[] {
  const out: RecordedEvent[] = [];
  for (const c = rec.events.cursor(); c.peek(); c.advance()) out.push(c.peek()!);
  return out;
}
