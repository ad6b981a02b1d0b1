/**
 * The soak command: records real sessions of the default guest with
 * `vmrs record` (random input timing, network, disks, devices, memory and
 * digest intervals), replays each with `vmrs replay`, and counts
 * divergences and other failures. Every run derives from the seed and its
 * number, so one can be repeated alone.
 *
 *   node dist/bench/soak.js [--runs N] [--seed S] [--jobs J] [--first K | --only-run K]
 *                           [--kill] [--dir DIR] [--keep]
 *   npm run soak -- ...   (or npm run bench -- --only soak ...)
 *
 * --kill: kill -9 each recorder at a random moment (boot, workload, idle)
 * instead of ending its session, and check the recording replays to its
 * last whole chunk, exits 3 and says where it ends.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureDefaultGuest } from '../src/host/default-guest.js';
import { hasPasst } from '../test/helpers/host-tools.js';
import { soak, stopChildren, summarize, type RunResult, type SoakOptions } from './soak/runner.js';

function usage(msg: string): never {
  process.stderr.write(`soak: ${msg}\n`);
  process.exit(2);
}

function whole(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) usage(`--${name} needs a whole number, not '${v}'`);
  return n;
}

export async function soakMain(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: false,
    options: {
      runs: { type: 'string' },
      seed: { type: 'string' },
      jobs: { type: 'string' },
      first: { type: 'string' },
      'only-run': { type: 'string' },
      kill: { type: 'boolean' },
      dir: { type: 'string' },
      keep: { type: 'boolean' },
    },
  });
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const seed = whole('seed', str('seed'), Math.floor(Math.random() * 0x7fffffff));
  const only = str('only-run');
  const first = whole('first', only ?? str('first'), 0);
  const runs = only !== undefined ? 1 : whole('runs', str('runs'), 20);
  const jobs = Math.max(1, whole('jobs', str('jobs'), 1));
  const kill = values.kill === true;
  if (!hasPasst())
    usage('passt is not installed (Debian package passt): the soak needs --net user');
  await ensureDefaultGuest({ log: (s) => process.stderr.write(`[vmrs] ${s}\n`) });
  const dir = str('dir') ? resolve(str('dir')!) : mkdtempSync(join(tmpdir(), `vmrs-soak-${seed}-`));
  mkdirSync(dir, { recursive: true });
  const opts: SoakOptions = {
    seed,
    first,
    runs,
    jobs,
    kill,
    dir,
    keep: values.keep === true,
    log: (l) => console.log(l),
  };
  console.log(
    `soak${kill ? ' (kill -9 mode)' : ''}: seed ${seed}, runs ${first}..${first + runs - 1}, ${jobs} job${jobs > 1 ? 's' : ''}; ` +
      `recordings of failed runs are kept in ${dir}`,
  );
  const done: RunResult[] = [];
  opts.onResult = (r) => done.push(r);
  const t0 = performance.now();
  const interrupted = () => {
    stopChildren();
    console.log(`interrupted\n${summarize(done, opts, (performance.now() - t0) / 1000)}`);
    process.exit(130);
  };
  process.on('SIGINT', interrupted);
  process.on('SIGTERM', interrupted);
  const { results, line } = await soak(opts);
  console.log(line);
  if (readdirSync(dir).length === 0 && !str('dir')) rmSync(dir, { recursive: true, force: true });
  return results.every((r) => r.verdict === 'ok') ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href)
  process.exitCode = await soakMain(process.argv.slice(2));
