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
 *
 * The header's JSON holds the machine configuration, image names and
 * digests, the RTC start and the digest interval (RecordingHeader). A
 * recording whose writer died ends at its last whole chunk; readers report
 * where and why they stopped instead of guessing past damage.
 */
import { Inflate, deflateSync, inflateSync } from 'fflate';
import { crc32 } from './crc32.js';
import { isPull, type RecordedEvent } from './events.js';
import { EventDecoder, EventLog, type EventChunk } from './event-log.js';
import { descriptionProblems, imageRefProblems, isUint, sayProblems } from './header-check.js';
import { GrowableBytes } from '../util/growable-bytes.js';

/**
 * The version this vmrs writes. Version 2 adds event types (version-1 files
 * never hold them) and changes what a digest event carries; readers take
 * every version from OLDEST_READABLE_VERSION up, and ParsedRecording says
 * which one a file is, so its digests are read in that version's layout.
 */
export const FORMAT_VERSION = 2;
export const OLDEST_READABLE_VERSION = 1;
const MAGIC = Uint8Array.from([0x56, 0x4d, 0x52, 0x53, 0x52, 0x45, 0x43, 0x00]); // "VMRSREC\0"
const CHUNK_MAGIC = Uint8Array.from([0x43, 0x48, 0x4e, 0x4b]); // "CHNK"
const CHUNK_HEADER = 4 + 1 + 4 + 4 + 4;
export const CHUNK_EVENTS = 1;
export const CHUNK_IMAGE = 2;
export const CHUNK_NOTE = 3;
/** Notes kept by a reader (a file could hold any number); text of a note at most this long. */
const MAX_NOTES = 32;
const MAX_NOTE_TEXT = 4096;
/** Largest chunk we accept: bounds memory on a corrupt length field. */
const MAX_CHUNK = 256 << 20;

export class RecordingFormatError extends Error {}

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

function frameChunk(kind: number, raw: Uint8Array): Uint8Array {
  const stored = deflateSync(raw, { level: 6 });
  const w = new ByteWriter();
  w.bytes(CHUNK_MAGIC);
  w.u8(kind);
  w.u32(raw.length);
  w.u32(stored.length);
  w.u32(crc32(stored));
  w.bytes(stored);
  return w.take();
}

/** Encodes events into chunks; icounts are delta-coded across the whole file. */
export class EventChunkEncoder {
  private readonly w = new ByteWriter();
  private lastIcount = 0;
  count = 0;

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
  }

  /** Bytes of events waiting (uncompressed). */
  get pending(): number {
    return this.w.len;
  }

  /** The waiting events as one framed, compressed chunk (empty array when none). */
  flush(): Uint8Array {
    if (this.w.len === 0) return new Uint8Array(0);
    this.count = 0;
    return frameChunk(CHUNK_EVENTS, this.w.take());
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
  /** The events, decoded as a cursor reaches them (event-log.ts). */
  events: EventLog;
  images: EmbeddedImages;
  /** The recorder's notes (the first MAX_NOTES of them). */
  notes: RecordingNote[];
  chunks: number;
  /** Bytes of the file that were read as whole, valid chunks. */
  validBytes: number;
  /** Why reading stopped before the end of the file, if it did. */
  damage?: string;
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
 * An image chunk's name, the chunk checked by inflating it whole in small
 * pieces: its size is the one claimed, and nothing but the name is kept.
 */
function scanImageChunk(stored: Uint8Array, rawLen: number): string {
  const headMax = MAX_IMAGE_NAME + 8;
  const head = new Uint8Array(Math.min(headMax, rawLen));
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
  const hr = new ByteReader(head);
  const nameLen = hr.varint();
  if (nameLen > MAX_IMAGE_NAME) throw new RecordingFormatError('its image name is too long');
  return new TextDecoder().decode(hr.bytes(nameLen));
}

function readNote(stored: Uint8Array, rawLen: number): RecordingNote {
  if (rawLen > MAX_NOTE_TEXT * 8) throw new RecordingFormatError('a note too long');
  let raw: Uint8Array;
  try {
    raw = inflateSync(stored, { out: new Uint8Array(rawLen + 1) });
  } catch {
    throw new RecordingFormatError('does not decompress');
  }
  if (raw.length !== rawLen) throw new RecordingFormatError('a note of another length');
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

/** The image chunks of a file by name (the last of a name wins), inflated on demand. */
class LazyImages implements EmbeddedImages {
  readonly chunks = new Map<string, { at: number; storedLength: number; rawLength: number }>();
  constructor(private readonly file: Uint8Array) {}

  get(name: string): Uint8Array | undefined {
    const c = this.chunks.get(name);
    if (!c) return undefined;
    let raw: Uint8Array;
    try {
      raw = inflateSync(this.file.subarray(c.at, c.at + c.storedLength), {
        out: new Uint8Array(c.rawLength),
      });
    } catch {
      throw new RecordingFormatError(`the embedded image '${name}' does not decompress`);
    }
    const r = new ByteReader(raw);
    r.bytes(r.varint());
    return raw.subarray(r.pos);
  }
}

/**
 * Read a recording: its header (checked), and a list of its whole chunks.
 * Events and images are not decoded here beyond checking them: the events
 * come through cursors (ParsedRecording.events), images when asked for.
 * Damage ends the list at the last whole chunk and is reported in `damage`.
 */
export function readRecording(file: Uint8Array): ParsedRecording {
  const r = new ByteReader(file);
  if (file.length < MAGIC.length + 8 || !MAGIC.every((b, i) => file[i] === b))
    throw new RecordingFormatError('not a vmrs recording (bad magic)');
  r.pos = MAGIC.length;
  const version = r.u32();
  if (version < OLDEST_READABLE_VERSION || version > FORMAT_VERSION)
    throw new RecordingFormatError(
      `recording format version ${version} is not supported (this vmrs reads versions ` +
        `${OLDEST_READABLE_VERSION} to ${FORMAT_VERSION}${version > FORMAT_VERSION ? '; the file was written by a newer vmrs' : ''})`,
    );
  const jlen = r.u32();
  if (jlen > r.left) throw new RecordingFormatError('truncated header');
  const json = r.bytes(jlen);
  if (r.left < 4 || r.u32() !== crc32(json))
    throw new RecordingFormatError('corrupt header (checksum mismatch)');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(json));
  } catch {
    throw new RecordingFormatError('corrupt header (bad JSON)');
  }
  checkHeader(header);
  const eventChunks: EventChunk[] = [];
  const images = new LazyImages(file);
  const notes: RecordingNote[] = [];
  let chunks = 0;
  let icount = 0;
  let count = 0;
  let damage: string | undefined;
  let validBytes = r.pos;
  while (r.left > 0) {
    const at = r.pos;
    if (r.left < CHUNK_HEADER) {
      damage = `truncated chunk header at byte ${at}`;
      break;
    }
    const m = r.bytes(4);
    if (!CHUNK_MAGIC.every((b, i) => m[i] === b)) {
      damage = `no chunk marker at byte ${at}`;
      break;
    }
    const kind = r.u8();
    const rawLen = r.u32();
    const storedLen = r.u32();
    const sum = r.u32();
    if (storedLen > r.left) {
      damage = `chunk ${chunks} at byte ${at} is truncated (${r.left} of ${storedLen} bytes)`;
      break;
    }
    const limit = kind === CHUNK_EVENTS ? MAX_EVENT_CHUNK : MAX_CHUNK;
    if (rawLen > limit || storedLen > MAX_CHUNK || rawLen > storedLen * MAX_DEFLATE_RATIO + 64) {
      damage = `chunk ${chunks} at byte ${at} has an impossible length`;
      break;
    }
    const storedAt = r.pos;
    const stored = r.bytes(storedLen);
    if (crc32(stored) !== sum) {
      damage = `chunk ${chunks} at byte ${at} is corrupt (checksum mismatch)`;
      break;
    }
    try {
      if (kind === CHUNK_EVENTS) {
        let raw: Uint8Array;
        try {
          // One byte of room more than claimed: a stream that is longer shows as such.
          raw = inflateSync(stored, { out: new Uint8Array(rawLen + 1) });
        } catch {
          throw new RecordingFormatError('does not decompress');
        }
        if (raw.length !== rawLen)
          throw new RecordingFormatError(
            raw.length > rawLen
              ? `decompresses to more than ${rawLen} bytes`
              : `decompresses to ${raw.length} bytes, not ${rawLen}`,
          );
        const d = new EventDecoder(raw);
        const first = count;
        const before = icount;
        let ic = icount;
        let pulls = 0;
        while (!d.done) {
          const type = d.skip();
          ic += d.delta;
          if (!Number.isSafeInteger(ic)) throw new RangeError('an icount beyond 2^53');
          if (isPull(type)) pulls++;
          count++;
        }
        if (count > first)
          eventChunks.push({
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
      } else if (kind === CHUNK_NOTE && version >= 2) {
        const n = readNote(stored, rawLen);
        if (notes.length < MAX_NOTES) notes.push(n);
      } else if (kind === CHUNK_IMAGE) {
        images.chunks.set(scanImageChunk(stored, rawLen), {
          at: storedAt,
          storedLength: storedLen,
          rawLength: rawLen,
        });
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
    validBytes = r.pos;
  }
  return {
    header,
    version,
    events: new EventLog(file, eventChunks),
    images,
    notes,
    chunks,
    validBytes,
    damage,
  };
}

/** Every event of a recording in one array: for tests and tools on recordings known to be small. */
export function allEvents(rec: ParsedRecording): RecordedEvent[] {
  const out: RecordedEvent[] = [];
  for (const c = rec.events.cursor(); c.peek(); c.advance()) out.push(c.peek()!);
  return out;
}
