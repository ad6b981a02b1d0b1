import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMemorySize, UsageError } from '../../src/cli/options.js';

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
