/**
 * No hidden state: what the guest sees is a function of guest state alone.
 * A bare-metal program that probes the hart's caches (LR/SC around stores,
 * accessed/dirty bits of a PTE cleared without SFENCE.VMA) runs once plainly
 * and again with host actions thrown in at seeded random moments — state
 * digests, TLB flushes, checkpoint capture and restore, breakpoints and
 * watchpoints that are armed but never fire, and random slice lengths. The
 * console output and the final machine state (every saved field and RAM)
 * must be identical, and equal to what the architecture rules say.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { VirtMachine } from '../../src/machine/virt.js';
import { StateDigester } from '../../src/replay/state-digest.js';
import { RamPages } from '../../src/snapshot/ram-pages.js';
import { stateToJson } from '../../src/snapshot/state.js';
import { REPO_ROOT } from '../helpers/guest-session.js';
import { TLB_OBSERVER_EXPECTED } from '../helpers/tlb-observer.js';
import { needTools } from '../helpers/tools.js';
import { Prng, TEST_SEED } from '../helpers/seed.js';

function buildPrograms(): string {
  const out = mkdtempSync(join(tmpdir(), 'vmrs-programs-'));
  const r = spawnSync('bash', [join(REPO_ROOT, 'test/programs/build.sh'), out], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`building test/programs failed:\n${r.stderr}`);
  return out;
}

interface Outcome {
  console: string;
  state: string;
  ramSha: string;
  icount: number;
}

function bareMachine(elf: Uint8Array, out: (b: number) => void): VirtMachine {
  return new VirtMachine(
    {
      memoryBytes: 64 << 20,
      bios: 'none',
      biosName: 'none',
      kernel: elf,
      kernelName: 'program.elf',
      append: '',
      insnsPerTick: 10,
      rtcStartUnixNs: 0,
    },
    out,
  );
}

function runProgram(elf: Uint8Array, rng: Prng | undefined): Outcome {
  let out = '';
  const vm = bareMachine(elf, (b) => (out += String.fromCharCode(b)));
  const rnd = rng ? () => rng.next() : undefined;
  const digester = rnd ? new StateDigester(vm) : undefined;
  const pages = rnd ? new RamPages(vm) : undefined;
  for (let guard = 0; !vm.exit && guard < 1_000_000; guard++) {
    const budget = rnd ? 1 + Math.floor(rnd() * 50_000) : 65_536;
    const r = vm.runSlice(budget);
    assert.notEqual(r.result, 'debug', 'an armed-off breakpoint or watchpoint stopped the hart');
    // Host actions happen while the guest runs; an exit ends the run (it is not machine state).
    if (!rnd || !digester || !pages || vm.exit) continue;
    const action = Math.floor(rnd() * 7);
    if (action === 0) digester.take();
    else if (action === 1) vm.cpu.flushTlb();
    else if (action === 2) {
      // A checkpoint taken and gone back to at once, as a debugger's seek does.
      const state = vm.saveState();
      const refs = pages.capture().refs;
      pages.restore(refs);
      vm.loadState(state, true);
    } else if (action === 3) {
      vm.cpu.debugArmed = false;
      const page = (0x80000000 + Math.floor(rnd() * 64) * 4096) | 0;
      vm.cpu.setBreakpoints([{ lo: page + 4 * Math.floor(rnd() * 1024), hi: 0 }]);
      vm.cpu.setWatchpoints([{ lo: (0x40000000 + 8) | 0, hi: 0, len: 8, kind: 3 }]);
    } else if (action === 4) {
      vm.cpu.setBreakpoints([]);
      vm.cpu.setWatchpoints([]);
    } else if (action === 5) vm.collectDirty();
  }
  assert.ok(vm.exit, 'the program did not finish');
  return {
    console: out,
    state: stateToJson(vm.saveState()),
    ramSha: createHash('sha256').update(vm.bus.ram8).digest('hex'),
    icount: vm.cpu.icount,
  };
}

let programs: string | undefined;
const programDir = () => (programs ??= buildPrograms());

test('host actions (digests, flushes, checkpoints, breakpoints, slicing) never change what the guest sees', (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc')) return;
  const elf = readFileSync(join(programDir(), 'tlb-observer.elf'));
  const plain = runProgram(elf, undefined);
  assert.equal(plain.console, TLB_OBSERVER_EXPECTED);
  for (let i = 0; i < 3; i++) {
    const got = runProgram(elf, new Prng(TEST_SEED, `host actions ${i}`));
    const ctx = `(run ${i}; repeat with VMRS_TEST_SEED=${TEST_SEED})`;
    assert.equal(got.console, plain.console, `console output differs ${ctx}`);
    assert.equal(got.icount, plain.icount, `final icount differs ${ctx}`);
    assert.equal(got.ramSha, plain.ramSha, `RAM differs ${ctx}`);
    assert.equal(got.state, plain.state, `machine state differs ${ctx}`);
  }
});

test('an HTIF exit written by an AMO takes effect at that instruction, whatever the slicing', (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc')) return;
  const elf = readFileSync(join(programDir(), 'htif-amo-exit.elf'));
  const exits = new Set<string>();
  for (const budget of [1, 7, 1000, 65_536, 1_000_000]) {
    const vm = bareMachine(elf, () => {});
    while (!vm.exit) vm.runSlice(budget);
    exits.add(`${vm.exit.kind} ${vm.exit.status} at ${vm.cpu.icount}`);
  }
  assert.equal(exits.size, 1, [...exits].join('; '));
  assert.match([...exits][0], /^htif 7 at \d+$/);
});
