/**
 * What it costs this host's V8 to go from one WebAssembly function to
 * another in each of the ways the translator could go from one block to the
 * next (src/cpu/translate-wasm.ts, block-loop.ts). Blocks are compiled in
 * batches, one module and one instance per batch, so most transfers are
 * between instances:
 *
 *   - the block loop: one `call_indirect` site, in its own module, calling
 *     the functions and taking their results (what every region entry costs);
 *   - `return_call_indirect` from each function, to a function of another
 *     instance (a dispatch at each region's exit: branch `wip-dispatch-at-exit`);
 *   - the same within one instance;
 *   - `return_call` within one instance (the chains between the regions of
 *     one module);
 *   - `return_call` to a function imported from another instance (chains into
 *     earlier modules: branch `wip-earlier-chains`).
 *
 * K functions take turns in a fixed pseudo-random cycle, each doing a
 * multiply and an add; the figure is nanoseconds per transfer, the median
 * of ROUNDS rounds of HOPS transfers.
 *
 *   npm run bench -- --only wasm-calls
 */
import { Bytes, ModuleWriter, T_I32, T_VOID, W, wasmModule } from '../src/cpu/wasm-writer.js';

const HOPS = 10_000_000;
const ROUNDS = 5;
/** Five i32 parameters, as the blocks' (translate-wasm.ts BLOCK_PARAMS), and an i32 result. */
const P = [T_I32, T_I32, T_I32, T_I32, T_I32];
const R = [T_I32];
type Fn = (idx: number, hops: number, acc: number, a: number, b: number) => number;

/** The successor of each of K functions: one pseudo-random cycle through all of them. */
function cycle(k: number): number[] {
  const order = Array.from({ length: k }, (_, i) => i);
  let s = 12345;
  for (let i = k - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const next = new Array<number>(k);
  for (let i = 0; i < k; i++) next[order[i]] = order[(i + 1) % k];
  return next;
}

/** acc = acc * 31 + idx (params: 0 idx, 1 hops left, 2 acc). */
function work(b: Bytes): void {
  b.get(2).i32(31).op(W.i32_mul).get(0).op(W.i32_add).set(2);
}

/** Return acc once no hops are left. */
function stopAtZero(b: Bytes): void {
  b.get(1).op(W.i32_eqz).byte(W.if_).byte(T_VOID).get(2).op(W.return_).op(W.end);
}

/** Push the arguments for the successor (next[idx], read from memory at idx * 4). */
function nextArgs(b: Bytes): void {
  b.get(0).i32(2).op(W.i32_shl).mem(W.i32_load, 2, 0);
  b.get(1).i32(1).op(W.i32_sub).get(2).get(3).get(4);
}

function body(make: (b: Bytes) => void): Uint8Array {
  const b = new Bytes();
  make(b);
  return b.result();
}

function instance(
  funcs: Uint8Array[],
  imports: Record<string, unknown>,
  table: boolean,
  imported = false,
): WebAssembly.Instance {
  const m = new ModuleWriter();
  m.begin(P, R, funcs.length, table, imported ? [{ name: 'next', params: P, results: R }] : []);
  for (const f of funcs) {
    m.beginFunction([]);
    m.b.bytes(f);
    m.endFunction();
  }
  return new WebAssembly.Instance(new WebAssembly.Module(m.finish() as Uint8Array<ArrayBuffer>), {
    m: imports,
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** ns per transfer of `run` (which makes HOPS transfers), the median of ROUNDS. */
function time(run: () => number): number {
  const t: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    run();
    t.push(((performance.now() - t0) * 1e6) / HOPS);
  }
  return median(t);
}

function measure(k: number): [string, number][] {
  const next = cycle(k);
  const memory = new WebAssembly.Memory({ initial: 1 });
  new Int32Array(memory.buffer, 0, k).set(next);
  const table = new WebAssembly.Table({ initial: k, element: 'anyfunc' });
  const env = { mem: memory, tab: table };
  const out: [string, number][] = [];

  // The block loop: a call_indirect site in its own module, over functions that return.
  const loopBody = body((b) => {
    b.byte(W.loop).byte(T_VOID);
    b.get(0).get(1).get(2).get(3).get(4).get(0).byte(W.call_indirect).u32(0).u32(0).set(2);
    b.get(0).i32(2).op(W.i32_shl).mem(W.i32_load, 2, 0).set(0);
    b.get(1).i32(1).op(W.i32_sub).tee(1).byte(W.br_if).u32(0);
    b.op(W.end);
    b.get(2);
  });
  const loop = instance([loopBody], env, true).exports['0'] as Fn;
  const leaf = body((b) => {
    work(b);
    b.get(2);
  });
  for (let i = 0; i < k; i++) table.set(i, instance([leaf], env, true).exports['0'] as Fn);
  out.push([
    'block loop: call_indirect from one site, K instances',
    time(() => loop(0, HOPS, 0, 0, 0)),
  ]);

  // return_call_indirect from each function, through the table.
  const tailIndirect = body((b) => {
    work(b);
    stopAtZero(b);
    nextArgs(b);
    b.get(0).i32(2).op(W.i32_shl).mem(W.i32_load, 2, 0);
    b.byte(W.return_call_indirect).u32(0).u32(0);
  });
  const own = Array.from(
    { length: k },
    () => instance([tailIndirect], env, true).exports['0'] as Fn,
  );
  own.forEach((f, i) => table.set(i, f));
  out.push(['return_call_indirect, K instances', time(() => own[0](0, HOPS, 0, 0, 0))]);
  const one = instance(
    Array.from({ length: k }, () => tailIndirect),
    env,
    true,
  );
  for (let i = 0; i < k; i++) table.set(i, one.exports[String(i)] as Fn);
  const first = one.exports['0'] as Fn;
  out.push(['return_call_indirect, one instance', time(() => first(0, HOPS, 0, 0, 0))]);

  // return_call to the successor, a function of the same module.
  const direct = next.map((n) =>
    body((b) => {
      work(b);
      stopAtZero(b);
      nextArgs(b);
      b.byte(W.return_call).u32(n);
    }),
  );
  const chained = instance(direct, env, false).exports['0'] as Fn;
  out.push([
    'return_call, one instance (chains in a module)',
    time(() => chained(0, HOPS, 0, 0, 0)),
  ]);

  // return_call to an imported function of another instance: each instance imports its
  // successor's; the cycle's last goes back to the first through the table.
  const order: number[] = [0];
  while (order.length < k) order.push(next[order[order.length - 1]]);
  const fns = new Array<Fn>(k);
  const last = order[k - 1];
  fns[last] = instance([tailIndirect], env, true).exports['0'] as Fn;
  for (let p = k - 2; p >= 0; p--) {
    const code = body((b) => {
      work(b);
      stopAtZero(b);
      nextArgs(b);
      b.byte(W.return_call).u32(0); // the import
    });
    fns[order[p]] = instance([code], { ...env, next: fns[order[p + 1]] }, true, true).exports[
      '0'
    ] as Fn;
  }
  fns.forEach((f, i) => table.set(i, f));
  out.push(['return_call to an import, K instances', time(() => fns[0](0, HOPS, 0, 0, 0))]);
  return out;
}

export function benchWasmCalls(): void {
  const probe = wasmModule([], [], [{ locals: [], body: new Uint8Array([W.return_call, 0]) }]);
  if (!WebAssembly.validate(probe as Uint8Array<ArrayBuffer>)) {
    console.log('wasm calls: this host has no WebAssembly tail calls');
    return;
  }
  console.log(
    `wasm calls (V8 ${process.versions.v8}): ns per transfer between functions, median of ${ROUNDS} rounds of ${HOPS / 1e6} M`,
  );
  for (const k of [4, 64])
    for (const [what, ns] of measure(k))
      console.log(`  K=${k}`.padEnd(8), what.padEnd(54), ns.toFixed(2));
}
