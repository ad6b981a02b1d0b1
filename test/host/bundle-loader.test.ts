import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../helpers/guest-session.js';

const LOADER = pathToFileURL(join(REPO_ROOT, 'dist/src/host/bundle-loader.js')).href;

/** Run `file` through runBundle in a new process: what it printed, and whether a cache was used. */
function run(file: string): { out: string; used: boolean } {
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { runBundle } = await import(${JSON.stringify(LOADER)});
       const used = runBundle(${JSON.stringify(file)});
       process.on('exit', () => console.log('used=' + used));`,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  return { out: lines.slice(0, -1).join('\n'), used: lines.at(-1) === 'used=true' };
}

/** A CommonJS program of a fixed length whose output is `word` (4 letters). */
const program = (word: string) =>
  `const path = require('node:path');\n` +
  `function say() { return path.basename(__filename) + ' ${word} ' + typeof module.exports; }\n` +
  `console.log(say());\n`;

test('the CLI bundle through V8 code cache: used when it fits the file, never for another file of the same length', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-bundle-'));
  const file = join(dir, 'main.cjs');
  const cache = `${file}.v8-cache`;
  writeFileSync(file, program('AAAA'));

  assert.deepEqual(run(file), { out: 'main.cjs AAAA object', used: false });
  assert.ok(statSync(cache).size > 0, 'the first run made the cache');
  assert.deepEqual(run(file), { out: 'main.cjs AAAA object', used: true });

  // Rebuilt with other code of the same length: V8 alone would take the old cache.
  const before = statSync(file).mtimeMs;
  writeFileSync(file, program('BBBB'));
  if (statSync(file).mtimeMs === before) writeFileSync(file, program('BBBB')); // same tick
  assert.equal(readFileSync(file).length, program('AAAA').length);
  assert.deepEqual(run(file), { out: 'main.cjs BBBB object', used: false });
  assert.deepEqual(run(file), { out: 'main.cjs BBBB object', used: true });

  // A damaged cache is not used, and is made again.
  const bytes = readFileSync(cache);
  bytes.fill(0x55, bytes.indexOf(10) + 20);
  writeFileSync(cache, bytes);
  assert.deepEqual(run(file), { out: 'main.cjs BBBB object', used: false });
  assert.deepEqual(run(file), { out: 'main.cjs BBBB object', used: true });
  writeFileSync(cache, 'not a cache');
  assert.deepEqual(run(file), { out: 'main.cjs BBBB object', used: false });

  // Where the cache cannot be written (a directory in its place), the program still runs.
  rmSync(cache);
  mkdirSync(cache);
  assert.deepEqual(run(file), { out: 'main.cjs BBBB object', used: false });
  assert.deepEqual(run(file), { out: 'main.cjs BBBB object', used: false });
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A CommonJS program that plays rvc.ts's part: it says what table it was
 * handed (entry 7, or none) and leaves one there: the one handed over, or
 * with `replace` another (as rvc.ts does with a table it refuses).
 */
const tableProgram = (fill: number, replace: boolean) =>
  `const g = globalThis, got = g.__vmrsRvcTable;\n` +
  `console.log(got instanceof Int32Array ? 'got ' + got.length + ' ' + got[7] : 'none');\n` +
  `if (!(got instanceof Int32Array) || ${replace})\n` +
  `  g.__vmrsRvcTable = new Int32Array(65536).fill(got instanceof Int32Array ? got[7] + 1 : ${fill});\n`;

test('the compressed-instruction table is kept beside the bundle and handed to the next process whole, for that bundle only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-bundle-'));
  const file = join(dir, 'main.cjs');
  const table = `${file}.rvc-table`;
  writeFileSync(file, tableProgram(-5, false));
  assert.equal(run(file).out, 'none');
  assert.ok(statSync(table).size > 4 * 65536, 'the first run kept its table');
  assert.equal(run(file).out, 'got 65536 -5');
  assert.equal(run(file).out, 'got 65536 -5');

  // A damaged table (its CRC no longer matches) is not handed over, and is made again.
  const bytes = readFileSync(table);
  bytes[bytes.length - 3] ^= 1;
  writeFileSync(table, bytes);
  assert.equal(run(file).out, 'none');
  assert.equal(run(file).out, 'got 65536 -5');
  // Cut short: not handed over either.
  writeFileSync(table, readFileSync(table).subarray(0, 1000));
  assert.equal(run(file).out, 'none');

  // Another bundle (rebuilt, the same length): the table of the old one is not its table.
  const before = statSync(file).mtimeMs;
  writeFileSync(file, tableProgram(-6, false));
  if (statSync(file).mtimeMs === before) writeFileSync(file, tableProgram(-6, false));
  assert.equal(run(file).out, 'none');
  assert.equal(run(file).out, 'got 65536 -6');

  // A bundle that refuses the table it was handed and makes its own: that one is kept.
  writeFileSync(file, tableProgram(9, true));
  assert.equal(run(file).out, 'none');
  assert.equal(run(file).out, 'got 65536 9');
  assert.equal(run(file).out, 'got 65536 10');
  rmSync(dir, { recursive: true, force: true });
});

/** The index of the first character above 0x7f, or -1. */
const firstNonAscii = (s: string): number => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return i;
  return -1;
};

test('the bundles are pure ASCII, so V8 holds their source as one-byte text (scripts/ascii-bundle.mjs)', () => {
  for (const name of ['main.cjs', 'verify-worker.js', 'queue-processor.js']) {
    const text = readFileSync(join(REPO_ROOT, 'dist/bundle', name), 'latin1');
    const at = firstNonAscii(text);
    assert.equal(at, -1, `${name}: a byte above 0x7f at ${at}: ${text.slice(at - 40, at + 10)}`);
  }
  // The step escapes what it finds, each UTF-16 unit as JavaScript reads \u escapes.
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-ascii-'));
  const file = join(dir, 'x.cjs');
  writeFileSync(file, '// a — b\nconsole.log("\u00a7", "😀".length);\n');
  const step = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/ascii-bundle.mjs'), file]);
  assert.equal(step.status, 0, String(step.stderr));
  const escaped = readFileSync(file, 'latin1');
  assert.equal(firstNonAscii(escaped), -1, escaped);
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8' });
  assert.equal(r.stdout, '§ 2\n');
  rmSync(dir, { recursive: true });
});
