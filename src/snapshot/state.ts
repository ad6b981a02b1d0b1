/**
 * Machine state as named fields (snapshots and checkpoints). Each stateful
 * part of the machine lists the fields that make it what it is; these
 * helpers copy them out and back, checking kinds and sizes so a snapshot
 * of another machine shape is refused instead of half-applied.
 */
import { fromBase64, toBase64 } from '../util/base64.js';

export type TypedArray = Uint8Array | Uint16Array | Int32Array | Uint32Array | Float64Array;
export type StateValue =
  number | string | boolean | null | bigint | TypedArray | StateValue[] | State;
export interface State {
  [field: string]: StateValue;
}

/**
 * What a state is saved for. A state digest leaves out bulk contents that
 * reach the guest only through RAM, which digests hash on their own (a
 * disk's written blocks: the guest sees them only as they are read into RAM,
 * and they were written from RAM).
 */
export interface SaveOptions {
  digest?: boolean;
  /**
   * A checkpoint keeps the disks' written clusters itself, a few at a time
   * (checkpoint-chunk.ts): the state leaves them out (`store: null`), and
   * they are put back into it before it is loaded.
   */
  disksApart?: boolean;
}

/** Anything whose state can be saved and put back. */
export interface Snapshottable {
  saveState(opts?: SaveOptions): State;
  loadState(s: State): void;
}

export class SnapshotError extends Error {}

function clone(v: unknown, path: string): StateValue {
  if (v === undefined || v === null) return null;
  switch (typeof v) {
    case 'number':
    case 'string':
    case 'boolean':
    case 'bigint':
      return v;
  }
  if (ArrayBuffer.isView(v)) return (v as TypedArray).slice();
  if (Array.isArray(v)) return v.map((x, i) => clone(x, `${path}[${i}]`));
  throw new SnapshotError(`${path}: cannot save a ${typeof v}`);
}

/** Copy `keys` of `obj` into a State (typed arrays and arrays are copied). */
export function saveFields(obj: object, keys: readonly string[]): State {
  const o = obj as Record<string, unknown>;
  const s: State = {};
  for (const k of keys) s[k] = clone(o[k], k);
  return s;
}

/** Put `keys` of `s` back into `obj`: typed arrays in place (same kind and length), the rest by value. */
export function loadFields(obj: object, s: State, keys: readonly string[], what: string): void {
  const o = obj as Record<string, unknown>;
  if (!isState(s)) throw new SnapshotError(`${what}: the snapshot has no state for it`);
  for (const k of keys) {
    if (!Object.hasOwn(s, k)) throw new SnapshotError(`${what}: the snapshot has no field '${k}'`);
    const cur = o[k];
    const v = s[k];
    checkValue(cur, v, `${what}.${k}`);
    if (ArrayBuffer.isView(cur)) {
      const c = cur as TypedArray;
      if (
        !ArrayBuffer.isView(v) ||
        (v as TypedArray).constructor !== c.constructor ||
        (v as TypedArray).length !== c.length
      )
        throw new SnapshotError(`${what}.${k}: the snapshot's value has another shape`);
      c.set(v as never);
    } else if (cur !== undefined && cur !== null && v !== null && typeof cur !== typeof v)
      throw new SnapshotError(`${what}.${k}: expected a ${typeof cur}, found a ${typeof v}`);
    else o[k] = clone(v, k);
  }
}

function isState(v: unknown): v is State {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** Longest array a field may hold (queues of requests or input: far fewer in any real machine). */
const MAX_ARRAY = 1 << 16;

/**
 * A value the snapshot gives for a field whose value now is `cur`: numbers
 * finite (and whole, where the field is whole now), arrays of whole numbers
 * or of byte arrays, of a sane length.
 */
function checkValue(cur: unknown, v: unknown, where: string): void {
  // null stands for an unset field (undefined is saved as null): text and parts may be
  // unset, numbers, flags and lists may not.
  if (v === null) {
    if (typeof cur === 'number' || typeof cur === 'boolean' || Array.isArray(cur))
      throw new SnapshotError(`${where}: missing (null)`);
    return;
  }
  if (typeof cur === 'number') {
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new SnapshotError(`${where}: not a finite number`);
    if (Number.isInteger(cur) && !Number.isSafeInteger(v))
      throw new SnapshotError(`${where}: not a whole number`);
  } else if (Array.isArray(cur)) {
    if (!Array.isArray(v)) throw new SnapshotError(`${where}: not a list`);
    if (v.length > MAX_ARRAY) throw new SnapshotError(`${where}: a list of ${v.length} items`);
    for (const x of v)
      if (!(typeof x === 'number' && Number.isSafeInteger(x)) && !(x instanceof Uint8Array))
        throw new SnapshotError(`${where}: a list item that is neither a whole number nor bytes`);
  }
}

/** Item `i` of a list of States, or an error naming it. */
export function item(list: readonly unknown[], i: number, what: string): State {
  const v = list[i];
  if (!isState(v)) throw new SnapshotError(`${what}: the snapshot has no state for item ${i}`);
  return v;
}

/** A nested State, or an error naming what is missing. */
export function sub(s: State, key: string, what: string): State {
  const v = isState(s) && Object.hasOwn(s, key) ? s[key] : undefined;
  if (!isState(v)) throw new SnapshotError(`${what}: the snapshot has no part '${key}'`);
  return v;
}

const TYPED: Record<string, new (b: ArrayBuffer) => TypedArray> = {
  Uint8Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float64Array,
};

/** State to JSON text (typed arrays as base64, bigints as strings). */
export function stateToJson(s: State): string {
  return JSON.stringify(s, (_k, v: unknown) => {
    if (typeof v === 'bigint') return { $bigint: v.toString() };
    if (ArrayBuffer.isView(v)) {
      const t = v as TypedArray;
      return {
        $typed: t.constructor.name,
        b64: toBase64(new Uint8Array(t.buffer, t.byteOffset, t.byteLength)),
      };
    }
    return v;
  });
}

export function stateFromJson(text: string): State {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (typeof o.$bigint === 'string') return BigInt(o.$bigint);
      if (typeof o.$typed === 'string' && typeof o.b64 === 'string') {
        const ctor = TYPED[o.$typed];
        if (!ctor) throw new SnapshotError(`unknown array kind ${o.$typed}`);
        let bytes: Uint8Array;
        try {
          bytes = fromBase64(o.b64);
        } catch {
          throw new SnapshotError(`a ${o.$typed} that is not base64`);
        }
        const buf = new ArrayBuffer(bytes.length);
        new Uint8Array(buf).set(bytes);
        return new ctor(buf);
      }
    }
    return v;
  }) as State;
}
