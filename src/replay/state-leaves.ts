/**
 * The machine's saved state (VirtMachine.saveState: hart, clock and every
 * device, not RAM) as a flat list of leaves, each a 64-bit value, for state
 * digests. Built from the same named fields a snapshot saves, so what a
 * digest checks and what a snapshot holds cannot drift apart: a field added
 * to a device's saveState is checked from then on.
 *
 * Leaves, in the order saveState lists its fields:
 *   - a number, boolean or bigint: its value (two's complement, 64 bits);
 *   - each element of a typed array (Float64Array: its bit pattern);
 *     arrays longer than MAX_ELEMENT_LEAVES go by runs of CHUNK elements;
 *   - a nested part (an object, or an array of objects): its leaves;
 *   - anything else (a string, null, an array of numbers or of byte
 *     arrays, e.g. requests in flight or input not yet taken): one hash.
 * The layout id hashes the shape (field names, array lengths and kinds), so
 * leaves are only compared between machines laid out alike: a field added
 * to a part's saved state changes it (see state-digest.ts for what a replay
 * of an older recording checks then).
 */
import type { State, StateValue, TypedArray } from '../snapshot/state.js';
import { hashString, mix } from './hash32.js';

export const LEAF_VALUE = 0;
export const LEAF_HASH = 1;

/** Typed arrays up to this length get one leaf per element (the hart's 4096 CSR slots do). */
const MAX_ELEMENT_LEAVES = 4096;
const CHUNK = 64;
/** High word of a hash leaf: a hash never reads as a small number. */
const HASH_HI = 0x6a09e667;
const TWO32 = 4294967296;

export interface Leaves {
  /** (lo, hi) per leaf. */
  values: Int32Array;
  kinds: Uint8Array;
  layoutId: number;
  /** With `named`: each leaf's path ("virtio[2].queues[0].lastAvail") and the value it came from. */
  paths?: string[];
  raw?: unknown[];
}

const f64 = new Float64Array(1);
const f64Words = new Int32Array(f64.buffer);

/** (lo, hi) of a number: exact for safe integers, else its float bits (and false). */
function numberWords(v: number): boolean {
  if (Number.isSafeInteger(v)) {
    f64Words[0] = v | 0;
    f64Words[1] = Math.floor(v / TWO32) | 0;
    return true;
  }
  f64[0] = v;
  return false;
}

/** Words of a typed array's elements: Float64Array by bit pattern, others by value. */
function typedWords(a: TypedArray): Int32Array {
  return a instanceof Float64Array
    ? new Int32Array(a.buffer, a.byteOffset, 2 * a.length)
    : Int32Array.from(a as ArrayLike<number>, (x) => x | 0);
}

function hashValue(v: unknown, h: number): number {
  if (v === null || v === undefined) return mix(h, 0x6e756c6c);
  switch (typeof v) {
    case 'number':
      numberWords(v);
      return mix(mix(mix(h, 1), f64Words[0]), f64Words[1]);
    case 'boolean':
      return mix(mix(h, 2), v ? 1 : 0);
    case 'bigint': {
      const u = BigInt.asUintN(64, v);
      return mix(mix(mix(h, 3), Number(u & 0xffffffffn) | 0), Number(u >> 32n) | 0);
    }
    case 'string':
      return hashString(v, mix(h, 4));
  }
  if (ArrayBuffer.isView(v)) {
    const a = v as TypedArray;
    h = hashString(a.constructor.name, mix(h, a.length));
    const w = typedWords(a);
    for (let i = 0; i < w.length; i++) h = mix(h, w[i]);
    return h;
  }
  if (Array.isArray(v)) {
    h = mix(mix(h, 5), v.length);
    for (const x of v) h = hashValue(x, h);
    return h;
  }
  const o = v as Record<string, unknown>;
  h = mix(h, 6);
  for (const k of Object.keys(o)) h = hashValue(o[k], hashString(k, h));
  return h;
}

const isPart = (v: unknown): v is State =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v);

class Walker {
  values: Int32Array;
  kinds: Uint8Array;
  /** Leaves so far. */
  n = 0;
  layout = 0x1ead;
  readonly paths: string[] | undefined;
  readonly raw: unknown[] | undefined;

  constructor(named: boolean, into: Leaves | undefined) {
    // Digests walk the state every few million instructions: reuse the arrays of an earlier walk.
    this.values = into ? into.values : new Int32Array(2048);
    this.kinds = into ? into.kinds : new Uint8Array(1024);
    if (named) {
      this.paths = [];
      this.raw = [];
    }
  }

  /** Room for `k` more leaves. */
  private room(k: number): void {
    if (this.n + k <= this.kinds.length) return;
    const cap = Math.max(2 * this.kinds.length, this.n + k);
    const v = new Int32Array(2 * cap);
    v.set(this.values);
    const kinds = new Uint8Array(cap);
    kinds.set(this.kinds);
    this.values = v;
    this.kinds = kinds;
  }

  private leaf(kind: number, lo: number, hi: number, path: string, raw: unknown): void {
    this.room(1);
    this.values[2 * this.n] = lo;
    this.values[2 * this.n + 1] = hi;
    this.kinds[this.n++] = kind;
    if (this.paths) {
      this.paths.push(path);
      this.raw!.push(raw);
    }
  }

  private hashLeaf(v: unknown, path: string): void {
    this.leaf(LEAF_HASH, hashValue(v, 0x5eed), HASH_HI, path, v);
  }

  walk(v: StateValue | undefined, path: string): void {
    if (typeof v === 'number') {
      if (numberWords(v)) this.leaf(LEAF_VALUE, f64Words[0], f64Words[1], path, v);
      else this.hashLeaf(v, path);
    } else if (typeof v === 'boolean') this.leaf(LEAF_VALUE, v ? 1 : 0, 0, path, v);
    else if (typeof v === 'bigint') {
      const u = BigInt.asUintN(64, v);
      this.leaf(LEAF_VALUE, Number(u & 0xffffffffn) | 0, Number(u >> 32n) | 0, path, v);
    } else if (ArrayBuffer.isView(v)) this.typed(v as TypedArray, path);
    else if (Array.isArray(v) && v.length > 0 && v.every(isPart)) {
      this.layout = mix(this.layout, v.length);
      v.forEach((x, i) => this.walk(x, this.paths ? `${path}[${i}]` : ''));
    } else if (isPart(v)) {
      for (const k of Object.keys(v)) {
        this.layout = hashString(k, this.layout);
        this.walk(v[k], this.paths ? (path ? `${path}.${k}` : k) : '');
      }
    } else this.hashLeaf(v, path);
  }

  private typed(a: TypedArray, path: string): void {
    this.layout = hashString(a.constructor.name, mix(this.layout, a.length));
    if (a.length > MAX_ELEMENT_LEAVES) {
      for (let i = 0; i < a.length; i += CHUNK) {
        const part = a.subarray(i, Math.min(a.length, i + CHUNK));
        this.hashLeaf(part, this.paths ? `${path}[${i}..${i + part.length - 1}]` : '');
      }
      return;
    }
    const n = a.length;
    this.room(n);
    const out = this.values;
    const at = 2 * this.n;
    if (a instanceof Float64Array) out.set(new Int32Array(a.buffer, a.byteOffset, 2 * n), at);
    else
      for (let i = 0; i < n; i++) {
        out[at + 2 * i] = a[i] | 0;
        out[at + 2 * i + 1] = 0;
      }
    this.kinds.fill(LEAF_VALUE, this.n, this.n + n);
    this.n += n;
    if (this.paths)
      for (let i = 0; i < n; i++) {
        this.paths.push(`${path}[${i}]`);
        this.raw!.push(a[i]);
      }
  }
}

/**
 * The leaves of a saved machine state; `named` adds each leaf's path and
 * value (for reports). `into`: an earlier result whose arrays may be reused.
 */
export function stateLeaves(s: State, named = false, into?: Leaves): Leaves {
  const w = new Walker(named, into);
  w.walk(s, '');
  return {
    values: w.values.length === 2 * w.n ? w.values : w.values.slice(0, 2 * w.n),
    kinds: w.kinds.length === w.n ? w.kinds : w.kinds.slice(0, w.n),
    layoutId: w.layout,
    paths: w.paths,
    raw: w.raw,
  };
}
