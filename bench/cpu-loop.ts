/**
 * CPU interpreter speed: builds bench/cpu-loop.S with the cross compiler
 * (skips if it is not installed), runs it on the bare machine and prints
 * MIPS. Usage: node dist/bench/cpu-loop.js [iterations]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadElf, makeBareMachine, runToHost } from '../test/helpers/bare-machine.js';

const CC = 'riscv64-linux-gnu-gcc';

/** The .S source in the source tree: from the compiled file (dist/bench -> bench), else the cwd. */
function sourcePath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, '..', '..', 'bench', 'cpu-loop.S');
  return existsSync(beside) ? beside : join(process.cwd(), 'bench', 'cpu-loop.S');
}

export function buildLoop(iters: number): Uint8Array | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-bench-'));
  const out = join(dir, 'loop.elf');
  try {
    execFileSync(
      CC,
      [
        '-march=rv64gc',
        '-mabi=lp64',
        '-nostdlib',
        '-nostartfiles',
        '-static',
        '-no-pie',
        '-fno-PIE',
        '-Wl,-Ttext-segment=0x80000000',
        '-Wl,--build-id=none',
        `-DITERS=${iters}`,
        '-o',
        out,
        sourcePath(),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    return readFileSync(out);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main(): void {
  const iters = Number(process.argv[2] ?? 20000);
  const elf = buildLoop(iters);
  if (!elf) {
    console.log(`cpu-loop: skipped (${CC} not installed)`);
    return;
  }
  for (let round = 0; round < 3; round++) {
    const m = makeBareMachine(1 << 20);
    const syms = loadElf(m, elf);
    const t0 = performance.now();
    const r = runToHost(m, syms.get('tohost')!, 2e9);
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`cpu-loop did not finish (status ${r.status})`);
    console.log(
      `cpu-loop: ${r.icount} instructions in ${ms.toFixed(0)} ms = ${(r.icount / ms / 1000).toFixed(1)} MIPS`,
    );
  }
}

main();
