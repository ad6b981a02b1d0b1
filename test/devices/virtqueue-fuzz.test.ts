/**
 * A short run of the virtqueue fuzzer (test/devices/virtqueue-fuzz.ts; the
 * long run is bench/fuzz-virtqueue.ts), and proof that its invariants bite:
 * with a fault planted in the device code it reports the fault.
 *
 * The seed is random unless VMRS_FUZZ_SEED is set; fast-check prints it
 * (with the failing case's path) on failure, so a run can be repeated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fuzzCaseArb, runFuzzCase } from './virtqueue-fuzz.js';
import { VirtioMmio } from '../../src/devices/virtio/mmio.js';
import { CompletionQueue } from '../../src/devices/virtio/completions.js';
import { TEST_SEED } from '../helpers/seed.js';

const seed = process.env.VMRS_FUZZ_SEED ? Number(process.env.VMRS_FUZZ_SEED) : TEST_SEED;
const CASES = 1500;

test(`virtqueue fuzzing: ${CASES} hostile descriptor sets on every device type (seed ${seed})`, () => {
  const seen = new Map<string, number>();
  let returned = 0;
  fc.assert(
    fc.property(fuzzCaseArb, (c) => {
      seen.set(c.device, (seen.get(c.device) ?? 0) + 1);
      returned += runFuzzCase(c).returned;
    }),
    { seed, numRuns: CASES },
  );
  assert.equal(seen.size, 5, `every device type was fuzzed: ${JSON.stringify([...seen])}`);
  assert.ok(returned > CASES, `requests were served or failed, not only refused (${returned})`);
});

/** Run the fuzzer with `plant` in place; it must find the fault and say which kind. */
function findsPlantedFault(kind: string, plant: () => () => void): void {
  const undo = plant();
  try {
    const r = fc.check(
      fc.property(fuzzCaseArb, (c) => void runFuzzCase(c)),
      { seed, numRuns: CASES, endOnFailure: true },
    );
    assert.ok(r.failed, `the fuzzer did not notice the planted fault (seed ${seed})`);
    assert.match(String(r.errorInstance), new RegExp(`^Error: ${kind}:`));
  } finally {
    undo();
  }
}

test('the fuzzer catches a device that lets a guest-caused error escape', () => {
  findsPlantedFault('crash', () => {
    const guard = Object.getOwnPropertyDescriptor(VirtioMmio.prototype, 'guard')!;
    VirtioMmio.prototype.guard = (action: () => void) => action();
    return () => Object.defineProperty(VirtioMmio.prototype, 'guard', guard);
  });
});

test('the fuzzer catches a device whose behaviour is not a function of its state', () => {
  findsPlantedFault('nondeterminism', () => {
    const add = Object.getOwnPropertyDescriptor(CompletionQueue.prototype, 'add')!;
    let calls = 0;
    CompletionQueue.prototype.add = function (at, q, head, written) {
      // Hidden state outside the device: which run this is shows in the completion times.
      (add.value as CompletionQueue['add']).call(this, at + (calls++ % 7), q, head, written);
    };
    return () => Object.defineProperty(CompletionQueue.prototype, 'add', add);
  });
});
