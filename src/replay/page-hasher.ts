/**
 * hashPage (hash32.ts) for the pages a state digest hashes, four pages at a
 * time in WebAssembly SIMD where guest RAM lives in the machine's
 * WebAssembly memory.
 *
 * The page hash runs four lanes over interleaved words, so one page is one
 * i32x4 chain; but a chain is bound by the vector multiply's latency (one
 * page in SIMD alone was only 1.4 times JavaScript's speed), so four pages
 * run side by side, four independent chains: 0.45 µs a page against 2.0
 * for JavaScript on this host. Digests hash every page written since the
 * last one (7,800 pages in a recorded boot + `sha256sum`, about 16 ms in
 * JavaScript), and a replay hashes the same pages to check them.
 *
 * The results are the same numbers as hashPage's (recordings hold them);
 * the tests compare the two. Where the machine has no WebAssembly memory
 * (RAM above 4 GiB), the host no WebAssembly SIMD, or a page's policy
 * forbids compiling WebAssembly, hashPage itself runs.
 */
import { Bytes, T_I32, W, wasmModule } from '../cpu/wasm-writer.js';
import { HM_SCRATCH } from '../cpu/hart-memory.js';
import { hashPage } from './hash32.js';

const PAGE = 4096;
const LANES = 4;
/** The multiplier and the lanes' seeds, as hashPage has them. */
const M = 0x5bd1e995 | 0;
const SEEDS = [0x2545f491, 0x9e3779b9 | 0, 0x85ebca6b | 0, 0xc2b2ae35 | 0];

/** The SIMD opcodes used (after the 0xfd prefix; core spec 5.4.8). */
const enum V {
  load = 0x00,
  const_ = 0x0c,
  i32x4_splat = 0x11,
  i32x4_extract_lane = 0x1b,
  xor = 0x51,
  i32x4_shr_u = 0xad,
  i32x4_mul = 0xb5,
}
const T_V128 = 0x7b;

function simd(b: Bytes, op: V): Bytes {
  return b.byte(0xfd).u32(op);
}

/**
 * hash4(a0, a1, a2, a3): the hashes of the pages at byte addresses a0..a3
 * of the memory, stored as four words at HM_SCRATCH.
 */
function hash4Body(): Uint8Array {
  const b = new Bytes(512);
  const acc = (j: number) => LANES + j; // locals 4..7: a page's four lanes
  const K = 2 * LANES; // the multiplier in every lane
  const I = K + 1; // the offset within the pages
  const T = I + 1; // the fold's temporary
  for (let j = 0; j < LANES; j++) {
    simd(b, V.const_);
    for (const s of SEEDS) b.bytes([s & 255, (s >>> 8) & 255, (s >>> 16) & 255, (s >>> 24) & 255]);
    b.set(acc(j));
  }
  simd(b.i32(M), V.i32x4_splat).set(K);
  b.i32(0).set(I);
  b.byte(W.loop).byte(0x40);
  for (let j = 0; j < LANES; j++) {
    // acc = (acc ^ words) * M; acc ^= acc >>> 15, in each lane
    b.get(acc(j)).get(j).get(I).op(W.i32_add);
    simd(b, V.load).u32(0).u32(0);
    simd(b, V.xor).get(K);
    simd(b, V.i32x4_mul).tee(acc(j)).i32(15);
    simd(b, V.i32x4_shr_u).get(acc(j));
    simd(b, V.xor).set(acc(j));
  }
  b.get(I).i32(16).op(W.i32_add).tee(I).i32(PAGE).op(W.i32_ne).byte(W.br_if).u32(0);
  b.op(W.end);
  // mix(mix(mix(a, b), c), d) of each page's lanes (hash32.ts mix)
  for (let j = 0; j < LANES; j++) {
    b.i32(0);
    b.get(acc(j));
    simd(b, V.i32x4_extract_lane).byte(0);
    for (let lane = 1; lane < LANES; lane++) {
      b.get(acc(j));
      simd(b, V.i32x4_extract_lane).byte(lane);
      b.op(W.i32_xor).i32(M).op(W.i32_mul).tee(T).get(T).i32(15).op(W.i32_shr_u).op(W.i32_xor);
    }
    b.mem(W.i32_store, 2, HM_SCRATCH + 4 * j);
  }
  return b.result();
}

type Hash4 = (a0: number, a1: number, a2: number, a3: number) => void;

let moduleMade: WebAssembly.Module | null | undefined;

/** The compiled module, or null where the host cannot compile it. */
function hash4Module(): WebAssembly.Module | null {
  if (moduleMade !== undefined) return moduleMade;
  try {
    const bytes = wasmModule(
      [T_I32, T_I32, T_I32, T_I32],
      [],
      [
        {
          locals: [
            [LANES, T_V128],
            [1, T_V128],
            [2, T_I32],
          ],
          body: hash4Body(),
        },
      ],
    );
    moduleMade = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  } catch {
    moduleMade = null; // no SIMD, or WebAssembly not allowed here
  }
  return moduleMade;
}

export class PageHasher {
  private readonly hash4: Hash4 | undefined;
  private readonly results: Int32Array | undefined;
  /** Byte address in the memory of RAM page 0. */
  private readonly base: number;

  /**
   * @param ram32 guest RAM
   * @param memory the WebAssembly memory that holds it, if any
   * @param useWasm false: hashPage alone (the tests' reference)
   */
  constructor(
    private readonly ram32: Int32Array,
    memory: WebAssembly.Memory | undefined,
    useWasm = true,
  ) {
    this.base = ram32.byteOffset;
    const mod = useWasm && memory && memory.buffer === ram32.buffer ? hash4Module() : null;
    if (!mod || !memory) return;
    try {
      const inst = new WebAssembly.Instance(mod, { m: { mem: memory } });
      this.hash4 = inst.exports['0'] as Hash4;
      this.results = new Int32Array(memory.buffer, HM_SCRATCH, LANES);
    } catch {
      this.hash4 = undefined;
    }
  }

  /** Whether the pages are hashed in WebAssembly. */
  get simd(): boolean {
    return this.hash4 !== undefined;
  }

  /** out[i] = hashPage(ram32, pages[i]) for i < n. */
  hashPages(pages: ArrayLike<number>, n: number, out: Int32Array): void {
    const hash4 = this.hash4;
    if (!hash4) {
      for (let i = 0; i < n; i++) out[i] = hashPage(this.ram32, pages[i]);
      return;
    }
    const r = this.results!;
    const base = this.base;
    let i = 0;
    for (; i + LANES <= n; i += LANES) {
      hash4(
        base + pages[i] * PAGE,
        base + pages[i + 1] * PAGE,
        base + pages[i + 2] * PAGE,
        base + pages[i + 3] * PAGE,
      );
      out[i] = r[0];
      out[i + 1] = r[1];
      out[i + 2] = r[2];
      out[i + 3] = r[3];
    }
    // The last one to three pages: the last of them fills the lanes left.
    if (i < n) {
      const at = (k: number) => base + pages[Math.min(i + k, n - 1)] * PAGE;
      hash4(at(0), at(1), at(2), at(3));
      for (let k = 0; i + k < n; k++) out[i + k] = r[k];
    }
  }
}
