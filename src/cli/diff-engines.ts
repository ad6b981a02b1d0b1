/**
 * `vmrs diff-engines`: boot one machine twice, on the translator and on the
 * interpreter, side by side, and compare them slice by slice (see
 * machine/engine-lockstep.ts). Exit 0 when they agree to the end, 2 at the
 * first difference (which it names), 1 on bad input.
 */
import { lockstep, describeDivergence } from '../machine/engine-lockstep.js';
import { VirtMachine } from '../machine/virt.js';
import { canCompile } from '../cpu/translate-wasm.js';
import { machineConfig, type MachineOptions } from './run.js';
import { UsageError, parseInstructionCount } from './options.js';

export interface DiffEnginesOptions extends MachineOptions {
  insns: string;
  slice: string;
}

export async function diffEnginesCommand(opts: DiffEnginesOptions): Promise<number> {
  const maxInsns = parseInstructionCount('--insns', opts.insns, 1);
  const slice = parseInstructionCount('--slice', opts.slice, 1);
  if (!canCompile)
    throw new UsageError('this host cannot compile WebAssembly: there is no translator to compare');
  const log = (s: string) => {
    if (!opts.quiet) process.stderr.write(`vmrs: ${s}\n`);
  };
  const config = await machineConfig(opts, log);
  const t0 = performance.now();
  let lastReport = t0;
  const result = lockstep(
    (engine) => {
      const vm = new VirtMachine(config, () => {});
      vm.cpu.engine = engine;
      return vm;
    },
    {
      slice,
      maxInsns,
      progress: (icount) => {
        const now = performance.now();
        if (now - lastReport > 2000) {
          lastReport = now;
          log(`${icount} instructions compared`);
        }
      },
    },
  );
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  if (result.divergence) {
    process.stdout.write(`${describeDivergence(result.divergence)}\n`);
    return 2;
  }
  process.stdout.write(
    `engines agree: ${result.icount} instructions in ${result.slices} slices compared (${result.end}, ${secs} s)\n`,
  );
  return 0;
}
