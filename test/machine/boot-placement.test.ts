/**
 * Where the boot loader puts images, as planned from their first bytes
 * (plannedImageSpans, for readying those pages early) against where
 * setupBoot puts them; and a Bus taking memory made ahead (PreparedRam).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../src/machine/bus.js';
import { plannedImageSpans, setupBoot, type ImageHead } from '../../src/machine/boot.js';
import { RAM_BASE } from '../../src/machine/virt.js';
import { prepareRam } from '../../src/host/prepared-ram.js';
import { wasmMemory } from '../../src/machine/bus.js';
import { HART_AREA } from '../../src/cpu/hart-memory.js';

const MiB = 1 << 20;

/** A RISC-V Linux Image of `length` bytes whose header claims `imageSize` (its bss included). */
function linuxImage(length: number, imageSize: number): Uint8Array {
  const b = new Uint8Array(length);
  const dv = new DataView(b.buffer);
  dv.setUint32(16, imageSize, true);
  b.set(new TextEncoder().encode('RISCV'), 0x30);
  b.set(new TextEncoder().encode('RSC\x05'), 0x38);
  return b;
}

const head = (bytes: Uint8Array): ImageHead => ({
  head: bytes.subarray(0, 64),
  length: bytes.length,
});
const ELF = Uint8Array.of(0x7f, 0x45, 0x4c, 0x46, ...new Array<number>(60).fill(0));

function loadedSpans(
  ramSize: number,
  bios: Uint8Array | 'none',
  kernel: Uint8Array,
  initrd?: Uint8Array,
): [number, number][] {
  const bus = new Bus(RAM_BASE, ramSize);
  const info = setupBoot(bus, {
    bios,
    biosName: 'fw',
    kernel,
    kernelName: 'Image',
    initrd,
    initrdName: 'initrd',
    append: '',
    harts: 1,
  });
  // The device tree comes last; the plan leaves it out (a page or two).
  return info.loaded.slice(0, -1).map((s) => [s.off, s.bytes.length]);
}

test('the planned spans of binary firmware, a Linux Image and an initrd are where the boot loader puts them', () => {
  const cases: { ram: number; bios: number | 'none'; kernel: [number, number]; initrd?: number }[] =
    [
      { ram: 256 * MiB, bios: 115_328, kernel: [4_033_024, 4_300_000], initrd: 1_153_001 },
      // A kernel whose bss reaches past the halfway point of a small RAM: the initrd goes after it.
      { ram: 16 * MiB, bios: 200_000, kernel: [3 * MiB, 9 * MiB], initrd: 300_000 },
      { ram: 64 * MiB, bios: 'none', kernel: [2 * MiB + 5, 2 * MiB + 5], initrd: 4096 },
      // Firmware past 2 MiB moves the kernel to the next 2 MiB boundary; no initrd.
      { ram: 64 * MiB, bios: 2 * MiB + 1, kernel: [MiB, MiB] },
    ];
  for (const c of cases) {
    const bios = c.bios === 'none' ? ('none' as const) : new Uint8Array(c.bios).fill(0x13);
    const kernel = linuxImage(...c.kernel);
    const initrd = c.initrd ? new Uint8Array(c.initrd).fill(7) : undefined;
    const planned = plannedImageSpans(
      RAM_BASE,
      c.ram,
      bios === 'none' ? 'none' : head(bios),
      head(kernel),
      initrd && head(initrd),
    );
    assert.deepEqual(planned, loadedSpans(c.ram, bios, kernel, initrd), JSON.stringify(c));
  }
});

test('ELF firmware or an ELF kernel is not planned (laid out by its segments): only what comes before it', () => {
  const image = head(linuxImage(MiB, MiB));
  assert.deepEqual(
    plannedImageSpans(RAM_BASE, 64 * MiB, { head: ELF, length: 9000 }, image, undefined),
    [],
  );
  assert.deepEqual(
    plannedImageSpans(
      RAM_BASE,
      64 * MiB,
      { head: new Uint8Array(64), length: 9000 },
      { head: ELF, length: MiB },
      {
        head: new Uint8Array(64),
        length: 4096,
      },
    ),
    [[0, 9000]],
  );
  // Something that is neither: nothing planned for it (the boot loader will refuse it).
  assert.deepEqual(
    plannedImageSpans(
      RAM_BASE,
      64 * MiB,
      'none',
      { head: new Uint8Array(64), length: MiB },
      undefined,
    ),
    [],
  );
});

test('memory made ahead: its spans are touched, then zeroed by the Bus that takes it, and taken once', async () => {
  const ram = 16 * MiB;
  const prepared = await prepareRam(ram, [
    [2 * MiB, 300_000],
    [8 * MiB, 1000], // too small to be worth it: left out
  ]);
  assert.ok(prepared);
  assert.deepEqual(prepared.spans, [[2 * MiB, 300_000]]);
  const view = new Uint8Array(prepared.memory.buffer, HART_AREA);
  assert.ok(
    view.subarray(2 * MiB, 2 * MiB + 300_000).some((b) => b !== 0),
    'the span was written (touched)',
  );
  const bus = new Bus(RAM_BASE, ram, prepared);
  assert.equal(bus.memory, prepared.memory);
  assert.ok(prepared.taken);
  assert.ok(
    bus.ram8.every((b) => b === 0),
    'RAM starts zero',
  );
  // A second machine never shares it.
  const other = new Bus(RAM_BASE, ram, prepared);
  assert.notEqual(other.memory, prepared.memory);
  // Memory of another size is not used.
  const wrong = { memory: wasmMemory(8 * MiB)!, spans: [], taken: false };
  assert.notEqual(new Bus(RAM_BASE, ram, wrong).memory, wrong.memory);
  assert.equal(wrong.taken, false);
  // Nothing to touch: no memory made.
  assert.equal(await prepareRam(ram, []), undefined);
});
