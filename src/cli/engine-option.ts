/**
 * `--engine` and `--stats`: which execution engine a machine uses, and what
 * it did. The engine never changes what the guest sees (a recording made
 * with one replays with the other), so it is a host setting and not part of
 * a recording.
 */
import { ENGINES, type Cpu, type Engine } from '../cpu/cpu.js';
import { canCompile } from '../cpu/translate-wasm.js';
import { UsageError } from './options.js';

/** The engine named by --engine, else $VMRS_ENGINE, else the CPU's default. */
export function chooseEngine(cpu: Cpu, option: string | undefined): void {
  const name = option ?? process.env.VMRS_ENGINE;
  if (name === undefined || name === '') return;
  if (!ENGINES.includes(name as Engine))
    throw new UsageError(`--engine must be one of ${ENGINES.join(', ')} (not '${name}')`);
  if (name === 'translate' && !canCompile)
    throw new UsageError(
      '--engine translate: this host does not allow compiling WebAssembly at run time',
    );
  if (name === 'translate' && cpu.bus.memory === undefined)
    throw new UsageError(
      '--engine translate: guest RAM this large does not fit in a WebAssembly memory (at most 4095M); use --engine interp',
    );
  cpu.engine = name as Engine;
}

/** Figures of the engine for --stats (and `host`: threadTimesSince's line, where known). */
export function engineStats(cpu: Cpu, wallMs: number, host?: string): string {
  const c = cpu.code;
  const mips = cpu.icount / wallMs / 1000;
  const lines = [
    `engine ${cpu.engine}: ${cpu.icount} instructions in ${(wallMs / 1000).toFixed(2)} s (${mips.toFixed(1)} MIPS)`,
  ];
  if (cpu.engine === 'translate')
    lines.push(
      `blocks: ${c.compiled} compiled in ${c.modules} modules (${c.compiledInsns} instructions, ${c.compileMs.toFixed(0)} ms), ` +
        `${c.insnsInBlocks} instructions run in blocks (${c.regionEntries} region entries, ${c.chained} more chained), ${c.invalidations} code-page invalidations, ${c.functions} live (${c.all.size} entry points), ${c.flushes} flushes for room`,
    );
  if (host !== undefined) lines.push(host);
  return lines.map((l) => `vmrs: ${l}\n`).join('');
}
