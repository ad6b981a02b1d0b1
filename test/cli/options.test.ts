import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_GUEST_RAM,
  parseGuestMemorySize,
  parseInstructionCount,
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

test('instruction counts: whole numbers, or with k, M or G as --checkpoint-every takes them', () => {
  const cases: [string, number][] = [
    ['0', 0],
    ['50000000', 50_000_000],
    ['185M', 185_000_000],
    ['1.5G', 1_500_000_000],
    ['20k', 20_000],
    ['1.1k', 1100],
    ['0.25M', 250_000],
    [' 42 ', 42],
    ['1e6', 1_000_000],
    ['0x1000', 4096],
  ];
  for (const [text, n] of cases) assert.equal(parseInstructionCount('--to', text), n, text);
  for (const text of [
    'soon',
    '',
    ' ',
    '-5',
    '12.5',
    '1.0005k',
    '5m',
    '3T',
    'M',
    '9007199254740993',
  ])
    assert.throws(
      () => parseInstructionCount('--to', text),
      (e: Error) =>
        e instanceof UsageError &&
        e.message.startsWith('--to must be an instruction count: a whole number') &&
        e.message.endsWith(`not '${text}'`),
      text,
    );
  assert.equal(parseInstructionCount('--interval', '100', 100), 100);
  assert.throws(
    () => parseInstructionCount('--interval', '99', 100),
    /--interval must be an instruction count of at least 100/,
  );
});
