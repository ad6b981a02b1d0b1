import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildWarmupImage, warmUpInterpreter } from '../../src/machine/jit-warmup.js';

test('warm-up program: the same image every time', () => {
  assert.deepEqual(buildWarmupImage(), buildWarmupImage());
});

test('warm-up program: runs all its instructions through rounds in every mode', () => {
  // A stall (WFI with nothing armed), a runaway trap loop or an exit would end it early
  // or stop the rounds; every fourth round is M, then S/Sv48, U, S/Sv39.
  const r = warmUpInterpreter(300_000);
  assert.equal(r.instructions, 300_000);
  assert.ok(r.rounds >= 8, `only ${r.rounds} rounds in 300k instructions`);
  assert.ok(r.rounds < 300, `${r.rounds} rounds: the body is being cut short`);
});
