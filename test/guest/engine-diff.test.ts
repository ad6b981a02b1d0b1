/**
 * The engines side by side (`vmrs diff-engines`, machine/engine-lockstep.ts):
 * the Linux boot of the default guest and the ISA programs run on the
 * translator and on the interpreter in one process, compared field by field
 * and page by page at every slice; and the comparison itself finds a
 * difference and names the instruction after which it appears.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, VMRS_BIN } from '../helpers/guest-session.js';
import { needTools } from '../helpers/tools.js';
import { VirtMachine } from '../../src/machine/virt.js';
import { lockstep } from '../../src/machine/engine-lockstep.js';
import { addi, bne, encJ } from '../cpu/asm.js';
import { bareElf } from '../fuzz/crafted.js';

function diffEngines(args: string[]) {
  const r = spawnSync(process.execPath, [VMRS_BIN, 'diff-engines', '-q', ...args], {
    encoding: 'utf8',
    timeout: 1_200_000,
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

test('a Linux boot of the default guest: both engines agree at every slice', () => {
  const r = diffEngines(['--insns', '135000000']);
  assert.equal(r.status, 0, `${r.out}${r.err}`);
  assert.match(r.out, /engines agree: 135000000 instructions/);
});

test("the ISA programs: both engines agree to the programs' exits", (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc')) return;
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-isa-diff-'));
  const b = spawnSync('bash', [join(REPO_ROOT, 'test/isa/build.sh'), dir], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  const elfs = readdirSync(dir).filter((f) => f.endsWith('.elf'));
  assert.ok(elfs.length >= 5);
  for (const elf of elfs) {
    const r = diffEngines([
      '--bios',
      'none',
      '--kernel',
      join(dir, elf),
      '-m',
      '64',
      '--insns',
      '20000000',
      '--slice',
      '10000',
    ]);
    assert.equal(r.status, 0, `${elf}: ${r.out}${r.err}`);
    assert.match(
      r.out,
      /engines agree: \d+ instructions .*\((htif|poweroff|reset|fail)/,
      `${elf}: ${r.out}`,
    );
  }
});

test('a difference is found and the instruction after which it appears is named', () => {
  // A loop of 1,000 rounds, then a jump to the next page, where x7 is set and read. After
  // the first slice, the instruction that sets x7 is changed behind the translating
  // machine's back (no page flagged): a hidden difference that shows only through
  // execution, as a wrong translation's would. The search must name that instruction.
  const set7 = (k: number) => addi(7, 0, k);
  const page0 = [
    addi(6, 0, 1000),
    addi(5, 5, 1),
    addi(6, 6, -1),
    bne(6, 0, -8),
    encJ(0, 4096 - 16),
  ];
  while (page0.length < 1024) page0.push(addi(0, 0, 0));
  const program = [...page0, set7(42), addi(8, 7, 1), encJ(0, 0)];
  let translating: VirtMachine | undefined;
  const make = (engine: 'translate' | 'interp') => {
    const vm = new VirtMachine(
      {
        memoryBytes: 16 << 20,
        bios: 'none',
        biosName: 'none',
        kernel: bareElf(program),
        kernelName: 'loop',
        append: '',
        insnsPerTick: 10,
        rtcStartUnixNs: 0,
      },
      () => {},
    );
    vm.cpu.engine = engine;
    if (engine === 'translate') translating = vm;
    return vm;
  };
  let slices = 0;
  const r = lockstep(make, {
    slice: 1000,
    maxInsns: 10_000,
    progress: () => {
      if (slices++ === 0) translating!.bus.ram32[1024] = set7(41);
    },
  });
  assert.equal(r.end, 'diverged');
  const d = r.divergence!;
  // The boot ROM's instructions come first.
  const rom = make('interp');
  while (rom.cpu.pcLo !== (0x80000000 | 0)) rom.runSlice(1);
  assert.equal(d.icount, rom.cpu.icount + 1 + 3 * 1000 + 2, 'after the instruction that sets x7');
  assert.equal(d.pc, '0x0000000080001000');
  assert.equal(d.insn, `0x${(set7(42) >>> 0).toString(16).padStart(8, '0')}`);
  assert.match(d.fields, /x7/);
});
