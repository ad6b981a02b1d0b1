/**
 * vmrs benchmarks: instructions retired, wall time and MIPS for
 *   1. a Linux boot of the default guest to the shell prompt, and
 *   2. a CPU-bound workload typed into that shell,
 * and, where qemu-system-riscv64 is installed, the same workload under QEMU
 * on the same images.
 *
 * Idle time (WFI) is skipped at once here so the figures measure execution.
 * Then device throughput (bench/devices.ts) and record/replay figures
 * (bench/record-replay.ts).
 * and time travel (bench/time-travel.ts), and the web app in Chromium (bench/browser.ts).
 *   npm run bench [-- --only cpu|qemu|whole|shell|devices|record|qemu-rr|time-travel|scale|browser]
 *   npm run bench -- --only whole [--pairs N]   (bench/whole-process.ts: vmrs run against QEMU
 *     as whole processes, boot + sha256sum + poweroff, N interleaved pairs, 8 by default)
 *   npm run bench -- --only shell [--pairs N]   (bench/shell-workloads.ts: forks, a shell loop,
 *     sort, gzip, text tools typed into vmrs run and QEMU, N interleaved pairs, 3 by default)
 *   npm run bench -- --only soak [soak options]   (bench/soak.ts; not part of the full run)
 *   npm run bench -- --only instructions [--workload W] [--vs DIR]   (bench/instructions.ts:
 *     host instructions under callgrind; not part of the full run)
 *   npm run bench -- --only wasm-calls   (bench/wasm-calls.ts: what V8 charges for each way from
 *     one block function to another; not part of the full run)
 */
import { benchScale } from './scale.js';
import { benchShellWorkloads } from './shell-workloads.js';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { hasV8PoolOption, v8PoolOption } from '../src/host/v8-pool.js';
import { VirtMachine, type VirtConfig } from '../src/machine/virt.js';
import type { Engine } from '../src/cpu/cpu.js';
import { machineConfig } from '../src/cli/run.js';
import { warmUpInterpreter } from '../src/machine/jit-warmup.js';
import { tuneWasmTiering } from '../src/host/wasm-tiering.js';
import { QEMU_BINARY, qemuAvailable, qemuVirtArgs } from '../src/host/qemu.js';
import { ensureDefaultGuest } from '../src/host/default-guest.js';
import { benchDevices } from './devices.js';
import { benchRecordReplay, qemuRecord } from './record-replay.js';
import { benchTimeTravel } from './time-travel.js';
import { benchBrowser } from './browser.js';
import { benchWholeProcess } from './whole-process.js';
import { REPO_ROOT, fmt } from './cli-session.js';
import { bundleIsCurrent } from '../src/host/bundle-loader.js';
import { WORKLOADS, WORKLOAD_DONE, runUntil } from './guest-workloads.js';

// In-process figures (boot, workloads) with V8's pool as bin/vmrs sizes it (src/host/v8-pool.ts),
// so that they are what the vmrs command gets: started without it, run again with it.
if (!hasV8PoolOption()) {
  const again = spawnSync(
    process.execPath,
    [v8PoolOption(), ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  process.exit(again.status ?? 1);
}

if (!bundleIsCurrent(join(REPO_ROOT, 'dist')))
  console.log(
    'note: the CLI bundle is older than the last compile, so bin/vmrs loads the compiled modules ' +
      '(slower starts in every whole-process figure): run `npm run bundle` first',
  );

/** The translator's costs since `before` (a copy of the cache's counters). */
function translationCost(vm: VirtMachine, secs: number, before: TranslationCounters): string {
  const c = vm.cpu.code;
  const blocks = c.compiled - before.compiled;
  const ms = c.compileMs - before.compileMs;
  const inv = c.invalidations - before.invalidations;
  const inBlocks = c.insnsInBlocks - before.insnsInBlocks;
  const entries = c.regionEntries - before.regionEntries;
  const chained = c.chained - before.chained;
  return (
    `${blocks} blocks compiled (${c.modules - before.modules} modules), compiling ${fmt(ms, 0)} ms ` +
    `(${fmt((100 * ms) / (secs * 1000), 0)}% of the time), ${fmt(inv / secs, 0)} invalidations/s, ` +
    `${fmt((100 * inBlocks) / (vm.cpu.icount - before.icount), 0)}% of instructions in blocks, ` +
    `${fmt(entries / 1e6, 2)} M region entries (and ${fmt(chained / 1e6, 2)} M chained)`
  );
}

interface TranslationCounters {
  compiled: number;
  compileMs: number;
  invalidations: number;
  modules: number;
  insnsInBlocks: number;
  regionEntries: number;
  chained: number;
  icount: number;
}

/** A machine's counters before it runs. */
const ZERO_COUNTERS: TranslationCounters = {
  compiled: 0,
  compileMs: 0,
  invalidations: 0,
  modules: 0,
  insnsInBlocks: 0,
  regionEntries: 0,
  chained: 0,
  icount: 0,
};

function counters(vm: VirtMachine): TranslationCounters {
  const c = vm.cpu.code;
  return {
    compiled: c.compiled,
    compileMs: c.compileMs,
    invalidations: c.invalidations,
    modules: c.modules,
    insnsInBlocks: c.insnsInBlocks,
    regionEntries: c.regionEntries,
    chained: c.chained,
    icount: vm.cpu.icount,
  };
}

/** A new machine on `engine`, booted to the shell prompt; the boot's wall time. */
function bootToPrompt(cfg: VirtConfig, engine: Engine) {
  const out = { text: '' };
  const vm = new VirtMachine(cfg, (b) => {
    out.text += String.fromCharCode(b);
  });
  vm.cpu.engine = engine;
  const t0 = performance.now();
  runUntil(vm, out, (s) => /[#$] $/.test(s));
  return { vm, out, seconds: (performance.now() - t0) / 1000 };
}

async function benchVmrs(engine: Engine): Promise<void> {
  const cfg = await machineConfig({ memory: '256M', insnsPerTick: '10' }, (s) =>
    process.stderr.write(`[vmrs] ${s}\n`),
  );
  const tag = `vmrs ${engine.padEnd(9)}`;
  // As the vmrs command does before a guest starts (src/machine/jit-warmup.ts).
  tuneWasmTiering(); // as the vmrs command does (src/cli/warm-up.ts)
  const tw = performance.now();
  const w = warmUpInterpreter();
  console.log(
    `${tag} interpreter warm-up  : ${fmt(w.instructions / 1e6, 2)} M instructions, ${fmt(performance.now() - tw, 0)} ms`,
  );
  const { vm, out, seconds: bootSeconds } = bootToPrompt(cfg, engine);
  const bootInsns = vm.cpu.icount;
  console.log(
    `${tag} boot to shell prompt : ${fmt(bootInsns / 1e6)} M instructions, ${fmt(bootSeconds, 2)} s, ` +
      `${fmt(bootInsns / bootSeconds / 1e6)} MIPS (guest time ${fmt(vm.now() / 1e7, 2)} s)`,
  );
  if (engine === 'translate')
    console.log(`${tag}   translation: ${translationCost(vm, bootSeconds, ZERO_COUNTERS)}`);
  // Each workload twice: its first run compiles its code (and the kernel's it reaches); the
  // second is the steady state, that code compiled (QEMU's translation cache likewise).
  for (const wl of WORKLOADS)
    for (const run of ['first', 'again']) {
      out.text = '';
      vm.queueConsoleInput(new TextEncoder().encode(wl.cmd + '\n'));
      const i0 = vm.cpu.icount;
      const before = counters(vm);
      const t0 = performance.now();
      runUntil(vm, out, (s) => s.includes(WORKLOAD_DONE));
      const dt = (performance.now() - t0) / 1000;
      const n = vm.cpu.icount - i0;
      console.log(
        `${tag} workload (${wl.name}, ${run}): ${fmt(n / 1e6)} M instructions, ${fmt(dt, 2)} s, ${fmt(n / dt / 1e6)} MIPS`,
      );
      if (engine === 'translate')
        console.log(`${tag}   translation: ${translationCost(vm, dt, before)}`);
    }
  if (engine === 'translate') bootAgain(cfg, tag, bootSeconds);
}

/**
 * The same boot on a new machine in this process: by now V8 has optimized
 * vmrs's own JavaScript (the interpreter, the translator, the devices), and
 * it keeps compiled WebAssembly by its bytes, so the boot's modules, written
 * again byte for byte, are not compiled again. What the first boot took
 * beyond this one is a process's warm-up, which no process keeps for the
 * next (Node 20 cannot store optimized code or compiled WebAssembly).
 */
function bootAgain(cfg: VirtConfig, tag: string, first: number): void {
  const { vm, seconds: dt } = bootToPrompt(cfg, 'translate');
  const c = vm.cpu.code;
  console.log(
    `${tag} boot again, same process: ${fmt(dt, 2)} s against ${fmt(first, 2)} s the first time; ` +
      `compiling ${fmt(c.compileMs, 0)} ms, ${fmt(c.interpreted / 1e6, 2)} M instructions interpreted`,
  );
}

async function benchQemu(): Promise<void> {
  if (!qemuAvailable()) {
    console.log('qemu  (qemu-system-riscv64 not installed: skipped)');
    return;
  }
  const g = await ensureDefaultGuest({});
  const args = qemuVirtArgs(g.kernel, g.initrd);
  const child = spawn(QEMU_BINARY, args, { stdio: 'pipe' });
  // The prompt, then each workload twice (as benchVmrs runs them), then poweroff.
  const steps = WORKLOADS.flatMap((wl) =>
    [`${wl.name}, first`, `${wl.name}, again`].map((name) => ({ name, cmd: wl.cmd })),
  );
  const times: number[] = [];
  let text = '';
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('QEMU run did not finish'));
    }, 300_000);
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      const done = times.length === 0 ? /[#$] $/.test(text) : text.includes(WORKLOAD_DONE);
      if (!done || times.length > steps.length) return;
      times.push(performance.now());
      text = '';
      const next = steps[times.length - 1];
      child.stdin.write(next ? next.cmd + '\n' : 'poweroff -f\n');
    });
    child.on('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  if (times.length <= steps.length)
    throw new Error('QEMU run did not reach the end of the workloads');
  console.log(
    `qemu           boot to shell prompt : ${fmt((times[0] - t0) / 1000, 2)} s (TCG, wall time)`,
  );
  steps.forEach((s, k) =>
    console.log(
      `qemu           workload (${s.name}): ${fmt((times[k + 1] - times[k]) / 1000, 2)} s`,
    ),
  );
}

const only = process.argv.includes('--only')
  ? process.argv[process.argv.indexOf('--only') + 1]
  : '';
if (!only || only === 'cpu' || only === 'boot' || only === 'workload') {
  await benchVmrs('translate');
  await benchVmrs('interp');
}
if (!only || only === 'qemu') await benchQemu();
/** `--pairs N`, or `dflt` without it. */
function pairsArg(dflt: number): number {
  const at = process.argv.indexOf('--pairs');
  const pairs = at > 0 ? Number(process.argv[at + 1]) : dflt;
  if (!Number.isSafeInteger(pairs) || pairs < 1) throw new Error('--pairs needs a whole number');
  return pairs;
}
if (!only || only === 'whole') await benchWholeProcess(pairsArg(8));
if (!only || only === 'shell') await benchShellWorkloads(pairsArg(3));
if (!only || only === 'devices') await benchDevices();
if (!only || only === 'record') await benchRecordReplay();
if (only === 'qemu-rr') await qemuRecord();
if (!only || only === 'time-travel') await benchTimeTravel();
if (!only || only === 'scale') await benchScale();
if (!only || only === 'browser')
  await benchBrowser(
    process.argv.includes('--rounds')
      ? Number(process.argv[process.argv.indexOf('--rounds') + 1])
      : 3,
  );
if (only === 'instructions') {
  const { benchInstructions } = await import('./instructions.js');
  await benchInstructions(process.argv.slice(2));
}
if (only === 'wasm-calls') {
  const { benchWasmCalls } = await import('./wasm-calls.js');
  benchWasmCalls();
}
if (only === 'soak') {
  const { soakMain } = await import('./soak.js');
  process.exitCode = await soakMain(process.argv.slice(2));
}
