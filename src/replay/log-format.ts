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
 *
 * The header's JSON holds the machine configuration, image names and
 * digests, the RTC start and the digest interval (RecordingHeader). A
 * recording whose writer died ends at its last whole chunk; readers report
 * where and why they stopped instead of guessing past damage.
 */
import { deflateSync, inflateSync } from 'fflate';
import { crc32 } from './crc32.js';
import type { EventType, RecordedEvent } from './events.js';

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

class ByteWriter {
  buf = new Uint8Array(1 << 16);
  len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v;
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
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  take(): Uint8Array {
    const out = this.buf.slice(0, this.len);
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

// --- reading

export interface ParsedRecording {
  header: RecordingHeader;
  /** The file's format version (from its first bytes; the header's JSON says the same). */
  version: number;
  events: RecordedEvent[];
  images: Map<string, Uint8Array>;
  chunks: number;
  /** Bytes of the file that were read as whole, valid chunks. */
  validBytes: number;
  /** Why reading stopped before the end of the file, if it did. */
  damage?: string;
}

/** The fields a reader relies on are there and of the right kind. */
function checkHeader(h: unknown): asserts h is RecordingHeader {
  const o = h as Partial<RecordingHeader> | null;
  const missing: string[] = [];
  if (typeof o !== 'object' || o === null)
    throw new RecordingFormatError('corrupt header (not an object)');
  const m = o.machine;
  if (typeof m !== 'object' || m === null) missing.push('machine');
  else
    for (const k of ['memoryBytes', 'insnsPerTick', 'rtcStartUnixNs'] as const)
      if (typeof m[k] !== 'number') missing.push(`machine.${k}`);
  if (typeof o.kernel !== 'object' || o.kernel === null) missing.push('kernel');
  if (o.bios !== 'none' && (typeof o.bios !== 'object' || o.bios === null)) missing.push('bios');
  if (!Array.isArray(o.devices)) missing.push('devices');
  if (typeof o.digestInterval !== 'number') missing.push('digestInterval');
  if (missing.length)
    throw new RecordingFormatError(`corrupt header: the header is missing ${missing.join(', ')}`);
}

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
  let header: RecordingHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(json)) as RecordingHeader;
  } catch {
    throw new RecordingFormatError('corrupt header (bad JSON)');
  }
  checkHeader(header);
  const events: RecordedEvent[] = [];
  const images = new Map<string, Uint8Array>();
  let chunks = 0;
  let icount = 0;
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
    if (rawLen > MAX_CHUNK || storedLen > MAX_CHUNK) {
      damage = `chunk ${chunks} at byte ${at} has an impossible length`;
      break;
    }
    const stored = r.bytes(storedLen);
    if (crc32(stored) !== sum) {
      damage = `chunk ${chunks} at byte ${at} is corrupt (checksum mismatch)`;
      break;
    }
    let raw: Uint8Array;
    try {
      raw = inflateSync(stored, { out: new Uint8Array(rawLen) });
    } catch {
      damage = `chunk ${chunks} at byte ${at} does not decompress`;
      break;
    }
    if (raw.length !== rawLen) {
      damage = `chunk ${chunks} at byte ${at} decompresses to ${raw.length} bytes, not ${rawLen}`;
      break;
    }
    try {
      if (kind === CHUNK_EVENTS) {
        const er = new ByteReader(raw);
        const batch: RecordedEvent[] = [];
        let ic = icount;
        while (er.left > 0) {
          const type = er.u8() as EventType;
          ic += er.varint();
          const arg = er.varint();
          const value = er.varint();
          const data = er.bytes(er.varint());
          batch.push({ type, icount: ic, arg, value, data });
        }
        icount = ic;
        for (const e of batch) events.push(e);
      } else if (kind === CHUNK_IMAGE) {
        const ir = new ByteReader(raw);
        const name = new TextDecoder().decode(ir.bytes(ir.varint()));
        images.set(name, ir.bytes(ir.left));
      } else {
        damage = `chunk ${chunks} at byte ${at} has unknown kind ${kind}`;
        break;
      }
    } catch (e) {
      damage = `chunk ${chunks} at byte ${at} is malformed: ${(e as Error).message}`;
      break;
    }
    chunks++;
    validBytes = r.pos;
  }
  return { header, version, events, images, chunks, validBytes, damage };
}
