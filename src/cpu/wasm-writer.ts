/**
 * Just enough of the WebAssembly binary format (core spec, chapter 5) to
 * build the translator's modules at run time: function bodies as bytes, and
 * a module of N functions of one type that import the machine's memory and
 * export themselves as "0", "1", ….
 */
import { GrowableBytes } from '../util/growable-bytes.js';

/** Opcodes used by the translator (core spec 5.4). */
export const enum W {
  unreachable = 0x00,
  block = 0x02,
  loop = 0x03,
  if_ = 0x04,
  else_ = 0x05,
  end = 0x0b,
  br = 0x0c,
  br_if = 0x0d,
  br_table = 0x0e,
  return_ = 0x0f,
  call = 0x10,
  call_indirect = 0x11,
  return_call = 0x12,
  return_call_indirect = 0x13,
  drop = 0x1a,
  select = 0x1b,
  local_get = 0x20,
  local_set = 0x21,
  local_tee = 0x22,
  i32_load = 0x28,
  i64_load = 0x29,
  i64_load8_s = 0x30,
  i64_load8_u = 0x31,
  i64_load16_s = 0x32,
  i64_load16_u = 0x33,
  i64_load32_s = 0x34,
  i64_load32_u = 0x35,
  i32_store = 0x36,
  i64_store = 0x37,
  i64_store8 = 0x3c,
  i64_store16 = 0x3d,
  i64_store32 = 0x3e,
  i32_const = 0x41,
  i64_const = 0x42,
  i32_eqz = 0x45,
  i32_eq = 0x46,
  i32_ne = 0x47,
  i64_eqz = 0x50,
  i64_eq = 0x51,
  i64_ne = 0x52,
  i64_lt_s = 0x53,
  i64_lt_u = 0x54,
  i64_ge_s = 0x59,
  i64_ge_u = 0x5a,
  i32_add = 0x6a,
  i32_sub = 0x6b,
  i32_mul = 0x6c,
  i32_div_s = 0x6d,
  i32_div_u = 0x6e,
  i32_rem_s = 0x6f,
  i32_rem_u = 0x70,
  i32_and = 0x71,
  i32_or = 0x72,
  i32_xor = 0x73,
  i32_shl = 0x74,
  i32_shr_s = 0x75,
  i32_shr_u = 0x76,
  i64_add = 0x7c,
  i64_sub = 0x7d,
  i64_mul = 0x7e,
  i64_div_s = 0x7f,
  i64_div_u = 0x80,
  i64_rem_s = 0x81,
  i64_rem_u = 0x82,
  i64_and = 0x83,
  i64_or = 0x84,
  i64_xor = 0x85,
  i64_shl = 0x86,
  i64_shr_s = 0x87,
  i64_shr_u = 0x88,
  i32_wrap_i64 = 0xa7,
  i64_extend_i32_s = 0xac,
  i64_extend_i32_u = 0xad,
  i32_gt_u = 0x4b,
  i64_gt_u = 0x56,
  f64_const = 0x44,
  f64_eq = 0x61,
  f64_ne = 0x62,
  f64_lt = 0x63,
  f64_le = 0x65,
  f64_ge = 0x66,
  f64_abs = 0x99,
  f64_neg = 0x9a,
  f64_trunc = 0x9d,
  f64_add = 0xa0,
  f64_sub = 0xa1,
  f64_mul = 0xa2,
  f64_div = 0xa3,
  i64_trunc_f64_s = 0xb0,
  i64_trunc_f64_u = 0xb1,
  f64_convert_i32_s = 0xb7,
  f64_convert_i32_u = 0xb8,
  f64_convert_i64_s = 0xb9,
  f64_convert_i64_u = 0xba,
  i64_reinterpret_f64 = 0xbd,
  f64_reinterpret_i64 = 0xbf,
}

const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);

/** Signed LEB128 of -2^63. */
const I64_MIN_LEB = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f];

/** Value and block types. */
export const T_I32 = 0x7f;
export const T_I64 = 0x7e;
export const T_F64 = 0x7c;
export const T_VOID = 0x40;

/** A growing byte buffer with the encodings instructions need. */
export class Bytes extends GrowableBytes {
  byte(b: number): this {
    this.u8(b);
    return this;
  }

  /** A name as the format writes one: its length, then its bytes (ASCII here). */
  name(s: string): this {
    this.u32(s.length);
    for (let k = 0; k < s.length; k++) this.byte(s.charCodeAt(k));
    return this;
  }

  bytes(b: Uint8Array | readonly number[]): this {
    this.append(b);
    return this;
  }

  /** Unsigned LEB128. */
  u32(v: number): this {
    v >>>= 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
    return this;
  }

  /** Unsigned LEB128 in exactly 5 bytes (a size to be patched). */
  padded(v: number): this {
    for (let i = 0; i < 4; i++) this.byte(((v >>> (7 * i)) & 0x7f) | 0x80);
    return this.byte((v >>> 28) & 0x0f);
  }

  patchPadded(at: number, v: number): void {
    for (let i = 0; i < 4; i++) this.buf[at + i] = ((v >>> (7 * i)) & 0x7f) | 0x80;
    this.buf[at + 4] = (v >>> 28) & 0x0f;
  }

  /** Signed LEB128 of a 32-bit integer. */
  s32(v: number): this {
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return this.byte(b);
      this.byte(b | 0x80);
    }
  }

  /** Signed LEB128 of an integer that a double holds exactly (|v| < 2^53). */
  sBig(v: number): this {
    for (;;) {
      const b = ((v % 128) + 128) % 128;
      v = (v - b) / 128;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return this.byte(b);
      this.byte(b | 0x80);
    }
  }

  op(o: W): this {
    return this.byte(o);
  }

  i32(v: number): this {
    return this.byte(W.i32_const).s32(v);
  }

  /** i64.const of an integer (|v| < 2^53). */
  i64(v: number): this {
    this.byte(W.i64_const);
    return v === (v | 0) ? this.s32(v) : this.sBig(v);
  }

  /** f64.const (8 bytes, little-endian IEEE 754). */
  f64(v: number): this {
    F64[0] = v;
    return this.byte(W.f64_const).bytes(F64_BYTES);
  }

  /** i64.const -2^63. */
  i64Min(): this {
    return this.byte(W.i64_const).bytes(I64_MIN_LEB);
  }

  get(local: number): this {
    return this.byte(W.local_get).u32(local);
  }

  set(local: number): this {
    return this.byte(W.local_set).u32(local);
  }

  tee(local: number): this {
    return this.byte(W.local_tee).u32(local);
  }

  /** A load or store with its memarg: log2 of the alignment, constant offset. */
  mem(o: W, align: number, offset: number): this {
    return this.byte(o).u32(align).u32(offset);
  }

  result(): Uint8Array {
    return this.copy();
  }
}

/** A function: its locals (as [count, type] runs) and its body, without the final `end`. */
export interface WasmFunction {
  locals: [number, number][];
  body: Uint8Array;
}

/** A function type: (params) -> (results). */
export interface FunctionType {
  params: number[];
  results: number[];
}

/** A function a module imports as "m".`name`, of type (params) -> (results). */
export interface WasmImport extends FunctionType {
  name: string;
}

/**
 * Writes a module straight into one buffer: functions of one type (type 0)
 * that import memory "m"."mem" — and with `table`, a function table
 * "m"."tab" for call_indirect; with `imports`, those functions (types 1,
 * 2, …, and function indices 0, 1, … before the module's own) — exported
 * as "0", "1", …. With `own`, the functions are of that type instead (the
 * last), and type 0 is only call_indirect's (the block loop calls blocks
 * of type 0 and is called from JavaScript as another type). Sizes are
 * written as 5-byte LEB128 (the format allows the padding), patched once
 * known, so nothing is copied. Reused from module to module.
 */
export class ModuleWriter {
  readonly b = new Bytes(1 << 16);
  private codeSize = 0;
  private fnSize = 0;
  /** The function index of the module's first own function (its imported functions come first). */
  firstFunction = 0;

  begin(
    params: number[],
    results: number[],
    count: number,
    table = false,
    imports: readonly WasmImport[] = [],
    own?: FunctionType,
  ): void {
    const b = this.b;
    b.len = 0;
    this.firstFunction = imports.length;
    b.bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    // type section: type 0, then each import's, then the functions' own (if not type 0)
    let at = this.openSection(1);
    const types: FunctionType[] = [{ params, results }, ...imports];
    if (own !== undefined) types.push(own);
    b.u32(types.length);
    for (const t of types)
      b.byte(0x60).u32(t.params.length).bytes(t.params).u32(t.results.length).bytes(t.results);
    this.closeSection(at);
    // imports: the memory (min 1 page, no maximum: the machine's has one), the table, the functions
    at = this.openSection(2);
    b.u32((table ? 2 : 1) + imports.length);
    b.name('m').name('mem').byte(0x02).byte(0x00).u32(1);
    if (table) b.name('m').name('tab').byte(0x01).byte(0x70).byte(0x00).u32(0);
    imports.forEach((f, k) => {
      b.name('m')
        .name(f.name)
        .byte(0x00)
        .u32(1 + k);
    });
    this.closeSection(at);
    at = this.openSection(3);
    b.u32(count);
    for (let i = 0; i < count; i++) b.u32(own === undefined ? 0 : types.length - 1);
    this.closeSection(at);
    at = this.openSection(7);
    b.u32(count);
    for (let i = 0; i < count; i++)
      b.name(String(i))
        .byte(0x00)
        .u32(this.firstFunction + i);
    this.closeSection(at);
    this.codeSize = this.openSection(10);
    b.u32(count);
  }

  /** Start a function body with these locals; the caller writes its instructions into `b`. */
  beginFunction(locals: readonly (readonly [number, number])[]): void {
    const b = this.b;
    this.fnSize = b.len;
    b.padded(0);
    b.u32(locals.length);
    for (const [n, t] of locals) b.u32(n).byte(t);
  }

  endFunction(): void {
    const b = this.b;
    b.byte(W.end);
    b.patchPadded(this.fnSize, b.len - this.fnSize - 5);
  }

  /** The module's bytes (a copy: the buffer is reused). */
  finish(): Uint8Array {
    this.closeSection(this.codeSize);
    return this.b.result();
  }

  private openSection(id: number): number {
    this.b.byte(id);
    const at = this.b.len;
    this.b.padded(0);
    return at;
  }

  private closeSection(at: number): void {
    this.b.patchPadded(at, this.b.len - at - 5);
  }
}

/**
 * A module of functions of type (params) -> (results) (see ModuleWriter)
 * from whole function bodies.
 */
export function wasmModule(
  params: number[],
  results: number[],
  funcs: WasmFunction[],
  table = false,
  own?: FunctionType,
): Uint8Array {
  const m = new ModuleWriter();
  m.begin(params, results, funcs.length, table, [], own);
  for (const f of funcs) {
    m.beginFunction(f.locals);
    m.b.bytes(f.body);
    m.endFunction();
  }
  return m.finish();
}
