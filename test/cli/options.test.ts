import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_GUEST_RAM,
  parseGuestMemorySize,
  parseMemorySize,
  UsageError,
} from '../../src/cli/options.js';
import { Bus } from '../../src/machine/bus.js';

test('memory sizes follow QEMU: plain numbers are MiB, K/M/G suffixes', () => {
  assert.equal(parseMemorySize('256'), 256 * 1024 * 1024);
  assert.equal(parseMemorySize('256M'), 256 * 1024 * 1024);
  assert.equal(parseMemorySize('1G'), 1024 * 1024 * 1024);
  assert.equal(parseMemorySize('1g'), 1024 * 1024 * 1024);
  assert.equal(parseMemorySize('65536K'), 64 * 1024 * 1024);
  assert.equal(parseMemorySize('512MiB'), 512 * 1024 * 1024);
});

test('bad memory sizes are usage errors', () => {
  for (const bad of ['', 'lots', '-5', '0', '12Q', '100T']) {
    assert.throws(() => parseMemorySize(bad), UsageError, bad);
  }
});

test('guest RAM: up to what one typed array holds on this Node, a usage error beyond', () => {
  // The largest size accepted is one a machine's bus can really allocate.
  const max = parseGuestMemorySize(`${MAX_GUEST_RAM / 1024 ** 2}M`);
  assert.equal(max, MAX_GUEST_RAM);
  assert.equal(new Bus(0x80000000, max).ram8.length, max);
  assert.throws(
    () => parseGuestMemorySize(`${MAX_GUEST_RAM / 1024 ** 2 + 4}M`),
    /too large: at most \d+G of guest RAM/,
  );
});
