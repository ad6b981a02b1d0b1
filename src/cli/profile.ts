/**
 * `vmrs profile FILE`: where the guest's instructions went, by process and
 * function. The replay is sampled every `--interval` instructions (the pc
 * then stands for the instructions since the last sample); a sample in
 * S-mode is the kernel's (named from vmlinux: the one beside the recorded
 * kernel image is found by itself, or give --symbols), in U-mode the
 * program's (named from the ELFs given with --symbols, else "[user]"), in
 * M-mode the firmware's. The process is the task running: `tp` in the
 * kernel, `sscratch` in user mode, named as `vmrs trace` names them. The
 * flat profile goes to standard output; --collapsed writes
 * "process;function count" lines, a flame graph's input (one frame deep:
 * no stacks are unwound).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { openReplayOf, readRecordingFile } from './open-replay.js';
import { UsageError } from './options.js';
import { analysisProgress } from './analysis-progress.js';
import { ElfFunctions } from '../analysis/elf-functions.js';
import { MachineGuestView } from '../plugin/guest-view.js';
import { CSR } from '../cpu/csr-numbers.js';
import { learnTaskLayout } from './trace.js';
import { REPLAY_DIVERGED } from './replay.js';

export interface ProfileOptions {
  symbols?: string[];
  interval: string;
  top: string;
  collapsed?: string;
  quiet?: boolean;
}

const PRIV_U = 0,
  PRIV_M = 3;

export async function profileCommand(file: string, opts: ProfileOptions): Promise<number> {
  const interval = Number(opts.interval);
  if (!Number.isSafeInteger(interval) || interval < 100)
    throw new UsageError('--interval must be a whole number of instructions (at least 100)');
  const top = Number(opts.top);
  if (!Number.isSafeInteger(top) || top < 1)
    throw new UsageError('--top must be a positive number');
  const log = (s: string) => !opts.quiet && process.stderr.write(`[vmrs] ${s}\n`);

  // Symbols: each ELF given, and the vmlinux beside the recorded kernel image.
  const tables: { name: string; fns: ElfFunctions }[] = [];
  for (const path of opts.symbols ?? []) {
    if (!existsSync(path)) throw new UsageError(`--symbols ${path}: no such file`);
    const fns = ElfFunctions.read(readFileSync(path));
    if (!fns) throw new UsageError(`--symbols ${path}: not an ELF64 file with a symbol table`);
    tables.push({ name: path, fns });
  }
  const rec = readRecordingFile(file);
  const kernelPath = rec.header.kernel.path;
  const vmlinux = kernelPath ? join(dirname(kernelPath), 'vmlinux') : undefined;
  if (vmlinux && existsSync(vmlinux) && !(opts.symbols ?? []).includes(vmlinux)) {
    const fns = ElfFunctions.read(readFileSync(vmlinux));
    if (fns) {
      tables.push({ name: vmlinux, fns });
      log(`kernel symbols from ${vmlinux}`);
    }
  }
  const lastIcount = rec.events.lastIcount ?? 0;
  rec.source.close?.();
  const show = !!process.stderr.isTTY && !opts.quiet;
  const name = (lo: number, hi: number) => {
    for (const t of tables) {
      const f = t.fns.find(lo, hi);
      if (f) return f;
    }
    return undefined;
  };

  const learning = analysisProgress('learning task layout', lastIcount, show);
  const layout = await learnTaskLayout(file, (i) => learning.update(i));
  learning.stop();
  const sampling = analysisProgress('profile', lastIcount, show);
  const { vm, replayer, close } = openReplayOf(readRecordingFile(file), {
    verify: true,
    log: () => {},
    stdout: () => {},
  });
  const weights = new Map<string, number>();
  let total = 0;
  let state: string;
  try {
    replayer.useFileCheckpoints(undefined);
    const guest = new MachineGuestView(vm);
    layout.rebind(guest);
    let last = vm.cpu.icount;
    for (;;) {
      const st = replayer.step(interval);
      const cpu = vm.cpu;
      sampling.update(cpu.icount);
      const n = cpu.icount - last;
      last = cpu.icount;
      if (n > 0) {
        let comm = '?';
        let fn: string;
        if (cpu.priv === PRIV_M) {
          comm = '[firmware]';
          fn = '[firmware]';
        } else {
          const task = cpu.priv === PRIV_U ? guest.csr(CSR.sscratch) : guest.x('tp');
          // Early in the boot the task has no name yet (or tp no task): '?'.
          if (task) comm = layout.commOf(task) || '?';
          fn = name(cpu.pcLo, cpu.pcHi) ?? (cpu.priv === PRIV_U ? '[user]' : '[kernel]');
          if (cpu.priv !== PRIV_U) fn = `[k] ${fn}`;
        }
        const key = `${comm};${fn}`;
        weights.set(key, (weights.get(key) ?? 0) + n);
        total += n;
      }
      if (st.state !== 'running') {
        state = st.state;
        if (st.state === 'diverged')
          process.stderr.write(
            `vmrs: the replay diverged at icount ${st.divergence.icount}: ${st.divergence.reason}; the profile stops there\n`,
          );
        break;
      }
      await new Promise<void>((r) => setImmediate(r));
    }
  } finally {
    sampling.stop();
    close();
  }
  const rows = [...weights].sort((a, b) => b[1] - a[1]);
  process.stdout.write(`${total} instructions, sampled every ${interval}\n`);
  process.stdout.write('      %  instructions  process  function\n');
  for (const [key, n] of rows.slice(0, top)) {
    const [comm, fn] = key.split(';');
    process.stdout.write(
      `${((100 * n) / total).toFixed(2).padStart(7)}  ${String(n).padStart(12)}  ${comm.padEnd(8)} ${fn}\n`,
    );
  }
  if (opts.collapsed) {
    writeFileSync(opts.collapsed, rows.map(([k, n]) => `${k} ${n}`).join('\n') + '\n');
    log(`collapsed stacks in ${opts.collapsed}`);
  }
  return state === 'diverged' ? REPLAY_DIVERGED : 0;
}
