/**
 * Machine state as named fields (snapshots and checkpoints). Each stateful
 * part of the machine lists the fields that make it what it is; these
 * helpers copy them out and back, checking kinds and sizes so a snapshot
 * of another machine shape is refused instead of half-applied.
 */

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
  for (const k of keys) {
    if (!(k in s)) throw new SnapshotError(`${what}: the snapshot has no field '${k}'`);
    const cur = o[k];
    const v = s[k];
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

/** A nested State, or an error naming what is missing. */
export function sub(s: State, key: string, what: string): State {
  const v = s[key];
  if (v === null || typeof v !== 'object' || Array.isArray(v) || ArrayBuffer.isView(v))
    throw new SnapshotError(`${what}: the snapshot has no part '${key}'`);
  return v as State;
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
        b64: Buffer.from(t.buffer, t.byteOffset, t.byteLength).toString('base64'),
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
        const bytes = Buffer.from(o.b64, 'base64');
        const buf = new ArrayBuffer(bytes.length);
        new Uint8Array(buf).set(bytes);
        return new ctor(buf);
      }
    }
    return v;
  }) as State;
}
