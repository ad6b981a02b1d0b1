/**
 * How far the hart runs between two looks at the board (virt.ts, MAX_RUN).
 * A run's end is invisible to the guest but costs the host: the slice's
 * entry, the devices' update, and an interpreted tail where the next block
 * no longer fits. Without HTIF nothing needs polling, so runs are long.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bareVirt, loopElf } from '../fuzz/crafted.js';

test('without HTIF, a slice with no deadline in it is a few runs of a million instructions', () => {
  // j . (a loop with no timer armed: no device deadline cuts the slice)
  const vm = bareVirt(loopElf());
  assert.equal(vm.htif, undefined);
  const run = vm.cpu.run.bind(vm.cpu);
  const lengths: number[] = [];
  vm.cpu.run = (n: number) => {
    const r = run(n);
    lengths.push(r);
    return r;
  };
  assert.deepEqual(vm.runSlice(3_000_000), { result: 'budget', executed: 3_000_000 });
  // 65,536-instruction runs made this 46 of them.
  assert.ok(lengths.length <= 4, `${lengths.length} runs: ${lengths.slice(0, 8).join(', ')}…`);
  assert.equal(vm.cpu.icount, 3_000_000);
});
