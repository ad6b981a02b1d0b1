/**
 * The module writer the translator builds its modules with (wasm-writer.ts):
 * what it writes validates and runs, its functions are exported in order,
 * and with imported functions its own come after them in the index space.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bytes, ModuleWriter, T_I32, T_I64, W, wasmModule } from '../../src/cpu/wasm-writer.js';

type Fn = (x: number) => number;

const fn = (make: (b: Bytes) => void): Uint8Array => {
  const b = new Bytes();
  make(b);
  return b.result();
};

test('a module of functions of one type: exported as "0", "1", …, each its own code', () => {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const bytes = wasmModule(
    [T_I32],
    [T_I32],
    [
      { locals: [], body: fn((b) => b.get(0).i32(1).op(W.i32_add)) },
      {
        locals: [[1, T_I32]],
        body: fn((b) => b.get(0).i32(3).op(W.i32_mul).tee(1).get(1).op(W.i32_add)),
      },
    ],
  );
  assert.ok(WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>));
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), {
    m: { mem: memory },
  });
  assert.equal((inst.exports['0'] as Fn)(41), 42);
  assert.equal((inst.exports['1'] as Fn)(7), 42);
});

test("imported functions come first in the index space: the module's own follow, and its exports are its own", () => {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const m = new ModuleWriter();
  const twice: Fn = (x) => 2 * x;
  m.begin([T_I32], [T_I32], 2, false, [{ name: 'twice', params: [T_I32], results: [T_I32] }]);
  // Own function 0 (index 1): twice(x) + 1, through the import (index 0).
  m.beginFunction([]);
  m.b.get(0).byte(W.call).u32(0).i32(1).op(W.i32_add);
  m.endFunction();
  // Own function 1 (index 2): calls own function 0 by its index, 1 + 0.
  m.beginFunction([]);
  m.b.get(0).byte(W.call).u32(1).i32(1).op(W.i32_add);
  m.endFunction();
  const bytes = m.finish();
  assert.ok(WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>));
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), {
    m: { mem: memory, twice },
  });
  assert.equal(Object.keys(inst.exports).sort().join(), '0,1');
  assert.equal((inst.exports['0'] as Fn)(20), 41);
  assert.equal((inst.exports['1'] as Fn)(20), 42);
});

test('functions of a type of their own call, through the table, functions of type 0 that return two values', () => {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const table = new WebAssembly.Table({ initial: 1, element: 'anyfunc' });
  // Type 0: (i32) -> (i64, i32), as blocks return the next pc and a count.
  const pair = wasmModule(
    [T_I32],
    [T_I64, T_I32],
    [
      {
        locals: [],
        body: fn((b) => b.get(0).op(W.i64_extend_i32_u).i64(100).op(W.i64_add).get(0)),
      },
    ],
  );
  const callee = new WebAssembly.Instance(new WebAssembly.Module(pair as Uint8Array<ArrayBuffer>), {
    m: { mem: memory },
  });
  table.set(0, callee.exports['0'] as Fn);
  // Its own type (i32) -> (i32), as the block loop: the pair's i64 minus its i32, through call_indirect.
  const bytes = wasmModule(
    [T_I32],
    [T_I64, T_I32],
    [
      {
        locals: [[1, T_I32]],
        body: fn((b) => {
          b.get(0).i32(0).byte(W.call_indirect).u32(0).u32(0).set(1);
          b.op(W.i32_wrap_i64).get(1).op(W.i32_sub);
        }),
      },
    ],
    true,
    { params: [T_I32], results: [T_I32] },
  );
  assert.ok(WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>));
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), {
    m: { mem: memory, tab: table },
  });
  assert.equal((inst.exports['0'] as Fn)(7), 100);
});
