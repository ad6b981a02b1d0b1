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
