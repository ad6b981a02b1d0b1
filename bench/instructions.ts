/**
 * Host instructions, counted by valgrind's callgrind, for a boot of the
 * default guest and a workload typed at its prompt, in one process (the
 * interpreter warm-up and V8's flags as `vmrs run` sets them). On a shared
 * machine whose speed moves by tens of percent from one run to the next,
 * wall-time pairs cannot see a change of a few percent; instruction counts
 * can, run to run within about 2%. They do not see everything: waits for
 * V8's compile threads, cache misses, system calls. So they tell where a
 * change moves work, and wall-time pairs (whole processes) say whether it
 * pays.
 *
 *   npm run bench -- --only instructions [--workload sha256sum|md5sum|gzip|awk|none] [--vs DIR]
 *
 * Prints the hart's thread (the guest's: interpreter, block loop, blocks,
 * the compiler's JavaScript) apart from all threads (V8's compile and GC
 * threads too), and the engine's own counters. `--vs DIR` counts another
 * built checkout of vmrs the same way (at the same time: counts do not
 * depend on load) and prints the ratios. About 5 minutes a run; needs
 * valgrind (`apt-get install valgrind`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WORKLOADS, WORKLOAD_DONE, runUntil } from './guest-workloads.js';

/** The workloads by the command they run (bench/guest-workloads.ts), or none: the boot alone. */
const WORKLOAD_NAMES = ['sha256sum', 'md5sum', 'gzip', 'awk', 'none'];

/** The engine's counters at the end of a run (printed by the child as one JSON line). */
interface Counters {
  icount: number;
  interpreted: number;
  modules: number;
  blocks: number;
  compiledInsns: number;
  /** (Absent from checkouts before 2026-12-05, stop 42.) */
  regionEntries?: number;
  /** (Absent from checkouts before 2026-12-06, stop 46.) */
  chained?: number;
}

/**
 * The child: boot the checkout at `root` (its dist/) to the prompt, run the
 * workload, print the counters. Imported from `root`, so that an older
 * checkout can be counted by this driver.
 */
async function child(root: string, workload: string): Promise<void> {
  const load = <T>(p: string) => import(pathToFileURL(join(root, 'dist', p)).href) as Promise<T>;
  const [{ VirtMachine }, { machineConfig }, { warmUpInterpreter }, { tuneWasmTiering }] =
    await Promise.all([
      load<typeof import('../src/machine/virt.js')>('src/machine/virt.js'),
      load<typeof import('../src/cli/run.js')>('src/cli/run.js'),
      load<typeof import('../src/machine/jit-warmup.js')>('src/machine/jit-warmup.js'),
      load<typeof import('../src/host/wasm-tiering.js')>('src/host/wasm-tiering.js'),
    ]);
  const cfg = await machineConfig({ memory: '256M', insnsPerTick: '10' }, () => {});
  tuneWasmTiering();
  warmUpInterpreter();
  const out = { text: '' };
  const vm = new VirtMachine(cfg, (b) => (out.text += String.fromCharCode(b)));
  runUntil(vm, out, (s) => /[#$] $/.test(s));
  const wl = WORKLOADS.find((w) => w.name.startsWith(`${workload} `));
  if (wl !== undefined) {
    out.text = '';
    vm.queueConsoleInput(new TextEncoder().encode(`${wl.cmd}\n`));
    runUntil(vm, out, (s) => s.includes(WORKLOAD_DONE));
  }
  const c = vm.cpu.code;
  const counters: Counters = {
    icount: vm.cpu.icount,
    interpreted: vm.cpu.icount - c.insnsInBlocks,
    modules: c.modules,
    blocks: c.compiled,
    compiledInsns: c.compiledInsns,
    regionEntries: c.regionEntries,
    chained: (c as { chained?: number }).chained,
  };
  console.log(JSON.stringify(counters));
}

interface Count {
  hart: number;
  all: number;
  counters: Counters;
}

/** Run the child for `root` under callgrind, one output file per thread; sum them. */
function count(root: string, workload: string): Promise<Count> {
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-callgrind-'));
  const args = [
    '--tool=callgrind',
    '--separate-threads=yes',
    '--smc-check=all-non-file', // V8 writes code into anonymous memory
    `--callgrind-out-file=${join(dir, 'cg.out')}`,
    process.execPath,
    fileURLToPath(import.meta.url),
    '--child',
    root,
    workload,
  ];
  return new Promise((done, fail) => {
    const p = spawn('valgrind', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', (e: NodeJS.ErrnoException) =>
      fail(
        e.code === 'ENOENT' ? new Error('valgrind is not installed: apt-get install valgrind') : e,
      ),
    );
    p.on('exit', (code) => {
      try {
        const line = stdout.trim().split('\n').pop() ?? '';
        if (code !== 0 || !line.startsWith('{'))
          throw new Error(`the counted run failed (exit ${code}): ${stderr.trim().slice(-800)}`);
        // One file per thread: cg.out-01 (the main thread: the hart's), cg.out-02, ...
        const files = readdirSync(dir)
          .filter((f) => /^cg\.out-\d+$/.test(f))
          .sort();
        const irOf = (f: string) =>
          Number(/^summary: (\d+)/m.exec(readFileSync(join(dir, f), 'utf8'))?.[1] ?? NaN);
        const irs = files.map(irOf);
        if (irs.length === 0 || irs.some((n) => !Number.isFinite(n)))
          throw new Error(`callgrind wrote no per-thread summaries in ${dir}`);
        done({
          hart: irs[0],
          all: irs.reduce((a, b) => a + b, 0),
          counters: JSON.parse(line) as Counters,
        });
        rmSync(dir, { recursive: true, force: true });
      } catch (e) {
        fail(e);
      }
    });
  });
}

function show(name: string, c: Count): void {
  const g = (n: number) => `${(n / 1e9).toFixed(3)} G`;
  const k = c.counters;
  console.log(
    `${name}: hart's thread ${g(c.hart)}, all threads ${g(c.all)}; guest ${(k.icount / 1e6).toFixed(1)} M ` +
      `instructions, ${(k.interpreted / 1e6).toFixed(2)} M interpreted, ${k.blocks} blocks ` +
      `(${k.compiledInsns} instructions) in ${k.modules} modules` +
      (k.regionEntries === undefined
        ? ''
        : `, ${(k.regionEntries / 1e6).toFixed(2)} M region entries`) +
      (k.chained === undefined ? '' : ` (and ${(k.chained / 1e6).toFixed(2)} M chained)`),
  );
}

export async function benchInstructions(argv: string[]): Promise<void> {
  const opt = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const workload = opt('--workload') ?? 'sha256sum';
  if (!WORKLOAD_NAMES.includes(workload))
    throw new Error(`--workload must be one of ${WORKLOAD_NAMES.join(', ')}`);
  const here = resolve(fileURLToPath(import.meta.url), '../../..');
  const other = opt('--vs');
  console.log(`host instructions (callgrind), boot + ${workload} in one process; about 5 minutes`);
  const [a, b] = await Promise.all([
    count(here, workload),
    other !== undefined ? count(resolve(other), workload) : undefined,
  ]);
  show('this checkout', a);
  if (b === undefined) return;
  show(other!, b);
  console.log(
    `ratio: hart's thread ${(a.hart / b.hart).toFixed(3)}, all threads ${(a.all / b.all).toFixed(3)}`,
  );
}

if (process.argv[2] === '--child') await child(process.argv[3], process.argv[4]);
