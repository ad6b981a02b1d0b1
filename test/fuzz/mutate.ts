/**
 * Mutations of real files and packets, as fast-check arbitraries: a case is
 * a seed and a short list of edits, so fast-check seeds, replays and
 * shrinks it. Edits are AFL-like on bytes (bit flips, interesting numbers,
 * inserts, deletes, copies, truncation) and aware of structure where a
 * checksum would otherwise stop every edit at the door: a recording's
 * chunks and a snapshot's memory are edited decompressed and framed again
 * with good checksums, header JSON is edited field by field.
 */
import fc from 'fast-check';
import { deflateSync, inflateSync } from 'fflate';
import { crc32 } from '../../src/replay/crc32.js';

// --- bytes

export type ByteEdit =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'u32'; at: number; value: number }
  | { op: 'u64'; at: number; value: bigint }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; len: number }
  | { op: 'copy'; from: number; to: number; len: number }
  | { op: 'repeat'; at: number; len: number; times: number }
  | { op: 'truncate'; at: number };

const INTERESTING_32 = [
  0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe,
  0xffffffff, 24, 56, 64, 4096, 0x1000000,
];
const INTERESTING_64 = [
  0n,
  1n,
  0x80000000n,
  0x7fffffffffffffffn,
  0x8000000000000000n,
  0xffffffffffffffffn,
  0xfffffffffffff000n,
  1n << 53n,
  (1n << 53n) + 1n,
  0x100000000n,
];

export const byteEdit: fc.Arbitrary<ByteEdit> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('flip' as const),
      at: fc.nat(),
      bit: fc.integer({ min: 0, max: 7 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('set' as const),
      at: fc.nat(),
      value: fc.integer({ min: 0, max: 255 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('u32' as const),
      at: fc.nat(),
      value: fc.constantFrom(...INTERESTING_32),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('u64' as const),
      at: fc.nat(),
      value: fc.constantFrom(...INTERESTING_64),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('delete' as const),
      at: fc.nat(),
      len: fc.integer({ min: 1, max: 64 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('copy' as const),
      from: fc.nat(),
      to: fc.nat(),
      len: fc.integer({ min: 1, max: 256 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('repeat' as const),
      at: fc.nat(),
      len: fc.integer({ min: 1, max: 32 }),
      times: fc.integer({ min: 2, max: 200 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
);

/** `b` with the edit made (a new array; positions taken modulo the length). */
export function applyByteEdit(b: Uint8Array, e: ByteEdit): Uint8Array {
  const n = b.length;
  const pos = (x: number) => (n ? x % n : 0);
  switch (e.op) {
    case 'flip': {
      if (!n) return b;
      const out = b.slice();
      out[pos(e.at)] ^= 1 << e.bit;
      return out;
    }
    case 'set': {
      if (!n) return b;
      const out = b.slice();
      out[pos(e.at)] = e.value;
      return out;
    }
    case 'u32': {
      if (n < 4) return b;
      const out = b.slice();
      new DataView(out.buffer).setUint32(pos(e.at) % (n - 3), e.value, true);
      return out;
    }
    case 'u64': {
      if (n < 8) return b;
      const out = b.slice();
      new DataView(out.buffer).setBigUint64(pos(e.at) % (n - 7), e.value, true);
      return out;
    }
    case 'insert': {
      const at = n ? e.at % (n + 1) : 0;
      return concat([b.subarray(0, at), e.bytes, b.subarray(at)]);
    }
    case 'delete': {
      const at = pos(e.at);
      return concat([b.subarray(0, at), b.subarray(at + e.len)]);
    }
    case 'copy': {
      if (!n) return b;
      const from = pos(e.from);
      const part = b.slice(from, from + e.len);
      const out = b.slice();
      out.set(part.subarray(0, n - pos(e.to)), pos(e.to));
      return out;
    }
    case 'repeat': {
      if (!n) return b;
      const at = pos(e.at);
      const part = b.subarray(at, at + e.len);
      return concat([
        b.subarray(0, at),
        ...new Array<Uint8Array>(e.times).fill(part),
        b.subarray(at),
      ]);
    }
    case 'truncate':
      return b.subarray(0, pos(e.at));
  }
}

export function concat(parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// --- JSON

export type JsonEdit =
  | { op: 'value'; path: number; value: unknown }
  | { op: 'drop'; path: number }
  | { op: 'copy'; from: number; to: number };

const INTERESTING_VALUES: unknown[] = [
  0,
  -1,
  1,
  0.5,
  255,
  4096,
  2 ** 31,
  2 ** 32,
  2 ** 32 + 4096,
  2 ** 53,
  2 ** 53 + 2,
  1e300,
  -1e300,
  '',
  'x'.repeat(5000),
  '/dev/zero',
  'none',
  null,
  true,
  false,
  [],
  {},
  [1, 2, 3],
  { $bigint: '-1' },
  { $bigint: '99999999999999999999999999' },
  { $typed: 'Uint8Array', b64: '' },
  { $typed: 'Uint32Array', b64: 'AAAA' },
  { $typed: 'Float64Array', b64: 'AAAAAAAAAAA=' },
];

export const jsonEdit: fc.Arbitrary<JsonEdit> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('value' as const),
      path: fc.nat(),
      value: fc.oneof(
        fc.constantFrom(...INTERESTING_VALUES),
        fc.integer(),
        fc.double(),
        fc.string({ maxLength: 8 }),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('drop' as const), path: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('copy' as const), from: fc.nat(), to: fc.nat() }),
  },
);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every place in a JSON value (containers and leaves), as parent and key. */
function places(v: Json): { parent: Json[] | { [k: string]: Json }; key: string | number }[] {
  const out: { parent: Json[] | { [k: string]: Json }; key: string | number }[] = [];
  const walk = (x: Json) => {
    if (Array.isArray(x))
      x.forEach((c, i) => {
        out.push({ parent: x, key: i });
        walk(c);
      });
    else if (x && typeof x === 'object')
      for (const k of Object.keys(x)) {
        out.push({ parent: x, key: k });
        walk(x[k]);
      }
  };
  walk(v);
  return out;
}

/** The JSON text with the edits made (JSON that no longer parses is left as it is). */
export function applyJsonEdits(text: string, edits: JsonEdit[]): string {
  let v: Json;
  try {
    v = JSON.parse(text) as Json;
  } catch {
    return text;
  }
  for (const e of edits) {
    const ps = places(v);
    if (!ps.length) break;
    if (e.op === 'value') {
      const p = ps[e.path % ps.length];
      (p.parent as Record<string | number, Json>)[p.key] = structuredClone(e.value) as Json;
    } else if (e.op === 'drop') {
      const p = ps[e.path % ps.length];
      if (Array.isArray(p.parent)) p.parent.splice(p.key as number, 1);
      else delete p.parent[p.key as string];
    } else {
      const from = ps[e.from % ps.length];
      const to = ps[e.to % ps.length];
      const val = (from.parent as Record<string | number, Json>)[from.key];
      (to.parent as Record<string | number, Json>)[to.key] = structuredClone(val);
    }
  }
  return JSON.stringify(v);
}

// --- recordings

interface RecordingParts {
  head: Uint8Array; // magic + version
  json: string;
  chunks: { kind: number; raw: Uint8Array }[];
}

function splitRecording(file: Uint8Array): RecordingParts {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const jlen = dv.getUint32(12, true);
  const json = new TextDecoder().decode(file.subarray(16, 16 + jlen));
  const chunks: { kind: number; raw: Uint8Array }[] = [];
  let at = 16 + jlen + 4;
  while (at + 17 <= file.length) {
    const kind = file[at + 4];
    const rawLen = dv.getUint32(at + 5, true);
    const storedLen = dv.getUint32(at + 9, true);
    const raw = inflateSync(file.subarray(at + 17, at + 17 + storedLen), {
      out: new Uint8Array(rawLen),
    });
    chunks.push({ kind, raw });
    at += 17 + storedLen;
  }
  return { head: file.slice(0, 12), json, chunks };
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

/** Chunks framed before, by their raw bytes (a seed's chunks are framed once, not per case). */
const framed = new WeakMap<Uint8Array, Uint8Array>();

function frameChunk(kind: number, raw: Uint8Array): Uint8Array {
  const stored = deflateSync(raw, { level: 1 });
  return concat([
    Uint8Array.of(0x43, 0x48, 0x4e, 0x4b, kind),
    u32(raw.length),
    u32(stored.length),
    u32(crc32(stored)),
    stored,
  ]);
}

/** The seed split once; each case gets a copy of the list (raw bytes shared until edited). */
const splitSeeds = new WeakMap<Uint8Array, RecordingParts>();

function splitSeed(file: Uint8Array): RecordingParts {
  let p = splitSeeds.get(file);
  if (!p) {
    p = splitRecording(file);
    splitSeeds.set(file, p);
  }
  return { head: p.head, json: p.json, chunks: p.chunks.map((c) => ({ ...c })) };
}

function joinRecording(p: RecordingParts): Uint8Array {
  const json = new TextEncoder().encode(p.json);
  const parts = [p.head, u32(json.length), json, u32(crc32(json))];
  for (const c of p.chunks) {
    const known = framed.get(c.raw);
    if (known && known[4] === c.kind) {
      parts.push(known);
      continue;
    }
    const f = frameChunk(c.kind, c.raw);
    framed.set(c.raw, f);
    parts.push(f);
  }
  return concat(parts);
}

export interface FileCase {
  seed: number;
  json: JsonEdit[];
  /** Edits of decompressed parts: [part number, edit]. */
  inner: [number, ByteEdit][];
  /** Parts dropped, duplicated or moved: [op, part, to]. */
  shuffle: ['drop' | 'dup' | 'move', number, number][];
  /** Edits of the final bytes (checksums then fail; the reader must still say so cleanly). */
  outer: ByteEdit[];
}

export const fileCase = (seeds: number): fc.Arbitrary<FileCase> =>
  fc.record({
    seed: fc.nat({ max: seeds - 1 }),
    json: fc.oneof(
      { weight: 4, arbitrary: fc.constant([] as JsonEdit[]) },
      { weight: 1, arbitrary: fc.array(jsonEdit, { minLength: 1, maxLength: 3 }) },
    ),
    inner: fc.array(fc.tuple(fc.nat(), byteEdit), { maxLength: 4 }),
    shuffle: fc.array(
      fc.tuple(
        fc.constantFrom('drop' as const, 'dup' as const, 'move' as const),
        fc.nat(),
        fc.nat(),
      ),
      { maxLength: 1 },
    ),
    outer: fc.oneof(
      { weight: 6, arbitrary: fc.constant([] as ByteEdit[]) },
      { weight: 1, arbitrary: fc.array(byteEdit, { minLength: 1, maxLength: 4 }) },
    ),
  });

/** A recording with a case's edits. */
export function mutateRecording(seed: Uint8Array, c: FileCase): Uint8Array {
  const p = splitSeed(seed);
  p.json = applyJsonEdits(p.json, c.json);
  for (const [k, e] of c.inner) {
    if (!p.chunks.length) break;
    const ch = p.chunks[k % p.chunks.length];
    ch.raw = applyByteEdit(ch.raw, e);
  }
  for (const [op, a, b] of c.shuffle) {
    if (!p.chunks.length) break;
    const i = a % p.chunks.length;
    if (op === 'drop') p.chunks.splice(i, 1);
    else if (op === 'dup') p.chunks.splice(b % (p.chunks.length + 1), 0, { ...p.chunks[i] });
    else p.chunks.splice(b % p.chunks.length, 0, ...p.chunks.splice(i, 1));
  }
  let out = joinRecording(p);
  for (const e of c.outer) out = applyByteEdit(out, e);
  return out;
}

// --- snapshots

/** A snapshot with a case's edits: its JSON (header and machine state) and its memory. */
export function mutateSnapshot(seed: Uint8Array, c: FileCase): Uint8Array {
  const dv = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
  const jlen = dv.getUint32(12, true);
  let json = new TextDecoder().decode(seed.subarray(16, 16 + jlen));
  json = applyJsonEdits(json, c.json);
  let o = 16 + jlen + 4;
  const rawLen = dv.getUint32(o, true);
  const storedLen = dv.getUint32(o + 4, true);
  o += 12;
  let raw: Uint8Array = inflateSync(seed.subarray(o, o + storedLen), {
    out: new Uint8Array(rawLen),
  });
  // RAM is a bitmap and the pages it lists: edits that change the length break that
  // pairing, which the reader checks first; most edits keep the length, to reach restore.
  for (const [k, e] of c.inner)
    if (k % 4 === 0 || !['insert', 'delete', 'repeat', 'truncate'].includes(e.op))
      raw = applyByteEdit(raw, e);
  const j = new TextEncoder().encode(json);
  const stored = deflateSync(raw, { level: 1 });
  let out = concat([
    seed.subarray(0, 12),
    u32(j.length),
    j,
    u32(crc32(j)),
    u32(raw.length),
    u32(stored.length),
    u32(crc32(stored)),
    stored,
  ]);
  for (const e of c.outer) out = applyByteEdit(out, e);
  return out;
}

// --- ELF

export interface ElfCase {
  seed: number;
  /** Edits aimed at the ELF header and the program and section header tables. */
  headers: ByteEdit[];
  anywhere: ByteEdit[];
}

/** Seeds by weight: the last (a kernel of megabytes, when there) is mutated less often, being slower. */
export const elfCase = (seeds: number): fc.Arbitrary<ElfCase> =>
  fc.record({
    seed: fc.oneof(
      { weight: 4 * Math.max(1, seeds - 1), arbitrary: fc.nat({ max: Math.max(0, seeds - 2) }) },
      { weight: 1, arbitrary: fc.constant(seeds - 1) },
    ),
    headers: fc.array(byteEdit, { minLength: 1, maxLength: 6 }),
    anywhere: fc.array(byteEdit, { maxLength: 2 }),
  });

/** The structural parts of an ELF: [offset, length] of its header, program and section header tables. */
function elfTables(b: Uint8Array): [number, number][] {
  const out: [number, number][] = [[0, 64]];
  if (b.length < 64) return out;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const phoff = Number(dv.getBigUint64(32, true));
  const shoff = Number(dv.getBigUint64(40, true));
  const ph = dv.getUint16(56, true) * 56;
  const sh = dv.getUint16(60, true) * 64;
  if (phoff + ph <= b.length && ph) out.push([phoff, ph]);
  if (shoff + sh <= b.length && sh) out.push([shoff, sh]);
  return out;
}

/** An ELF with a case's edits; header edits land in its header tables (of the seed). */
export function mutateElf(seed: Uint8Array, c: ElfCase): Uint8Array {
  const tables = elfTables(seed);
  let out: Uint8Array = seed.slice();
  for (const e of c.headers) {
    const [start, len] = tables[('at' in e ? e.at : 0) % tables.length];
    // Aim the edit into one table: same kind of edit, offset within the table.
    const inTable = (x: number) => start + (x % len);
    const aimed: ByteEdit =
      e.op === 'copy' ? { ...e, to: inTable(e.to) } : 'at' in e ? { ...e, at: inTable(e.at) } : e;
    out = applyByteEdit(out, aimed);
  }
  for (const e of c.anywhere) out = applyByteEdit(out, e);
  return out;
}

// --- GDB packets

export type PacketEdit =
  | { op: 'char'; at: number; ch: number }
  | { op: 'number'; at: number; value: string }
  | { op: 'cut'; at: number }
  | { op: 'grow'; at: number; text: string; times: number };

const NUMBERS = [
  '0',
  '1',
  'ffffffff',
  'ffffffffffffffff',
  '10000000000000000',
  '-1',
  '7fffffff',
  '100000',
  '80000000',
  'zz',
  '',
];

export const packetEdit: fc.Arbitrary<PacketEdit> = fc.oneof(
  fc.record({
    op: fc.constant('char' as const),
    at: fc.nat(),
    ch: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({
    op: fc.constant('number' as const),
    at: fc.nat(),
    value: fc.constantFrom(...NUMBERS),
  }),
  fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({
    op: fc.constant('grow' as const),
    at: fc.nat(),
    text: fc.constantFrom(',', ':', ';', '0', 'f', '}', '#', '$', '*', '\x03', 'Z2,', 'm'),
    times: fc.integer({ min: 1, max: 3000 }),
  }),
);

export interface PacketCase {
  /** Seed packets, each edited; sent in order. */
  packets: { seed: number; edits: PacketEdit[] }[];
  /** How they are framed: good, with bad checksums, or raw noise around them. */
  framing: 'good' | 'badsum' | 'noise';
  noise: Uint8Array;
}

export const packetCase = (seeds: number): fc.Arbitrary<PacketCase> =>
  fc.record({
    packets: fc.array(
      fc.record({
        seed: fc.nat({ max: seeds - 1 }),
        edits: fc.array(packetEdit, { maxLength: 3 }),
      }),
      { minLength: 1, maxLength: 8 },
    ),
    framing: fc.constantFrom(
      'good' as const,
      'good' as const,
      'good' as const,
      'badsum' as const,
      'noise' as const,
    ),
    noise: fc.uint8Array({ maxLength: 32 }),
  });

export function applyPacketEdit(p: string, e: PacketEdit): string {
  const at = p.length ? e.at % (p.length + 1) : 0;
  switch (e.op) {
    case 'char':
      return p.slice(0, at) + String.fromCharCode(e.ch) + p.slice(at + 1);
    case 'number': {
      // Replace the hex number at or after `at` (or append one).
      const m = /[0-9a-fA-F]+/g;
      m.lastIndex = at;
      const r = m.exec(p);
      return r ? p.slice(0, r.index) + e.value + p.slice(r.index + r[0].length) : p + e.value;
    }
    case 'cut':
      return p.slice(0, at);
    case 'grow':
      return p.slice(0, at) + e.text.repeat(e.times) + p.slice(at);
  }
}

function frame(body: string, badSum: boolean): string {
  const esc = body.replace(/[$#}*]/g, (c) => '}' + String.fromCharCode(c.charCodeAt(0) ^ 0x20));
  let sum = 0;
  for (let i = 0; i < esc.length; i++) sum = (sum + esc.charCodeAt(i)) & 0xff;
  if (badSum) sum ^= 0x5a;
  return `$${esc}#${sum.toString(16).padStart(2, '0')}`;
}

/** The bytes (latin1 text) a client would send for a case. */
export function packetStream(seeds: string[], c: PacketCase): string {
  let s = '';
  const noise = String.fromCharCode(...c.noise);
  for (const p of c.packets) {
    let body = seeds[p.seed % seeds.length];
    for (const e of p.edits) body = applyPacketEdit(body, e);
    if (c.framing === 'noise') s += noise;
    s += frame(body, c.framing === 'badsum');
  }
  return s;
}
