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
 * and time travel (bench/time-travel.ts).
 *   npm run bench [-- --only cpu|qemu|devices|record|qemu-rr|time-travel]
 *   npm run bench -- --only soak [soak options]   (bench/soak.ts; not part of the full run)
 */
import { spawn } from 'node:child_process';
import { VirtMachine } from '../src/machine/virt.js';
import { machineConfig } from '../src/cli/run.js';
import { warmUpInterpreter } from '../src/machine/jit-warmup.js';
import { QEMU_BINARY, qemuAvailable, qemuVirtArgs } from '../src/host/qemu.js';
import { ensureDefaultGuest } from '../src/host/default-guest.js';
import { benchDevices } from './devices.js';
import { benchRecordReplay, qemuRecord } from './record-replay.js';
import { benchTimeTravel } from './time-travel.js';

const WORKLOAD = 'dd if=/dev/zero bs=64k count=64 2>/dev/null | md5sum; echo WORKLOAD-$((40+2))';
const WORKLOAD_DONE = 'WORKLOAD-42';

function fmt(n: number, d = 1): string {
  return n.toFixed(d);
}

/** Run the machine, skipping idle, until `done(output)` is true. */
function runUntil(vm: VirtMachine, out: { text: string }, done: (s: string) => boolean): void {
  for (;;) {
    const { result } = vm.runSlice(1 << 20);
    if (done(out.text)) return;
    if (result === 'exit') throw new Error(`guest exited: ${JSON.stringify(vm.exit)}`);
    if (result === 'idle') {
      const d = vm.nextDeadline();
      if (d === Infinity) throw new Error('guest idles with no timer armed and no input pending');
      vm.advanceTimeTo(d);
    }
  }
}

async function benchVmrs(): Promise<void> {
  const cfg = await machineConfig({ memory: '256M', insnsPerTick: '10' }, (s) =>
    process.stderr.write(`[vmrs] ${s}\n`),
  );
  // As the vmrs command does before a guest starts (src/machine/jit-warmup.ts).
  const tw = performance.now();
  const w = warmUpInterpreter();
  console.log(
    `vmrs  interpreter warm-up  : ${fmt(w.instructions / 1e6, 2)} M instructions, ${fmt(performance.now() - tw, 0)} ms`,
  );
  const out = { text: '' };
  const vm = new VirtMachine(cfg, (b) => {
    out.text += String.fromCharCode(b);
  });
  const promptSeen = (s: string) => /[#$] $/.test(s);
  let t0 = performance.now();
  runUntil(vm, out, promptSeen);
  let dt = (performance.now() - t0) / 1000;
  const bootInsns = vm.cpu.icount;
  console.log(
    `vmrs  boot to shell prompt : ${fmt(bootInsns / 1e6)} M instructions, ${fmt(dt, 2)} s, ` +
      `${fmt(bootInsns / dt / 1e6)} MIPS (guest time ${fmt(vm.now() / 1e7, 2)} s)`,
  );
  vm.queueConsoleInput(new TextEncoder().encode(WORKLOAD + '\n'));
  const i0 = vm.cpu.icount;
  t0 = performance.now();
  runUntil(vm, out, (s) => s.includes(WORKLOAD_DONE));
  dt = (performance.now() - t0) / 1000;
  const wl = vm.cpu.icount - i0;
  console.log(
    `vmrs  workload (md5sum 4 MiB): ${fmt(wl / 1e6)} M instructions, ${fmt(dt, 2)} s, ${fmt(wl / dt / 1e6)} MIPS`,
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
  let text = '';
  const t0 = performance.now();
  let tBoot = 0;
  let tWork = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('QEMU run did not finish'));
    }, 300_000);
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (!tBoot && /[#$] $/.test(text)) {
        tBoot = performance.now();
        child.stdin.write(WORKLOAD + '\n');
      } else if (tBoot && !tWork && text.includes(WORKLOAD_DONE)) {
        tWork = performance.now();
        child.stdin.write('poweroff -f\n');
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  if (!tWork) throw new Error('QEMU run did not reach the end of the workload');
  console.log(`qemu  boot to shell prompt : ${fmt((tBoot - t0) / 1000, 2)} s (TCG, wall time)`);
  console.log(`qemu  workload (md5sum 4 MiB): ${fmt((tWork - tBoot) / 1000, 2)} s`);
}

const only = process.argv.includes('--only')
  ? process.argv[process.argv.indexOf('--only') + 1]
  : '';
if (!only || only === 'cpu' || only === 'boot' || only === 'workload') await benchVmrs();
if (!only || only === 'qemu') await benchQemu();
if (!only || only === 'devices') await benchDevices();
if (!only || only === 'record') await benchRecordReplay();
if (only === 'qemu-rr') await qemuRecord();
if (!only || only === 'time-travel') await benchTimeTravel();
if (only === 'soak') {
  const { soakMain } = await import('./soak.js');
  process.exitCode = await soakMain(process.argv.slice(2));
}
