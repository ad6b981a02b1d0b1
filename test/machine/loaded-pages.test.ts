import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoadedPages } from '../../src/machine/loaded-pages.js';
import { VirtMachine } from '../../src/machine/virt.js';
import { bareElf } from '../fuzz/crafted.js';

const bytes = (n: number, seed: number) =>
  Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);

test('loaded pages: each page as the spans put it, later spans over earlier ones, the rest zero', () => {
  const a = bytes(10_000, 1); // pages 1..3 (from 4096 + 100)
  const b = bytes(300, 2); // inside page 2, over a
  const c = bytes(8192, 3); // pages 5 and 6 exactly
  const lp = new LoadedPages([
    { off: 4096 + 100, bytes: a },
    { off: 2 * 4096 + 50, bytes: b },
    { off: 5 * 4096, bytes: c },
    { off: 9 * 4096, bytes: new Uint8Array(0) },
  ]);
  assert.deepEqual(lp.pages(), [1, 2, 3, 5, 6]);
  // What a RAM loaded the same way holds, page by page.
  const ram = new Uint8Array(10 * 4096);
  ram.set(a, 4096 + 100);
  ram.set(b, 2 * 4096 + 50);
  ram.set(c, 5 * 4096);
  for (let p = 0; p < 10; p++) {
    const page = lp.page(p);
    const want = ram.subarray(p * 4096, p * 4096 + 4096);
    if (page === undefined)
      assert.ok(
        want.every((x) => x === 0),
        `page ${p}`,
      );
    else assert.deepEqual(page, want, `page ${p}`);
  }
  // A page one image covers whole is a view of it, not a copy.
  assert.equal(lp.page(5)!.buffer, c.buffer);
});

test("a machine's loaded pages are its RAM right after it was built", () => {
  const kernel = bareElf([0x0000006f, 0x12345678]);
  const vm = new VirtMachine(
    {
      memoryBytes: 16 << 20,
      bios: 'none',
      biosName: 'none',
      kernel,
      initrd: bytes(5000, 7),
      append: 'console=ttyS0',
      insnsPerTick: 10,
      rtcStartUnixNs: 0,
    },
    () => {},
  );
  const ram8 = vm.bus.ram8;
  const pages = vm.loaded.pages();
  assert.ok(pages.length >= 4, `the program, the initrd's two pages, the device tree: ${pages}`);
  for (let p = 0; p < ram8.length / 4096; p++) {
    const want = ram8.subarray(p * 4096, p * 4096 + 4096);
    const page = vm.loaded.page(p);
    if (page === undefined)
      assert.ok(
        want.every((x) => x === 0),
        `page ${p}`,
      );
    else assert.deepEqual(page, want, `page ${p}`);
  }
});
