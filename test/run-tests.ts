/**
 * `npm test` (after compiling): every test file test/**\/*.test.ts, at any
 * depth, run from its compiled form in dist/test with node's test runner.
 * The list comes from the sources, so a compiled test whose source was
 * deleted or renamed is never run (it is removed), and a test that was not
 * compiled, or is older than its source, is an error rather than a stale run.
 *
 * Arguments narrow the run to the files whose path contains one of them:
 * `npm test -- e2e/seek cpu/`. The run's random seed (VMRS_TEST_SEED, or
 * one drawn now) is printed before and, on failure, after the run.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_SEED } from './helpers/seed.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = join(ROOT, 'test');
const OUT = join(ROOT, 'dist/test');

/** Files under `dir` ending in `suffix`, as paths relative to `dir`, sorted. */
function walk(dir: string, suffix: string): string[] {
  const found: string[] = [];
  const visit = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) visit(p);
      else if (e.isFile() && e.name.endsWith(suffix)) found.push(relative(dir, p));
    }
  };
  visit(dir);
  return found.sort();
}

const fail = (msg: string): never => {
  process.stderr.write(`run-tests: ${msg}\n`);
  process.exit(1);
};

const sources = walk(SRC, '.test.ts').map((f) => f.slice(0, -'.ts'.length));
const compiled = walk(OUT, '.test.js').map((f) => f.slice(0, -'.js'.length));
const wanted = new Set(sources);

/**
 * Source text digests tsc recorded at its last build (dist/.tsbuildinfo). A
 * source saved again unchanged (a formatter, a checkout) is newer than its
 * compiled file, but tsc, which compares contents, has nothing to emit: the
 * compiled file is current when tsc's digest of the source is that of its
 * text now.
 */
const built = (() => {
  const digests = new Map<string, string>();
  try {
    const info = JSON.parse(readFileSync(join(ROOT, 'dist/.tsbuildinfo'), 'utf8')) as {
      fileNames?: string[];
      fileInfos?: ({ version?: string } | string)[];
    };
    info.fileNames?.forEach((name, i) => {
      const fi = info.fileInfos?.[i];
      const v = typeof fi === 'string' ? fi : fi?.version;
      if (v) digests.set(resolve(ROOT, 'dist', name), v);
    });
  } catch {
    // No build info (or another format): the modification times decide alone.
  }
  return digests;
})();

function compiledAsIs(f: string): boolean {
  const src = join(SRC, `${f}.ts`);
  const v = built.get(src);
  return (
    v !== undefined && v === createHash('sha256').update(readFileSync(src, 'utf8')).digest('hex')
  );
}

for (const stale of compiled.filter((f) => !wanted.has(f))) {
  process.stderr.write(`run-tests: removing dist/test/${stale}.js (its source is gone)\n`);
  rmSync(join(OUT, `${stale}.js`), { force: true });
  rmSync(join(OUT, `${stale}.js.map`), { force: true });
}
for (const f of sources) {
  const js = join(OUT, `${f}.js`);
  if (!existsSync(js)) fail(`test/${f}.ts is not compiled (run npm run build)`);
  if (statSync(js).mtimeMs < statSync(join(SRC, `${f}.ts`)).mtimeMs && !compiledAsIs(f))
    fail(`dist/test/${f}.js is older than its source (run npm run build)`);
}

const filters = process.argv.slice(2);
const selected = sources.filter(
  (f) => filters.length === 0 || filters.some((x) => `test/${f}.ts`.includes(x)),
);
if (selected.length === 0) fail(`no test file matches ${filters.join(' ')}`);

const seedLine = `random seed: VMRS_TEST_SEED=${TEST_SEED} repeats this run's random inputs`;
process.stderr.write(`run-tests: ${selected.length} test files; ${seedLine}\n`);
const child = spawn(process.execPath, ['--test', ...selected.map((f) => join(OUT, `${f}.js`))], {
  stdio: 'inherit',
  env: { ...process.env, VMRS_TEST_SEED: String(TEST_SEED) },
});
child.on('exit', (code, signal) => {
  if (code !== 0) process.stderr.write(`run-tests: failed; ${seedLine}\n`);
  process.exit(code ?? (signal ? 1 : 0));
});
