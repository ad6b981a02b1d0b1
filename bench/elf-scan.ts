/**
 * ELF loading time: a crafted ELF made to make a symbol scan quadratic
 * (test/fuzz/hostile-elf.ts: a NUL-less string table, thousands of symbols
 * naming suffixes of it, hundreds of section headers claiming to be the
 * symbol table), and the default guest's vmlinux when it is built.
 *   node dist/bench/elf-scan.js
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseElf } from '../src/machine/elf.js';
import { hostileElf } from '../test/fuzz/hostile-elf.js';
import { cacheRoot } from '../src/host/default-guest.js';

function time(name: string, bytes: Uint8Array): void {
  parseElf(bytes);
  const runs = 5;
  const t0 = performance.now();
  let symbols = 0;
  for (let i = 0; i < runs; i++) symbols = parseElf(bytes).symbols.size;
  const ms = (performance.now() - t0) / runs;
  console.log(
    `elf ${name.padEnd(44)} ${(bytes.length / 1024).toFixed(0).padStart(6)} KB  ${symbols.toString().padStart(6)} symbols  ${ms.toFixed(1).padStart(7)} ms`,
  );
}

time('crafted, one symbol table', hostileElf({ strtabBytes: 100_000, symbols: 6000, symtabs: 1 }));
time(
  'crafted, 700 symbol tables',
  hostileElf({ strtabBytes: 100_000, symbols: 6000, symtabs: 700 }),
);
time('crafted, 4x as big', hostileElf({ strtabBytes: 400_000, symbols: 24_000, symtabs: 2800 }));
const guests = join(cacheRoot(), 'guests');
const vmlinux = existsSync(guests)
  ? spawnSync('sh', ['-c', `ls -d ${guests}/default-*/vmlinux 2>/dev/null | head -1`], {
      encoding: 'utf8',
    }).stdout.trim()
  : '';
if (vmlinux) time('default guest vmlinux', new Uint8Array(readFileSync(vmlinux)));
