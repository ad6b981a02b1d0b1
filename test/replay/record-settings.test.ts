/** The checkpoint schedule `--checkpoint-every` takes, and the header stamp every recording gets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_CHECKPOINT_EVERY,
  ScheduleError,
  newRecordingHeader,
  parseCheckpointSchedule,
} from '../../src/replay/record-settings.js';
import { FORMAT_VERSION } from '../../src/replay/log-format.js';
import { TIMEBASE_HZ } from '../../src/machine/clock.js';

test('instructions and guest time, whichever comes first; off', () => {
  assert.deepEqual(parseCheckpointSchedule(DEFAULT_CHECKPOINT_EVERY), {
    instructions: 200e6,
    guestTicks: 60 * TIMEBASE_HZ,
  });
  assert.deepEqual(parseCheckpointSchedule('1.5G'), { instructions: 1.5e9, guestTicks: Infinity });
  assert.deepEqual(parseCheckpointSchedule('50000, 2min, 500ms'), {
    instructions: 50000,
    guestTicks: 0.5 * TIMEBASE_HZ,
  });
  assert.deepEqual(parseCheckpointSchedule('10k,20k'), {
    instructions: 10000,
    guestTicks: Infinity,
  });
  for (const off of ['0', 'off', 'none'])
    assert.deepEqual(parseCheckpointSchedule(off), {
      instructions: Infinity,
      guestTicks: Infinity,
    });
});

test('what does not parse says why', () => {
  assert.throws(() => parseCheckpointSchedule('5q'), ScheduleError);
  assert.throws(() => parseCheckpointSchedule('200M,'), /'' is neither/);
  assert.throws(() => parseCheckpointSchedule('-1s'), /neither/);
  assert.throws(() => parseCheckpointSchedule('999'), /at least 1000/);
  // Instructions read as --to and the other counts read them: whole numbers only.
  assert.throws(() => parseCheckpointSchedule('1.0005k'), /neither/);
  assert.throws(() => parseCheckpointSchedule('-5M'), /neither/);
  assert.deepEqual(parseCheckpointSchedule('1e6'), { instructions: 1e6, guestTicks: Infinity });
});

test('a new header carries this format, a version and the time it was made', () => {
  const before = Date.now();
  const h = newRecordingHeader({
    machine: {
      memoryBytes: 1 << 20,
      append: '',
      insnsPerTick: 10,
      rtcStartUnixNs: 0,
      consoleOn: 'uart',
    },
    bios: 'none',
    kernel: { path: 'k', size: 1, sha256: '00', embedded: false },
    devices: [],
    digestInterval: 0,
  });
  assert.equal(h.formatVersion, FORMAT_VERSION);
  assert.match(h.vmrsVersion, /^\d+\.\d+\.\d+/);
  assert.ok(h.createdUnixMs >= before && h.createdUnixMs <= Date.now());
  assert.equal(h.kernel.path, 'k');
});
